/**
 * The resolution floor: a bare node:http server with one sourcemap preloaded in
 * @jridgewell/trace-mapping. It takes the same JSON request as POST /parse_stack
 * (`{appId, version, env, stack}`), regex-parses V8 frames, resolves each with
 * originalPositionFor, and answers the same shape of JSON mapvault does (envelope, rewritten
 * stack, per-frame results with 5 lines of source context before/after) — no auth, no catalog,
 * no map lookup by URL, no cache, no schema validation.
 *
 *   node --import tsx bench/floor-resolve-server.ts <file.map>
 *
 * Prints `READY <port>` once the map is parsed and the server listens on 127.0.0.1.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { TraceMap, originalPositionFor, sourceContentFor } from '@jridgewell/trace-mapping';

const file = process.argv[2];
if (!file) throw new Error('usage: floor-resolve-server.ts <file.map>');
const map = new TraceMap(readFileSync(file, 'utf8'));
originalPositionFor(map, { line: 1, column: 0 }); // decode now, not on the first request

const V8 = /^(\s*at (?:(.+?) \()?)(.+):(\d+):(\d+)(\)?)$/;
const CONTEXT = 5;
const linesCache = new Map<string, string[]>();
const clip = (s: string) => (s.length > 300 ? s.slice(0, 300) : s);

function context(source: string, line: number) {
  let lines = linesCache.get(source);
  if (!lines) {
    const text = sourceContentFor(map, source);
    if (text === null) return null;
    lines = text.split('\n');
    linesCache.set(source, lines);
  }
  if (line > lines.length) return null;
  const first = Math.max(1, line - CONTEXT);
  return {
    pre: lines.slice(first - 1, line - 1).map(clip),
    line: clip(lines[line - 1]!),
    post: lines.slice(line, line + CONTEXT).map(clip),
  };
}

function resolve(stack: string) {
  const lines = stack.split('\n');
  const frames = [];
  for (let i = 0; i < lines.length; i++) {
    const m = V8.exec(lines[i]!);
    if (!m) continue;
    const line = Number(m[4]),
      column = Number(m[5]);
    const base = { raw: lines[i]!, functionName: m[2] ?? null, url: m[3]!, line, column };
    const p = originalPositionFor(map, { line, column: column - 1 });
    if (p.source === null) {
      frames.push({ ...base, resolved: false, source: null, originalLine: null, originalColumn: null, name: null, reason: 'NoMapping' });
      continue;
    }
    const ctx = context(p.source, p.line);
    frames.push({
      ...base,
      resolved: true,
      source: p.source,
      originalLine: p.line,
      originalColumn: p.column + 1,
      name: p.name,
      ...(ctx ? { context: ctx } : {}),
    });
    lines[i] = `${m[1]}${p.source}:${p.line}:${p.column + 1}${m[6]}`;
  }
  return { stack: lines.join('\n'), frames };
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const traceId = `TRACE-${randomUUID().toUpperCase()}`;
    let body: string;
    try {
      const { stack } = JSON.parse(Buffer.concat(chunks).toString()) as { stack: string };
      body = JSON.stringify({ code: 200, content: resolve(stack), errorCode: '', message: '', success: true, traceId });
    } catch (err) {
      res.writeHead(400).end(String(err));
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-trace-id': traceId,
    });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`READY ${(server.address() as { port: number }).port}\n`);
});
process.once('SIGINT', () => server.close(() => process.exit(0)));
