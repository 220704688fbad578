import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startServer, uploadPart, uploadZip, KEY_B, type TestServer } from '../helpers/server.ts';
import { buildApp, zipDir, zipEntries } from '../helpers/fixtures.ts';

let s: TestServer;
let dist: string;
let zip: Buffer;

before(async () => {
  s = await startServer();
  ({ dist } = await buildApp());
  // Padding makes the archive span three 1 MiB parts, as a real app's maps would.
  const noise = randomBytes(2_500_000);
  zip = await zipDir(dist, { 'static/media/noise.bin': noise });
  assert.ok(zip.length > 2 * 1024 * 1024 && zip.length < 3 * 1024 * 1024, `zip is ${zip.length} bytes`);
});
after(() => s.close());

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

test('full flow: init, three parts out of order, part_list, merge, list, file_tree, file', async () => {
  const init = await s.post('/multipart_upload_init', { appId: 'shop', version: '1.0.0', env: 'prod' });
  assert.equal(init.status, 200);
  assert.equal(init.body.success, true);
  assert.equal(init.body.code, 200);
  assert.equal(init.body.errorCode, '');
  assert.match(init.body.traceId, /^TRACE-[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/);
  assert.equal(init.headers.get('x-trace-id'), init.body.traceId);
  const { uploadId, existsSameFile, existsOldTask, declaration } = init.body.content;
  assert.match(uploadId, /^[A-Za-z0-9]{22,64}$/);
  assert.equal(existsSameFile, false);
  assert.equal(existsOldTask, false);
  assert.equal(declaration.organization, 'workspace-a');

  const MiB = 1024 * 1024;
  const parts = [zip.subarray(0, MiB), zip.subarray(MiB, 2 * MiB), zip.subarray(2 * MiB)];
  for (const i of [2, 0, 1]) {
    const r = await uploadPart(s, uploadId, i, parts[i]!, { md5: md5(parts[i]!) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.content.chunkIndex, String(i));
    assert.equal(r.body.content.size, parts[i]!.length);
    assert.equal(r.body.content.sha256, sha256(parts[i]!));
    assert.equal(r.body.content.md5, md5(parts[i]!));
  }

  const list = await s.post('/part_list', { uploadId });
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.content.chunkIndexs, [0, 1, 2]);
  assert.equal(list.body.content.parts[1].sha256, sha256(parts[1]!));
  assert.equal(list.body.content.appId, 'shop');
  const listGet = await s.get(`/part_list?uploadId=${uploadId}`);
  assert.deepEqual(listGet.body.content.chunkIndexs, [0, 1, 2]);

  const merge = await s.post('/part_merge', { uploadId });
  assert.equal(merge.status, 200, JSON.stringify(merge.body));
  assert.equal(merge.body.content.sha256, sha256(zip));
  assert.equal(merge.body.content.size, zip.length);
  assert.equal(merge.body.content.fileCount, 3);
  assert.equal(merge.body.content.mapCount, 1);
  assert.deepEqual(merge.body.content.warnings, []);

  const again = await s.post('/part_merge', { uploadId });
  assert.equal(again.status, 404);
  assert.equal(again.body.errorCode, 'Upload.NotFound');

  const listed = await s.get('/list?appId=shop');
  assert.equal(listed.status, 200);
  assert.equal(listed.body.content.length, 1);
  const entry = listed.body.content[0];
  assert.equal(entry.version, '1.0.0');
  assert.equal(entry.env, 'prod');
  assert.equal(entry.sha256, sha256(zip));
  assert.ok(Math.abs(entry.createAt - Date.now() / 1000) < 60);

  const tree = await s.post('/file_tree', { appId: 'shop', version: '1.0.0', env: 'prod' });
  assert.deepEqual(
    tree.body.content.files.map((f: { path: string }) => f.path),
    ['static/js/app.js', 'static/js/app.js.map', 'static/media/noise.bin'],
  );

  const mapText = await readFile(join(dist, 'static/js/app.js.map'), 'utf8');
  const file = await s.get('/file?appId=shop&version=1.0.0&env=prod&path=static/js/app.js.map');
  assert.equal(file.status, 200);
  assert.deepEqual(file.body, JSON.parse(mapText));
  const missing = await s.get('/file?appId=shop&version=1.0.0&env=prod&path=static/js/nope.js.map');
  assert.equal(missing.status, 404);
  assert.equal(missing.body.errorCode, 'File.NotFound');
});

test('overwrite rules: existsSameFile, empty uploadId without needCover, replacement with it', async () => {
  const id = { appId: 'over', version: '2', env: '' };
  const first = await uploadZip(s, await zipEntries({ 'a.js.map': '{"version":3,"sources":[],"names":[],"mappings":""}' }), id);
  assert.equal(first.status, 200, JSON.stringify(first.body));

  const noCover = await s.post('/multipart_upload_init', id);
  assert.equal(noCover.status, 200);
  assert.equal(noCover.body.success, true);
  assert.equal(noCover.body.content.existsSameFile, true);
  assert.equal(noCover.body.content.uploadId, '');

  const v2 = await zipEntries({ 'b.js.map': '{"version":3,"sources":[],"names":[],"mappings":""}' });
  const cover = await uploadZip(s, v2, { ...id, needCover: true });
  assert.equal(cover.status, 200, JSON.stringify(cover.body));
  const tree = await s.post('/file_tree', id);
  assert.deepEqual(
    tree.body.content.files.map((f: { path: string }) => f.path),
    ['b.js.map'],
  );

  // A task opened before the sourcemap existed, without needCover, cannot overwrite it at merge.
  const other = { appId: 'over', version: '3' };
  const early = await s.post('/multipart_upload_init', other);
  const early2 = await s.post('/multipart_upload_init', other);
  assert.equal(early2.body.content.existsOldTask, true);
  assert.equal((await uploadZip(s, v2, other)).status, 200);
  await uploadPart(s, early.body.content.uploadId, 0, v2);
  const late = await s.post('/part_merge', { uploadId: early.body.content.uploadId });
  assert.equal(late.status, 409);
  assert.equal(late.body.errorCode, 'SourceMap.AlreadyExists');
});

test('resume via part_list, merge with a missing part, cancel and its aliases', async () => {
  const init = await s.post('/multipart_upload_init', { appId: 'resume', version: '1' });
  const uploadId = init.body.content.uploadId;
  const MiB = 1024 * 1024;
  await uploadPart(s, uploadId, 0, zip.subarray(0, MiB));
  await uploadPart(s, uploadId, 2, zip.subarray(2 * MiB));
  const listed = await s.post('/part_list', { uploadId });
  assert.deepEqual(listed.body.content.chunkIndexs, [0, 2]);

  const gap = await s.post('/part_merge', { uploadId });
  assert.equal(gap.status, 409);
  assert.equal(gap.body.errorCode, 'Parts.Missing');
  assert.deepEqual(gap.body.content.missing, [1]);
  assert.match(gap.body.message, /missing: 1/);

  // Resume: only the missing part is sent; re-sending an index replaces it.
  await uploadPart(s, uploadId, 1, Buffer.from('garbage'));
  await uploadPart(s, uploadId, 1, zip.subarray(MiB, 2 * MiB));
  const merged = await s.post('/part_meage', { uploadId });
  assert.equal(merged.status, 200, JSON.stringify(merged.body));
  assert.equal(merged.body.content.sha256, sha256(zip));

  for (const path of ['/upload_cancel', '/multipart_upload_cancel', '/cancel_upload']) {
    const t = await s.post('/multipart_upload_init', { appId: 'cancel', version: path.slice(1) });
    const tid = t.body.content.uploadId;
    await uploadPart(s, tid, 0, Buffer.from('part'));
    const c = await s.post(path, { uploadId: tid });
    assert.equal(c.status, 200);
    assert.equal(c.body.content, true);
    const after = await s.post('/part_list', { uploadId: tid });
    assert.equal(after.status, 404);
    assert.equal(after.body.errorCode, 'Upload.NotFound');
    assert.equal((await s.post(path, { uploadId: tid })).status, 404);
  }
});

test('workspaces are isolated, uploadIds included', async () => {
  const init = await s.post('/multipart_upload_init', { appId: 'iso', version: '1' });
  const uploadId = init.body.content.uploadId;
  await uploadPart(s, uploadId, 0, await zipEntries({ 'x.js.map': '{}' }));

  const foreignPart = await uploadPart(s, uploadId, 1, Buffer.from('x'), {}, KEY_B);
  assert.equal(foreignPart.status, 404);
  assert.equal(foreignPart.body.errorCode, 'Upload.NotFound');
  for (const path of ['/part_list', '/part_merge', '/upload_cancel']) {
    const r = await s.post(path, { uploadId }, KEY_B);
    assert.equal(r.status, 404, path);
    assert.equal(r.body.errorCode, 'Upload.NotFound');
  }
  assert.equal((await s.post('/part_merge', { uploadId })).status, 200);

  assert.deepEqual((await s.get('/list?appId=iso', KEY_B)).body.content, []);
  const foreignTree = await s.post('/file_tree', { appId: 'iso', version: '1' }, KEY_B);
  assert.equal(foreignTree.status, 404);
  assert.equal(foreignTree.body.errorCode, 'SourceMap.NotFound');
  assert.equal((await s.get('/file?appId=iso&version=1&path=x.js.map', KEY_B)).status, 404);
  assert.equal((await s.post('/delete', { appId: 'iso', version: '1' }, KEY_B)).status, 404);
  // B can use the same identity independently.
  const bInit = await s.post('/multipart_upload_init', { appId: 'iso', version: '1' }, KEY_B);
  assert.equal(bInit.body.content.existsSameFile, false);
  assert.equal((await s.post('/file_tree', { appId: 'iso', version: '1' })).status, 200);
});

test('delete removes the sourcemap; a second delete is 404', async () => {
  const id = { appId: 'del', version: '9', env: 'x' };
  assert.equal((await uploadZip(s, await zipEntries({ 'a.map': '{}' }), id)).status, 200);
  const d = await s.post('/delete', id);
  assert.equal(d.status, 200);
  assert.equal(d.body.content, true);
  assert.equal((await s.post('/file_tree', id)).status, 404);
  const again = await s.post('/delete', id);
  assert.equal(again.status, 404);
  assert.equal(again.body.errorCode, 'SourceMap.NotFound');
});

test('upload_file_content creates and overwrites one file of the tree', async () => {
  const id = { appId: 'single', version: '1' };
  const r = await s.post('/upload_file_content', { ...id, filename: 'static/js/a.js', content: 'console.log(1)' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.content, true);
  await s.post('/upload_file_content', { ...id, filename: './static/js/a.js', content: 'console.log(2)' });
  await s.post('/upload_file_content', {
    ...id,
    filename: 'static/js/a.js.map',
    content: '{"version":3,"sources":[],"names":[],"mappings":""}',
  });
  const tree = await s.post('/file_tree', id);
  assert.deepEqual(
    tree.body.content.files.map((f: { path: string; size: number }) => [f.path, f.size]),
    [
      ['static/js/a.js', 14],
      ['static/js/a.js.map', 51],
    ],
  );
  const file = await s.get('/file?appId=single&version=1&path=static/js/a.js');
  assert.equal(file.body, 'console.log(2)');
  const listed = (await s.get('/list?appId=single')).body.content[0];
  assert.equal(listed.fileCount, 2);
  assert.equal(listed.mapCount, 1);
  assert.equal(listed.size, 65);

  const traversal = await s.post('/upload_file_content', { ...id, filename: '../../etc/passwd', content: 'x' });
  assert.equal(traversal.status, 422);
  assert.equal(traversal.body.errorCode, 'Archive.UnsafePath');
});

test('a .map that is not a sourcemap is a merge warning, not a failure', async () => {
  const r = await uploadZip(
    s,
    await zipEntries({ 'ok.js.map': '{"version":3,"sources":["a.ts"],"names":[],"mappings":"AAAA"}', 'bad.js.map': '{not json' }),
    { appId: 'warn' },
  );
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.content.mapCount, 1);
  assert.equal(r.body.content.warnings.length, 2);
  assert.match(r.body.content.warnings[0], /^bad\.js\.map: not valid JSON/);
  assert.match(r.body.content.warnings[1], /^ok\.js\.map: its generated script ok\.js is not in the upload/);
});

test('the merge summary says when maps have no generated script beside them (original function names lost), once for all of them', async () => {
  const map = '{"version":3,"sources":["a.ts"],"names":[],"mappings":"AAAA"}';
  const withScripts = await uploadZip(
    s,
    await zipEntries({ 'a.js': 'var a=1;\n', 'a.js.map': map, 'b.js': 'var b=2;\n', 'b.js.map': map }),
    { appId: 'scripts-ok' },
  );
  assert.deepEqual(withScripts.body.content.warnings, []);
  const one = await uploadZip(s, await zipEntries({ 'a.js': 'var a=1;\n', 'a.js.map': map, 'js/c.js.map': map }), { appId: 'scripts-one' });
  assert.deepEqual(one.body.content.warnings, [
    'js/c.js.map: its generated script js/c.js is not in the upload, so original function names (originalFunction) cannot be recovered; upload the .js files with their maps',
  ]);
  const many = await uploadZip(s, await zipEntries(Object.fromEntries(['p', 'q', 'r', 's', 't'].map((n) => [`${n}.js.map`, map]))), {
    appId: 'scripts-none',
  });
  assert.deepEqual(many.body.content.warnings, [
    '5 maps have no generated script beside them (p.js.map, q.js.map, r.js.map, and 2 more), so original function names (originalFunction) cannot be recovered; upload the .js files with their maps',
  ]);
  const broken = await uploadZip(s, await zipEntries({ 'u.js': 'function (', 'u.js.map': map }), { appId: 'scripts-bad' });
  assert.match(
    broken.body.content.warnings[0],
    /^u\.js\.map: original function names \(originalFunction\) cannot be recovered from u\.js: /,
  );
});

test('maps of any size are checked while they stream (40 MB, beyond what used to be held in memory)', async () => {
  // Compressible like real maps (~20:1), not like a zip bomb: a random character every 50 bytes.
  const block = Array.from({ length: 20_000 }, () => 'x'.repeat(48) + randomBytes(2).toString('hex').slice(0, 2)).join('');
  const content = block.repeat(40);
  const good = `{"version":3,"sources":["a.ts"],"names":[],"mappings":"AAAA","sourcesContent":["${content}"]}`;
  const cut = good.slice(0, -3); // the last bytes lost, as a truncated build artifact would be
  const r = await uploadZip(s, await zipEntries({ 'big.js.map': good, 'cut.js.map': cut }), { appId: 'bigmaps' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.content.mapCount, 1);
  assert.equal(r.body.content.warnings[0], 'cut.js.map: not valid JSON (unexpected end of data)');
  assert.match(r.body.content.warnings[1], /^big\.js\.map: its generated script big\.js is not in the upload/);
  assert.equal(r.body.content.warnings.length, 2);
});
