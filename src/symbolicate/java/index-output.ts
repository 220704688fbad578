/**
 * Where the lookup index of a mapping goes while index-writer.ts builds it: into memory (a mapping
 * already held in memory, tests), or, at merge time, to files in the scratch dir so memory stays
 * flat however large the mapping is. One layout either way (described in index-writer.ts):
 *
 *  - class records are appended as each class ends (the file: through a 1 MiB write buffer);
 *  - the class table must be sorted by obfuscated name, which the mapping is not: its entries are
 *    sorted in runs (SpillLimits.runEntries), each run written to its own scratch file, and the
 *    runs merged (at most SpillLimits.fanIn at once, through READ_BUFFER_BYTES each) while the names and the table are
 *    written. A class mapped twice keeps its first mapping (ties sort by mapping line).
 *
 * The writes are asynchronous while the parser is not: the builder buffers what a chunk produced
 * and the caller awaits `drain()` between chunks (the merge's stream does), which writes it out.
 */
import { at, defined } from '../../util/invariant.ts';
import { open, rm, type FileHandle } from 'node:fs/promises';

export interface ClassEntry {
  obf: Buffer;
  orig: Buffer;
  /** The class record's offset and length in the index. */
  off: number;
  len: number;
  /** The mapping line of the class line (first mapping wins; the warning names it). */
  line: number;
}

/** A place for temporary files (ScratchDir satisfies it). */
export interface SpillDir {
  newPath(suffix?: string): string;
  remove(path: string): Promise<void>;
}

/** How the class table is spilled: entries per sorted run, runs merged at once (tests make them small). */
export interface SpillLimits {
  runEntries: number;
  fanIn: number;
}
export const DEFAULT_SPILL_LIMITS: SpillLimits = { runEntries: 32_768, fanIn: 64 };
const WRITE_BUFFER_BYTES = 1024 * 1024;
const MEMORY_BLOCK_BYTES = 64 * 1024;
const READ_BUFFER_BYTES = 64 * 1024;
const ROW_BYTES = 24;

const compareEntries = (a: ClassEntry, b: ClassEntry): number => Buffer.compare(a.obf, b.obf) || a.line - b.line;

/**
 * Bytes appended in order, kept in memory or written to a file. Writers fill views into fixed-size
 * blocks (`reserve`), and a file's blocks are reused once written: a build makes almost no garbage
 * buffers, which would otherwise pile up as external memory until the next full GC.
 */
class Appender {
  /** Sealed blocks (and records too big for one), in order, not yet written. */
  private sealed: Buffer[] = [];
  private block: Buffer;
  private used = 0;
  private buffered = 0;
  private readonly spare: Buffer[] = [];
  /** Bytes appended so far (written or not). */
  length = 0;
  private fh: FileHandle | null = null;

  constructor(
    readonly path: string | null,
    private readonly blockBytes = path === null ? MEMORY_BLOCK_BYTES : WRITE_BUFFER_BYTES,
  ) {
    this.block = Buffer.allocUnsafeSlow(blockBytes);
  }

  /** `n` bytes at the end, for the caller to fill before the next call. */
  reserve(n: number): Buffer {
    this.length += n;
    this.buffered += n;
    if (n > this.blockBytes) {
      this.seal();
      const own = Buffer.allocUnsafe(n);
      this.sealed.push(own);
      return own;
    }
    if (this.used + n > this.blockBytes) this.seal();
    const view = this.block.subarray(this.used, this.used + n);
    this.used += n;
    return view;
  }

  append(b: Buffer): void {
    b.copy(this.reserve(b.length));
  }

  private seal(): void {
    if (this.used === 0) return;
    this.sealed.push(this.block.subarray(0, this.used));
    this.block = this.spare.pop() ?? Buffer.allocUnsafeSlow(this.blockBytes);
    this.used = 0;
  }

  get full(): boolean {
    return this.path !== null && this.buffered >= this.blockBytes;
  }

  async flush(): Promise<void> {
    if (this.path === null || this.buffered === 0) return;
    this.seal();
    this.fh ??= await open(this.path, 'w');
    const parts = this.sealed;
    this.sealed = [];
    this.buffered = 0;
    await this.fh.writev(parts);
    for (const p of parts) {
      if (p.byteOffset === 0 && p.buffer.byteLength === this.blockBytes && this.spare.length < 2) this.spare.push(Buffer.from(p.buffer));
    }
  }

  /** Everything appended (memory only). */
  bytes(): Buffer {
    this.seal();
    return Buffer.concat(this.sealed, this.buffered);
  }

  async close(): Promise<void> {
    await this.flush();
    await this.fh?.close();
    this.fh = null;
  }

