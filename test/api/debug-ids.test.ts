/**
 * Debug IDs over HTTP (issue #12 §2): read at merge and upload_file_content from a real esbuild
 * build given IDs by `mapvault inject`'s code, shown by file_tree, and used by parse_stack (Datadog's
 * `debugIds` and Sentry's `debug_meta`) across versions and URL paths, before the path rules.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TraceMap, eachMapping } from '@jridgewell/trace-mapping';
import { startServer, uploadZip, KEY_B, type TestServer } from '../helpers/server.ts';
import { buildApp, zipDir, zipEntries } from '../helpers/fixtures.ts';
import { injectDebugIds } from '../../src/cli/inject.ts';
import { mapDebugId } from '../../src/symbolicate/debug-id.ts';

const MAP = 'static/js/app.js.map';
const STORED_URL = 'https://cdn.example.com/static/js/app.js';
let s: TestServer;
let dist: string;
let debugId: string;
/** A generated position with a source, 1-based as browsers print it. */
let at: { line: number; column: number; source: string };

before(async () => {
  s = await startServer();
  ({ dist } = await buildApp());
  await injectDebugIds(dist);
  const mapText = await readFile(join(dist, MAP), 'utf8');
  debugId = mapDebugId(JSON.parse(mapText))!;
  assert.ok(debugId);
  eachMapping(new TraceMap(mapText), (m) => {
    if (!at && m.source) at = { line: m.generatedLine, column: m.generatedColumn + 1, source: m.source };
  });
  const merged = await uploadZip(s, await zipDir(dist), { appId: 'web', version: '1.0.0', env: 'prod' });
  assert.equal(merged.status, 200, JSON.stringify(merged.body));
});
after(() => s.close());

const frame = (url: string) => ({ url, line: at.line, column: at.column });

test('file_tree shows the debug ID of the script and of its map', async () => {
  const tree = await s.post('/file_tree', { appId: 'web', version: '1.0.0', env: 'prod' });
  assert.equal(tree.status, 200);
  const byPath = Object.fromEntries((tree.body.content.files as { path: string; debugId?: string }[]).map((f) => [f.path, f.debugId]));
  assert.deepEqual(byPath, { 'static/js/app.js': debugId, [MAP]: debugId });
});

test('parse_stack resolves through a debug ID for another version and another URL path (Datadog and Sentry shapes)', async () => {
  const url = 'https://other-cdn.example.net/v2/bundle/app.min.js?x=1';
  const datadog = await s.post('/parse_stack', {
    appId: 'web',
    version: '2.0.0',
    env: 'prod',
    frames: [frame(url)],
    debugIds: { [url]: debugId.toUpperCase() },
  });
  assert.equal(datadog.status, 200, JSON.stringify(datadog.body));
  const f = datadog.body.content.frames[0];
  assert.equal(f.resolved, true, JSON.stringify(f));
  assert.equal(f.source, at.source);
  assert.deepEqual(f.match, { by: 'debugId', map: MAP, debugId, from: { appId: 'web', version: '1.0.0', env: 'prod' } });

  const sentry = await s.post('/parse_stack', {
    appId: 'web',
    version: '3.0.0',
    env: 'prod',
    stack: `Error: x\n    at run (${url}:${at.line}:${at.column})`,
    debug_meta: {
      images: [
        { type: 'other', code_file: 'x' },
        { type: 'sourcemap', code_file: url, debug_id: debugId },
      ],
    },
  });
  assert.equal(sentry.status, 200, JSON.stringify(sentry.body));
  assert.equal(sentry.body.content.frames[0].match.by, 'debugId');
  assert.match(sentry.body.content.stack, new RegExp(`at run \\(${at.source.replace(/[.]/g, '\\.')}:\\d+:\\d+\\)`));

  // The ID is matched by the URL's path too (host and query ignored), and only by a script URL given.
  const byPath = await s.post('/parse_stack', {
    appId: 'web',
    version: '2.0.0',
    frames: [frame('https://a.example/v2/bundle/app.min.js')],
    debugIds: { [url]: debugId },
  });
  assert.equal(byPath.body.content.frames[0].match.by, 'debugId');
  const none = await s.post('/parse_stack', { appId: 'web', version: '2.0.0', env: 'prod', frames: [frame(url)] });
  assert.equal(none.body.content.frames[0].resolved, false, 'without the debug ID nothing is stored for 2.0.0');
});

