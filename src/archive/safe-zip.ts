import { Transform, type Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import yauzl from 'yauzl';
import type { Entry, ZipFile } from 'yauzl';
import { ApiError, type ErrorCode } from '../errors.ts';
import { normalizeRelativePath } from './entry-path.ts';
import { SegmentedFile } from './segmented-file.ts';

export interface ArchiveLimits {
  maxTotalBytes: number;
  maxEntries: number;
  maxRatio: number;
}
export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = { maxTotalBytes: 2 * 1024 ** 3, maxEntries: 100_000, maxRatio: 200 };
export interface ExtractedFile {
  path: string;
  size: number;
  sha256: string;
}
/**
 * Where an entry's bytes are in the archive file: its data (after the local header), how many bytes
 * are stored, how (0 stored, 8 deflated) and their CRC-32, so a kept archive can serve the entry
 * by a ranged read (storage/tree-archive.ts).
 */
export interface EntryLocation {
  dataOffset: number;
  storedSize: number;
  method: 0 | 8;
  crc32: number;
}
/** Called once per regular file, in central-directory order. Must fully consume `body` (or reject). */
export type EntrySink = (
  path: string,
  body: NodeJS.ReadableStream | Readable,
  declaredSize: number,
  location: EntryLocation,
) => Promise<{ size: number; sha256: string }>;
export interface ArchiveSummary {
  files: ExtractedFile[];
  totalBytes: number;
  entryCount: number;
}

/** Below this many uncompressed bytes a high ratio is harmless (and common for repetitive text), so it is not checked. */
const RATIO_CHECK_MIN_BYTES = 1024 * 1024;
/** Smallest possible central directory record; lets us reject an absurd entry count without reading anything. */
const CD_RECORD_MIN_BYTES = 46;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const FILE_TYPES: Record<number, string> = {
  0o120000: 'symbolic link',
  0o010000: 'FIFO',
  0o020000: 'character device',
  0o060000: 'block device',
  0o140000: 'socket',
};
const METHODS: Record<number, string> = {
  1: 'shrink',
  6: 'implode',
  9: 'deflate64',
  12: 'bzip2',
  14: 'LZMA',
  93: 'zstd',
  95: 'xz',
  99: 'AES',
};

interface ScannedEntry {
  path: string;
  name: string;
  entry: Entry;
  isDir: boolean;
  size: number;
  compressedSize: number;
}

const fail = (code: ErrorCode, message: string, content: Record<string, unknown> | null = null) => new ApiError(code, message, content);
const q = (s: string) => JSON.stringify(s);
const bytes = (n: number) => (n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${n} bytes`);

/**
 * Maps anything thrown while reading the zip to an archive error. yauzl reports every malformation as a plain
 * Error, so those become Archive.Corrupt, except its byte-count overrun (a header that lies about the size:
 * Archive.TooLarge) and strong encryption. OS-level I/O errors (they carry `syscall`) are our problem, not the
 * archive's, and pass through untouched.
 */
function toArchiveError(err: unknown, where: string): Error {
  if (err instanceof ApiError) return err;
  if (err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === 'string') return err;
  const msg = err instanceof Error ? err.message : String(err);
  if (/too many bytes in the stream/.test(msg)) {
    return fail('Archive.TooLarge', `${where} inflates to more bytes than its header declares (${msg}); refusing a possible zip bomb`);
  }
  if (/encrypt/i.test(msg)) return fail('Archive.Encrypted', `${where} is encrypted (${msg})`);
  return fail('Archive.Corrupt', `${where} is corrupt: ${msg}`);
}

// ignoreBOM: keep a leading U+FEFF rather than silently dropping it, so the name we check is the name we write.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Raw name bytes for messages: printable ASCII as is, anything else as \xNN. */
const printable = (raw: Buffer) =>
  `"${Array.from(raw, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('')}"`;

/** Zip names are raw bytes: UTF-8 when flagged (or when they happen to be valid UTF-8, as most tools write), else CP437. */
function decodeName(raw: Buffer, flags: number): string {
  try {
    return utf8.decode(raw);
  } catch {
    if (flags & 0x800) throw fail('Archive.UnsafePath', `Unsafe path ${printable(raw)}: flagged as UTF-8 but is not valid UTF-8`);
  }
  // CP437 maps control bytes to printable glyphs (0x01 -> '☺'), which would slip past the control-character check.
  const ctl = raw.find((b) => b < 0x20 || b === 0x7f);
  if (ctl !== undefined)
    throw fail(
      'Archive.UnsafePath',
      `Unsafe path ${printable(raw)}: contains control character U+${ctl.toString(16).padStart(4, '0').toUpperCase()}`,
    );
  // Empty extra-field list: we deliberately ignore the Info-ZIP Unicode Path field so the name we validate is the one in the header.
  return yauzl.getFileNameLowLevel(flags, raw, [], true);
}

/** A zip on disk: one file, or several whose concatenation is the zip (an archive's uploaded parts, in order). */
export type ZipSource = string | readonly string[];

async function openZip(source: ZipSource): Promise<ZipFile> {
  const file = await SegmentedFile.open(typeof source === 'string' ? [source] : source);
  return new Promise((resolve, reject) => {
    yauzl.fromRandomAccessReader(
      file,
      file.size,
      { lazyEntries: true, autoClose: false, validateEntrySizes: true, decodeStrings: false, strictFileNames: true },
      (err, zip) => {
        // On a parse failure yauzl leaves the files to us; close them before reporting so nothing outlives the call.
        if (err) return file.close(() => reject(toArchiveError(err, 'The archive')));
        // yauzl emits 'error' outside of eachEntry() too (e.g. a failed close); never let that crash the process.
        zip.on('error', () => {});
        resolve(zip);
      },
    );
  });
}

/** Releases the fd. Waits for the actual close so callers may delete the file; the timer only guards against a leaked stream ref. */
function closeZip(zip: ZipFile): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 5000).unref();
    zip.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    zip.close();
  });
}

async function withZip<T>(source: ZipSource, fn: (zip: ZipFile) => Promise<T>): Promise<T> {
  const zip = await openZip(source);
  try {
    return await fn(zip);
  } finally {
    await closeZip(zip);
  }
}

/** Phase 1: walks the central directory only (no inflation) and rejects anything unsafe or over the limits. */
async function scan(zip: ZipFile, limits: ArchiveLimits): Promise<{ items: ScannedEntry[]; totalBytes: number }> {
  if (zip.entryCount > limits.maxEntries) {
    throw fail('Archive.TooLarge', `Archive has ${zip.entryCount} entries; the limit is ${limits.maxEntries}`, {
      limit: limits.maxEntries,
      actual: zip.entryCount,
    });
  }
  if (zip.entryCount * CD_RECORD_MIN_BYTES > zip.fileSize) {
    throw fail('Archive.Corrupt', `Archive claims ${zip.entryCount} entries but is only ${zip.fileSize} bytes long`);
  }
  const items: ScannedEntry[] = [];
  // Every normalized path seen: a file, an explicit directory entry, or a directory implied by a file's parents.
  const seen = new Map<string, { dir: boolean; implied: boolean; name: string }>();
  const claim = (path: string, dir: boolean, name: string) => {
    for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
      const parent = path.slice(0, i);
      const prev = seen.get(parent);
      if (prev && !prev.dir)
        throw fail(
          'Archive.DuplicatePath',
          `Entry ${q(name)} needs ${q(parent)} to be a directory, but entry ${q(prev.name)} is a file at that path`,
          { path: parent },
        );
      if (!prev) seen.set(parent, { dir: true, implied: true, name });
    }
    const prev = seen.get(path);
    if (prev && !(prev.dir && dir)) {
      const message =
        !prev.dir && !dir
          ? `Entries ${q(prev.name)} and ${q(name)} both extract to the same path ${q(path)}`
          : prev.implied
            ? `Entry ${q(name)} is a file, but entry ${q(prev.name)} needs ${q(path)} to be a directory`
            : `Entries ${q(prev.name)} and ${q(name)} are a ${prev.dir ? 'directory and a file' : 'file and a directory'} at the same path ${q(path)}`;
      throw fail('Archive.DuplicatePath', message, { path });
    }
    seen.set(path, { dir, implied: false, name });
  };

  let totalBytes = 0;
  let index = 0;
  try {
    for await (const entry of zip.eachEntry()) {
      index++;
      const name = decodeName(entry.fileNameRaw, entry.generalPurposeBitFlag);
      const path = normalizeRelativePath(name);
      const isDir = /[/\\]$/.test(name);
      const label = `Entry ${q(name)}`;
      if (entry.generalPurposeBitFlag & 0x1)
        throw fail('Archive.Encrypted', `${label} is encrypted; password-protected archives are not supported`, { path });
      if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
        const m = entry.compressionMethod;
        throw fail(
          'Archive.Corrupt',
          `${label} uses unsupported compression method ${m}${METHODS[m] ? ` (${METHODS[m]})` : ''}; only stored (0) and deflate (8) are supported`,
          { path },
        );
      }
      // The high 16 bits carry a Unix st_mode when the zip was made on Unix; 0 means "no mode recorded".
      const type = (entry.externalFileAttributes >>> 16) & S_IFMT;
      if (type !== 0 && type !== S_IFREG && type !== S_IFDIR) {
        throw fail(
          'Archive.UnsafeEntry',
          `${label} is a ${FILE_TYPES[type] ?? `special file (mode 0o${type.toString(8)})`}; only regular files and directories are allowed`,
          { path },
        );
      }
      if (type === S_IFDIR && !isDir)
        throw fail('Archive.UnsafeEntry', `${label} has a directory mode but its name does not end in '/'`, { path });
      if (isDir && entry.uncompressedSize !== 0)
        throw fail('Archive.UnsafeEntry', `${label} is a directory but carries ${entry.uncompressedSize} bytes of data`, { path });
      // Cheap bounds check (30 = local header size) so a truncated archive fails here rather than mid-extraction.
      if (entry.relativeOffsetOfLocalHeader + 30 + entry.compressedSize > zip.fileSize) {
        throw fail(
          'Archive.Corrupt',
          `${label} points past the end of the archive (offset ${entry.relativeOffsetOfLocalHeader} + ${entry.compressedSize} bytes > ${zip.fileSize}); the file is truncated or corrupt`,
          { path },
        );
      }
      claim(path, isDir, name);

      const size = entry.uncompressedSize;
      totalBytes += size;
      if (totalBytes > limits.maxTotalBytes) {
        throw fail(
          'Archive.TooLarge',
          `Archive expands to more than ${bytes(limits.maxTotalBytes)} (reached ${bytes(totalBytes)} at entry ${q(name)}, which declares ${size} bytes)`,
          { limit: limits.maxTotalBytes, actual: totalBytes, path },
        );
      }
      const ratio = size / Math.max(entry.compressedSize, 1);
      if (size > RATIO_CHECK_MIN_BYTES && ratio > limits.maxRatio) {
        throw fail(
          'Archive.TooLarge',
          `${label} has a compression ratio of ${Math.round(ratio)}:1 (${size} bytes from ${entry.compressedSize}); the limit is ${limits.maxRatio}:1`,
          { limit: limits.maxRatio, actual: ratio, path },
        );
      }
      items.push({ path, name, entry, isDir, size, compressedSize: entry.compressedSize });
    }
  } catch (err) {
    throw toArchiveError(err, `Entry #${index + 1} of the central directory`);
  }
  // Whole-archive ratio against the real file size: this also catches entries that overlap the same compressed bytes.
  const ratio = totalBytes / Math.max(zip.fileSize, 1);
  if (totalBytes > RATIO_CHECK_MIN_BYTES && ratio > limits.maxRatio) {
    throw fail(
      'Archive.TooLarge',
      `Archive expands ${Math.round(ratio)}:1 (${totalBytes} bytes from a ${zip.fileSize}-byte file); the limit is ${limits.maxRatio}:1`,
      { limit: limits.maxRatio, actual: ratio },
    );
  }
  return { items, totalBytes };
}

