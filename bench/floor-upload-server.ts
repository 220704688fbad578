/**
 * The upload floor: a bare node:http server that streams each request body straight to a file and
 * does nothing else (no multipart parsing, no hashing, no catalog, no rename).
 *
 *   node --import tsx bench/floor-upload-server.ts <root dir>
 *
 * PUT /<task>/<chunkIndex>  → <root>/<task>/part_<chunkIndex, 6 digits>
 * Prints `READY <port>` once listening on 127.0.0.1.
 */
import { createWriteStream, mkdirSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

const root = process.argv[2];
if (!root) throw new Error('usage: floor-upload-server.ts <root dir>');

const server = http.createServer(async (req, res) => {
  const m = /^\/([A-Za-z0-9_-]+)\/(\d+)$/.exec(req.url ?? '');
  if (req.method !== 'PUT' || !m) {
    res.writeHead(404).end();
    return;
  }
  try {
    const dir = join(root, m[1]!);
    mkdirSync(dir, { recursive: true });
    await pipeline(req, createWriteStream(join(dir, `part_${m[2]!.padStart(6, '0')}`)));
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"success":true}');
  } catch (err) {
    res.writeHead(500).end(String(err));
  }
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`READY ${(server.address() as { port: number }).port}\n`);
});
process.once('SIGINT', () => server.close(() => process.exit(0)));
