import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KEY_A, startServer, uploadPart, uploadZip } from '../helpers/server.ts';
import { zipEntries } from '../helpers/fixtures.ts';

const MiB = 1024 * 1024;

/** A real, small filesystem: a tmpfs of `size` mounted on a fresh directory (needs root). */
async function smallFilesystem(size: string): Promise<{ dir: string; unmount(): Promise<void> } | string> {
  const dir = await mkdtemp(join(tmpdir(), 'mapvault-full-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    await rm(dir, { recursive: true, force: true });
    return `cannot mount a tmpfs here (${(r.stderr || r.error?.message || '').trim()}): run as root to include this test`;
  }
  return {
    dir,
    async unmount() {
      spawnSync('umount', [dir]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const fs = await smallFilesystem('8m');

test('a full disk answers 507 Storage.Full and publishes nothing: parts, merges, single files (no ghost sourcemap)', {
  skip: typeof fs === 'string' ? fs : false,
}, async () => {
  if (typeof fs === 'string') return;
  const s = await startServer({}, { dataDir: fs.dir });
  try {
    const id = { appId: 'full', version: '1' };
    const map = '{"version":3,"sources":["a.ts"],"names":[],"mappings":""}';
    assert.equal((await uploadZip(s, await zipEntries({ 'a.js.map': map }), id)).status, 200);

    // A 9 MiB part cannot fit in 8 MiB: refused while it streams to scratch.
    const uploadId = (await s.post('/multipart_upload_init', { appId: 'full', version: '2' })).body.content.uploadId;
    const part = await uploadPart(s, uploadId, 0, randomBytes(9 * MiB));
    assert.equal(part.status, 507, JSON.stringify(part.body));
    assert.equal(part.body.errorCode, 'Storage.Full');
    assert.deepEqual((await s.post('/part_list', { uploadId })).body.content.chunkIndexs, []);
    const scratch = await readdir(join(fs.dir, 'tmp'), { recursive: true, withFileTypes: true });
    assert.deepEqual(
      scratch.filter((e) => e.isFile()).map((e) => e.name),
      [],
      'the partial part is gone',
    );

    // Many small parts (over 64) are concatenated into one scratch zip: their 4.5 MiB fit, the
    // concatenation (4.5 MiB more) does not. The previous tree stays whole.
    const big = await zipEntries({ 'b.js': randomBytes(4.5 * MiB), 'a.js.map': map }, { compress: false });
    const tree = () => s.post('/file_tree', id).then((r) => r.body.content.files.map((f: { path: string }) => f.path).sort());
    const replace = (await s.post('/multipart_upload_init', { ...id, needCover: true })).body.content.uploadId;
    const pieces = 65;
    const step = Math.ceil(big.length / pieces);
    for (let i = 0; i < pieces; i++) {
      const sent = await uploadPart(s, replace, i, big.subarray(i * step, (i + 1) * step));
      assert.equal(sent.status, 200, `part ${i}: ${JSON.stringify(sent.body)}`);
    }
    const merged = await s.post('/part_merge', { uploadId: replace });
    assert.equal(merged.status, 507, JSON.stringify(merged.body));
    assert.equal(merged.body.errorCode, 'Storage.Full');
    assert.deepEqual(await tree(), ['a.js.map']);
    assert.equal((await s.post('/part_list', { uploadId: replace })).status, 200, 'the task can be merged again once there is room');
    assert.equal((await s.post('/upload_cancel', { uploadId: replace })).status, 200);
    await s.mv.sweeper.sweep(Date.now()); // the cancelled parts, due at once

    // Stored as its parts, the same archive merges with no room to spare: its one segment is a
    // hard link of the part, so nothing is written twice (the 3.4 MiB left could not hold a copy).
    const linkedTask = (await s.post('/multipart_upload_init', { ...id, needCover: true })).body.content.uploadId;
    assert.equal((await uploadPart(s, linkedTask, 0, big)).status, 200);
    const linked = await s.post('/part_merge', { uploadId: linkedTask });
    assert.equal(linked.status, 200, JSON.stringify(linked.body));
    assert.deepEqual(await tree(), ['a.js.map', 'b.js']);
    const served = await fetch(`${s.api}/file?appId=full&version=1&path=b.js`, { headers: { 'DF-API-KEY': KEY_A } });
    assert.ok(Buffer.from(await served.arrayBuffer()).length === 4.5 * MiB, 'the new tree is read');

    // upload_file_content on a new identity: no empty sourcemap left behind.
    const ghost = { appId: 'full', version: 'ghost' };
    const file = await s.post('/upload_file_content', { ...ghost, filename: 'x.js', content: 'x'.repeat(9 * MiB) });
    assert.equal(file.status, 507, JSON.stringify(file.body));
    assert.equal(file.body.errorCode, 'Storage.Full');
    assert.equal((await s.post('/file_tree', ghost)).status, 404, 'no ghost sourcemap');
    assert.notEqual(
      (await s.post('/multipart_upload_init', ghost)).body.content.uploadId,
      '',
      'a later upload is not skipped as "already exists"',
    );
    const versions = JSON.parse(JSON.stringify((await s.get('/list?appId=full')).body.content)).map((v: { version: string }) => v.version);
    assert.deepEqual(versions, ['1']);

    // Once the failed work is cleaned up there is room again.
    const small = await s.post('/upload_file_content', { ...ghost, filename: 'x.js', content: 'small' });
    assert.equal(small.status, 200, JSON.stringify(small.body));
    assert.equal((await s.get(`${s.url}/healthz`)).status, 200);
  } finally {
    await s.close();
    if (typeof fs !== 'string') await fs.unmount();
  }
});
