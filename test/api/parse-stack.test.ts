import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import sourceMap from 'source-map';
import { startServer, uploadZip, type TestServer } from '../helpers/server.ts';
import { buildApp, zipDir, zipEntries } from '../helpers/fixtures.ts';

let s: TestServer;
let dist: string;
let realStack: string;
let mapJson: any;
const URL_JS = 'https://cdn.example.com/static/js/app.js';
const id = { appId: 'web', version: '3.1.0', env: 'prod' };

before(async () => {
  s = await startServer();
  ({ dist } = await buildApp());
  const file = join(dist, 'static/js/app.js');
  const code = await readFile(file, 'utf8');
  mapJson = JSON.parse(await readFile(`${file}.map`, 'utf8'));
  // Run the real bundle and catch a real error, as a browser would report it.
  const sandbox: any = { globalThis: {} };
  sandbox.globalThis = sandbox;
  runInNewContext(code, sandbox, { filename: URL_JS });
  try {
    sandbox.__app.main([1, -2]);
    assert.fail('should throw');
  } catch (err) {
    realStack = (err as Error).stack!;
  }
  assert.equal((await uploadZip(s, await zipDir(dist), id)).status, 200);
});
after(() => s.close());

test('a real V8 stack from the bundle resolves to the TypeScript sources, matching source-map 0.6', async () => {
  const r = await s.post('/parse_stack', { ...id, stack: realStack });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const { frames, stack } = r.body.content;
  const appFrames = frames.filter((f: any) => f.url === URL_JS);
  assert.ok(appFrames.length >= 3, realStack);
  const consumer = new sourceMap.SourceMapConsumer(mapJson);
  for (const f of appFrames) {
    assert.equal(f.resolved, true, JSON.stringify(f));
    const expected = consumer.originalPositionFor({ line: f.line, column: f.column - 1 });
    assert.equal(f.source, expected.source);
    assert.equal(f.originalLine, expected.line);
    assert.equal(f.originalColumn, expected.column! + 1);
  }
  const top = appFrames[0];
  assert.match(top.source, /src\/cart\/subtotal\.ts$/);
  assert.match(top.context.line, /throw new RangeError/);
  assert.equal(top.context.pre.length, 4);
  assert.match(stack, /^RangeError: negative price: -2\n/);
  assert.ok(stack.includes(`src/cart/subtotal.ts:${top.originalLine}:${top.originalColumn}`), stack);
  assert.equal(stack.includes(URL_JS), false, 'every app frame was rewritten');
});

test('a Guance web SDK stack resolves, and unknown files are reported as NoSourceMap naming the path', async () => {
  const top = (await s.post('/parse_stack', { ...id, stack: realStack })).body.content.frames[0];
  const stack = `RangeError: negative price\n  at <anonymous> @ ${URL_JS}?v=3:${top.line}:${top.column}\n  at x @ https://cdn.example.com/static/js/vendor.js:1:5`;
  const r = await s.post('/parse_stack', { ...id, stack });
  const [a, b] = r.body.content.frames;
  assert.deepEqual([a.resolved, a.source, a.originalLine], [true, top.source, top.originalLine]);
  assert.equal(b.resolved, false);
  assert.equal(b.reason, 'NoSourceMap');
  assert.match(b.detail, /static\/js\/vendor\.js\.map/);
  assert.equal(
    r.body.content.stack.split('\n')[2],
    '  at x @ https://cdn.example.com/static/js/vendor.js:1:5',
    'unresolved frames are kept byte for byte',
  );
  assert.equal(r.body.content.stack.split('\n')[1], `  at <anonymous> @ ${top.source}:${top.originalLine}:${top.originalColumn}`);
});

test('frames input, and an unknown sourcemap identity: every frame NoSourceMap', async () => {
  const top = (await s.post('/parse_stack', { ...id, stack: realStack })).body.content.frames[0];
  const r = await s.post('/parse_stack', { ...id, frames: [{ url: URL_JS, line: top.line, column: top.column, functionName: 'f' }] });
  assert.equal(r.body.content.frames[0].originalLine, top.originalLine);
  const none = await s.post('/parse_stack', { ...id, version: 'nope', stack: realStack });
  assert.equal(none.status, 200);
  assert.ok(none.body.content.frames.every((f: any) => !f.resolved && f.reason === 'NoSourceMap'));
  assert.equal(none.body.content.stack, realStack);
  const bad = await s.post('/parse_stack', { ...id });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.errorCode, 'Param.Invalid');
});

