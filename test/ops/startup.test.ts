import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VERSION } from '../../src/version.ts';
import { BIN, cleanEnv } from '../cli/helpers.ts';

interface Exited {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `mapvault serve` with `env` and expects it to exit on its own. */
async function serveExpectingExit(env: Record<string, string>): Promise<Exited> {
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: cleanEnv({ HOST: '127.0.0.1', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '',
    stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  // A server that starts instead of failing is killed (the test then fails on its exit code).
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(killer);
  return { code, stdout, stderr };
}

async function freshDir(): Promise<string> {
  const parent = await mkdtemp(join(tmpdir(), 'mapvault-startup-'));
  return join(parent, 'data');
}

test('configuration errors: one line naming the variable, exit 1, the data dir never created', async () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: '99999' }, /^mapvault: PORT: expected an integer from 0 to 65535, got "99999"$/],
    [{ PORT: 'http' }, /^mapvault: PORT: /],
    [{ MAPVAULT_UPLOAD_TTL: 'soon' }, /^mapvault: MAPVAULT_UPLOAD_TTL: cannot parse duration "soon"/],
    [{ MAPVAULT_UPLOAD_TTL: '0' }, /^mapvault: MAPVAULT_UPLOAD_TTL: must be more than 0/],
    [{ MAPVAULT_MAP_CACHE_BYTES: '12 parsecs' }, /^mapvault: MAPVAULT_MAP_CACHE_BYTES: cannot parse size/],
    [{ MAPVAULT_MAX_FRAMES: '-3' }, /^mapvault: MAPVAULT_MAX_FRAMES: expected a non-negative integer/],
    [{ MAPVAULT_SWEEP_INTERVAL: '90d' }, /^mapvault: MAPVAULT_SWEEP_INTERVAL: at most 24 days/],
    [{ MAPVAULT_API_KEYS: 'just-a-key' }, /^mapvault: MAPVAULT_API_KEYS: expected "key=workspace" pairs/],
    [{ MAPVAULT_API_KEYS: 'k1=team/web' }, /^mapvault: MAPVAULT_API_KEYS: workspace "team\/web" \(pair 1\) must be/],
    [{ MAPVAULT_API_KEYS: 'k1=a,k1=b' }, /^mapvault: MAPVAULT_API_KEYS: key 2 is given twice$/],
    [{ LOG_LEVEL: 'loud' }, /^mapvault: LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"$/],
    [{ HOST: 'no-such-host.invalid' }, /^mapvault: HOST=no-such-host\.invalid: unknown host$/],
  ];
  for (const [env, expected] of cases) {
    const dataDir = await freshDir();
    const r = await serveExpectingExit({ MAPVAULT_DATA_DIR: dataDir, ...env });
    assert.equal(r.code, 1, `${JSON.stringify(env)}: ${r.stderr}`);
    assert.equal(r.stdout, '', JSON.stringify(env));
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, `${JSON.stringify(env)}: one line, got:\n${r.stderr}`);
    assert.match(lines[0]!, expected);
    assert.equal(existsSync(dataDir), false, `${JSON.stringify(env)}: the data dir was touched`);
    assert.doesNotMatch(r.stderr, /k1/, 'keys never appear in messages');
  }
});

test('a busy port fails in one line before the data dir is touched', async () => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    const dataDir = await freshDir();
    const r = await serveExpectingExit({ MAPVAULT_DATA_DIR: dataDir, PORT: String(port) });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(
      r.stderr,
      `mapvault: PORT=${port} HOST=127.0.0.1: the port is already in use (another mapvault or another program listens there)\n`,
    );
    assert.equal(existsSync(dataDir), false);
  } finally {
    blocker.close();
  }
});

test('a data dir that cannot be created or written is named in one line', async () => {
  const parent = await mkdtemp(join(tmpdir(), 'mapvault-startup-'));
  const file = join(parent, 'a-file');
  await writeFile(file, 'not a directory');
  const r = await serveExpectingExit({ MAPVAULT_DATA_DIR: join(file, 'data'), PORT: '0' });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `mapvault: MAPVAULT_DATA_DIR=${join(file, 'data')}: cannot create the data directory (ENOTDIR on mkdir)\n`);
  await rm(parent, { recursive: true });
});

