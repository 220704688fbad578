import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { loadConfig } from '../src/config.ts';
import { createMapvault, API_PREFIX } from '../src/server.ts';

const run = promisify(execFile);
const BIN = new URL('../bin/mapvault', import.meta.url).pathname;

async function initWith(url: string, key: string) {
  const res = await fetch(`${url}${API_PREFIX}/multipart_upload_init`, {
    method: 'POST',
    headers: { 'DF-API-KEY': key, 'content-type': 'application/json' },
    body: '{"appId":"k"}',
  });
  return { status: res.status, body: (await res.json()) as any };
}

test('first start without keys creates one for workspace "default", prints it once, and stores only its hash', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mapvault-first-'));
  const printed: string[] = [];
  const mv = await createMapvault(loadConfig({ MAPVAULT_DATA_DIR: dataDir }), { logger: false, announce: (t) => printed.push(t) });
  const url = await mv.listen(0, '127.0.0.1');
  assert.equal(printed.length, 1);
  const key = /DF-API-KEY: (\S+)/.exec(printed[0]!)?.[1];
  assert.ok(key);
  const r = await initWith(url, key);
  assert.equal(r.status, 200);
  assert.equal(r.body.content.declaration.organization, 'default');
  await mv.close();
  const db = await readFile(join(dataDir, 'mapvault.db'));
  assert.equal(db.includes(Buffer.from(key)), false, 'the plain key is not in the database');

  const again = await createMapvault(loadConfig({ MAPVAULT_DATA_DIR: dataDir }), { logger: false, announce: (t) => printed.push(t) });
  assert.equal(printed.length, 1, 'not printed again');
  await again.close();
});

test('`mapvault keys create --workspace` prints a working key once; env keys follow MAPVAULT_API_KEYS', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mapvault-keys-'));
  const env = { ...process.env, MAPVAULT_DATA_DIR: dataDir, MAPVAULT_API_KEYS: 'envkey=team-env' };
  const { stdout, stderr } = await run(process.execPath, [BIN, 'keys', 'create', '--workspace', 'team-x'], { env });
  const key = stdout.trim();
  assert.match(key, /^mv_[A-Za-z0-9_-]{32}$/);
  assert.match(stderr, /team-x/);
  await assert.rejects(run(process.execPath, [BIN, 'keys', 'create', '--workspace', 'bad/name'], { env }));

  const mv = await createMapvault(loadConfig({ MAPVAULT_DATA_DIR: dataDir, MAPVAULT_API_KEYS: 'envkey=team-env' }), { logger: false });
  const url = await mv.listen(0, '127.0.0.1');
  assert.equal((await initWith(url, key)).body.content.declaration.organization, 'team-x');
  assert.equal((await initWith(url, 'envkey')).body.content.declaration.organization, 'team-env');
  await mv.close();

  // A key removed from MAPVAULT_API_KEYS stops working; CLI-created keys stay.
  const mv2 = await createMapvault(loadConfig({ MAPVAULT_DATA_DIR: dataDir }), { logger: false });
  const url2 = await mv2.listen(0, '127.0.0.1');
  assert.equal((await initWith(url2, 'envkey')).status, 403);
  assert.equal((await initWith(url2, key)).status, 200);
  await mv2.close();
});

test('one log line per request carries its traceId; API keys never appear in the log', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mapvault-log-'));
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _e, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const mv = await createMapvault(loadConfig({ MAPVAULT_DATA_DIR: dataDir, MAPVAULT_API_KEYS: 'secret-key-123=w' }), {
    logger: { level: 'info', stream },
  });
  const url = await mv.listen(0, '127.0.0.1');
  const ok = await initWith(url, 'secret-key-123');
  const bad = await initWith(url, 'wrong-secret-456');
  await mv.close();
  for (const r of [ok, bad]) {
    const requestLines = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request' && l.traceId === r.body.traceId);
    assert.equal(requestLines.length, 1, `one request line for ${r.body.traceId}`);
    assert.equal(requestLines[0].statusCode, r.status);
  }
  const all = lines.join('\n');
  assert.equal(all.includes('secret-key-123'), false);
  assert.equal(all.includes('wrong-secret-456'), false);
});

test('configuration: durations, sizes and key lists are parsed; bad values are refused clearly', () => {
  const c = loadConfig({ MAPVAULT_UPLOAD_TTL: '90m', MAPVAULT_ARCHIVE_MAX_BYTES: '1GiB', MAPVAULT_API_KEYS: 'a=w1, b=w2', PORT: '9000' });
  assert.equal(c.uploadTtlMs, 90 * 60_000);
  assert.equal(c.archive.maxTotalBytes, 1024 ** 3);
  assert.deepEqual(
    [...c.apiKeys],
    [
      ['a', 'w1'],
      ['b', 'w2'],
    ],
  );
  assert.equal(c.port, 9000);
  const d = loadConfig({});
  assert.deepEqual([d.port, d.host, d.uploadTtlMs], [8800, '127.0.0.1', 24 * 3_600_000]);
  assert.throws(() => loadConfig({ MAPVAULT_UPLOAD_TTL: 'soon' }), /MAPVAULT_UPLOAD_TTL/);
  assert.throws(() => loadConfig({ MAPVAULT_API_KEYS: 'nokey' }), /MAPVAULT_API_KEYS/);
  assert.throws(() => loadConfig({ PORT: '-1' }), /PORT/);
});