test('a debug ID that finds nothing falls back to the path rules, and says what was tried', async () => {
  const unknown = '00000000-0000-4000-8000-000000000000';
  const r = await s.post('/parse_stack', {
    appId: 'web',
    version: '1.0.0',
    env: 'prod',
    frames: [frame(STORED_URL), frame('https://cdn.example.com/static/js/gone.js')],
    debugIds: { [STORED_URL]: unknown, 'https://cdn.example.com/static/js/gone.js': unknown },
  });
  assert.equal(r.status, 200);
  const [hit, miss] = r.body.content.frames;
  assert.equal(hit.resolved, true);
  assert.deepEqual(hit.match, { by: 'path', map: MAP, debugId: unknown });
  assert.equal(miss.resolved, false);
  assert.equal(miss.match.tried[0], `debug ID ${unknown}`);
  assert.match(miss.detail, /no stored file carries debug ID/);

  // Another workspace's debug IDs are not found.
  const other = await s.post(
    '/parse_stack',
    { appId: 'web', version: '1.0.0', env: 'prod', frames: [frame(STORED_URL)], debugIds: { [STORED_URL]: debugId } },
    KEY_B,
  );
  assert.equal(other.body.content.frames[0].resolved, false);
});

test('malformed debug IDs are refused with 400 Param.Invalid', async () => {
  const bad = await s.post('/parse_stack', { appId: 'web', frames: [frame(STORED_URL)], debugIds: { [STORED_URL]: 'not-a-uuid' } });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.errorCode, 'Param.Invalid');
  const badSentry = await s.post('/parse_stack', {
    appId: 'web',
    frames: [frame(STORED_URL)],
    debug_meta: { images: [{ type: 'sourcemap', code_file: STORED_URL, debug_id: 'nope' }] },
  });
  assert.equal(badSentry.status, 400);
  assert.equal(badSentry.body.errorCode, 'Param.Invalid');
});

test("a debug ID only on the script finds the map by the path rules in the script's tree; replacing the tree forgets its IDs", async () => {
  const id = { appId: 'scriptonly', version: '1', env: '' };
  const script = await readFile(join(dist, 'static/js/app.js'), 'utf8'); // esbuild's external maps have no sourceMappingURL
  const map = JSON.parse(await readFile(join(dist, MAP), 'utf8')) as Record<string, unknown>;
  delete map.debugId;
  const merged = await uploadZip(
    s,
    await zipEntries({ 'assets/app.js': `${script}//# sourceMappingURL=maps/app.map\n`, 'assets/maps/app.map': JSON.stringify(map) }),
    id,
  );
  assert.equal(merged.status, 200, JSON.stringify(merged.body));
  const url = 'https://x.example/elsewhere/main.js';
  const r = await s.post('/parse_stack', { ...id, version: '9', frames: [frame(url)], debugIds: { [url]: debugId } });
  // The newest tree carrying the ID is this one: its script names its map.
  assert.deepEqual(r.body.content.frames[0].match, { by: 'debugId', map: 'assets/maps/app.map', debugId, from: id });

  // Replaced by a build without IDs: the ID now leads to web 1.0.0 only.
  const replaced = await uploadZip(s, await zipEntries({ 'assets/app.js': 'x()\n', 'assets/app.js.map': JSON.stringify(map) }), {
    ...id,
    needCover: true,
  });
  assert.equal(replaced.status, 200);
  const again = await s.post('/parse_stack', { ...id, version: '9', frames: [frame(url)], debugIds: { [url]: debugId } });
  assert.deepEqual(again.body.content.frames[0].match.from, { appId: 'web', version: '1.0.0', env: 'prod' });
});

test('upload_file_content indexes the debug ID of the file it writes', async () => {
  const id = { appId: 'single', version: '1', env: 'prod' };
  const map = await readFile(join(dist, MAP), 'utf8');
  const fresh = '11111111-2222-4333-8444-555555555555';
  const edited = JSON.stringify({ ...JSON.parse(map), debugId: fresh });
  assert.equal((await s.post('/upload_file_content', { ...id, filename: 'js/a.js.map', content: edited })).status, 200);
  const tree = await s.post('/file_tree', id);
  assert.equal(tree.body.content.files[0].debugId, fresh);
  const url = 'https://y.example/z.js';
  const r = await s.post('/parse_stack', { appId: 'single', version: 'other', frames: [frame(url)], debugIds: { [url]: fresh } });
  assert.deepEqual(r.body.content.frames[0].match, { by: 'debugId', map: 'js/a.js.map', debugId: fresh, from: id });
  // Deleting the sourcemap forgets it.
  assert.equal((await s.post('/delete', id)).status, 200);
  const gone = await s.post('/parse_stack', { appId: 'single', version: 'other', frames: [frame(url)], debugIds: { [url]: fresh } });
  assert.equal(gone.body.content.frames[0].resolved, false);
});
