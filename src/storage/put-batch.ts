import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BlobStore } from './blob-store.ts';

export interface PutBatchOptions {
  /** Writes in flight at once. */
  concurrency: number;
  /** Bodies up to this size are read into memory and written in the background; bigger ones are streamed. */
  bufferBytes: number;
}

/** 16 writes of ≤ 1 MiB: at most 16 MiB per merge held in memory, and 16 round trips overlapped on S3. */
export const DEFAULT_PUT_BATCH: PutBatchOptions = { concurrency: 16, bufferBytes: 1024 * 1024 };

/**
 * Many puts with bounded concurrency, for a merge that writes every file of an archive (20 000
 * sequential PUTs to S3 are 20 000 round trips; a local disk barely notices either way).
 *
 * `put` consumes the body before it returns, so the caller (an archive reader that must drain one
 * entry before the next) keeps streaming: a small body is read into memory, hashed, and written
 * in the background while the next entries are read; a body over `bufferBytes` is streamed to the
 * store directly. At most `concurrency` writes are in flight; `put` waits for a free slot.
 * A failed background write is reported by the next `put` or by `flush`.
 *
 * Nothing is visible to readers until the caller publishes: call `flush` (every write durable)
 * before publishing, and `settle` (no write still running) before deleting what a failed batch wrote,
 * so no late write can land after the cleanup.
 */
export class PutBatch {
  private readonly inFlight = new Set<Promise<void>>();
  private failure: { error: unknown } | undefined;

  constructor(
    private readonly blobs: BlobStore,
    private readonly opts: PutBatchOptions = DEFAULT_PUT_BATCH,
  ) {}

  /** Takes the bytes of `body` (`declaredSize` says whether to buffer it); the write may still be in flight. */
  async put(key: string, body: Readable, declaredSize: number): Promise<{ size: number; sha256: string }> {
    this.throwIfFailed();
    if (declaredSize > this.opts.bufferBytes) {
      await this.waitForSlot(this.opts.concurrency - 1);
      return this.blobs.put(key, body);
    }
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      size += (chunk as Buffer).length;
      if (size > declaredSize) {
        body.destroy();
        throw new Error(`${key}: the body is larger than the ${declaredSize} bytes declared`);
      }
      hash.update(chunk as Buffer);
      chunks.push(chunk as Buffer);
    }
    await this.waitForSlot(this.opts.concurrency);
    this.throwIfFailed();
    const write: Promise<void> = this.blobs.put(key, Readable.from(chunks)).then(
      () => {},
      (error: unknown) => void (this.failure ??= { error }),
    ).finally(() => this.inFlight.delete(write));
    this.inFlight.add(write);
    return { size, sha256: hash.digest('hex') };
  }

  /** Waits until every write is done; throws the first failure. */
  async flush(): Promise<void> {
    await this.settle();
    this.throwIfFailed();
  }

  /** Waits until no write is running, whatever their outcome. */
  async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
  }

  private async waitForSlot(limit: number): Promise<void> {
    while (this.inFlight.size >= Math.max(limit, 1)) await Promise.race(this.inFlight);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }
}