  async discard(): Promise<void> {
    await this.fh?.close().catch(() => {});
    this.fh = null;
    this.sealed = [];
    if (this.path !== null) await rm(this.path, { force: true });
  }
}

export class IndexOutput {
  private readonly body: Appender;
  private entries: ClassEntry[] = [];
  private readonly runs: string[] = [];

  /** With a spill dir the index is written to a file there (`finish` returns its path). */
  constructor(
    private readonly spill: SpillDir | null,
    magic: Buffer,
    private readonly limits = DEFAULT_SPILL_LIMITS,
  ) {
    this.body = new Appender(spill ? spill.newPath('.jidx') : null);
    this.body.append(magic);
  }

  /** Space for a class record of `len` bytes (fill it before the next call) and its offset in the index. */
  record(len: number): { buf: Buffer; off: number } {
    const off = this.body.length;
    return { buf: this.body.reserve(len), off };
  }

  classEntry(e: ClassEntry): void {
    this.entries.push(e);
  }

  /** True when buffered output should be written out (`drain`) before more input is parsed. */
  get full(): boolean {
    return this.body.full || (this.spill !== null && this.entries.length >= this.limits.runEntries);
  }

  async drain(): Promise<void> {
    await this.body.flush();
    if (this.spill && this.entries.length >= this.limits.runEntries) await this.writeRun();
  }

  /**
   * Writes the names, the class table and the footer (`footer(classCount, namesOff, namesLen)`;
   * the names start where the records end); calls `duplicate` for each class line after the first
   * of an obfuscated name.
   */
  async finish(
    footer: (classCount: number, namesOff: number, namesLen: number) => Buffer,
    duplicate: (e: ClassEntry) => void,
  ): Promise<{ classCount: number; index: Buffer | null; path: string | null }> {
    const recordsEnd = this.body.length;
    const table = new Appender(this.spill ? this.spill.newPath('.jtab') : null);
    try {
      let sorted: AsyncIterable<ClassEntry> | Iterable<ClassEntry>;
      if (this.spill) {
        if (this.entries.length > 0) await this.writeRun();
        sorted = mergeRuns(this.runs, this.spill, this.limits.fanIn);
      } else {
        sorted = this.entries.sort(compareEntries);
      }
      let classCount = 0;
      let prev: Buffer | null = null;
      for await (const e of sorted) {
        if (prev?.equals(e.obf)) {
          duplicate(e);
          continue;
        }
        prev = e.obf;
        const row = Buffer.allocUnsafe(ROW_BYTES);
        row.writeUInt32LE(this.body.length, 0);
        row.writeUInt32LE(e.obf.length, 4);
        this.body.append(e.obf);
        row.writeUInt32LE(this.body.length, 8);
        row.writeUInt32LE(e.orig.length, 12);
        this.body.append(e.orig);
        row.writeUInt32LE(e.off, 16);
        row.writeUInt32LE(e.len, 20);
        table.append(row);
        classCount++;
        if (this.body.full) await this.body.flush();
        if (table.full) await table.flush();
      }
      this.entries = [];
      const namesLen = this.body.length - recordsEnd;
      const foot = footer(classCount, recordsEnd, namesLen);
      if (!this.spill || table.path === null || this.body.path === null) {
        return { classCount, index: Buffer.concat([this.body.bytes(), table.bytes(), foot]), path: null };
      }
      await table.close();
      await this.body.flush();
      await copyInto(table.path, this.body);
      this.body.append(foot);
      await this.body.close();
      return { classCount, index: null, path: this.body.path };
    } catch (err) {
      await this.discard();
      throw err;
    } finally {
      await table.discard();
      await this.removeRuns();
    }
  }

  /** Removes every file written so far (a failed or refused mapping). */
  async discard(): Promise<void> {
    this.entries = [];
    await this.body.discard();
    await this.removeRuns();
  }

  private async removeRuns(): Promise<void> {
    for (const r of this.runs.splice(0)) await this.spill?.remove(r);
  }

  private async writeRun(): Promise<void> {
    const spill = defined(this.spill, 'the spill directory of a run');
    const entries = this.entries.sort(compareEntries);
    this.entries = [];
    const path = spill.newPath('.jrun');
    this.runs.push(path);
    await writeRunFile(path, entries);
  }
}

/** Run file: entries as [obfLen, origLen, off, len, line] (u32 LE) + obf + orig, sorted. */
async function writeRunFile(path: string, entries: Iterable<ClassEntry> | AsyncIterable<ClassEntry>): Promise<void> {
  const out = new Appender(path);
  try {
    for await (const e of entries) {
      const head = Buffer.allocUnsafe(20);
      head.writeUInt32LE(e.obf.length, 0);
      head.writeUInt32LE(e.orig.length, 4);
      head.writeUInt32LE(e.off, 8);
      head.writeUInt32LE(e.len, 12);
      head.writeUInt32LE(e.line, 16);
      out.append(head);
      out.append(e.obf);
      out.append(e.orig);
      if (out.full) await out.flush();
    }
    await out.close();
  } catch (err) {
    await out.discard();
    throw err;
  }
}

