/**
 * The catalog floor: a bare node:http server over the same SQLite file (better-sqlite3, prepared
 * statements), answering GET /list?appId= and GET /part_list?uploadId= with the same JSON shape as
 * mapvault — no auth, no routing framework, no schema validation.
 *
 *   node --import tsx bench/floor-catalog-server.ts <mapvault.db> <workspace>
 *
 * Prints `READY <port>` once listening on 127.0.0.1.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import Database from 'better-sqlite3';

const [file, workspace] = process.argv.slice(2);
if (!file || !workspace) throw new Error('usage: floor-catalog-server.ts <db> <workspace>');
const db = new Database(file, { readonly: true });
const list = db.prepare('SELECT * FROM sourcemaps WHERE workspace = ? AND app_id = ? ORDER BY created_at DESC, version DESC, env DESC');
const task = db.prepare('SELECT * FROM uploads WHERE upload_id = ? AND workspace = ?');
const parts = db.prepare('SELECT chunk_index, size, md5, sha256, uploaded_at FROM parts WHERE upload_id = ? ORDER BY chunk_index');
const declaration = { organization: workspace };

type Row = Record<string, any>;
const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  let content: unknown;
  if (url.pathname.endsWith('/list')) {
    content = (list.all(workspace, url.searchParams.get('appId')) as Row[]).map((r) => ({
      appId: r.app_id,
      version: r.version,
      env: r.env,
      createAt: Math.floor(r.created_at / 1000),
      declaration,
      size: r.size,
      fileCount: r.file_count,
      mapCount: r.map_count,
      sha256: r.sha256,
      warnings: JSON.parse(r.warnings),
    }));
  } else if (url.pathname.endsWith('/part_list')) {
    const uploadId = url.searchParams.get('uploadId');
    const t = task.get(uploadId, workspace) as Row | undefined;
    const ps = (parts.all(uploadId) as Row[]).map((p) => ({
      chunkIndex: p.chunk_index,
      size: p.size,
      md5: p.md5,
      sha256: p.sha256,
      uploadedAt: p.uploaded_at,
    }));
    content = {
      chunkIndexs: ps.map((p) => p.chunkIndex),
      declaration,
      uploadId,
      parts: ps,
      appId: t?.app_id,
      version: t?.version,
      env: t?.env,
      needCover: t?.need_cover === 1,
      expiresAt: t?.expires_at,
    };
  } else {
    res.writeHead(404).end();
    return;
  }
  const body = JSON.stringify({
    code: 200,
    content,
    errorCode: '',
    message: '',
    success: true,
    traceId: `TRACE-${randomUUID().toUpperCase()}`,
  });
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) }).end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`READY ${(server.address() as { port: number }).port}\n`);
});
process.once('SIGINT', () => server.close(() => process.exit(0)));