test('the cache is invalidated when the sourcemap is replaced or deleted', async () => {
  const ident = { appId: 'web', version: 'cache' };
  const v1 = await zipDir(dist);
  assert.equal((await uploadZip(s, v1, ident)).status, 200);
  const top = (await s.post('/parse_stack', { ...ident, stack: realStack })).body.content.frames[0];
  assert.match(top.source, /src\/cart\/subtotal\.ts$/);
  const renamed = { ...mapJson, sources: mapJson.sources.map((x: string) => `v2/${x.replace(/^(\.\.\/)+/, '')}`) };
  const v2 = await zipEntries({ 'static/js/app.js.map': JSON.stringify(renamed) });
  assert.equal((await uploadZip(s, v2, { ...ident, needCover: true })).status, 200);
  const after = (await s.post('/parse_stack', { ...ident, stack: realStack })).body.content.frames[0];
  assert.match(after.source, /^v2\/src\/cart\/subtotal\.ts$/);
  assert.equal((await s.post('/delete', ident)).status, 200);
  const gone = (await s.post('/parse_stack', { ...ident, stack: realStack })).body.content.frames[0];
  assert.equal(gone.reason, 'NoSourceMap');
});

test('limits: a 10 MB stack or 100 000 frames (over 1 MiB) get 413; 45 000 short frames resolve the first 1000, truncated', async () => {
  const huge = await s.post('/parse_stack', { ...id, stack: 'x'.repeat(10 * 1024 * 1024) });
  assert.equal(huge.status, 413);
  assert.equal(huge.body.errorCode, 'Stack.TooLarge');
  const manyFrames = await s.post('/parse_stack', { ...id, frames: Array(100_000).fill({ url: URL_JS, line: 1, column: 1 }) });
  assert.equal(manyFrames.status, 413);
  assert.equal(manyFrames.body.errorCode, 'Stack.TooLarge');
  const manyLines = await s.post('/parse_stack', {
    ...id,
    stack: `Error\n${Array(100_000).fill('    at f (https://x/a.js:1:1)').join('\n')}`,
  });
  assert.equal(manyLines.status, 413);
  const top = (await s.post('/parse_stack', { ...id, stack: realStack })).body.content.frames[0];
  const line = `    at f (${URL_JS}:${top.line}:${top.column})`;
  const many = await s.post('/parse_stack', { ...id, stack: `Error: many\n${Array(45_000).fill('    at f (a.js:1:1)').join('\n')}` });
  assert.equal(many.status, 200);
  assert.equal(many.body.content.truncated, true);
  assert.equal(many.body.content.frames.length, 1000);
  const mixed = await s.post('/parse_stack', { ...id, stack: `Error\n${Array(1500).fill(line).join('\n')}` });
  assert.equal(mixed.body.content.frames.filter((f: any) => f.resolved).length, 1000);
});

test('delete racing with parse_stack: every answer is 200 with frames resolved or NoSourceMap, never an error', async () => {
  const ident = { appId: 'web', version: 'race' };
  for (let round = 0; round < 5; round++) {
    assert.equal((await uploadZip(s, await zipDir(dist), { ...ident, needCover: true })).status, 200);
    const answers = await Promise.all([
      ...Array.from({ length: 10 }, () => s.post('/parse_stack', { ...ident, stack: realStack })),
      s.post('/delete', ident),
    ]);
    for (const a of answers.slice(0, 10)) {
      assert.equal(a.status, 200, JSON.stringify(a.body));
      const f = a.body.content.frames[0];
      assert.ok(f.resolved || f.reason === 'NoSourceMap', JSON.stringify(f));
    }
    assert.equal(answers[10]!.status, 200);
  }
});

test('a map larger than MAPVAULT_MAX_MAP_BYTES is not loaded: its frames are NoSourceMap saying why', async () => {
  const small = await startServer({ MAPVAULT_MAX_MAP_BYTES: '100' });
  try {
    assert.equal((await uploadZip(small, await zipDir(dist), id)).status, 200);
    const r = await small.post('/parse_stack', { ...id, stack: realStack });
    assert.equal(r.status, 200);
    const top = r.body.content.frames[0];
    assert.equal(top.resolved, false);
    assert.equal(top.reason, 'NoSourceMap');
    assert.match(top.detail, /static\/js\/app\.js\.map is \d+ bytes; files over 100 bytes are not loaded/);
  } finally {
    await small.close();
  }
});