function readLocalHeader(zip: ZipFile, entry: Entry): Promise<{ fileDataStart: number }> {
  return new Promise((resolve, reject) =>
    zip.readLocalFileHeader(entry, { minimal: true }, (err, header) => (err ? reject(err) : resolve(header))),
  );
}

function openEntryStream(zip: ZipFile, entry: Entry): Promise<Readable> {
  return new Promise((resolve, reject) => zip.openReadStream(entry, (err, stream) => (err ? reject(err) : resolve(stream))));
}

/** Phase 2 for one file: streams it through the sink while counting bytes and computing the CRC. */
async function extractOne(
  zip: ZipFile,
  item: ScannedEntry,
  limits: ArchiveLimits,
  running: { total: number },
  sink: EntrySink,
): Promise<ExtractedFile> {
  const label = `Entry ${q(item.name)}`;
  let raw: Readable;
  let location: EntryLocation;
  try {
    const { fileDataStart } = await readLocalHeader(zip, item.entry);
    const e = item.entry;
    location = { dataOffset: fileDataStart, storedSize: e.compressedSize, method: e.compressionMethod === 8 ? 8 : 0, crc32: e.crc32 };
    raw = await openEntryStream(zip, item.entry);
  } catch (err) {
    throw toArchiveError(err, label);
  }
  // The first archive error wins; it is what we throw even if the sink rejects with something derived from it.
  let failure: Error | null = null;
  const record = (err: unknown) => (failure ??= toArchiveError(err, label));
  let size = 0;
  let crc = 0;
  const body = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      running.total += chunk.length;
      if (size > item.size) {
        return done(
          record(
            fail(
              'Archive.TooLarge',
              `${label} inflates to more than the ${item.size} bytes its header declares; refusing a possible zip bomb`,
              { limit: item.size, path: item.path },
            ),
          ),
        );
      }
      if (running.total > limits.maxTotalBytes) {
        return done(
          record(
            fail('Archive.TooLarge', `Archive expands to more than ${bytes(limits.maxTotalBytes)} (while extracting ${q(item.name)})`, {
              limit: limits.maxTotalBytes,
              path: item.path,
            }),
          ),
        );
      }
      crc = crc32(chunk, crc);
      done(null, chunk);
    },
    // Verified before 'end', so a sink that pipes `body` sees the error instead of a clean end and keeps nothing.
    flush(done) {
      if (size !== item.size)
        return done(record(fail('Archive.Corrupt', `${label} is truncated: ${size} of ${item.size} bytes`, { path: item.path })));
      if (crc !== item.entry.crc32) {
        return done(
          record(
            fail(
              'Archive.Corrupt',
              `${label} fails its CRC-32 check (expected ${item.entry.crc32.toString(16).padStart(8, '0')}, got ${crc.toString(16).padStart(8, '0')})`,
              { path: item.path },
            ),
          ),
        );
      }
      done();
    },
  });
  raw.on('error', (err) => body.destroy(record(err)));
  // Consumers attach their own listeners; this one only keeps an unconsumed body from crashing the process.
  body.on('error', () => {});
  // However the body ends (consumed, errored, or abandoned by the sink), release the zip stream and its fd ref.
  body.on('close', () => raw.destroy());
  raw.pipe(body);
  try {
    const result = await sink(item.path, body, item.size, location);
    if (failure) throw failure;
    if (!body.readableEnded) throw new Error(`archive sink resolved without consuming ${q(item.path)}`);
    return { path: item.path, size, sha256: result.sha256 };
  } catch (err) {
    throw failure ?? err;
  } finally {
    body.destroy();
  }
}