/** Starts `command` in its own process group and waits for the readiness line; returns the group and the output so far. */
async function startGroup(command: string, args: string[], env: Record<string, string>) {
  const child = spawn(command, args, { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '',
    stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const closed = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  const url = await new Promise<string>((resolve, reject) => {
    const look = () => {
      const m = /mapvault listening on (http:\/\/\S+) \(version (\S+), data in /.exec(stderr);
      if (m) {
        assert.equal(m[2], VERSION, 'the start-up line carries the version');
        resolve(m[1]!);
      }
    };
    child.stderr.on('data', look);
    closed.then(() => reject(new Error(`exited before listening:\n${stdout}\n${stderr}`)), reject);
  });
  return { child, url, closed, output: () => ({ stdout, stderr }) };
}

const groupAlive = (pgid: number): boolean => {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
};

test('npm start: SIGTERM to its process group stops the server gracefully, the whole group exits', { timeout: 60_000 }, async () => {
  const dataDir = await freshDir();
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const g = await startGroup(npm, ['start', '--silent'], { MAPVAULT_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1' });
  const health = await fetch(`${g.url}/healthz`);
  assert.equal(health.status, 200);
  process.kill(-g.child.pid!, 'SIGTERM');
  await g.closed;
  // npm itself may be gone before node: wait for the last member of the group.
  for (let i = 0; i < 200 && groupAlive(g.child.pid!); i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(groupAlive(g.child.pid!), false, 'nothing of the group is left running');
  const { stdout, stderr } = g.output();
  assert.match(stderr, /mapvault: SIGTERM: stopping/);
  assert.match(stderr, /mapvault: stopped\n/);
  // The first-start key went to the terminal, not into the JSON log stream.
  assert.match(stderr, /DF-API-KEY: mv_/);
  assert.doesNotMatch(stdout, /mv_[A-Za-z0-9_-]{32}/);
  for (const line of stdout.split('\n').filter(Boolean)) JSON.parse(line);
  await fetch(`${g.url}/healthz`).then(
    () => assert.fail('still answering'),
    () => {},
  );
});

/** A raw HTTP request whose body is cut after `sent` bytes; `rest` sends the remainder. */
async function partialUpload(url: string, key: string, uploadId: string) {
  const u = new URL(url);
  const socket = net.connect(Number(u.port), u.hostname);
  await once(socket, 'connect');
  const boundary = 'XyZ';
  const body = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="uploadId"\r\n\r\n${uploadId}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="chunkIndex"\r\n\r\n0\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="chunk_000000"\r\nContent-Type: application/octet-stream\r\n\r\n` +
      `${'x'.repeat(1000)}\r\n--${boundary}--\r\n`,
  );
  socket.write(
    `POST /api/v1/rum_sourcemap/upload_part HTTP/1.1\r\nHost: ${u.host}\r\nDF-API-KEY: ${key}\r\n` +
      `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${body.length}\r\n\r\n`,
  );
  socket.write(body.subarray(0, 300));
  let answer = '';
  socket.setEncoding('utf8').on('data', (d: string) => (answer += d));
  const closed = once(socket, 'close');
  return { rest: () => socket.write(body.subarray(300)), closed, answer: () => answer, destroy: () => socket.destroy() };
}

test('SIGTERM: a request that finishes within the deadline is answered; a stalled upload is cut and the process exits', {
  timeout: 60_000,
}, async () => {
  const dataDir = await freshDir();
  const env = { MAPVAULT_DATA_DIR: dataDir, PORT: '0', MAPVAULT_API_KEYS: 'shutdown-key=w', MAPVAULT_SHUTDOWN_TIMEOUT: '3s' };
  const g = await startGroup(process.execPath, [BIN, 'serve'], env);
  const init = async () => {
    const res = await fetch(`${g.url}/api/v1/rum_sourcemap/multipart_upload_init`, {
      method: 'POST',
      headers: { 'DF-API-KEY': 'shutdown-key', 'content-type': 'application/json' },
      body: '{"appId":"a"}',
    });
    return ((await res.json()) as { content: { uploadId: string } }).content.uploadId;
  };
  const finishing = await partialUpload(g.url, 'shutdown-key', await init());
  const stalled = await partialUpload(g.url, 'shutdown-key', await init());
  // Both requests are in the server's hands (headers and part of the body) before the signal.
  await new Promise((r) => setTimeout(r, 300));
  process.kill(g.child.pid!, 'SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  finishing.rest();
  await finishing.closed.catch(() => {});
  assert.match(finishing.answer(), /^HTTP\/1\.1 200 /, finishing.answer());
  await stalled.closed;
  assert.doesNotMatch(stalled.answer(), /^HTTP\/1\.1 200 /, 'the stalled upload was not accepted');
  const [code] = await g.closed;
  assert.equal(code, 0, g.output().stderr);
  assert.match(g.output().stderr, /SIGTERM: stopping; in-flight requests have 3s\n[\s\S]*mapvault: stopped\n/);
  stalled.destroy();
});
