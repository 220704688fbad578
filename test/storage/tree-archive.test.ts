import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { DEFAULT_ARCHIVE_LIMITS, extractZip } from '../../src/archive/safe-zip.ts';
import { FsBlobStore } from '../../src/storage/fs-blob-store.ts';
import { partKey, TREE_ARCHIVE_PATH, treeArchiveSegmentPath } from '../../src/storage/blob-keys.ts';
import { archiveEntryRef, isInTreeArchive, partSegment, readTreeFile, treeSegment } from '../../src/storage/tree-archive.ts';
import { zipEntries } from '../helpers/fixtures.ts';

/**
 * Stores `zip` as a tree's archive in segments cut at `cuts`, as a merge keeps it: the uploaded
 * parts themselves (`parts`) or segments of the tree's own (`tree`, one when the parts were too
 * many; trees merged before the parts were kept have their copies there). Returns the rows a merge
 * would write for its files: the entries are found by reading the segments' local files as one
 * zip, as the merge does.
 */
async function storeTree(zip: Buffer, cuts: number[] = [], layout: 'parts' | 'tree' = 'parts') {
  const dir = await mkdtemp(join(tmpdir(), 'mapvault-tree-archive-'));
  const bounds = [0, ...cuts, zip.length];
  const bytes = bounds.slice(1).map((end, i) => zip.subarray(bounds[i], end));
  const keys = bytes.map((_, i) => (layout === 'parts' ? partKey('U1', i, 'Rnd') : `trees/r/${treeArchiveSegmentPath(i)}`));
  const segments = bytes.map((b, i) => (layout === 'parts' ? partSegment(keys[i]!, b.length) : treeSegment(i, b.length)));
  const paths = bytes.map((_, i) => join(dir, `part-${i}`));
  for (const [i, segment] of bytes.entries()) await writeFile(paths[i]!, segment);
  const rows: Array<{ path: string; size: number; sha256: string; blobKey: string }> = [];
  await extractZip(paths, DEFAULT_ARCHIVE_LIMITS, async (path, body, _declared, location) => {
    let size = 0;
    for await (const c of body as Readable) size += (c as Buffer).length;
    rows.push({ path, size, sha256: '', blobKey: archiveEntryRef(location, segments) });
    return { size, sha256: '' };
  });
  const blobs = await FsBlobStore.open(join(dir, 'blobs'));
  for (const [i, segment] of bytes.entries()) await blobs.put(keys[i]!, Readable.from([segment]));
  /** The store's file of the segment a row names (its index or a part's name). */
  const segmentFile = (name: string) => join(dir, 'blobs', ...keys[segments.findIndex((s) => s.name === name)]!.split('/'));
  return { blobs, rows, keys, segmentFile, collect: () => blobs.deletePrefix(layout === 'parts' ? 'uploads/U1/' : 'trees/r/') };
}

const FILES: Record<string, Buffer> = {
  'static/app.js': Buffer.from('console.log(1);\n'.repeat(5000)),
  'static/app.js.map': Buffer.from(JSON.stringify({ version: 3, sources: ['a.ts'], mappings: 'AAAA' })),
  'noise.bin': randomBytes(300_000),
  'empty.txt': Buffer.alloc(0),
  'deep/ü ñ/#name.js': Buffer.from('x'),
};

test('every file of a stored archive reads back whole, deflated, stored or empty, by its row alone, however the archive was cut', async () => {
  for (const compress of [true, false]) {
    const zip = await zipEntries(FILES, { compress });
    const cutsOf: Record<string, number[]> = {
      'one segment': [],
      'two halves': [Math.floor(zip.length / 2)],
      'segments of 4 KiB': Array.from({ length: Math.ceil(zip.length / 4096) - 1 }, (_, i) => (i + 1) * 4096),
      'random cuts': [...new Set(Array.from({ length: 20 }, () => 1 + Math.floor(Math.random() * (zip.length - 1))))].sort((a, b) => a - b),
    };
    for (const [how, cuts] of Object.entries(cutsOf)) {
      for (const layout of ['parts', 'tree'] as const) {
        const { blobs, rows, collect } = await storeTree(zip, cuts, layout);
        assert.equal(rows.length, Object.keys(FILES).length);
        for (const row of rows) {
          assert.ok(isInTreeArchive(row));
          const bytes = await readTreeFile(blobs, 'trees/r/', row);
          assert.ok(bytes?.equals(FILES[row.path]!), `${row.path} (compress: ${compress}, ${how}: ${cuts.join(',')}, ${layout})`);
        }
        // A tree whose archive was collected has no files, whatever its rows say.
        await collect();
        for (const row of rows) assert.equal(await readTreeFile(blobs, 'trees/r/', row), null, row.path);
      }
    }
  }
});

