/**
 * The Java mapping-index cache of parse_stack, through real servers: its byte budget is
 * MAPVAULT_JAVA_CACHE_BYTES; a warm request does not locate or read the mapping again; a retired
 * tree (deleted, replaced, or edited by a single-file upload) drops its entry; and an index older
 * than its mapping (sha256 differs) is rebuilt from the mapping. /metrics reports the cache and the
 * Java frames by result.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, uploadZip, type TestServer } from '../helpers/server.ts';
import { zipEntries } from '../helpers/fixtures.ts';
import { sample } from '../helpers/metrics.ts';

const dir = join(import.meta.dirname, '../fixtures/java');
const mapping = readFileSync(join(dir, 'mapping.txt'));
const stack = readFileSync(join(dir, 'traces.txt'), 'utf8').split('=====\n')[0]!;
const servers: TestServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function serverWithMapping(env: Record<string, string>, id: { appId: string; version: string; env: string }) {
  const s = await startServer(env);
  servers.push(s);
  const merged = await uploadZip(s, await zipEntries({ [`${id.appId}-${id.env}-${id.version}/mapping.txt`]: mapping }), id);
  assert.equal(merged.status, 200, JSON.stringify(merged.body));
  return s;
}

async function retrace(s: TestServer, id: object, text = stack) {
  const r = await s.post('/parse_stack', { ...id, stack: text });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.content;
}

test('warm requests reuse the cached index: the mapping is located and loaded once per tree', async () => {
  const id = { appId: 'shop', version: '1', env: 'prod' };
  const s = await serverWithMapping({}, id);
  const first = await retrace(s, id);
  for (let i = 0; i < 3; i++) assert.deepEqual(await retrace(s, id), first);
  const st = s.mv.java.stats();
  assert.deepEqual([st.loads, st.hits, st.rebuilds, st.entries], [1, 3, 0, 1]);
  assert.equal(st.maxBytes, 128 * 1024 * 1024);
  assert.ok(st.bytes > mapping.length / 2, `${st.bytes}`);
});

test('MAPVAULT_JAVA_CACHE_BYTES bounds the cache: an index over the budget answers but is not kept', async () => {
  const id = { appId: 'shop', version: '1', env: 'prod' };
  const s = await serverWithMapping({ MAPVAULT_JAVA_CACHE_BYTES: '4KiB' }, id);
  const a = await retrace(s, id);
  const b = await retrace(s, id);
  assert.deepEqual(a, b);
  assert.ok(a.frames[0].resolved);
  const st = s.mv.java.stats();
  assert.deepEqual([st.maxBytes, st.entries, st.bytes, st.loads], [4096, 0, 0, 2]);
});

test('a retired tree drops its entry: delete, replace, single-file edit (then the stale index is rebuilt)', async () => {
  const id = { appId: 'shop', version: '2', env: 'prod' };
  const s = await serverWithMapping({}, id);
  await retrace(s, id);
  assert.equal(s.mv.java.stats().entries, 1);

  // A single-file upload of a changed mapping: the tree's entry goes, and the index stored at
  // merge (built from the old bytes) fails the sha256 check, so the mapping is indexed again.
  const edited = mapping.toString('utf8').replace('void lambda$main$0() -> j', 'void lambda$main$0$renamed() -> j');
  const put = await s.post('/upload_file_content', { ...id, filename: `shop-prod-2/mapping.txt`, content: edited });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  assert.equal(s.mv.java.stats().entries, 0);
  const after = await retrace(s, id, '\tat com.example.shop.Main.j(SourceFile:11)');
  assert.equal(after.frames[0].chain[0].method, 'lambda$main$0$renamed');
  assert.deepEqual([s.mv.java.stats().rebuilds, s.mv.java.stats().entries], [1, 1]);

  const del = await s.post('/delete', id);
  assert.equal(del.status, 200, JSON.stringify(del.body));
  assert.equal(s.mv.java.stats().entries, 0);
});

test('/metrics: the Java index cache (bytes, entries, hits, misses, rebuilds) and Java frames by result', async () => {
  const s = await startServer();
  servers.push(s);
  const id = { appId: 'metrics', version: '1', env: 'prod' };
  const small = ['a.B -> c:', '    1:1:void m():5 -> a', '    void x() -> b', '    void y() -> b', ''].join('\n');
  const merged = await uploadZip(s, await zipEntries({ 'metrics-prod-1/mapping.txt': small }), id);
  assert.equal(merged.status, 200, JSON.stringify(merged.body));
  const scrape = async () => (await fetch(`${s.url}/metrics`)).text();
  const before = await scrape();
  // resolved, ambiguous (two methods named b, no line), unresolved (no member z), unresolved (class not mapped)
  const trace =
    'java.lang.RuntimeException: x\n\tat c.a(SourceFile:1)\n\tat c.b(Unknown Source)\n\tat c.z(SourceFile:3)\n\tat d.e(SourceFile:1)';
  const first = await retrace(s, id, trace);
  await retrace(s, id, trace);
  const after = await scrape();
  const delta = (name: string, labels: Record<string, string> = {}) => sample(after, name, labels) - sample(before, name, labels);
  assert.deepEqual(
    first.frames.map((f: { resolved: boolean; alternatives?: unknown[]; reason?: string }) => [
      f.resolved,
      f.alternatives?.length ?? 0,
      f.reason ?? '',
    ]),
    [
      [true, 0, ''],
      [true, 2, ''],
      [false, 0, 'NoMapping'],
      [false, 0, 'NoMapping'],
    ],
  );
  assert.equal(delta('mapvault_java_frames_total', { result: 'resolved', reason: '' }), 2);
  assert.equal(delta('mapvault_java_frames_total', { result: 'ambiguous', reason: '' }), 2);
  assert.equal(delta('mapvault_java_frames_total', { result: 'unresolved', reason: 'NoMapping' }), 4);
  assert.equal(delta('mapvault_java_index_cache_misses_total'), 1);
  assert.equal(delta('mapvault_java_index_cache_hits_total'), 1);
  assert.equal(delta('mapvault_java_index_rebuilds_total'), 0);
  assert.equal(sample(after, 'mapvault_java_index_cache_entries'), 1);
  assert.equal(sample(after, 'mapvault_java_index_cache_bytes'), s.mv.java.stats().bytes);
  assert.ok(sample(after, 'mapvault_java_index_cache_bytes') > 0);
});

test('a mapping (or its index) over MAPVAULT_MAX_MAP_BYTES is not loaded: its frames answer unresolved with the reason', async () => {
  const id = { appId: 'shop', version: '3', env: 'prod' };
  const s = await serverWithMapping({ MAPVAULT_MAX_MAP_BYTES: '1KiB' }, id);
  const content = await retrace(s, id);
  assert.ok(content.frames.length > 0);
  for (const f of content.frames) assert.equal(f.resolved, false, JSON.stringify(f));
  assert.match(JSON.stringify(content.frames[0]), /MAPVAULT_MAX_MAP_BYTES/);
  assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
});
