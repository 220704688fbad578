/**
 * The CLI on Android: `upload mapping.txt` zips it in Guance's layout and the server indexes it;
 * `symbolicate` retraces a Java stack (recognized, or forced with --platform android).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, KEY_A, type TestServer } from '../helpers/server.ts';
import { runCli } from './helpers.ts';

const fixtures = join(import.meta.dirname, '../fixtures/java');
let s: TestServer;
let trace: string;
before(async () => {
  s = await startServer();
  trace = (await readFile(join(fixtures, 'traces.txt'), 'utf8')).split('=====\n')[0]!;
});
after(() => s.close());

const args = () => ['--endpoint', s.url, '--api-key', KEY_A, '--app-id', 'shop', '--version', '2.4.0', '--env', 'prod'];

test('upload mapping.txt, then symbolicate a Java stack', async () => {
  const up = await runCli([
    'upload',
    join(fixtures, 'mapping.txt'),
    ...args(),
    '--state-dir',
    await mkdtemp(join(tmpdir(), 'mapvault-state-')),
  ]);
  assert.equal(up.code, 0, up.stderr);
  assert.match(up.stderr + up.stdout, /as shop-prod-2\.4\.0\/mapping\.txt/);
  const tree = await s.post('/file_tree', { appId: 'shop', version: '2.4.0', env: 'prod' });
  assert.deepEqual(
    tree.body.content.files.map((f: any) => [f.path, f.kind]),
    [['shop-prod-2.4.0/mapping.txt', 'proguard-mapping']],
  );

  const r = await runCli(['symbolicate', ...args()], { input: trace });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], 'com.example.shop.Checkout$PaymentException: payment refused');
  assert.equal(lines[1], '\tat com.example.shop.Checkout.pay(Checkout.java:14)');

  const json = await runCli(['symbolicate', ...args(), '--json', '--platform', 'android'], { input: trace });
  const out = JSON.parse(json.stdout);
  assert.equal(out.frames[0].chain[0].method, 'pay');
});

test('upload refuses a mapping.txt that is not a mapping, before sending anything', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mapvault-notmap-'));
  await writeFile(join(dir, 'mapping.txt'), '<html>not a mapping</html>\n');
  const up = await runCli(['upload', join(dir, 'mapping.txt'), ...args(), '--state-dir', dir]);
  assert.notEqual(up.code, 0);
  assert.match(up.stderr, /is not a ProGuard\/R8 mapping: line 1 is not a class line/);
});
