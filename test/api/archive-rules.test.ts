import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startServer, uploadPart, uploadZip, type TestServer } from '../helpers/server.ts';
import { zipEntries } from '../helpers/fixtures.ts';
import { craftZip, deflated, zerosDeflate } from '../helpers/zip-craft.ts';

let s: TestServer;
const id = { appId: 'rules', version: '1', env: 'prod' };
const MAP = '{"version":3,"sources":["a.ts"],"names":[],"mappings":"AAAA"}';

before(async () => {
  s = await startServer();
  const first = await uploadZip(s, await zipEntries({ 'static/js/app.js.map': MAP }), id);
  assert.equal(first.status, 200);
});
after(() => s.close());

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );
const file = (name: string, content = 'x') => ({ name, data: Buffer.from(content), content: Buffer.from(content) });

const HOSTILE: Array<[string, Buffer, string]> = [
  ['zip-slip ../', craftZip([file('../evil.js.map')]), 'Archive.UnsafePath'],
  ['absolute path', craftZip([file('/etc/evil.map')]), 'Archive.UnsafePath'],
  ['backslash traversal', craftZip([file('..\\..\\evil.map')]), 'Archive.UnsafePath'],
  ['drive letter', craftZip([file('C:/evil.map')]), 'Archive.UnsafePath'],
  ['symlink entry', craftZip([{ ...file('static/js/link.map', '/etc/passwd'), mode: 0o120777 }]), 'Archive.UnsafeEntry'],
  ['fifo entry', craftZip([{ ...file('static/fifo'), mode: 0o010644 }]), 'Archive.UnsafeEntry'],
  [
    '1 GiB bomb',
    craftZip([{ name: 'bomb.map', data: zerosDeflate(1024), method: 8, crc32: 0, uncompressedSize: 1024 ** 3 }]),
    'Archive.TooLarge',
  ],
  ['ratio bomb', craftZip([deflated('zeros.map', Buffer.alloc(8 * 1024 * 1024))]), 'Archive.TooLarge'],
  ['not a zip', Buffer.from('this is not a zip file at all, just text'.repeat(10)), 'Archive.Corrupt'],
  ['crc mismatch', craftZip([{ ...file('a.map', MAP), crc32: 12345 }]), 'Archive.Corrupt'],
  ['duplicate paths', craftZip([file('a.map', MAP), file('./a.map', MAP)]), 'Archive.DuplicatePath'],
  ['NUL in a name', craftZip([file('a\u0000b.js.map')]), 'Archive.UnsafePath'],
  ['a 5000-character name', craftZip([file(`${'a'.repeat(4996)}.map`)]), 'Archive.UnsafePath'],
  ['a directory entry carrying data', craftZip([{ name: 'static/', data: Buffer.from('xyz') }]), 'Archive.UnsafeEntry'],
  ['a directory mode on a file name', craftZip([{ ...file('static/js'), mode: 0o40755 }]), 'Archive.UnsafeEntry'],
  [
    'a header that lies (1000 bytes declared, 50 MiB inflated)',
    craftZip([{ name: 'liar.js.map', data: zerosDeflate(50), method: 8, uncompressedSize: 1000, crc32: 0 }]),
    'Archive.TooLarge',
  ],
  [
    'a zip64 record declaring 8 GiB',
    craftZip([{ ...deflated('huge.map', Buffer.from('tiny')), zip64: true, uncompressedSize: 8 * 1024 ** 3 }], { zip64Eocd: true }),
    'Archive.TooLarge',
  ],
  ['200 000 tiny entries', craftZip(Array.from({ length: 200_000 }, (_, i) => ({ name: `f${i}` }))), 'Archive.TooLarge'],
  ['a truncated zip', craftZip([file('a.map', MAP), deflated('b.map', Buffer.from(MAP.repeat(50)))]).subarray(0, 200), 'Archive.Corrupt'],
  ['encrypted', craftZip([deflated('a.map', Buffer.from(MAP), { flags: 1 })]), 'Archive.Encrypted'],
];

for (const [what, zip, errorCode] of HOSTILE) {
  test(`merge refuses ${what} with 422 ${errorCode}; the old sourcemap and the task are untouched`, async () => {
    const init = await s.post('/multipart_upload_init', { ...id, needCover: true });
    const uploadId = init.body.content.uploadId;
    const partSize = 8 * 1024 * 1024;
    for (let i = 0; i * partSize < zip.length; i++) {
      assert.equal((await uploadPart(s, uploadId, i, zip.subarray(i * partSize, (i + 1) * partSize))).status, 200);
    }
    const merged = await s.post('/part_merge', { uploadId });
    assert.equal(merged.status, 422, JSON.stringify(merged.body));
    assert.equal(merged.body.errorCode, errorCode);
    assert.equal(merged.body.success, false);

    const tree = await s.post('/file_tree', id);
    assert.deepEqual(
      tree.body.content.files.map((f: { path: string }) => f.path),
      ['static/js/app.js.map'],
    );
    assert.equal((await s.get('/file?appId=rules&version=1&env=prod&path=static/js/app.js.map')).body.sources[0], 'a.ts');
    // Nothing of the refused archive was left on disk: only the live revision's tree exists.
    assert.equal((await readdir(join(s.dataDir, 'blobs', 'trees'))).length, 1);
    // Nothing escaped the data dir, and the server is still healthy.
    for (const escaped of ['evil.js.map', 'evil.map', join('etc', 'evil.map')]) {
      assert.equal(await exists(join(s.dataDir, '..', escaped)), false);
      assert.equal(await exists(join(s.dataDir, 'blobs', escaped)), false);
    }
    assert.equal((await s.get(`${s.url}/healthz`, null)).status, 200);
    // The task is still there: fixable or cancellable.
    assert.equal((await s.post('/part_list', { uploadId })).body.content.chunkIndexs[0], 0);
    assert.equal((await s.post('/upload_cancel', { uploadId })).status, 200);
  });
}

test('after a refused merge, fixing the part makes the same task mergeable', async () => {
  const init = await s.post('/multipart_upload_init', { ...id, needCover: true });
  const uploadId = init.body.content.uploadId;
  await uploadPart(s, uploadId, 0, craftZip([file('../evil.map')]));
  assert.equal((await s.post('/part_merge', { uploadId })).status, 422);
  await uploadPart(s, uploadId, 0, await zipEntries({ 'static/js/fixed.js.map': MAP }));
  const merged = await s.post('/part_merge', { uploadId });
  assert.equal(merged.status, 200, JSON.stringify(merged.body));
  const tree = await s.post('/file_tree', id);
  assert.deepEqual(
    tree.body.content.files.map((f: { path: string }) => f.path),
    ['static/js/fixed.js.map'],
  );
});

test('archive limits are configurable (entry count)', async () => {
  const small = await startServer({ MAPVAULT_ARCHIVE_MAX_ENTRIES: '3' });
  try {
    const zip = await zipEntries({ 'a.map': MAP, 'b.map': MAP, 'c.map': MAP, 'd.map': MAP });
    const r = await uploadZip(small, zip, { appId: 'limits' });
    assert.equal(r.status, 422);
    assert.equal(r.body.errorCode, 'Archive.TooLarge');
    assert.match(r.body.message, /3/);
  } finally {
    await small.close();
  }
});
