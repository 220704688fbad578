/** Routes for operators and their tools, answered without a key: health, liveness, metrics, the API document. */
import type { FastifyInstance } from 'fastify';
import type { Catalog } from '../../catalog/catalog.ts';
import type { BlobStore } from '../../storage/blob-store.ts';
import { metricsText } from '../../metrics/metrics.ts';
import { VERSION } from '../../version.ts';
import { envelope } from '../envelope.ts';

/** A store that does not answer within this long counts as down. */
const CHECK_TIMEOUT_MS = 2000;

async function check(probe: () => Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return 'ok';
  } catch (err) {
    return (err as Error).message || 'failed';
  } finally {
    clearTimeout(timer);
  }
}

export async function opsRoutes(app: FastifyInstance, deps: { catalog: Catalog; blobs: BlobStore }): Promise<void> {
  const open = { config: { public: true } };

  // Readiness: the version, and whether both stores answer a cheap read.
  app.get('/healthz', open, async (req, reply) => {
    const [catalog, blobStore] = await Promise.all([
      check(() => deps.catalog.countApiKeys()),
      check(() => deps.blobs.stat('health/probe')),
    ]);
    const healthy = catalog === 'ok' && blobStore === 'ok';
    const content = { status: healthy ? 'ok' : 'unavailable', version: VERSION, checks: { catalog, blobStore } };
    if (healthy) return reply.code(200).send(envelope(req, 200, content));
    req.log.warn({ checks: content.checks }, 'health check failed');
    return reply.code(503).send(envelope(req, 503, content, 'Server.Unavailable', 'the catalog or the blob store does not answer'));
  });

  // Liveness: the process runs its event loop; touches no storage, so a slow disk never gets it restarted.
  app.get('/livez', open, async (req, reply) => reply.send(envelope(req, 200, { status: 'ok' })));

  app.get('/metrics', open, async (_req, reply) => {
    const { contentType, body } = await metricsText();
    return reply.header('content-type', contentType).send(body);
  });

  app.get('/openapi.json', open, async (_req, reply) => reply.send(app.swagger()));
}
