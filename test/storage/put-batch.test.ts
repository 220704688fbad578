import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { BlobStore } from '../../src/storage/blob-store.ts';
import { FsBlobStore } from '../../src/storage/fs-blob-store.ts';
import { PutBatch } from '../../src/storage/put-batch.ts';

/** A real store that records how many puts were running at once and which finished. */
async function observedStore() {
  const inner = await FsBlobStore.open(await mkdtemp(join(tmpdir(), 'mapvault-batch-')));
  const seen = { running: 0, max: 0, finished: [] as string[] };
  const store: BlobStore = Object.create(inner);
  store.put = async (key, body, opts) => {
    seen.running++;
    seen.max = Math.max(seen.max, seen.running);
    try {
      await new Promise((resolve) => setTimeout(resolve, 2)); // a round trip, as on S3
      return await inner.put(key, body, opts);
    } finally {
      seen.running--;
      seen.finished.push(key);
    }
  };
  return { inner, store, seen };
}

async function read(store: BlobStore, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of (await store.get(key))!) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test('PutBatch writes every body with its size and sha256, several at a time but never more than the limit', async () => {
  const { inner, store, seen } = await observedStore();
  const batch = new PutBatch(store, { concurrency: 4, bufferBytes: 1000 });
  const bodies = Array.from({ length: 60 }, (_, i) => randomBytes(i % 10 === 0 ? 5000 : i * 13));
  for (const [i, body] of bodies.entries()) {
    const r = await batch.put(`t/${i}`, Readable.from([body.subarray(0, 7), body.subarray(7)]), body.length);
    assert.deepEqual(r, { size: body.length, sha256: createHash('sha256').update(body).digest('hex') });
  }
  await batch.flush();
  assert.equal(seen.running, 0);
  assert.ok(seen.max >= 2 && seen.max <= 4, `at most 4 at once, and more than one: ${seen.max}`);
  for (const [i, body] of bodies.entries()) assert.deepEqual(await read(inner, `t/${i}`), body);
});

test('PutBatch: a failed write is reported by flush, and settle returns only once no write is running', async () => {
  const { store, seen } = await observedStore();
  const batch = new PutBatch(store, { concurrency: 8, bufferBytes: 1000 });
  await batch.put('ok/1', Readable.from(['a']), 1);
  await batch.put('bad//key', Readable.from(['b']), 1); // refused by the store, in the background
  for (let i = 2; i < 6; i++) await batch.put(`ok/${i}`, Readable.from(['c']), 1).catch(() => {});
  await assert.rejects(batch.flush(), /invalid blob key/);
  await batch.settle();
  assert.equal(seen.running, 0, 'nothing still writing after settle');
});

test('PutBatch: a buffered body longer than declared is refused', async () => {
  const { store } = await observedStore();
  const batch = new PutBatch(store, { concurrency: 2, bufferBytes: 1000 });
  await assert.rejects(batch.put('x/1', Readable.from([Buffer.alloc(11)]), 10), /larger than the 10 bytes declared/);
  await batch.flush();
});
