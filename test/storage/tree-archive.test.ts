import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { DEFAULT_ARCHIVE_LIMITS, extractZip } from '../../src/archive/safe-zip.ts';
import { FsBlobStore } from '../../src/storage/fs-blob-store.ts';
import { TREE_ARCHIVE_PATH } from '../../src/storage/blob-keys.ts';
import { archiveEntryRef, isInTreeArchive, readTreeFile } from '../../src/storage/tree-archive.ts';
import { zipEntries } from '../helpers/fixtures.ts';

/** Stores `zip` as a tree's archive and returns the rows a merge would write for its files. */
async function storeTree(zip: Buffer) {
  const dir = await mkdtemp(join(tmpdir(), 'mapvault-tree-archive-'));
  const zipPath = join(dir, 'archive.zip');
  await writeFile(zipPath, zip);
  const rows: Array<{ path: string; size: number; sha256: string; blobKey: string }> = [];
  await extractZip(zipPath, DEFAULT_ARCHIVE_LIMITS, async (path, body, _declared, location) => {
    let size = 0;
    for await (const c of body as Readable) size += (c as Buffer).length;
    rows.push({ path, size, sha256: '', blobKey: archiveEntryRef(location) });
    return { size, sha256: '' };
  });
  const blobs = await FsBlobStore.open(join(dir, 'blobs'));
  await blobs.put(`trees/r/${TREE_ARCHIVE_PATH}`, Readable.from([zip]));
  return { blobs, rows, archiveFile: join(dir, 'blobs', 'trees', 'r', ...TREE_ARCHIVE_PATH.split('/')) };
}

test('every file of a stored archive reads back whole, deflated, stored or empty, by its row alone', async () => {
  const files: Record<string, Buffer> = {
    'static/app.js': Buffer.from('console.log(1);\n'.repeat(5000)),
    'static/app.js.map': Buffer.from(JSON.stringify({ version: 3, sources: ['a.ts'], mappings: 'AAAA' })),
    'noise.bin': randomBytes(300_000),
    'empty.txt': Buffer.alloc(0),
    'deep/ü ñ/#name.js': Buffer.from('x'),
  };
  for (const compress of [true, false]) {
    const { blobs, rows } = await storeTree(await zipEntries(files, { compress }));
    assert.equal(rows.length, Object.keys(files).length);
    for (const row of rows) {
      assert.ok(isInTreeArchive(row));
      const bytes = await readTreeFile(blobs, 'trees/r/', row);
      assert.ok(bytes?.equals(files[row.path]!), `${row.path} (compress: ${compress})`);
    }
    // A tree whose archive was collected has no files, whatever its rows say.
    await blobs.deletePrefix('trees/r/');
    for (const row of rows) assert.equal(await readTreeFile(blobs, 'trees/r/', row), null, row.path);
  }
});

test('a damaged stored archive fails the read instead of serving other bytes', async () => {
  const content = Buffer.from('the original bytes of the file, long enough to matter\n'.repeat(200));
  for (const compress of [true, false]) {
    const { blobs, rows, archiveFile } = await storeTree(await zipEntries({ 'a.js': content }, { compress }));
    const archive = await readFile(archiveFile);
    const offset = Number(rows[0]!.blobKey.split(':')[1]);
    archive[offset + 10]! ^= 0x20;
    await writeFile(archiveFile, archive);
    await assert.rejects(readTreeFile(blobs, 'trees/r/', rows[0]!), /CRC-32|invalid|bytes recorded/, `compress: ${compress}`);
  }
});

test('a row that does not point into the archive is read from its own key', async () => {
  const { blobs } = await storeTree(await zipEntries({ 'a.js': 'in the archive' }));
  await blobs.put('trees/r/.mapvault-files/abc/a.js', Readable.from([Buffer.from('written alone')]));
  const row = { path: 'a.js', size: 13, sha256: '', blobKey: 'trees/r/.mapvault-files/abc/a.js' };
  assert.equal(isInTreeArchive(row), false);
  assert.equal((await readTreeFile(blobs, 'trees/r/', row))?.toString(), 'written alone');
});
