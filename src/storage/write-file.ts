import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface WrittenFile {
  size: number;
  /** '' when the caller asked for no sha256 (`sha256: false`). */
  sha256: string;
  /** '' when the caller asked for no md5 (`md5: false`). */
  md5: string;
}

const WRITE_BUFFER_BYTES = 256 * 1024;

/** Thrown when a stream carries more than the caller allowed; the partial file is already removed. */
export class SizeLimitExceededError extends Error {
  constructor(readonly limit: number) {
    super(`more than ${limit} bytes`);
    this.name = 'SizeLimitExceededError';
  }
}

/**
 * Streams `body` into `path`, hashing and counting on the way, and stops as soon as
 * `maxBytes` is exceeded (no buffering of the rest). On any failure the partial file is removed.
 * This is the single place where request/entry bytes meet the disk.
 */
export async function writeStreamToFile(
  body: Readable | NodeJS.ReadableStream,
  path: string,
  opts: {
    maxBytes?: number;
    md5?: boolean;
    sha256?: boolean;
    sync?: boolean;
    /** Told, as chunks go by, how many bytes have reached the file (completed writes): lets a reader follow it. */
    onWritten?: (bytesOnDisk: number) => void;
  } = {},
): Promise<WrittenFile> {
  const maxBytes = opts.maxBytes ?? Number.POSITIVE_INFINITY;
  // Off where the caller hashes the finished file elsewhere (util/file-digests.ts: a worker thread).
  const sha256 = opts.sha256 === false ? null : createHash('sha256');
  // md5 is the slowest pass here (~2x sha256's cost): only computed where someone reads it (parts).
  const md5 = opts.md5 === false ? null : createHash('md5');
  let size = 0;
  const onWritten = opts.onWritten;
  // `flush`: fsync before close, so `sync` callers know the bytes are on disk when this resolves.
  // The 256 KiB buffer lets the chunks that arrive while one write runs go out as one writev: socket
  // and zip reads are 16–64 KiB, and one write per chunk (a thread-pool round trip each) was the
  // heaviest item of the parts phase's main thread (docs/BENCHMARKS.md, target 1b). Not more: bytes
  // queued here are held in this process (and may outlive young-generation GCs) instead of waiting
  // in the socket's kernel buffer, which is what the default 16 KiB buffer achieved.
  const file = createWriteStream(path, { flags: 'wx', flush: opts.sync === true, highWaterMark: WRITE_BUFFER_BYTES });
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > maxBytes) return done(new SizeLimitExceededError(maxBytes));
      sha256?.update(chunk);
      md5?.update(chunk);
      onWritten?.(file.bytesWritten);
      done(null, chunk);
    },
  });
  try {
    await pipeline(body, meter, file);
  } catch (err) {
    await rm(path, { force: true });
    throw err;
  }
  return { size, sha256: sha256 ? sha256.digest('hex') : '', md5: md5 ? md5.digest('hex') : '' };
}
