import { close, fstat, open, read } from 'node:fs';
import { Readable } from 'node:stream';
import yauzl from 'yauzl';

/** Bytes per read while an entry streams (the size of the chunks inflate and the sinks see). */
const STREAM_READ_BYTES = 256 * 1024;

interface Segment {
  fd: number;
  /** Where the segment starts in the whole. */
  start: number;
  size: number;
}

const openFd = (path: string) => new Promise<number>((resolve, reject) => open(path, 'r', (err, fd) => (err ? reject(err) : resolve(fd))));
const closeFd = (fd: number) => new Promise<void>((resolve) => close(fd, () => resolve()));
const sizeOf = (fd: number) => new Promise<number>((resolve, reject) => fstat(fd, (err, s) => (err ? reject(err) : resolve(s.size))));

/**
 * Reads an ordered list of local files as ONE file, their concatenation, for yauzl: a zip uploaded
 * in parts is checked and read where the parts are, never copied into one file first. Every file
 * is opened up front, so a part removed after that is still read whole.
 */
export class SegmentedFile extends yauzl.RandomAccessReader {
  private constructor(
    private readonly segments: Segment[],
    readonly size: number,
  ) {
    super();
  }

  /** Opens `paths` in order; rejects (closing what it opened) when one cannot be opened, with the file system's error. */
  static async open(paths: readonly string[]): Promise<SegmentedFile> {
    const segments: Segment[] = [];
    try {
      let start = 0;
      for (const path of paths) {
        const fd = await openFd(path);
        const segment = { fd, start, size: 0 };
        segments.push(segment);
        segment.size = await sizeOf(fd);
        start += segment.size;
      }
      return new SegmentedFile(segments, start);
    } catch (err) {
      await Promise.all(segments.map((s) => closeFd(s.fd)));
      throw err;
    }
  }

  /** The segment holding byte `position` (binary search: segments are in order). */
  private segmentAt(position: number): Segment | undefined {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const s = this.segments[mid];
      if (!s) break;
      if (position < s.start) hi = mid - 1;
      else if (position >= s.start + s.size) lo = mid + 1;
      else return s;
    }
    return undefined;
  }

  /** One read of at most `length` bytes at `position`, within one segment; 0 at the end. */
  private readSome(buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    const s = this.segmentAt(position);
    if (!s) return Promise.resolve(0);
    const n = Math.min(length, s.start + s.size - position);
    return new Promise((resolve, reject) =>
      read(s.fd, buffer, offset, n, position - s.start, (err, got) => (err ? reject(err) : resolve(got))),
    );
  }

  override read(buffer: Buffer, offset: number, length: number, position: number, callback: (err: Error | null) => void): void {
    const fill = async () => {
      for (let done = 0; done < length; ) {
        const n = await this.readSome(buffer, offset + done, length - done, position + done);
        if (n === 0) throw new Error(`unexpected EOF (byte ${position + done} of ${this.size})`);
        done += n;
      }
    };
    fill().then(
      () => callback(null),
      (err: Error) => callback(err),
    );
  }

  override _readStreamForRange(start: number, end: number): Readable {
    let position = start;
    const stream: Readable = new Readable({
      read: (size) => {
        const want = Math.min(Math.max(size, STREAM_READ_BYTES), end - position);
        if (want <= 0) return void stream.push(null);
        const chunk = Buffer.allocUnsafe(want);
        this.readSome(chunk, 0, want, position).then(
          (n) => {
            if (n === 0) return void stream.destroy(new Error(`unexpected EOF (byte ${position} of ${this.size})`));
            position += n;
            stream.push(n === want ? chunk : chunk.subarray(0, n));
          },
          (err: Error) => stream.destroy(err),
        );
      },
    });
    return stream;
  }

  override close(callback: (err: Error | null) => void): void {
    Promise.all(this.segments.map((s) => closeFd(s.fd))).then(() => callback(null));
  }
}
