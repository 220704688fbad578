import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import fastifyStatic from '@fastify/static';

/** Where `scripts/build-console.mjs` (run by `npm install`'s prepare step) writes the page. Never committed. */
export const CONSOLE_BUILD_DIR = fileURLToPath(new URL('../../build/console/', import.meta.url));
export const CONSOLE_PATH = '/console/';

/**
 * The page loads only its own script, stylesheet and worker, and talks only to this server. No
 * inline script or style is allowed, so injected markup cannot run; the key lives in
 * sessionStorage, never in the HTML, a URL or a log line.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function secure(reply: FastifyReply): FastifyReply {
  return (
    reply
      .header('content-security-policy', CONSOLE_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cross-origin-opener-policy', 'same-origin')
      // Revalidated every time (ETag/Last-Modified), so a new build is picked up at the next load.
      .header('cache-control', 'no-cache')
  );
}

/**
 * The web console: `/` redirects to `/console/`, which serves the built page. Public routes (the
 * page itself holds no data; every API call it makes carries the key). Only the files the build
 * produced are served, with their precompressed .br/.gz twins when the browser accepts them.
 */
export async function consoleRoutes(app: FastifyInstance, opts: { buildDir?: string } = {}) {
  const root = opts.buildDir ?? CONSOLE_BUILD_DIR;
  let files: Set<string>;
  try {
    files = new Set(readdirSync(root).filter((f) => /\.(html|js|css|svg)$/.test(f)));
  } catch {
    files = new Set();
  }
  const built = files.has('index.html');
  if (!built) app.log.warn(`the web console is not built (${root} is missing): run npm install, or npm run build:console`);
  await app.register(fastifyStatic, { root, serve: false, preCompressed: true, index: false });

  const config = { public: true };
  app.get('/', { config }, async (_req, reply) => reply.redirect(CONSOLE_PATH, 302));
  app.get('/console', { config }, async (_req, reply) => reply.redirect(CONSOLE_PATH, 302));
  app.get(CONSOLE_PATH, { config }, async (_req, reply) => {
    if (!built) {
      return secure(reply)
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The mapvault web console is not built: run `npm install` (its prepare step builds it) or `npm run build:console`.\n');
    }
    return secure(reply).type('text/html; charset=utf-8').sendFile('index.html');
  });
  app.get<{ Params: { file: string } }>(`${CONSOLE_PATH}:file`, { config }, async (req, reply) => {
    if (!files.has(req.params.file) || req.params.file === 'index.html') return reply.callNotFound();
    return secure(reply).sendFile(req.params.file);
  });
}
