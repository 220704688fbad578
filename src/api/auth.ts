import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiKeys } from '../auth/api-keys.ts';
import { ApiError } from '../errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The workspace of the request's DF-API-KEY; set on every authenticated route. */
    workspace: string;
  }
  interface FastifyContextConfig {
    /** Routes that answer without a key (health checks). */
    public?: boolean;
  }
}

/**
 * Resolves `DF-API-KEY` to a workspace before the body is read, so unauthenticated uploads are
 * refused without receiving them. Every route is authenticated unless it opts out with
 * `config: { public: true }`. Also applies the optional per-key rate limit.
 */
export function registerAuth(app: FastifyInstance, keys: ApiKeys, rateLimitPerMinute: number, now: () => number): void {
  const windows = new Map<string, { start: number; count: number }>();
  app.decorateRequest('workspace', '');
  app.addHook('onRequest', async (req: FastifyRequest, reply) => {
    // Unknown routes answer 404 to everyone: the public clients probe paths.
    if (req.routeOptions.config.public || req.routeOptions.url === undefined) return;
    const header = req.headers['df-api-key'];
    const key = Array.isArray(header) ? header[0] : header;
    const workspace = key ? await keys.workspaceOf(key) : null;
    if (!workspace || !key) {
      throw new ApiError('ft.InvalidAPIKey', key ? 'the DF-API-KEY is not valid' : 'the DF-API-KEY header is missing');
    }
    if (rateLimitPerMinute > 0) {
      const id = keys.hash(key);
      const t = now();
      const w = windows.get(id);
      if (!w || t - w.start >= 60_000) {
        if (windows.size > 10_000) windows.clear(); // bounded: a flood of distinct keys cannot grow it
        windows.set(id, { start: t, count: 1 });
      } else if (++w.count > rateLimitPerMinute) {
        reply.header('retry-after', String(Math.ceil((w.start + 60_000 - t) / 1000)));
        throw new ApiError('Request.RateLimited', `rate limit of ${rateLimitPerMinute} requests per minute for this key exceeded`);
      }
    }
    req.workspace = workspace;
  });
}
