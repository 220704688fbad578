import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startServer, uploadPart, uploadZip, type TestServer } from '../helpers/server.ts';
import { zipEntries } from '../helpers/fixtures.ts';

let s: TestServer;
before(async () => (s = await startServer({ MAPVAULT_UPLOAD_TTL: '1h' })));
after(() => s.close());

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

test('unfinished tasks expire after MAPVAULT_UPLOAD_TTL; the sweep deletes their parts', async () => {
  const t0 = Date.now();
  s.clock.now = t0;
  const init = await s.post('/multipart_upload_init', { appId: 'exp', version: '1' });
  const uploadId = init.body.content.uploadId;
  assert.equal((await uploadPart(s, uploadId, 0, Buffer.from('part zero'))).status, 200);
  const listed = await s.post('/part_list', { uploadId });
  assert.equal(listed.body.content.expiresAt, t0 + 3_600_000);
  const partsDir = join(s.dataDir, 'blobs', 'uploads', uploadId);
  assert.equal((await readdir(partsDir)).length, 1);

  s.clock.now = t0 + 3_600_000 - 1;
  assert.equal((await s.post('/part_list', { uploadId })).status, 200, 'still alive just before the TTL');
  assert.deepEqual((await s.mv.sweeper.sweep(s.clock.now)).expired, []);

  s.clock.now = t0 + 3_600_000;
  const gone = await s.post('/part_list', { uploadId });
  assert.equal(gone.status, 404);
  assert.equal(gone.body.errorCode, 'Upload.NotFound');
  assert.equal((await uploadPart(s, uploadId, 1, Buffer.from('late'))).status, 404, 'a late part is refused');
  const swept = await s.mv.sweeper.sweep(s.clock.now);
  assert.deepEqual(swept.expired, [uploadId]);
  assert.ok(swept.collected.includes(`uploads/${uploadId}/`));
  assert.equal(await exists(partsDir), false, 'the parts are deleted from disk');
  s.clock.now = 0;
});

test('a reader polling file_tree and file while an overwrite merges sees the old tree or the new, never a mix', async () => {
  const id = { appId: 'atomic', version: '1', env: 'prod' };
  const tree = (version: string, names: string[]) =>
    Object.fromEntries(
      names.map((n) => [`static/js/${n}.js.map`, JSON.stringify({ version: 3, file: version, sources: [], names: [], mappings: '' })]),
    );
  const v1Names = Array.from({ length: 400 }, (_, i) => `v1-${i}`);
  const v2Names = Array.from({ length: 400 }, (_, i) => `v2-${i}`);
  const shared = ['shared'];
  assert.equal((await uploadZip(s, await zipEntries({ ...tree('v1', [...v1Names, ...shared]) }), id)).status, 200);

  const v2zip = await zipEntries(tree('v2', [...v2Names, ...shared]));
  const init = await s.post('/multipart_upload_init', { ...id, needCover: true });
  const uploadId = init.body.content.uploadId;
  await uploadPart(s, uploadId, 0, v2zip);

  const seen = new Set<string>();
  let merging = true;
  const poll = (async () => {
    let afterMerge = 0;
    while (merging || afterMerge++ < 3) {
      const t = await s.post('/file_tree', id);
      assert.equal(t.status, 200);
      const paths: string[] = t.body.content.files.map((f: { path: string }) => f.path);
      const versions = new Set(paths.filter((p) => !p.includes('shared')).map((p) => p.split('/')[2]!.split('-')[0]));
      assert.equal(versions.size, 1, `file_tree mixes trees: ${[...versions]}`);
      assert.equal(paths.length, 401);
      const v = [...versions][0]!;
      const f = await s.get(`/file?appId=atomic&version=1&env=prod&path=static/js/shared.js.map`);
      assert.equal(f.status, 200);
      seen.add(`${v}:${f.body.file}`);
    }
  })();
  const merged = await s.post('/part_merge', { uploadId });
  merging = false;
  await poll;
  assert.equal(merged.status, 200, JSON.stringify(merged.body));
  assert.ok(seen.has('v1:v1') || seen.has('v1:v2'), `the old tree was observed: ${[...seen]}`);
  assert.ok(seen.has('v2:v2'), `the new tree was observed: ${[...seen]}`);
  const final = await s.post('/file_tree', id);
  assert.ok(final.body.content.files.every((f: { path: string }) => !f.path.includes('v1-')));
});
