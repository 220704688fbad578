import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { KEY_A, startServer, type TestServer, uploadPart, uploadZip } from '../helpers/server.ts';
import { zipEntries } from '../helpers/fixtures.ts';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

async function keysUnder(s: TestServer, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of s.mv.blobs.list(prefix)) keys.push(o.key);
  return keys;
}

/**
 * The same archive merged from 3 parts (kept as 3 segments: the parts themselves) and from 70
 * parts (over 64: concatenated into one segment) answers identically, file by file, and the
 * entries that cross part boundaries read back whole.
 */
test('a merged archive reads back identically whether it is stored as its parts or as one concatenated segment', async () => {
  const s = await startServer();
  try {
    const files: Record<string, Buffer> = {
      'static/js/app.js': Buffer.from('function subtotal(items) { return items.reduce((a, b) => a + b, 0); }\n'.repeat(4000)),
      'static/js/app.js.map': Buffer.from(
        JSON.stringify({ version: 3, file: 'app.js', sources: ['src/cart.ts'], names: [], mappings: 'AAAA' }),
      ),
      'static/media/noise.bin': randomBytes(700_000),
      'static/empty.txt': Buffer.alloc(0),
    };
    const zip = await zipEntries(files);
    const seen = new Set<string>();
    const layouts = [
      { version: 'parts', partSize: Math.ceil(zip.length / 3), segments: 3 },
      { version: 'concatenated', partSize: Math.ceil(zip.length / 70), segments: 1 },
    ];
    for (const { version, partSize, segments } of layouts) {
      const merged = await uploadZip(s, zip, { appId: 'seg', version }, { partSize });
      assert.equal(merged.status, 200, JSON.stringify(merged.body));
      assert.equal(merged.body.content.sha256, sha(zip), `${version}: the archive's sha256 is the whole zip's`);
      assert.equal(merged.body.content.size, zip.length);
      const tree = await s.post('/file_tree', { appId: 'seg', version });
      const rows = tree.body.content.files as Array<{ path: string; size: number; sha256: string }>;
      assert.deepEqual(rows.map((f) => f.path).sort(), Object.keys(files).sort());
      for (const row of rows) {
        const res = await fetch(`${s.api}/file?appId=seg&version=${version}&path=${encodeURIComponent(row.path)}`, {
          headers: { 'DF-API-KEY': KEY_A },
        });
        assert.equal(res.status, 200, `${version}: ${row.path}`);
        const body = Buffer.from(await res.arrayBuffer());
        assert.ok(body.equals(files[row.path]!), `${version}: ${row.path} reads back whole`);
        assert.deepEqual([row.size, row.sha256], [body.length, sha(body)]);
      }
      // Where its bytes are: the parts themselves, kept under the upload (whose id the revision
      // names) and nothing copied into the tree, or the tree's one concatenated segment.
      await s.mv.sweeper.kick();
      const rev = (await keysUnder(s, 'trees/')).map((k) => k.split('/')[1]!).find((r) => !seen.has(r))!;
      seen.add(rev);
      const own = (await keysUnder(s, `trees/${rev}/`)).filter((k) => /\/archive\.\d{6}$/.test(k));
      const parts = await keysUnder(s, `uploads/${rev.split('-')[0]}/`);
      assert.deepEqual(
        [own.length, parts.length],
        segments === 1 ? [1, 0] : [0, segments],
        `${version}: ${JSON.stringify({ own, parts })}`,
      );
    }
  } finally {
    await s.close();
  }
});

test("a merged tree's parts live as long as the tree: unmerged ones go at once, the rest when it is replaced or deleted", async () => {
  const s = await startServer();
  try {
    const zip = await zipEntries(
      { 'static/js/app.js': randomBytes(300_000), 'static/js/app.js.map': Buffer.from('{}') },
      { compress: false },
    );
    const half = Math.ceil(zip.length / 2);
    const partsOf = (uploadId: string) => keysUnder(s, `uploads/${uploadId}/`);
    const readsBack = async () => {
      const res = await fetch(`${s.api}/file?appId=keep&version=1&path=static/js/app.js.map`, { headers: { 'DF-API-KEY': KEY_A } });
      return res.status === 200 && (await res.text()) === '{}';
    };
    // Parts 0 and 1 merged, part 2 sent but left out by chunkIndexs.
    const first = (await s.post('/multipart_upload_init', { appId: 'keep', version: '1' })).body.content.uploadId as string;
    for (const [i, bytes] of [zip.subarray(0, half), zip.subarray(half), Buffer.from('left out')].entries()) {
      assert.equal((await uploadPart(s, first, i, bytes)).status, 200);
    }
    assert.equal((await s.post('/part_merge', { uploadId: first, chunkIndexs: [0, 1] })).status, 200);
    await s.mv.sweeper.kick();
    assert.equal((await partsOf(first)).length, 2, 'the merged parts are the tree; the unmerged one is deleted');
    assert.ok(await readsBack());

    const second = await uploadZip(s, zip, { appId: 'keep', version: '1', needCover: true }, { partSize: half });
    assert.equal(second.status, 200);
    await s.mv.sweeper.kick();
    assert.deepEqual(await partsOf(first), [], "the replaced tree's parts are collected with it");
    assert.ok(await readsBack(), 'the new tree reads from its own parts');
    assert.equal((await keysUnder(s, 'uploads/')).length, 2);

    assert.equal((await s.post('/delete', { appId: 'keep', version: '1' })).status, 200);
    await s.mv.sweeper.kick();
    assert.deepEqual([await keysUnder(s, 'uploads/'), await keysUnder(s, 'trees/')], [[], []], 'nothing left once deleted');
  } finally {
    await s.close();
  }
});