/**
 * Phase 1: opens the zip and reads the WHOLE central directory WITHOUT inflating anything, rejecting (before the
 * sink is called even once) on anything unsafe or over `limits`. Phase 2: streams each regular file through the
 * sink, checking size and CRC-32 as it goes and aborting at the first byte beyond what the entry declared.
 * Directory entries are skipped. The zipfile is always closed.
 */
export async function extractZip(source: ZipSource, limits: ArchiveLimits, sink: EntrySink): Promise<ArchiveSummary> {
  return withZip(source, async (zip) => {
    const { items } = await scan(zip, limits);
    const running = { total: 0 };
    const files: ExtractedFile[] = [];
    for (const item of items) {
      if (!item.isDir) files.push(await extractOne(zip, item, limits, running, sink));
    }
    return { files, totalBytes: running.total, entryCount: zip.entryCount };
  });
}

/** Phase 1 only (used by tests and to pre-validate). Lists regular files; directory entries are validated but omitted. */
export async function inspectZip(
  source: ZipSource,
  limits: ArchiveLimits,
): Promise<{ entries: Array<{ path: string; size: number; compressedSize: number }>; totalBytes: number }> {
  return withZip(source, async (zip) => {
    const { items, totalBytes } = await scan(zip, limits);
    return { entries: items.filter((i) => !i.isDir).map(({ path, size, compressedSize }) => ({ path, size, compressedSize })), totalBytes };
  });
}
