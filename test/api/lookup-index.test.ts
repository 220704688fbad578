/**
 * The lookup index over HTTP: built at merge and at upload_file_content, stored beside the map,
 * read (not the map) by the first parse_stack after a restart, rebuilt when the map changes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { TraceMap, eachMapping } from '@jridgewell/trace-mapping';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { blobBytes, startServer, uploadZip } from '../helpers/server.ts';
import { buildApp, zipDir } from '../helpers/fixtures.ts';
import { indexMapSha256 } from '../../src/symbolicate/index/reader.ts';
import { mapIndexPath, treePrefix } from '../../src/storage/blob-keys.ts';

const URL_JS = 'https://cdn.example.com/static/js/app.js';
const MAP = 'static/js/app.js.map';
const id = { appId: 'indexed', version: '1.0.0', env: 'prod' };

test('merge stores an index per map; after a restart parse_stack reads the index, not the map; upload_file_content re-indexes', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mapvault-index-'));
  const { dist } = await buildApp();
  let s = await startServer({}, { dataDir });
  try {
    const merged = await uploadZip(s, await zipDir(dist), id);
    assert.equal(merged.status, 200, JSON.stringify(merged.body));
    assert.deepEqual(merged.body.content.warnings, []);
    const sm = (await s.mv.catalog.getSourceMap({ workspace: 'workspace-a', ...id }))!;
    const file = (await s.mv.catalog.getFile(sm.revisionId, MAP))!;
    const index = await blobBytes(s, treePrefix(sm.revisionId) + mapIndexPath(MAP));
    assert.ok(index, 'the index is stored beside the map');
    assert.equal(indexMapSha256(index), file.sha256);
    // file_tree lists what was uploaded, not the index.
    const tree = await s.post('/file_tree', id);
    assert.ok(!JSON.stringify(tree.body).includes('.mvx'));
    await s.close();

    s = await startServer({}, { dataDir });
    let frame = { url: URL_JS, line: 0, column: 0 };
    eachMapping(new TraceMap(await readFile(join(dist, MAP), 'utf8')), (m) => {
      if (!frame.line && m.source) frame = { url: URL_JS, line: m.generatedLine, column: m.generatedColumn + 1 };
    });
    const r = await s.post('/parse_stack', { ...id, frames: [frame] });
    assert.equal(r.status, 200);
    assert.equal(r.body.content.frames[0].resolved, true, JSON.stringify(r.body.content.frames[0]));
    assert.deepEqual([s.mv.resolver.stats().parses, s.mv.resolver.stats().indexReads], [0, 1]);

    // A new map through upload_file_content: indexed at once, and the old index is never used for it.
    const newMap = JSON.stringify({ version: 3, sources: ['replaced.ts'], names: [], mappings: 'AAAA' });
    assert.equal((await s.post('/upload_file_content', { ...id, filename: MAP, content: newMap })).status, 200);
    const reindexed = await blobBytes(s, treePrefix(sm.revisionId) + mapIndexPath(MAP));
    assert.equal(indexMapSha256(reindexed!), (await s.mv.catalog.getFile(sm.revisionId, MAP))!.sha256);
    const after = await s.post('/parse_stack', { ...id, frames: [{ url: URL_JS, line: 1, column: 1 }] });
    assert.equal(after.body.content.frames[0].source, 'replaced.ts');
  } finally {
    await s.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('a stored index over twice MAPVAULT_MAX_MAP_BYTES is not loaded: the map is parsed instead, and the answer is the same', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mapvault-index-'));
  const { dist } = await buildApp();
  const env = { MAPVAULT_MAX_MAP_BYTES: String(1024 * 1024) };
  let s = await startServer(env, { dataDir });
  try {
    assert.equal((await uploadZip(s, await zipDir(dist), id)).status, 200);
    let frame = { url: URL_JS, line: 0, column: 0 };
    eachMapping(new TraceMap(await readFile(join(dist, MAP), 'utf8')), (m) => {
      if (!frame.line && m.source) frame = { url: URL_JS, line: m.generatedLine, column: m.generatedColumn + 1 };
    });
    const expected = (await s.post('/parse_stack', { ...id, frames: [frame] })).body.content.frames;
    // The map's real index grown past 2 MiB (twice the limit) by trailing bytes, which the reader
    // would otherwise ignore: it must not be read whole, nor used.
    const sm = (await s.mv.catalog.getSourceMap({ workspace: 'workspace-a', ...id }))!;
    const key = treePrefix(sm.revisionId) + mapIndexPath(MAP);
    const index = (await blobBytes(s, key))!;
    await s.mv.blobs.put(key, Readable.from([index, Buffer.alloc(2 * 1024 * 1024 + 1 - index.length, 0)]));
    await s.close();

    s = await startServer(env, { dataDir });
    const r = await s.post('/parse_stack', { ...id, frames: [frame] });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.content.frames, expected);
    assert.deepEqual(
      [s.mv.resolver.stats().parses, s.mv.resolver.stats().indexReads],
      [1, 0],
      'parsed from the map, not read from the index',
    );
  } finally {
    await s.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
