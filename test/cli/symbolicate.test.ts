import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import vm from 'node:vm';
import { startServer, KEY_A, type TestServer } from '../helpers/server.ts';
import { buildApp } from '../helpers/fixtures.ts';
import { runCli } from './helpers.ts';

const URL_JS = 'https://cdn.example.com/static/js/app.js';
let s: TestServer;
let stack: string;
before(async () => {
  s = await startServer();
  const { dist } = await buildApp();
  const up = await runCli(['upload', dist, ...args(), '--state-dir', await mkdtemp(join(tmpdir(), 'mapvault-state-'))]);
  assert.equal(up.code, 0, up.stderr);

  // Run the real minified bundle and capture the error a browser would report, served from the CDN URL.
  const file = join(dist, 'static/js/app.js');
  const sandbox: { __app?: { main(items: number[]): number } } = {};
  vm.runInNewContext(await readFile(file, 'utf8'), sandbox, { filename: file });
  try {
    sandbox.__app!.main([1, -2]);
    assert.fail('main should throw');
  } catch (err) {
    stack = (err as Error).stack!.split(file).join(URL_JS);
  }
  assert.match(stack, /^RangeError: negative price: -2\n +at .*https:\/\/cdn\.example\.com\/static\/js\/app\.js:1:\d+/);
});
after(() => s.close());

const args = (version = '1.2.3') => ['--endpoint', s.url, '--api-key', KEY_A, '--app-id', 'web', '--version', version, '--env', 'prod'];

test('symbolicate --json resolves the frames of a real stack to the TypeScript sources', async () => {
  const r = await runCli(['symbolicate', ...args(), '--json'], { input: stack });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    stack: string;
    frames: { resolved: boolean; source: string; originalLine: number; originalColumn: number; url: string }[];
  };
  const top = out.frames[0]!;
  assert.equal(top.resolved, true, JSON.stringify(top));
  assert.equal(top.url, URL_JS);
  assert.ok(top.source.endsWith('src/cart/subtotal.ts'), top.source);
  assert.equal(top.originalLine, 5);
  const sources = out.frames.filter((f) => f.resolved).map((f) => f.source.replace(/^(\.\.\/)+/, ''));
  assert.ok(sources.includes('src/cart/checkout.ts') && sources.includes('src/index.ts'), sources.join());
  assert.match(out.stack, /subtotal\.ts:5:\d+/);
});

test('symbolicate prints the resolved stack (source:line:column), with source lines when asked', async () => {
  const file = join(await mkdtemp(join(tmpdir(), 'mapvault-stack-')), 'stack.txt');
  await writeFile(file, stack);
  const plain = await runCli(['symbolicate', ...args(), '--file', file]);
  assert.equal(plain.code, 0, plain.stderr);
  const lines = plain.stdout.split('\n');
  assert.equal(lines[0], 'RangeError: negative price: -2');
  assert.match(lines[1]!, /^ +at .*src\/cart\/subtotal\.ts:5:\d+\)?$/);
  assert.doesNotMatch(plain.stdout, /throw new RangeError/, 'no context lines off a terminal by default');

  const ctx = await runCli(['symbolicate', ...args(), '--file', file, '--context']);
  assert.equal(ctx.code, 0, ctx.stderr);
  assert.match(ctx.stdout, /src\/cart\/subtotal\.ts:5:\d+\)?\n +\| throw new RangeError\('negative price: ' \+ item\);\n/);
});

test('symbolicate with an unknown version: frames stay as they were, the reason is given, exit 2', async () => {
  const r = await runCli(['symbolicate', ...args('0.0.0'), '--json'], { input: stack });
  assert.equal(r.code, 2, r.stderr);
  const out = JSON.parse(r.stdout) as { frames: { resolved: boolean; reason?: string }[] };
  assert.ok(out.frames.length > 0 && out.frames.every((f) => !f.resolved && f.reason), r.stdout);
});

test("symbolicate --explain prints how each frame's map was found, or what was looked for and the closest stored files", async () => {
  const found = await runCli(['symbolicate', ...args(), '--explain', '--no-context'], { input: stack });
  assert.equal(found.code, 0, found.stderr);
  assert.match(found.stdout, /subtotal\.ts:5:\d+\)?\n {8}map: static\/js\/app\.js\.map, found by the URL path \+ \.map\n/);
  assert.doesNotMatch(found.stdout, /\| throw new RangeError/, '--no-context still holds');

  // A renamed bundle: not matched, and the answer names the stored map that was probably meant.
  const renamed = stack.split('static/js/app.js').join('assets/app.3f2a.js');
  const missed = await runCli(['symbolicate', ...args(), '--explain'], { input: renamed });
  assert.equal(missed.code, 2, 'no frame resolved');
  const lines = missed.stdout.split('\n');
  const at = lines.findIndex((l) => l.includes('assets/app.3f2a.js:1:'));
  assert.ok(at >= 0, missed.stdout);
  assert.match(lines[at]!, /# not resolved: no sourcemap found for assets\/app\.3f2a\.js/);
  assert.match(lines[at + 1]!, /^ {8}looked for: assets\/app\.3f2a\.js\.map; then /);
  assert.equal(lines[at + 2], '        closest stored files: static/js/app.js, static/js/app.js.map'); // the script went up with its map

  // Through a debug ID (given with --debug-id) for an ID nobody stored: the path rules decide, and it says so.
  const unknown = '00000000-0000-4000-8000-00000000abcd';
  const viaPath = await runCli(['symbolicate', ...args(), '--explain', '--debug-id', `${URL_JS}=${unknown}`], { input: stack });
  assert.equal(viaPath.code, 0, viaPath.stderr);
  assert.match(
    viaPath.stdout,
    new RegExp(
      `\n {8}map: static/js/app\\.js\\.map, found by the URL path \\+ \\.map \\(its debug ID ${unknown} led to no stored map\\)\n`,
    ),
  );
  const bad = await runCli(['symbolicate', ...args(), '--debug-id', 'nope'], { input: stack });
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--debug-id nope: expected <script url>=<uuid>/);
});
