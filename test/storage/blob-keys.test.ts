import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeRelativePath } from '../../src/archive/entry-path.ts';
import {
  isPartKey,
  mapIndexPath,
  mappingIndexPath,
  mergedRevisionId,
  partKey,
  partKeyName,
  partKeyOfName,
  refuseReservedPath,
  retiredFile,
  retiredTree,
  SINGLE_FILES_SEGMENT,
  singleFileKey,
  singleFilePrefix,
  TREE_ARCHIVE_PATH,
  treeArchiveSegmentPath,
  treePrefix,
  uploadPrefix,
} from '../../src/storage/blob-keys.ts';
import { archiveEntryRef, partSegment } from '../../src/storage/tree-archive.ts';

test('blob keys: parts under their upload, everything of a revision under its tree prefix', () => {
  assert.equal(partKey('u1', 7, 'Ab3'), 'uploads/u1/000007-Ab3');
  assert.ok(partKey('u1', 7, 'x').startsWith(uploadPrefix('u1')));
  const key = singleFileKey('r1', 'R4nd', 'static/js/app.js.map');
  assert.equal(key, `trees/r1/${SINGLE_FILES_SEGMENT}/R4nd/static/js/app.js.map`);
  assert.equal(singleFilePrefix(key), `trees/r1/${SINGLE_FILES_SEGMENT}/R4nd/`);
  for (const k of [key, treePrefix('r1') + mapIndexPath('a.js.map'), treePrefix('r1') + mappingIndexPath('mapping.txt')])
    assert.ok(k.startsWith(treePrefix('r1')), k);
  assert.deepEqual(retiredTree('r1', 5), [{ prefix: 'trees/r1/', dueAt: 5, revisionId: 'r1' }], 'a tree written by upload_file_content');
  // A merged tree's archive is its upload's parts: they go with it.
  const merged = mergedRevisionId('Up1', 'Rnd');
  assert.deepEqual(retiredTree(merged, 5), [
    { prefix: `trees/${merged}/`, dueAt: 5, revisionId: merged },
    { prefix: 'uploads/Up1/', dueAt: 5 },
  ]);
  assert.ok(isPartKey(partKey('Up1', 3, 'x')) && !isPartKey('uploads/Up1/') && !isPartKey('trees/r1/000001-x'));
  assert.equal(partKeyOfName(partKeyName(partKey('Up1', 3, 'x'))), partKey('Up1', 3, 'x'));
  assert.equal(partKeyOfName('trees/r1'), null, 'a name that is no part names no key');
  assert.deepEqual(retiredFile('r1', { path: 'a.js', size: 1, sha256: '', blobKey: key }, 5), { prefix: singleFilePrefix(key), dueAt: 5 });
  const archived = {
    path: 'a.js',
    size: 1,
    sha256: '',
    blobKey: archiveEntryRef({ dataOffset: 30, storedSize: 1, method: 0, crc32: 1 }, [partSegment(partKey('Up1', 0, 'x'), 40)]),
  };
  assert.equal(retiredFile('r1', archived, 5), null, "a file in the tree's archive has nothing of its own to collect");
  for (const k of [TREE_ARCHIVE_PATH, treeArchiveSegmentPath(0), treeArchiveSegmentPath(63)])
    assert.ok(
      k.startsWith(`${SINGLE_FILES_SEGMENT}/`) && k.split('/')[1]!.includes('.'),
      `${k}: under the reserved segment, never a random one`,
    );
});

test('blob keys: no uploaded path can take an index key or the single-files segment', () => {
  for (const k of [mapIndexPath('static/js/app.js.map'), mappingIndexPath('mapping.txt')]) assert.throws(() => normalizeRelativePath(k), k);
  assert.throws(() => refuseReservedPath(`${SINGLE_FILES_SEGMENT}/x.js`), /reserved by mapvault/);
  assert.throws(() => refuseReservedPath(SINGLE_FILES_SEGMENT), /reserved by mapvault/);
  refuseReservedPath(`static/${SINGLE_FILES_SEGMENT}/x.js`); // only the first segment is reserved
});
