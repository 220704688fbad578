import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { S3BlobStore } from '../../src/storage/s3/s3-blob-store.ts';
import { parseS3Url } from '../../src/storage/s3/s3-url.ts';
import { SizeLimitExceededError } from '../../src/storage/write-file.ts';
import { service } from '../helpers/services.ts';
import { blobStoreContract } from './blob-store.contract.ts';

const s3 = service('MAPVAULT_TEST_S3_URL', 'scripts/services/swift.sh');
const MiB = 1024 * 1024;

describe('S3BlobStore against a real S3 server (Swift)', { skip: s3.skip }, () => {
  // Each test gets an empty store: its own prefix in the shared test bucket.
  blobStoreContract('S3BlobStore', () =>
    S3BlobStore.open({ ...parseS3Url(s3.value), prefix: `contract-${randomBytes(6).toString('hex')}/` }),
  );

  /** A store on its own prefix, and the ETag of one of its objects as the server reports it. */
  const open = async () => {
    const location = { ...parseS3Url(s3.value), prefix: `put-${randomBytes(6).toString('hex')}/` };
    const store = await S3BlobStore.open(location);
    const client = new S3Client({ region: location.region, endpoint: location.endpoint, forcePathStyle: true });
    const etag = async (key: string) =>
      (await client.send(new HeadObjectCommand({ Bucket: location.bucket, Key: location.prefix + key }))).ETag ?? '';
    const close = () => {
      store.close();
      client.destroy();
    };
    return { store, etag, close };
  };
  /** `n` MiB of varied bytes, in 1 MiB chunks (how a stream delivers them). */
  const body = (n: number) => Array.from({ length: n }, (_, i) => Buffer.alloc(MiB, i + 1));
  const read = async (store: S3BlobStore, key: string, start: number, end: number) => {
    const chunks: Buffer[] = [];
    for await (const c of (await store.getRange(key, start, end)) ?? []) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };

  test('a body up to 16 MiB is one plain object (no multipart manifest for every GET to pay), one over it a multipart upload', async () => {
    const { store, etag, close } = await open();
    try {
      for (const [key, mib, multipart] of [
        ['one', 12, false],
        ['exact', 16, false],
        ['many', 17, true],
      ] as const) {
        const chunks = body(mib);
        const whole = Buffer.concat(chunks);
        const stored = await store.put(key, Readable.from(chunks));
        assert.deepEqual(stored, { size: whole.length, sha256: createHash('sha256').update(whole).digest('hex') }, key);
        // S3 marks the ETag of a multipart object with "-<parts>".
        assert.equal(/-\d+"?$/.test(await etag(key)), multipart, `${key}: ETag ${await etag(key)}`);
        for (const [s, e] of [
          [0, 99],
          [8 * MiB - 5, 8 * MiB + 5],
          [whole.length - 10, whole.length - 1],
        ] as const) {
          assert.ok((await read(store, key, s, e)).equals(whole.subarray(s, e + 1)), `${key}: bytes ${s}-${e}`);
        }
      }
    } finally {
      close();
    }
  });

  test('over 16 MiB: an input that fails, or outgrows maxBytes, fails the put with its own error and stores nothing', async () => {
    const { store, close } = await open();
    try {
      const chunks = body(18);
      const failing = Readable.from(
        (async function* () {
          yield* chunks;
          throw new Error('connection reset');
        })(),
      );
      await assert.rejects(store.put('failed', failing), /connection reset/);
      await assert.rejects(store.put('big', Readable.from(body(18)), { maxBytes: 17 * MiB }), SizeLimitExceededError);
      assert.equal(await store.stat('failed'), null);
      assert.equal(await store.stat('big'), null);
      const exact = await store.put('exact', Readable.from(body(17)), { maxBytes: 17 * MiB });
      assert.equal(exact.size, 17 * MiB);
    } finally {
      close();
    }
  });
});
