/**
 * A map whose generated script arrives later (issue #12 §1/§4), over HTTP: a map written alone by
 * upload_file_content is indexed without function names; when its script is written afterwards
 * (upload_file_content, or a later merge with needCover) the map's index is rebuilt with them, and
 * from the script's commit on no answer comes from the old index: an index records the script its
 * names came from, so one built without (or with another) script is rebuilt, never trusted.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import vm from 'node:vm';
import { blobBytes, startServer, uploadZip, type TestServer } from '../helpers/server.ts';
import { buildApp, zipEntries } from '../helpers/fixtures.ts';
import { mapIndexPath, treePrefix } from '../../src/storage/blob-keys.ts';
import { readIndex } from '../../src/symbolicate/index/reader.ts';

const URL_JS = 'https://cdn.example.com/static/js/app.js';
const JS = 'static/js/app.js';
const MAP = `${JS}.map`;

let dist: string;
let script: string;
let map: string;
/** The error the built app throws, its frames at URL_JS. */
let stack: string;
let s: TestServer;
let dataDir: string;
/** What the map and its script uploaded together give: the names every later route must reach. */
let reference: Frame[];

before(async () => {
  ({ dist } = await buildApp());
  script = await readFile(join(dist, JS), 'utf8');
  map = await readFile(join(dist, MAP), 'utf8');
  const sandbox: { __app?: { main(items: number[]): number } } = {};
  vm.runInNewContext(script, sandbox, { filename: join(dist, JS) });
  try {
    sandbox.__app!.main([1, -2]);
  } catch (err) {
    stack = (err as Error).stack!.split(join(dist, JS)).join(URL_JS);
  }
  assert.match(stack, /negative price/);

  dataDir = await mkdtemp(join(tmpdir(), 'mapvault-late-script-'));
  s = await startServer({}, { dataDir });
  const ref = { appId: 'together', version: '1', env: 'prod' };
  const merged = await uploadZip(s, await zipEntries({ [JS]: script, [MAP]: map }), ref);
  assert.equal(merged.status, 200, JSON.stringify(merged.body));
  reference = await names(s, ref);
  for (const f of reference) assert.equal(f.originalFunctionSource, 'script');
});
after(async () => {
  await s.close();
  await rm(dataDir, { recursive: true, force: true });
});

type Frame = { resolved: boolean; originalFunction: string | null; originalFunctionSource: string; originalFunctionDetail?: string };

async function names(s: TestServer, id: { appId: string; version: string; env: string }): Promise<Frame[]> {
  const r = await s.post('/parse_stack', { ...id, stack });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const frames = (r.body.content.frames as Frame[]).filter((f) => f.resolved);
  assert.ok(frames.length >= 2, JSON.stringify(r.body.content));
  return frames;
}
const fields = (frames: Frame[]) => frames.map((f) => [f.originalFunction, f.originalFunctionSource]);

test('upload_file_content: the map first (no names, says why), then its script: names at once, from a rebuilt index', async () => {
  const id = { appId: 'map-first', version: '1', env: 'prod' };
  assert.equal((await s.post('/upload_file_content', { ...id, filename: MAP, content: map })).status, 200);
  const before = await names(s, id);
  for (const f of before) {
    assert.notEqual(f.originalFunctionSource, 'script');
    assert.match(f.originalFunctionDetail ?? '', /generated script is not stored/);
  }

  assert.equal((await s.post('/upload_file_content', { ...id, filename: JS, content: script })).status, 200);
  // The index in the tree was rebuilt with the script at upload (before any request asks).
  const sm = (await s.mv.catalog.getSourceMap({ workspace: 'workspace-a', ...id }))!;
  const index = readIndex((await blobBytes(s, treePrefix(sm.revisionId) + mapIndexPath(MAP)))!);
  assert.equal(index.functionMeta?.source, 'script');
  assert.match(index.functionMeta?.script ?? '', /^[0-9a-f]{64}$/);
  // The very next answer (the cache keyed by the tree's new version) has the names.
  const parses = s.mv.resolver.stats().parses;
  assert.deepEqual(fields(await names(s, id)), fields(reference));
  assert.equal(s.mv.resolver.stats().parses, parses, 'read from the stored index, not rebuilt');

  // After a restart the stored index answers: nothing is parsed.
  await s.close();
  s = await startServer({}, { dataDir });
  assert.deepEqual(fields(await names(s, id)), fields(reference));
  assert.deepEqual([s.mv.resolver.stats().parses, s.mv.resolver.stats().indexReads], [0, 1]);
});

test('an index built before the script arrived is never trusted once the script is stored (a crash before the index copy)', async () => {
  const id = { appId: 'stale-index', version: '1', env: 'prod' };
  assert.equal((await s.post('/upload_file_content', { ...id, filename: MAP, content: map })).status, 200);
  const sm = (await s.mv.catalog.getSourceMap({ workspace: 'workspace-a', ...id }))!;
  const key = treePrefix(sm.revisionId) + mapIndexPath(MAP);
  const withoutNames = (await blobBytes(s, key))!;
  assert.equal(readIndex(withoutNames).functionMeta?.source, 'script-missing');
  assert.equal((await s.post('/upload_file_content', { ...id, filename: JS, content: script })).status, 200);
  // Put the old index back, as if the process died between the script's commit and the copy.
  await s.mv.blobs.put(key, Readable.from([withoutNames]));
  await s.close();
  s = await startServer({}, { dataDir });
  assert.deepEqual(fields(await names(s, id)), fields(reference));
  assert.deepEqual([s.mv.resolver.stats().parses, s.mv.resolver.stats().indexReads], [1, 0], 'rebuilt from the map and the stored script');
});

test('upload_file_content: the script first, then the map: the map is indexed with the stored script', async () => {
  const id = { appId: 'script-first', version: '1', env: 'prod' };
  assert.equal((await s.post('/upload_file_content', { ...id, filename: JS, content: script })).status, 200);
  assert.equal((await s.post('/upload_file_content', { ...id, filename: MAP, content: map })).status, 200);
  const sm = (await s.mv.catalog.getSourceMap({ workspace: 'workspace-a', ...id }))!;
  const index = readIndex((await blobBytes(s, treePrefix(sm.revisionId) + mapIndexPath(MAP)))!);
  assert.equal(index.functionMeta?.source, 'script');
  assert.deepEqual(fields(await names(s, id)), fields(reference));
});

test('a merge of the map alone, then a merge with needCover bringing the script: names', async () => {
  const id = { appId: 'merged-later', version: '1', env: 'prod' };
  const first = await uploadZip(s, await zipEntries({ [MAP]: map }), id);
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.match(first.body.content.warnings.join('\n'), /its generated script static\/js\/app\.js is not in the upload/);
  for (const f of await names(s, id)) assert.notEqual(f.originalFunctionSource, 'script');
  const second = await uploadZip(s, await zipEntries({ [JS]: script, [MAP]: map }), { ...id, needCover: true });
  assert.equal(second.status, 200, JSON.stringify(second.body));
  assert.deepEqual(second.body.content.warnings, []);
  assert.deepEqual(fields(await names(s, id)), fields(reference));
});
