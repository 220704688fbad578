import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ApiError } from '../../errors.ts';
import { assertRange, assertValidKey, type BlobStore } from '../blob-store.ts';
import { SizeLimitExceededError, writeStreamToFile } from '../write-file.ts';
import type { S3Location } from './s3-url.ts';

/** Multipart part size for big objects (S3's minimum is 5 MiB); small ones are one PutObject. */
const PART_BYTES = 8 * 1024 * 1024;
/** Parts of one object uploaded at once: bounds memory per put to PART_BYTES × this. */
const PARTS_IN_FLIGHT = 2;
/**
 * A body up to this size (a local file for putFile, a stream's first bytes for put) is stored by
 * one PutObject, held in memory no more than a multipart put holds anyway. Above PART_BYTES,
 * lib-storage alone would make it a multipart object, which Swift's s3api stores as a manifest of
 * segments that every later GET pays for (a 15 MB lookup index read about a third slower,
 * docs/BENCHMARKS.md §9b). Upload parts are at most 10 MiB.
 */
const SINGLE_PUT_MAX_BYTES = PART_BYTES * PARTS_IN_FLIGHT;
/** DeleteObjects takes at most 1000 keys. */
const DELETE_BATCH = 1000;

/** Network-level failures: the server is down, restarting or unreachable, not "the request is wrong". */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
]);

type SdkError = Error & { code?: string; $metadata?: { httpStatusCode?: number }; cause?: unknown };

function isUnavailable(err: unknown): boolean {
  const e = err as SdkError;
  const status = e?.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return true;
  if (e?.name === 'TimeoutError' || e?.name === 'RequestTimeout') return true;
  for (let c: SdkError | undefined = e; c; c = c.cause as SdkError | undefined) {
    if (c.code && NETWORK_CODES.has(c.code)) return true;
  }
  return false;
}

const isNotFound = (err: unknown): boolean => {
  const e = err as SdkError;
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
};

/**
 * BlobStore on an S3-compatible object store (AWS S3, Swift's s3api, MinIO…). Objects are written
 * whole: PutObject for small bodies, a multipart upload (aborted on any failure) for big ones, so a
 * reader sees the old object or the new one and a failed put leaves nothing. Keys are the store's
 * keys under the location's prefix.
 *
 * When the server cannot be reached (connection refused or reset, timeouts, 5xx after the SDK's
 * retries) the error is `Storage.Unavailable` (503 with Retry-After): the request failed before
 * anything was published, so the client can simply retry.
 */
export class S3BlobStore implements BlobStore {
  private constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {}

  /**
   * Connects and checks that the bucket answers (HeadBucket), so a wrong endpoint, bucket or
   * credentials fail at start with the cause. Credentials come from the standard AWS chain
   * (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY first).
   */
  static async open(location: S3Location): Promise<S3BlobStore> {
    const client = new S3Client({
      region: location.region,
      endpoint: location.endpoint,
      // S3-compatible servers (Swift's s3api among them) only do path-style addressing.
      forcePathStyle: location.endpoint !== undefined,
      // Without these, SDKs >= 3.729 send aws-chunked bodies with CRC32 trailers, which Swift's
      // s3api (and other S3-compatible servers) refuse; checksums are then sent only where required.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
      requestHandler: { connectionTimeout: 3000, requestTimeout: 60_000 },
    });
    const store = new S3BlobStore(client, location.bucket, location.prefix);
    try {
      await client.send(new HeadBucketCommand({ Bucket: location.bucket }));
    } catch (err) {
      client.destroy();
      const e = err as SdkError;
      const status = e.$metadata?.httpStatusCode;
      const where = `bucket "${location.bucket}" at ${location.endpoint ?? `AWS S3 (${location.region})`}`;
      const cause =
        status === 404
          ? 'the bucket does not exist'
          : status === 403
            ? 'access denied (check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)'
            : isUnavailable(err)
              ? `unreachable (${describe(e)})`
              : describe(e);
      throw new Error(`cannot use ${where}: ${cause}`);
    }
    return store;
  }

  private objectKey(key: string): string {
    assertValidKey(key);
    return this.prefix + key;
  }

  private fail(err: unknown, what: string): never {
    if (isUnavailable(err)) {
      throw new ApiError(
        'Storage.Unavailable',
        `the blob store (S3) is unavailable (${describe(err as SdkError)} during ${what}); nothing was changed, retry shortly`,
      );
    }
    throw err;
  }