/** Reads a run file back through a fixed-size buffer. */
class RunReader {
  private buf = Buffer.alloc(0);
  private pos = 0;
  private fileOff = 0;
  private eof = false;

  private constructor(private readonly fh: FileHandle) {}

  static async open(path: string): Promise<RunReader> {
    return new RunReader(await open(path, 'r'));
  }

  async next(): Promise<ClassEntry | null> {
    if (!(await this.ensure(20))) return null;
    const obfLen = this.buf.readUInt32LE(this.pos);
    const origLen = this.buf.readUInt32LE(this.pos + 4);
    if (!(await this.ensure(20 + obfLen + origLen))) throw new Error('a spilled run of the Java index is truncated');
    const b = this.buf;
    const p = this.pos;
    const e: ClassEntry = {
      off: b.readUInt32LE(p + 8),
      len: b.readUInt32LE(p + 12),
      line: b.readUInt32LE(p + 16),
      obf: Buffer.from(b.subarray(p + 20, p + 20 + obfLen)),
      orig: Buffer.from(b.subarray(p + 20 + obfLen, p + 20 + obfLen + origLen)),
    };
    this.pos = p + 20 + obfLen + origLen;
    return e;
  }

  private async ensure(n: number): Promise<boolean> {
    while (this.buf.length - this.pos < n) {
      if (this.eof) return false;
      const rest = this.buf.subarray(this.pos);
      const block = Buffer.allocUnsafe(Math.max(READ_BUFFER_BYTES, n));
      const { bytesRead } = await this.fh.read(block, 0, block.length, this.fileOff);
      this.fileOff += bytesRead;
      if (bytesRead === 0) this.eof = true;
      this.buf = Buffer.concat([rest, block.subarray(0, bytesRead)]);
      this.pos = 0;
    }
    return true;
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

/** All entries of the sorted runs, in order; more than `fanIn` runs are first merged in groups. */
async function* mergeRuns(runs: string[], spill: SpillDir, fanIn: number): AsyncGenerator<ClassEntry> {
  let level = runs.slice();
  const made: string[] = [];
  try {
    while (level.length > fanIn) {
      const next: string[] = [];
      for (let i = 0; i < level.length; i += fanIn) {
        const path = spill.newPath('.jrun');
        made.push(path);
        await writeRunFile(path, mergeFew(level.slice(i, i + fanIn)));
        next.push(path);
      }
      level = next;
    }
    yield* mergeFew(level);
  } finally {
    for (const p of made) await spill.remove(p);
  }
}

/** A k-way merge of a few runs through a binary heap of their heads. */
async function* mergeFew(paths: string[]): AsyncGenerator<ClassEntry> {
  const readers: RunReader[] = [];
  try {
    const heap: { e: ClassEntry; r: RunReader }[] = [];
    for (const p of paths) {
      const r = await RunReader.open(p);
      readers.push(r);
      const e = await r.next();
      if (e) heap.push({ e, r });
    }
    const less = (i: number, j: number) => compareEntries(at(heap, i).e, at(heap, j).e) < 0;
    const swap = (i: number, j: number) => {
      const t = at(heap, i);
      heap[i] = at(heap, j);
      heap[j] = t;
    };
    const down = (i: number) => {
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && less(l, m)) m = l;
        if (r < heap.length && less(r, m)) m = r;
        if (m === i) return;
        swap(i, m);
        i = m;
      }
    };
    for (let i = (heap.length >> 1) - 1; i >= 0; i--) down(i);
    while (heap.length > 0) {
      const top = at(heap, 0);
      yield top.e;
      const e = await top.r.next();
      if (e) top.e = e;
      else {
        const last = at(heap, heap.length - 1);
        heap.pop();
        if (heap.length > 0) heap[0] = last;
      }
      down(0);
    }
  } finally {
    for (const r of readers) await r.close().catch(() => {});
  }
}

/** Appends a file's bytes to `out`, read straight into its blocks. */
async function copyInto(path: string, out: Appender): Promise<void> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    for (let at = 0; at < size; ) {
      const n = Math.min(WRITE_BUFFER_BYTES, size - at);
      const view = out.reserve(n);
      const { bytesRead } = await fh.read(view, 0, n, at);
      if (bytesRead !== n) throw new Error('a spilled class table of the Java index changed while it was copied');
      at += n;
      await out.flush();
    }
  } finally {
    await fh.close();
  }
}
