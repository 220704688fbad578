import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, KEY_A, type TestServer } from '../helpers/server.ts';
import { bigMapsDir, runCli, spawnCli, startProxy, type Proxy, type Spawned } from './helpers.ts';

let s: TestServer;
let proxy: Proxy;
let bigDir: string;
before(async () => {
  s = await startServer();
  proxy = await startProxy(s.url);
  bigDir = await bigMapsDir(1_500_000); // ≈ 1.1 MB zipped: 9 parts of 128 KiB
});
after(async () => {
  await proxy.close();
  await s.close();
});

const PART = ['--part-size-mb', '0.125', '--concurrency', '1'];
const args = (dir: string, appId: string, stateDir: string, extra: string[] = []) => [
  'upload',
  dir,
  '--endpoint',
  proxy.url,
  '--api-key',
  KEY_A,
  '--app-id',
  appId,
  '--version',
  '1',
  '--allow-empty-version',
  '--state-dir',
  stateDir,
  ...PART,
  ...extra,
];

const savedUploadId = async (stateDir: string) => {
  const files = (await readdir(stateDir)).filter((f) => f.endsWith('.json'));
  assert.equal(files.length, 1, `state files: ${files}`);
  return (JSON.parse(await readFile(join(stateDir, files[0]!), 'utf8')) as { uploadId: string }).uploadId;
};

/** Starts an upload and stops the proxy's traffic at the `n`th part request (it is never answered). */
function runUntilPart(n: number, a: string[]): { run: Spawned; held: Promise<void> } {
  proxy.seen.length = 0;
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  proxy.hook = (r, nth) => {
    if (r.path !== 'upload_part' || nth < n) return 'pass';
    release();
    return 'hold';
  };
  return { run: spawnCli(a), held };
}

test('kill -9 after 3 parts, re-run: part_list, only the missing parts are sent, then merge', async () => {
  const stateDir = await mkdtemp(join(tmpdir(), 'mapvault-state-'));
  const { run, held } = runUntilPart(4, args(bigDir, 'resume', stateDir));
  await held;
  run.child.kill('SIGKILL');
  assert.equal((await run.done).signal, 'SIGKILL');
  const uploadId = await savedUploadId(stateDir);
  const listed = await s.post('/part_list', { uploadId });
  assert.deepEqual(listed.body.content.chunkIndexs, [0, 1, 2]);
  const total = Number(/as (\d+) parts/.exec(run.stdout())?.[1]);
  assert.ok(total >= 6, run.stdout());

  proxy.hook = () => 'pass';
  proxy.seen.length = 0;
  const again = await runCli(args(bigDir, 'resume', stateDir));
  assert.equal(again.code, 0, again.stderr);
  assert.match(
    again.stdout,
    new RegExp(`resuming upload ${uploadId}: skipped 3 of ${total} parts already on the server, uploading ${total - 3}`),
  );
  assert.equal(proxy.count('multipart_upload_init'), 0, 'a resumed upload does not init again');
  assert.equal(proxy.count('part_list'), 1);
  assert.deepEqual(
    proxy.seen.filter((r) => r.path === 'upload_part').map((r) => r.chunkIndex),
    [...Array(total).keys()].slice(3),
  );
  assert.equal(proxy.count('part_merge'), 1);
  assert.match(again.stdout, /merged: appId "resume" version "1" env ""\n +files: +3\n +maps: +3\n/);
  assert.deepEqual(await readdir(stateDir), [], 'the state file goes once merged');
});

test('a changed input starts a fresh upload instead of resuming', async () => {
  const stateDir = await mkdtemp(join(tmpdir(), 'mapvault-state-'));
  const dir = await bigMapsDir(600_000, 2);
  const { run, held } = runUntilPart(2, args(dir, 'changed', stateDir));
  await held;
  run.child.kill('SIGKILL');
  await run.done;
  const old = await savedUploadId(stateDir);

  await appendFile(join(dir, 'static/js/chunk-0.js.map'), ' ');
  proxy.hook = () => 'pass';
  proxy.seen.length = 0;
  const r = await runCli(args(dir, 'changed', stateDir));
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /resuming/);
  assert.equal(proxy.count('multipart_upload_init'), 1);
  assert.equal(proxy.count('part_list'), 0);
  assert.doesNotMatch(r.stdout, new RegExp(old));
});

test('an injected 503 on the first part is retried and the upload succeeds', async () => {
  const stateDir = await mkdtemp(join(tmpdir(), 'mapvault-state-'));
  proxy.seen.length = 0;
  proxy.hook = (r, nth) => (r.path === 'upload_part' && nth === 1 ? { status: 503, errorCode: 'Service.Unavailable' } : 'pass');
  const r = await runCli([
    'upload',
    bigDir,
    '--endpoint',
    proxy.url,
    '--api-key',
    KEY_A,
    '--app-id',
    'retry',
    '--allow-empty-version',
    '--state-dir',
    stateDir,
    '--part-size-mb',
    '0.5',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const parts = proxy.seen.filter((x) => x.path === 'upload_part').map((x) => x.chunkIndex!);
  const total = Number(/as (\d+) parts/.exec(r.stdout)?.[1]);
  assert.equal(parts.length, total + 1, 'one part was sent twice');
  assert.equal(parts.filter((i) => i === parts[0]).length, 2, 'the refused part was sent again');
  assert.match(
    r.stderr,
    /^mapvault: warning: upload_part: HTTP 503 Service\.Unavailable: injected by the test proxy \(TRACE-PROXY\); retry 1\/5 of upload_part in \d\.\ds\n$/,
  );
  assert.match(r.stdout, /merged: appId "retry"/);
});

test('other 4xx are not retried: one line, non-zero exit, the task stays resumable', async () => {
  const stateDir = await mkdtemp(join(tmpdir(), 'mapvault-state-'));
  proxy.seen.length = 0;
  proxy.hook = (r) => (r.path === 'upload_part' ? { status: 400, errorCode: 'Param.Invalid' } : 'pass');
  const r = await runCli(args(bigDir, 'no-retry', stateDir));
  assert.equal(r.code, 1);
  assert.equal(proxy.count('upload_part'), 1);
  assert.match(
    r.stderr,
    /^mapvault: upload_part: HTTP 400 Param\.Invalid: injected by the test proxy \(TRACE-PROXY\); 0 of \d+ parts are on the server, run the same command again to resume\n$/,
  );
  await savedUploadId(stateDir);
});

test('Ctrl-C keeps the task resumable; with --cancel-on-error it cancels it', async () => {
  for (const cancel of [false, true]) {
    const stateDir = await mkdtemp(join(tmpdir(), 'mapvault-state-'));
    const { run, held } = runUntilPart(2, args(bigDir, `sigint-${cancel}`, stateDir, cancel ? ['--cancel-on-error'] : []));
    await held;
    const uploadId = await savedUploadId(stateDir);
    proxy.hook = () => 'pass';
    run.child.kill('SIGINT');
    const r = await run.done;
    assert.equal(r.code, 130, r.stderr);
    if (cancel) {
      assert.match(r.stderr, new RegExp(`^mapvault: interrupted \\(SIGINT\\); upload ${uploadId} cancelled\\n$`));
      assert.equal((await s.post('/part_list', { uploadId })).status, 404);
      assert.deepEqual(await readdir(stateDir), []);
    } else {
      assert.match(
        r.stderr,
        /^mapvault: interrupted \(SIGINT\); 1 of \d+ parts are on the server, run the same command again to resume\n$/,
      );
      assert.deepEqual((await s.post('/part_list', { uploadId })).body.content.chunkIndexs, [0]);
    }
  }
});
