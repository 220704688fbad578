import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { KEY_A, startServer, uploadZip } from '../helpers/server.ts';
import { zipEntries } from '../helpers/fixtures.ts';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/**
 * The same archive merged from 3 parts (stored as 3 segments: the parts, hard-linked) and from 70
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
      const stored = await Promise.all(
        (await readdir(join(s.dataDir, 'blobs', 'trees'))).map((r) => readdir(join(s.dataDir, 'blobs', 'trees', r, '.mapvault-files'))),
      );
      assert.ok(
        stored.some((names) => names.filter((n) => /^archive\.\d{6}$/.test(n)).length === segments),
        `${version}: a tree stored as ${segments} segment(s): ${JSON.stringify(stored)}`,
      );
    }
  } finally {
    await s.close();
  }
});
