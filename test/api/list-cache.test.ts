import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, uploadZip, KEY_B, type TestServer } from '../helpers/server.ts';
import { zipEntries } from '../helpers/fixtures.ts';

// Two servers on one data dir stand in for two nodes sharing a catalog: each keeps its own
// `list` answers, and every write through either must show in the other's next listing.
let dataDir: string;
let a: TestServer;
let b: TestServer;
let uncached: TestServer;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mapvault-list-cache-'));
  a = await startServer({}, { dataDir });
  b = await startServer({}, { dataDir });
  uncached = await startServer({ MAPVAULT_LIST_CACHE_BYTES: '0' }, { dataDir });
});
after(async () => {
  await Promise.all([a.close(), b.close(), uncached.close()]);
  await rm(dataDir, { recursive: true, force: true });
});

const zip = (text: string) =>
  zipEntries({ 'static/js/app.js': text, 'static/js/app.js.map': '{"version":3,"sources":["a.ts"],"names":[],"mappings":"AAAA"}' });

async function listed(s: TestServer, appId = 'cached') {
  const r = await s.get(`/list?appId=${appId}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r;
}
const summary = (r: { body: any }) => r.body.content.map((e: any) => `${e.version}:${e.fileCount}:${e.size}:${e.sha256.slice(0, 8)}`);

/** Both servers list the same as a server that keeps nothing, and tell it with fresh traceIds. */
async function assertAllAgree(expectedVersions: string[]) {
  const [fromA, fromB, fresh] = [await listed(a), await listed(b), await listed(uncached)];
  assert.deepEqual(
    fresh.body.content.map((e: any) => e.version),
    expectedVersions,
  );
  assert.deepEqual(summary(fromA), summary(fresh));
  assert.deepEqual(summary(fromB), summary(fresh));
  assert.deepEqual(fromA.body.content, fresh.body.content);
  assert.notEqual(fromA.body.traceId, (await listed(a)).body.traceId, 'a kept answer still gets its own traceId');
  assert.equal(fromA.headers.get('x-trace-id'), fromA.body.traceId);
}

test('a kept list answer is never stale: publish, overwrite, single-file upload and delete on one server show on the other', async () => {
  assert.deepEqual((await listed(a)).body.content, []);
  assert.equal((await uploadZip(a, await zip('v1'), { appId: 'cached', version: '1' })).status, 200);
  await assertAllAgree(['1']);
  await assertAllAgree(['1']); // the second round is answered from what each server kept

  assert.equal((await uploadZip(b, await zip('v2'), { appId: 'cached', version: '2' })).status, 200);
  await assertAllAgree(['2', '1']);

  const before = summary(await listed(a));
  assert.equal(
    (await a.post('/upload_file_content', { appId: 'cached', version: '2', filename: 'static/js/extra.js', content: 'x' })).status,
    200,
  );
  await assertAllAgree(['2', '1']);
  assert.notDeepEqual(summary(await listed(b)), before, 'fileCount and size moved');
  assert.equal((await listed(b)).body.content[0].fileCount, 3);

  assert.equal((await uploadZip(b, await zip('v1, rebuilt'), { appId: 'cached', version: '1', needCover: true })).status, 200);
  await assertAllAgree(['1', '2']);

  assert.equal((await a.post('/delete', { appId: 'cached', version: '2' })).status, 200);
  await assertAllAgree(['1']);
});

test('kept answers stay per workspace', async () => {
  assert.equal((await uploadZip(a, await zip('w'), { appId: 'tenant', version: '1' })).status, 200);
  assert.equal((await listed(a, 'tenant')).body.content.length, 1);
  const other = await a.get('/list?appId=tenant', KEY_B);
  assert.deepEqual(other.body.content, []);
  assert.deepEqual((await listed(a, 'tenant')).body.content[0].declaration, { organization: 'workspace-a' });
});