test('an entry crossing segments names each of them, in order, with its share of the bytes', () => {
  const parts = [0, 1, 2, 3].map((i) => partSegment(partKey('Up1', i, 'x9'), 100));
  const ref = archiveEntryRef({ dataOffset: 90, storedSize: 250, method: 8, crc32: 0xabc }, parts);
  assert.equal(ref, 'zip@8:00000abc:Up1/000000-x9.90.10+Up1/000001-x9.0.100+Up1/000002-x9.0.100+Up1/000003-x9.0.40');
  const own = [treeSegment(0, 100), treeSegment(1, 100)];
  assert.equal(archiveEntryRef({ dataOffset: 100, storedSize: 0, method: 0, crc32: 0 }, own), 'zip@0:00000000:1.0.0');
  assert.throws(() => archiveEntryRef({ dataOffset: 150, storedSize: 100, method: 0, crc32: 0 }, own), /outside the archive/);
  assert.throws(() => partSegment('trees/r/a.js', 1), /not an uploaded part's key/);
  // A row naming something that is neither a part nor a segment index is no archive row.
  assert.equal(isInTreeArchive({ blobKey: 'zip@8:00000abc:../x.0.1' }), false);
  assert.equal(isInTreeArchive({ blobKey: 'zip@8:00000abc:trees/x.0.1' }), false);
});

test('a tree merged before segments (one archive.zip, `zip:` rows) still reads', async () => {
  const zip = await zipEntries(FILES, { compress: true });
  const { blobs, rows, collect } = await storeTree(zip, [], 'tree');
  await collect();
  await blobs.put(`trees/r/${TREE_ARCHIVE_PATH}`, Readable.from([zip]));
  for (const row of rows) {
    // The row as those merges wrote it: the data's offset in the one archive, stored size, method, CRC.
    const [, method, crc, spans] = /^zip@(\d):([0-9a-f]{8}):(.*)$/.exec(row.blobKey)!;
    const [, offset, length] = spans!.split('.').map(Number);
    const legacy = { ...row, blobKey: `zip:${offset}:${length}:${method}:${crc}` };
    assert.ok(isInTreeArchive(legacy));
    assert.ok((await readTreeFile(blobs, 'trees/r/', legacy))?.equals(FILES[row.path]!), row.path);
  }
});

test('a damaged stored archive fails the read instead of serving other bytes', async () => {
  const content = Buffer.from('the original bytes of the file, long enough to matter\n'.repeat(200));
  for (const compress of [true, false]) {
    const zip = await zipEntries({ 'a.js': content }, { compress });
    const { blobs, rows, segmentFile } = await storeTree(zip, [40, 200]);
    // The last span of the entry's data, damaged in the middle.
    const last = rows[0]!.blobKey.split(':')[2]!.split('+').at(-1)!;
    const [segment, offset, length] = last.split('.');
    const archive = await readFile(segmentFile(segment!));
    archive[Number(offset) + Math.floor(Number(length) / 2)]! ^= 0x20;
    await writeFile(segmentFile(segment!), archive);
    await assert.rejects(readTreeFile(blobs, 'trees/r/', rows[0]!), /CRC-32|invalid|bytes recorded/, `compress: ${compress}`);
  }
});

test('a tree missing one of its segments fails the read of an entry crossing into it', async () => {
  const zip = await zipEntries({ 'a.js': randomBytes(50_000) }, { compress: false });
  const { blobs, rows, keys } = await storeTree(zip, [10_000, 20_000]);
  await blobs.delete(keys[1]!);
  await assert.rejects(readTreeFile(blobs, 'trees/r/', rows[0]!), /segment U1\/000001-Rnd of the stored archive is missing/);
});

test('a row that does not point into the archive is read from its own key', async () => {
  const { blobs } = await storeTree(await zipEntries({ 'a.js': 'in the archive' }));
  await blobs.put('trees/r/.mapvault-files/abc/a.js', Readable.from([Buffer.from('written alone')]));
  const row = { path: 'a.js', size: 13, sha256: '', blobKey: 'trees/r/.mapvault-files/abc/a.js' };
  assert.equal(isInTreeArchive(row), false);
  assert.equal((await readTreeFile(blobs, 'trees/r/', row))?.toString(), 'written alone');
  // Its own object holds what it holds, whatever the row's size says: read whole, never cut or padded.
  for (const size of [0, 5, 40, 1_000_000])
    assert.equal((await readTreeFile(blobs, 'trees/r/', { ...row, size }))?.toString(), 'written alone', `row size ${size}`);
});