  async put(key: string, body: Readable, opts: { maxBytes?: number } = {}) {
    const Key = this.objectKey(key);
    const maxBytes = opts.maxBytes ?? Number.POSITIVE_INFINITY;
    const sha256 = createHash('sha256');
    let size = 0;
    // The first failure of the input (its own error, or too many bytes) is what the caller sees.
    let inputError: Error | undefined;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > maxBytes) return done((inputError ??= new SizeLimitExceededError(maxBytes)));
        sha256.update(chunk);
        done(null, chunk);
      },
    });
    body.once('error', (err) => meter.destroy((inputError ??= err)));
    body.pipe(meter);
    try {
      // The first SINGLE_PUT_MAX_BYTES decide: a body that ends within them is one PutObject.
      const chunks = meter[Symbol.asyncIterator]();
      const head: Buffer[] = [];
      let headBytes = 0;
      let next = await chunks.next();
      while (!next.done && headBytes + (next.value as Buffer).length <= SINGLE_PUT_MAX_BYTES) {
        head.push(next.value as Buffer);
        headBytes += (next.value as Buffer).length;
        next = await chunks.next();
      }
      if (next.done) {
        await this.putObject(Key, Readable.from(head), headBytes);
      } else {
        const first = next.value as Buffer;
        async function* rest() {
          yield* head.splice(0);
          yield first;
          for (let n = await chunks.next(); !n.done; n = await chunks.next()) yield n.value as Buffer;
        }
        const upload = new Upload({
          client: this.client,
          params: { Bucket: this.bucket, Key, Body: Readable.from(rest()) },
          partSize: PART_BYTES,
          queueSize: PARTS_IN_FLIGHT,
          leavePartsOnError: false,
        });
        await upload.done();
      }
    } catch (err) {
      body.destroy();
      if (inputError) throw inputError;
      this.fail(err, `the write of ${key}`);
    }
    if (inputError) throw inputError;
    return { size, sha256: sha256.digest('hex') };
  }

  /**
   * One PutObject of a body of known length, sent as a stream: the SDK signs a stream's request as
   * UNSIGNED-PAYLOAD, where it would hash a buffer in full first (over http) to sign it, on the
   * event loop. mapvault hashes what it stores itself, so that hash bought nothing (about a fifth
   * of the time to store a 10 MiB part here, docs/BENCHMARKS.md §9).
   */
  private async putObject(Key: string, body: Readable, length: number): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body: body, ContentLength: length }));
  }

  async putFile(key: string, localPath: string): Promise<void> {
    try {
      const { size } = await stat(localPath);
      // A file within SINGLE_PUT_MAX_BYTES (an upload part, an index) is one PutObject, streamed
      // from the file and hashed by nobody (the caller knows its digests); a bigger one goes
      // through put()'s multipart upload.
      if (size > SINGLE_PUT_MAX_BYTES) await this.put(key, createReadStream(localPath));
      else {
        try {
          await this.putObject(this.objectKey(key), createReadStream(localPath), size);
        } catch (err) {
          this.fail(err, `the write of ${key}`);
        }
      }
    } finally {
      // The local file is consumed either way, as with a rename.
      await rm(localPath, { force: true });
    }
  }

  async get(key: string): Promise<Readable | null> {
    const Key = this.objectKey(key);
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }));
      return res.Body as Readable;
    } catch (err) {
      if (isNotFound(err)) return null;
      this.fail(err, `the read of ${key}`);
    }
  }

  async getRange(key: string, start: number, endInclusive: number): Promise<Readable | null> {
    assertRange(start, endInclusive);
    const Key = this.objectKey(key);
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key, Range: `bytes=${start}-${endInclusive}` }));
      return res.Body as Readable;
    } catch (err) {
      if (isNotFound(err)) return null;
      this.fail(err, `the read of ${key} (bytes ${start}-${endInclusive})`);
    }
  }

  async stat(key: string) {
    const Key = this.objectKey(key);
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
      return { size: res.ContentLength ?? 0 };
    } catch (err) {
      if (isNotFound(err)) return null;
      this.fail(err, `the stat of ${key}`);
    }
  }

  async localFile(key: string, downloadTo: string): Promise<string | null> {
    const body = await this.get(key);
    if (!body) return null;
    try {
      // A failed download leaves nothing behind (writeStreamToFile removes its partial file).
      await writeStreamToFile(body, downloadTo, { md5: false, sha256: false });
    } catch (err) {
      this.fail(err, `the read of ${key}`);
    }
    return downloadTo;
  }

  async delete(key: string): Promise<void> {
    const Key = this.objectKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
    } catch (err) {
      if (isNotFound(err)) return;
      this.fail(err, `the delete of ${key}`);
    }
  }

  async deletePrefix(prefix: string): Promise<void> {
    assertValidKey(prefix, { prefix: true });
    let batch: string[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const Objects = batch.map((Key) => ({ Key }));
      batch = [];
      try {
        const res = await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects, Quiet: true } }));
        const failed = (res.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
        const [first] = failed;
        if (first) throw new Error(`S3 DeleteObjects failed for ${failed.length} keys, e.g. ${first.Key}: ${first.Code} ${first.Message}`);
      } catch (err) {
        this.fail(err, `the delete of ${prefix}`);
      }
    };
    for await (const key of this.listKeys(this.prefix + prefix)) {
      batch.push(key.Key);
      if (batch.length === DELETE_BATCH) await flush();
    }
    await flush();
  }

  async *list(prefix: string): AsyncIterable<{ key: string; size: number }> {
    assertValidKey(prefix, { prefix: true });
    // S3 lists in UTF-8 byte order; keys are validated ASCII-or-UTF-8 paths, and the callers need
    // only a stable order, which is what the contract checks.
    for await (const o of this.listKeys(this.prefix + prefix)) {
      yield { key: o.Key.slice(this.prefix.length), size: o.Size };
    }
  }

  private async *listKeys(fullPrefix: string): AsyncIterable<{ Key: string; Size: number }> {
    let ContinuationToken: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: fullPrefix, ContinuationToken }));
      } catch (err) {
        this.fail(err, `the listing of ${fullPrefix}`);
      }
      for (const o of page.Contents ?? []) if (o.Key !== undefined) yield { Key: o.Key, Size: o.Size ?? 0 }; // a listing entry always has a Key
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  close(): void {
    this.client.destroy();
  }
}

function describe(e: SdkError): string {
  const code = e.code ?? (e.cause as SdkError | undefined)?.code;
  const status = e.$metadata?.httpStatusCode;
  return [e.name && e.name !== 'Error' ? e.name : '', code ?? '', status ? `HTTP ${status}` : '', e.message]
    .filter(Boolean)
    .join(' ')
    .slice(0, 300);
}
