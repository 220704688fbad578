import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { BlobStore } from '../../src/storage/blob-store.ts';
import { isMapIndexKey, isPartKey, mapIndexPath, partKey, treePrefix } from '../../src/storage/blob-keys.ts';
import { FsBlobStore } from '../../src/storage/fs-blob-store.ts';
import { LocalReadCache } from '../../src/storage/local-read-cache.ts';
import { blobStoreContract } from './blob-store.contract.ts';

const tempDir = (name: string) => mkdtemp(join(tmpdir(), `mapvault-${name}-`));

// Every key cached: the cache must not change what a store answers.
blobStoreContract('LocalReadCache over FsBlobStore', async () =>
  LocalReadCache.open(await FsBlobStore.open(await tempDir('blobs')), await tempDir('cache'), 1024 * 1024, () => true),
);

/** The inner store, counting the reads that reach it. */
async function counted() {
  const inner = await FsBlobStore.open(await tempDir('blobs'));
  const reads = { get: 0, getRange: 0, stat: 0, localFile: 0 };
  const store: BlobStore = Object.assign(Object.create(inner) as BlobStore, {
    get: (key: string) => {
      reads.get++;
      return inner.get(key);
    },
    getRange: (key: string, start: number, end: number) => {
      reads.getRange++;
      return inner.getRange(key, start, end);
    },
    stat: (key: string) => {
      reads.stat++;
      return inner.stat(key);
    },
    localFile: (key: string) => {
      reads.localFile++;
      return inner.localFile(key);
    },
  });
  return { inner, store, reads };
}

async function text(body: Readable | null): Promise<string | null> {
  if (!body) return null;
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

const INDEX = treePrefix('r1') + mapIndexPath('static/js/app.js.map');

test('LocalReadCache: a lookup index written or read once is then read locally; other keys always go to the store', async () => {
  const { inner, store, reads } = await counted();
  const cacheDir = await tempDir('cache');
  const cache = await LocalReadCache.open(store, cacheDir, 1024 * 1024, isMapIndexKey);
  assert.ok(isMapIndexKey(INDEX) && !isMapIndexKey('trees/r1/static/js/app.js.map') && !isMapIndexKey('uploads/u/i:/x'));

  await cache.put(INDEX, Readable.from(['index v1']));
  assert.equal(await text(await cache.get(INDEX)), 'index v1');
  assert.equal(await text(await cache.getRange(INDEX, 6, 7)), 'v1');
  assert.deepEqual(await cache.stat(INDEX), { size: 8 });
  assert.deepEqual(reads, { get: 0, getRange: 0, stat: 0, localFile: 0 }, 'written through: the store is not read');

  // Written by another node (straight to the store): read once, then kept.
  const other = treePrefix('r2') + mapIndexPath('a.js.map');
  await inner.put(other, Readable.from(['from another node']));
  assert.equal(await text(await cache.get(other)), 'from another node');
  assert.equal(await text(await cache.get(other)), 'from another node');
  assert.equal(reads.get, 1);

  await cache.put('trees/r1/static/js/app.js.map', Readable.from(['{}']));
  await text(await cache.get('trees/r1/static/js/app.js.map'));
  await text(await cache.get('trees/r1/static/js/app.js.map'));
  assert.equal(reads.get, 3, 'a map is read from the store every time');

  // Rewritten or deleted through this node: never the old bytes.
  await cache.put(INDEX, Readable.from(['index v2']));
  assert.equal(await text(await cache.get(INDEX)), 'index v2');
  await cache.deletePrefix('trees/r1/');
  assert.equal(await cache.get(INDEX), null);
  assert.equal(await cache.stat(INDEX), null);
  await cache.delete(other);
  assert.equal(await cache.get(other), null);
  assert.deepEqual((await readdir(cacheDir)).length, 0, 'no local copy is left of deleted objects');
});

test('LocalReadCache: copies past maxBytes are dropped, least recently used first', async () => {
  const { store, reads } = await counted();
  const cacheDir = await tempDir('cache');
  const cache = await LocalReadCache.open(store, cacheDir, 2500, isMapIndexKey);
  const key = (i: number) => treePrefix('r') + mapIndexPath(`m${i}.js.map`);
  for (let i = 0; i < 3; i++) await cache.put(key(i), Readable.from([Buffer.alloc(1000, i)]));
  // 3 000 bytes written into 2 500: the first is gone; reading the second makes the third the oldest.
  assert.equal((await readdir(cacheDir)).length, 2);
  await text(await cache.get(key(1)));
  await cache.put(key(3), Readable.from([Buffer.alloc(1000, 3)]));
  assert.equal(reads.get, 0);
  await text(await cache.get(key(1)));
  await text(await cache.get(key(3)));
  assert.equal(reads.get, 0, 'the recently used ones stayed');
  await text(await cache.get(key(0)));
  await text(await cache.get(key(2)));
  assert.equal(reads.get, 2, 'the least recently used ones were dropped');
  // An object bigger than the whole cache is served, not kept.
  await cache.put(key(9), Readable.from([Buffer.alloc(3000, 9)]));
  assert.equal((await text(await cache.get(key(9))))?.length, 3000);
  assert.equal(reads.get, 3);
  assert.ok((await readdir(cacheDir)).length <= 2);
});

test('LocalReadCache: an uploaded part stored or fetched by this node is merged from its local copy, which the merge owns while it reads', async () => {
  const { inner, store, reads } = await counted();
  const cacheDir = await tempDir('cache');
  const scratch = await tempDir('scratch');
  const cache = await LocalReadCache.open(store, cacheDir, 1024 * 1024, isPartKey);
  const sent = join(scratch, 'received.part');
  await writeFile(sent, 'part zero');
  await cache.putFile(partKey('U1', 0, 'a'), sent);
  const local = await cache.localFile(partKey('U1', 0, 'a'), join(scratch, 'merge-0'));
  assert.equal(local, join(scratch, 'merge-0'));
  assert.equal(await readFile(join(scratch, 'merge-0'), 'utf8'), 'part zero');
  assert.equal(reads.localFile, 0, 'the part this node received is not fetched back');

  // A part another node received: fetched once, then local.
  await inner.put(partKey('U1', 1, 'b'), Readable.from(['part one']));
  await cache.localFile(partKey('U1', 1, 'b'), join(scratch, 'merge-1'));
  await cache.localFile(partKey('U1', 1, 'b'), join(scratch, 'merge-1b'));
  assert.equal(reads.localFile, 1);
  assert.equal(await readFile(join(scratch, 'merge-1b'), 'utf8'), 'part one');

  // The merged tree's files are ranges of its parts: read locally too.
  assert.equal(await text(await cache.getRange(partKey('U1', 0, 'a'), 5, 8)), 'zero');
  assert.equal(reads.getRange, 0);

  // The tree's parts collected: the merge's own names keep their bytes, the cache keeps nothing.
  await cache.deletePrefix('uploads/U1/');
  assert.equal(await cache.localFile(partKey('U1', 0, 'a'), join(scratch, 'after')), null);
  assert.equal(await readFile(join(scratch, 'merge-0'), 'utf8'), 'part zero');
  assert.deepEqual(await readdir(cacheDir), []);
});
