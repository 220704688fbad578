/**
 * Debug IDs end to end (issue #12 §2), all real: an esbuild bundle (which emits no debug IDs) →
 * `mapvault inject` → `mapvault upload` → a real error thrown by the injected bundle → parse_stack
 * with the debug ID the browser SDK would report, on a real `mapvault serve` process, resolving
 * also when the request names another version and the script is served from another URL path.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import vm from 'node:vm';
import { buildApp } from '../helpers/fixtures.ts';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';
import { postJson } from '../helpers/hostile.ts';
import { KEY_A } from '../helpers/server.ts';
import { scriptDebugId } from '../../src/symbolicate/debug-id.ts';
import { runCli } from './helpers.ts';

let server: ServerProcess;
let dataDir: string;
let debugId: string;
/** The error the injected bundle throws, as a browser would report it from `url`. */
let stackFrom: (url: string) => string;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mapvault-debugid-e2e-'));
  server = await spawnServer(dataDir);
  const { dist } = await buildApp();
  const injected = await runCli(['inject', dist]);
  assert.equal(injected.code, 0, injected.stderr);
  const file = join(dist, 'static/js/app.js');
  const script = await readFile(file, 'utf8');
  debugId = scriptDebugId(script)!;
  assert.ok(debugId, 'inject gave the script a debug ID');

  const up = await runCli([
    'upload',
    dist,
    '--endpoint',
    server.url,
    '--api-key',
    KEY_A,
    '--app-id',
    'shop',
    '--version',
    '1.0.0',
    '--env',
    'prod',
    '--include',
    '**/*.{js,map}',
    '--state-dir',
    await mkdtemp(join(tmpdir(), 'mapvault-state-')),
    '--no-progress',
  ]);
  assert.equal(up.code, 0, up.stderr);
  assert.doesNotMatch(up.stderr, /debug ID/, 'script and map agree: no warning');
  assert.match(up.stdout, /warnings: +0\n/);

  const sandbox: { __app?: { main(items: number[]): number } } = {};
  vm.runInNewContext(script, sandbox, { filename: file });
  let stack = '';
  try {
    sandbox.__app!.main([1, -2]);
  } catch (err) {
    stack = (err as Error).stack!;
  }
  assert.match(stack, /RangeError: negative price: -2/);
  stackFrom = (url) => stack.split(file).join(url);
});
after(async () => {
  await server?.kill9();
  await rm(dataDir, { recursive: true, force: true });
});

const elsewhere = 'https://static.example.org/releases/build-2/bundle.min.js';

test('file_tree of the uploaded build shows the injected debug ID on the script and its map', async () => {
  const tree = await postJson(server, '/file_tree', { appId: 'shop', version: '1.0.0', env: 'prod' });
  assert.equal(tree.status, 200);
  assert.deepEqual(
    tree.body.content.files.map((f: { path: string; debugId?: string }) => [f.path, f.debugId]),
    [
      ['static/js/app.js', debugId],
      ['static/js/app.js.map', debugId],
    ],
  );
});

test('parse_stack with debugIds resolves the real stack for another version and another URL path', async () => {
  const stack = stackFrom(elsewhere);
  const without = await postJson(server, '/parse_stack', { appId: 'shop', version: '2.0.0', env: 'prod', stack });
  assert.equal(without.status, 200);
  assert.ok(
    without.body.content.frames.every((f: { resolved: boolean }) => !f.resolved),
    'nothing is stored for 2.0.0 under that path',
  );

  for (const ids of [
    { debugIds: { [elsewhere]: debugId } },
    { debug_meta: { images: [{ type: 'sourcemap', code_file: elsewhere, debug_id: debugId }] } },
  ]) {
    const r = await postJson(server, '/parse_stack', { appId: 'shop', version: '2.0.0', env: 'prod', stack, ...ids });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const top = r.body.content.frames[0];
    assert.equal(top.resolved, true, JSON.stringify(top));
    assert.ok(top.source.endsWith('src/cart/subtotal.ts'), top.source);
    assert.equal(top.originalLine, 5);
    assert.deepEqual(top.match, {
      by: 'debugId',
      map: 'static/js/app.js.map',
      debugId,
      from: { appId: 'shop', version: '1.0.0', env: 'prod' },
    });
    assert.equal(top.originalFunction, 'subtotal', 'the script was uploaded too: function names recovered');
    assert.match(r.body.content.stack, /subtotal\.ts:5:\d+/);
    const sources = r.body.content.frames
      .filter((f: { resolved: boolean }) => f.resolved)
      .map((f: { source: string }) => f.source.replace(/^(\.\.\/)+/, ''));
    assert.ok(sources.includes('src/cart/checkout.ts') && sources.includes('src/index.ts'), sources.join());
  }
});

test('mapvault symbolicate --debug-id --explain says the map came through the debug ID, from which version', async () => {
  const r = await runCli(
    [
      'symbolicate',
      '--endpoint',
      server.url,
      '--api-key',
      KEY_A,
      '--app-id',
      'shop',
      '--version',
      '2.0.0',
      '--env',
      'prod',
      '--debug-id',
      `${elsewhere}=${debugId}`,
      '--explain',
      '--no-context',
    ],
    { input: stackFrom(elsewhere) },
  );
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.match(lines[1]!, /subtotal\.ts:5:\d+\)?$/);
  assert.equal(
    lines[2],
    `        map: static/js/app.js.map, found by its debug ID ${debugId}, stored for appId "shop" version "1.0.0" env "prod"`,
  );
});
