import type { FastifyInstance } from 'fastify';
import { declaration, ok, okRaw, RawJson } from '../envelope.ts';
import { appIdSchema, identityBody, identityProperties, toIdentity, type IdentityInput } from '../schemas.ts';
import type { SourceMapService } from '../../sourcemaps/sourcemap-service.ts';
import { fileKind } from '../../symbolicate/java/mapping-file.ts';
import type { SourceMapRecord } from '../../catalog/catalog.ts';
import { clientGoneSignal } from '../client-gone.ts';

const CONTENT_TYPES: Record<string, string> = {
  map: 'application/json; charset=utf-8',
  json: 'application/json; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  cjs: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  ts: 'text/plain; charset=utf-8',
};

/** Stored sourcemaps (API.md §6–§7). */
export async function sourcemapRoutes(app: FastifyInstance, deps: { sourcemaps: SourceMapService; maxFileContentBytes: number }) {
  const { sourcemaps } = deps;

  app.get<{ Querystring: { appId: string } }>(
    '/list',
    {
      schema: { querystring: { type: 'object', required: ['appId'], properties: { appId: appIdSchema } } },
    },
    async (req, reply) => {
      const decl = declaration(req.workspace);
      const list = await sourcemaps.list(req.workspace, req.query.appId, JSON.stringify(decl), (rows) => renderList(rows, decl));
      return okRaw(req, reply, new RawJson(list));
    },
  );

  app.post<{ Body: IdentityInput }>('/file_tree', { schema: { body: identityBody } }, async (req, reply) => {
    const { sourcemap, files } = await sourcemaps.fileTree(toIdentity(req.workspace, req.body));
    const { appId, version, env } = sourcemap;
    return ok(req, reply, {
      appId,
      version,
      env,
      files: files.map((f) => ({
        path: f.path,
        size: f.size,
        sha256: f.sha256,
        kind: fileKind(f.path),
        ...(f.debugId ? { debugId: f.debugId } : {}),
      })),
    });
  });

  app.get<{ Querystring: IdentityInput & { path: string } }>(
    '/file',
    {
      schema: {
        querystring: {
          type: 'object',
          required: ['appId', 'path'],
          properties: { ...identityProperties, path: { type: 'string', minLength: 1, maxLength: 1024 } },
        },
      },
    },
    async (req, reply) => {
      const { body, size } = await sourcemaps.readFile(toIdentity(req.workspace, req.query), req.query.path);
      const ext = req.query.path.split('.').pop()?.toLowerCase() ?? '';
      return reply
        .code(200)
        .header('content-type', CONTENT_TYPES[ext] ?? 'application/octet-stream')
        .header('content-length', String(size))
        .send(body);
    },
  );

  app.post<{ Body: IdentityInput }>('/delete', { schema: { body: identityBody } }, async (req, reply) => {
    await sourcemaps.delete(toIdentity(req.workspace, req.body), clientGoneSignal(reply));
    return ok(req, reply, true);
  });

  app.post<{ Body: IdentityInput & { filename: string; content: string } }>(
    '/upload_file_content',
    {
      schema: {
        body: {
          type: 'object',
          required: ['appId', 'filename', 'content'],
          properties: {
            ...identityProperties,
            filename: { type: 'string', minLength: 1, maxLength: 1024 },
            content: { type: 'string', maxLength: deps.maxFileContentBytes },
          },
        },
      },
    },
    async (req, reply) => {
      await sourcemaps.putFile(toIdentity(req.workspace, req.body), req.body.filename, req.body.content, clientGoneSignal(reply));
      return ok(req, reply, true);
    },
  );
}

/**
 * The `list` answer's content, as UTF-8 JSON. Kept by SourceMapService until the app changes, so it
 * is built once per change. One JSON.stringify over plain objects (V8's fast path) is about twice as
 * fast as a template per row for 10 000 rows (docs/BENCHMARKS.md, target 5).
 */
function renderList(rows: SourceMapRecord[], decl: Record<string, unknown>): Buffer {
  return Buffer.from(
    JSON.stringify(
      rows.map((r) => ({
        declaration: decl,
        appId: r.appId,
        version: r.version,
        env: r.env,
        createAt: Math.floor(r.createdAt / 1000),
        size: r.size,
        fileCount: r.fileCount,
        mapCount: r.mapCount,
        sha256: r.sha256,
        warnings: r.warnings,
      })),
    ),
  );
}
