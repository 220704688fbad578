import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { access, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import type { BlobStore } from '../../src/storage/blob-store.ts';
import { SizeLimitExceededError } from '../../src/storage/write-file.ts';

async function read(store: BlobStore, key: string): Promise<string | null> {
  const body = await store.get(key);
  if (!body) return null;
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

async function keys(store: BlobStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out;
}

function failingStream(first: string): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(first);
      } else this.destroy(new Error('connection reset'));
    },
  });
}

/**
 * The behaviour every BlobStore must have. A new implementation (S3, GCS…) adds one test file
 * that calls this with a factory returning a fresh, empty store.
 */
export function blobStoreContract(name: string, create: () => Promise<BlobStore>): void {
  test(`${name}: put then get returns the bytes; size and sha256 are reported`, async () => {
    const store = await create();
    const r = await store.put('trees/r1/static/js/app.js.map', Readable.from([Buffer.from('{"a":'), Buffer.from('1}')]));
    assert.deepEqual(r, { size: 7, sha256: createHash('sha256').update('{"a":1}').digest('hex') });
    assert.equal(await read(store, 'trees/r1/static/js/app.js.map'), '{"a":1}');
    assert.deepEqual(await store.stat('trees/r1/static/js/app.js.map'), { size: 7 });
  });

  test(`${name}: absent objects are null, not errors`, async () => {
    const store = await create();
    assert.equal(await store.get('nope/x'), null);
    assert.equal(await store.stat('nope/x'), null);
    await store.put('dir/file', Readable.from(['x']));
    assert.equal(await store.get('dir'), null, 'a "directory" is not an object');
    assert.equal(await store.stat('dir/file/deeper'), null);
  });

  test(`${name}: getRange streams exactly the bytes asked for, from any place in the object`, async () => {
    const store = await create();
    // Over one multipart part (8 MiB on S3), so a range can span what was written in two parts.
    const body = Buffer.alloc(9 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7919) >>> 5;
    await store.put('trees/r1/archive', Readable.from([body]));
    const range = async (start: number, end: number) => {
      const s = await store.getRange('trees/r1/archive', start, end);
      assert.ok(s, `bytes ${start}-${end}`);
      const chunks: Buffer[] = [];
      for await (const c of s) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    };
    const part = 8 * 1024 * 1024;
    for (const [start, end] of [
      [0, 0],
      [0, 99],
      [12_345, 67_890],
      [part - 10, part + 10],
      [body.length - 1, body.length - 1],
      [0, body.length - 1],
    ] as const) {
      assert.ok((await range(start, end)).equals(body.subarray(start, end + 1)), `bytes ${start}-${end}`);
    }
    assert.equal(await store.getRange('trees/r1/absent', 0, 9), null);
    await assert.rejects(store.getRange('trees/r1/archive', 10, 9), /invalid blob range/);
    await assert.rejects(store.getRange('trees/r1/archive', -1, 9), /invalid blob range/);
  });

  test(`${name}: a reader of a range keeps its bytes while the object is replaced`, async () => {
    const store = await create();
    await store.put('trees/r1/a', Readable.from([Buffer.from('old bytes, old bytes')]));
    const s = await store.getRange('trees/r1/a', 4, 8);
    await store.put('trees/r1/a', Readable.from([Buffer.from('NEW BYTES, NEW BYTES')]));
    const chunks: Buffer[] = [];
    for await (const c of s!) chunks.push(c as Buffer);
    // Either version is whole (S3 may serve the new one to a request sent after the put), never a mix.
    assert.ok(['bytes', 'BYTES'].includes(Buffer.concat(chunks).toString()));
  });

  test(`${name}: put replaces atomically, and a failed put leaves the old object whole`, async () => {
    const store = await create();
    await store.put('k/v', Readable.from(['old']));
    await store.put('k/v', Readable.from(['new']));
    assert.equal(await read(store, 'k/v'), 'new');
    await assert.rejects(store.put('k/v', failingStream('partial')), /connection reset/);
    assert.equal(await read(store, 'k/v'), 'new');
    await assert.rejects(store.put('k/fresh', failingStream('partial')));
    assert.equal(await store.stat('k/fresh'), null, 'no half object is visible');
    assert.deepEqual(await keys(store, 'k/'), ['k/v']);
  });

  test(`${name}: maxBytes stops an oversized put and stores nothing`, async () => {
    const store = await create();
    await store.put('p/x', Readable.from(['keep']));
    await assert.rejects(
      store.put('p/x', Readable.from([Buffer.alloc(600), Buffer.alloc(600)]), { maxBytes: 1000 }),
      SizeLimitExceededError,
    );
    assert.equal(await read(store, 'p/x'), 'keep');
    const exact = await store.put('p/y', Readable.from([Buffer.alloc(1000)]), { maxBytes: 1000 });
    assert.equal(exact.size, 1000);
  });

  test(`${name}: putFile moves a finished local file into the store`, async () => {
    const store = await create();
    const local = join(tmpdir(), `blob-contract-${process.pid}-${Math.random().toString(36).slice(2)}`);
    await writeFile(local, 'part bytes');
    await store.putFile('uploads/u1/000000-a', local);
    assert.equal(await read(store, 'uploads/u1/000000-a'), 'part bytes');
    await assert.rejects(access(local), 'the local file was consumed');
    // Bigger than one request of an S3 store's single-request path: stored whole all the same.
    const big = randomBytes(17 * 1024 * 1024 + 3);
    await writeFile(local, big);
    await store.putFile('uploads/u1/000001-b', local);
    const body = await store.get('uploads/u1/000001-b');
    const hash = createHash('sha256');
    for await (const c of body!) hash.update(c as Buffer);
    assert.equal(hash.digest('hex'), createHash('sha256').update(big).digest('hex'));
    await assert.rejects(access(local), 'the local file was consumed');
  });

  test(`${name}: localFile is a local file with the object's bytes`, async () => {
    const store = await create();
    const bytes = Buffer.alloc(200_000, 3);
    await store.put('uploads/u1/000001-cd', Readable.from([bytes]));
    const downloadTo = join(tmpdir(), `mapvault-local-file-${process.pid}-${Date.now()}`);
    const path = await store.localFile('uploads/u1/000001-cd', downloadTo);
    assert.ok(path !== null);
    assert.ok((await readFile(path)).equals(bytes));
    await rm(downloadTo, { force: true });
    assert.equal(await store.localFile('uploads/u1/absent', downloadTo), null);
    await assert.rejects(access(downloadTo), 'nothing is left behind for an absent object');
  });

  test(`${name}: delete and deletePrefix are idempotent and respect prefix boundaries`, async () => {
    const store = await create();
    for (const k of ['t/a/1', 't/a/sub/2', 't/ab/3', 't/b']) await store.put(k, Readable.from([k]));
    await store.delete('t/b');
    await store.delete('t/b');
    await store.deletePrefix('t/a/');
    await store.deletePrefix('t/a/');
    await store.deletePrefix('never/');
    assert.deepEqual(await keys(store, 't/'), ['t/ab/3']);
  });

  test(`${name}: list is sorted and limited to the prefix`, async () => {
    const store = await create();
    for (const k of ['l/z', 'l/a/2', 'l/a/1', 'm/x']) await store.put(k, Readable.from(['12']));
    const listed: Array<{ key: string; size: number }> = [];
    for await (const o of store.list('l/')) listed.push(o);
    assert.deepEqual(listed, [
      { key: 'l/a/1', size: 2 },
      { key: 'l/a/2', size: 2 },
      { key: 'l/z', size: 2 },
    ]);
    assert.deepEqual(await keys(store, 'none/'), []);
  });

  test(`${name}: keys that could escape are refused`, async () => {
    const store = await create();
    for (const bad of ['../x', 'a/../../x', '/abs', 'a//b', 'a/./b', 'a\\b', '', 'a/\u0000']) {
      await assert.rejects(store.put(bad, Readable.from(['x'])), /invalid blob key/, bad);
    }
    await assert.rejects(store.deletePrefix('no-slash'), /must end with/);
  });
}
