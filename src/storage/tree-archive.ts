import { Readable, Transform, pipeline } from 'node:stream';
import { crc32, createInflateRaw } from 'node:zlib';
import type { BlobStore } from './blob-store.ts';
import { partKeyName, partKeyOfName, TREE_ARCHIVE_PATH, treeArchiveSegmentPath } from './blob-keys.ts';

/**
 * A merged tree keeps its verified archive as SEGMENTS whose concatenation is the zip: the
 * uploaded parts themselves, kept where they were uploaded and never copied, or one segment of the
 * tree's own (treeArchiveSegmentPath(0)) holding the concatenation when the parts are too many to
 * serve from. Each of its files is served by ranged reads of the entry's bytes, inflated when
 * deflated. A 20 000-file merge is then a few objects instead of 20 000, and a big archive is
 * never written a second time (docs/ARCHITECTURE.md, "Blobs").
 *
 * The entry index is the files' catalog rows: a packed file's `blobKey` is
 * `zip@<method 0|8>:<crc32 hex>:<segment>.<offset>.<length>[+<segment>.<offset>.<length>…]`, the
 * entry's data as spans of segments (one span unless the entry crosses a part boundary). A segment
 * is a part's name (partKeyName: `<uploadId>/<chunk>-<random>`) or the index of one of the tree's
 * own segments (trees merged before the parts were kept have their copies there). Trees merged
 * before segments have `zip:<offset of its data>:<stored bytes>:<method>:<crc32 hex>` into one
 * TREE_ARCHIVE_PATH object, still read. Real keys always start with `trees/`, so neither can be
 * confused with one. This module is the one place that knows the encoding.
 */

/** A stored file as its catalog row describes it (FileRecord): enough to find and check its bytes. */
export interface StoredFile {
  path: string;
  size: number;
  sha256: string;
  blobKey?: string;
}

/** Where an entry's bytes are in the archive, as one zip (from its local header, checked at merge). */
export interface ArchiveEntryLocation {
  dataOffset: number;
  storedSize: number;
  /** 0 stored, 8 deflated (the only methods the merge accepts). */
  method: 0 | 8;
  crc32: number;
}

/** One object of a stored archive, in the order of the archive's bytes. */
export interface ArchiveSegment {
  /** How file rows name it: a part's name, or the index of the tree's own segment. */
  name: string;
  size: number;
}
/** An uploaded part (its key) kept as a segment of the archive. */
export const partSegment = (key: string, size: number): ArchiveSegment => ({ name: partKeyName(key), size });
/** The tree's own segment `index` (treeArchiveSegmentPath). */
export const treeSegment = (index: number, size: number): ArchiveSegment => ({ name: String(index), size });

/** Bytes `offset`..`offset + length - 1` of segment `segment` (its name), stored at `key(tree prefix)`. */
interface Span {
  segment: string;
  key(prefix: string): string;
  offset: number;
  length: number;
}

interface ArchivedEntry {
  method: 0 | 8;
  crc32: number;
  /** At least one; an empty entry has one span of length 0 (its segment's presence says whether the tree is). */
  spans: Span[];
}

const SPAN = /^([^.]+)\.(\d+)\.(\d+)$/;
const SEGMENTED_REF = /^zip@([08]):([0-9a-f]{8}):([^:]+)$/;
const SINGLE_ARCHIVE_REF = /^zip:(\d+):(\d+):([08]):([0-9a-f]{8})$/;

const hex32 = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');

/** Where a segment a row names is stored: the tree's own segments by index, else a part by its name; null for neither. */
function segmentKey(segment: string): ((prefix: string) => string) | null {
  if (/^\d+$/.test(segment)) return (prefix) => prefix + treeArchiveSegmentPath(Number(segment));
  const part = partKeyOfName(segment);
  return part === null ? null : () => part;
}

/**
 * The row's `blobKey` for an entry of the archive stored as `segments`, in order. Its data are
 * split at the segment boundaries they cross.
 */
export function archiveEntryRef(at: ArchiveEntryLocation, segments: readonly ArchiveSegment[]): string {
  const spans: string[] = [];
  let segmentStart = 0;
  let offset = at.dataOffset;
  let left = at.storedSize;
  for (const { name, size } of segments) {
    const segmentEnd = segmentStart + size;
    // An empty entry still names the segment its (empty) data start in.
    if (offset < segmentEnd && (left > 0 || spans.length === 0)) {
      const length = Math.min(left, segmentEnd - offset);
      spans.push(`${name}.${offset - segmentStart}.${length}`);
      offset += length;
      left -= length;
      if (left === 0) break;
    }
    segmentStart = segmentEnd;
  }
  if (left > 0 || spans.length === 0)
    throw new Error(`entry data at ${at.dataOffset}+${at.storedSize} lie outside the archive (${segmentStart} bytes)`);
  return `zip@${at.method}:${hex32(at.crc32)}:${spans.join('+')}`;
}

function parseRef(blobKey: string): ArchivedEntry | null {
  const segmented = SEGMENTED_REF.exec(blobKey);
  if (segmented) {
    const [, method, crc, spanList] = segmented;
    const spans: Span[] = [];
    for (const span of (spanList ?? '').split('+')) {
      const [, segment, offset, length] = SPAN.exec(span) ?? [];
      const key = segment === undefined ? null : segmentKey(segment);
      if (segment === undefined || key === null) return null;
      spans.push({ segment, key, offset: Number(offset), length: Number(length) });
    }
    return { method: method === '8' ? 8 : 0, crc32: Number.parseInt(crc ?? '', 16), spans };
  }
  const single = SINGLE_ARCHIVE_REF.exec(blobKey);
  if (!single) return null;
  const [, offset, stored, method, crc] = single;
  return {
    method: method === '8' ? 8 : 0,
    crc32: Number.parseInt(crc ?? '', 16),
    spans: [{ segment: '0', key: (prefix) => prefix + TREE_ARCHIVE_PATH, offset: Number(offset), length: Number(stored) }],
  };
}

/** True when the row's bytes live in the tree's archive (nothing of their own to collect). */
export const isInTreeArchive = (file: { blobKey?: string }): boolean => file.blobKey !== undefined && parseRef(file.blobKey) !== null;

/** The entry's stored bytes, span after span; null when its first segment is absent (the tree was collected). */
async function openSpans(blobs: BlobStore, prefix: string, entry: ArchivedEntry): Promise<Readable | null> {
  const [first, ...rest] = entry.spans;
  if (!first) return null;
  const open = (span: Span) =>
    span.length === 0
      ? blobs.stat(span.key(prefix)).then((found) => (found ? Readable.from([]) : null))
      : blobs.getRange(span.key(prefix), span.offset, span.offset + span.length - 1);
  const head = await open(first);
  if (!head || rest.length === 0) return head;
  return Readable.from(
    (async function* () {
      yield* head;
      for (const span of rest) {
        const body = await open(span);
        if (!body) throw new Error(`segment ${span.segment} of the stored archive is missing`);
        yield* body;
      }
    })(),
    { objectMode: false },
  );
}

/**
 * Streams a stored file of the tree under `prefix`: from the tree's archive when the row says so,
 * else its own object (`blobKey`, a file written alone) or `<prefix><path>`. Null when the bytes are
 * absent (the tree was collected). An archived entry is checked as it streams, like at merge: more
 * or fewer bytes than the row's size, or another CRC-32, fail the stream instead of ending it.
 */
export async function openTreeFile(blobs: BlobStore, prefix: string, file: Omit<StoredFile, 'sha256'>): Promise<Readable | null> {
  const at = file.blobKey === undefined ? null : parseRef(file.blobKey);
  if (!at) return blobs.get(file.blobKey ?? prefix + file.path);
  const raw = await openSpans(blobs, prefix, at);
  if (!raw) return null;
  let size = 0;
  let crc = 0;
  const check = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > file.size) return done(new Error(`${file.path}: the stored archive holds more than the ${file.size} bytes recorded`));
      crc = crc32(chunk, crc);
      done(null, chunk);
    },
    flush(done) {
      if (size !== file.size) return done(new Error(`${file.path}: the stored archive holds ${size} of the ${file.size} bytes recorded`));
      if (crc >>> 0 !== at.crc32) return done(new Error(`${file.path}: the stored archive's bytes fail their CRC-32 check`));
      done();
    },
  });
  const streams = at.method === 8 ? [raw, createInflateRaw(), check] : [raw, check];
  // pipeline destroys every stream on the first error, and the reader of `check` sees that error.
  return pipeline(streams as [Readable, ...Transform[]], () => {}) as unknown as Readable;
}

/**
 * A stored file's bytes in memory (maps and scripts for resolution, bounded by the callers). They
 * are copied into a buffer of the row's size as they arrive: concatenating the chunks at the end
 * was one uninterrupted copy of the whole file on the event loop (about 100 ms for a 24 MiB map
 * while a parser worker was exhausting its heap beside it).
 */
export async function readTreeFile(blobs: BlobStore, prefix: string, file: Omit<StoredFile, 'sha256'>): Promise<Buffer | null> {
  const body = await openTreeFile(blobs, prefix, file);
  if (!body) return null;
  let bytes = Buffer.allocUnsafe(file.size);
  let filled = 0;
  for await (const c of body) {
    const chunk = c as Buffer;
    // More than the row says (only a file with its own object can be): grow, as concatenation did.
    if (filled + chunk.length > bytes.length)
      bytes = Buffer.concat([bytes.subarray(0, filled)], Math.max(2 * bytes.length, filled + chunk.length));
    filled += chunk.copy(bytes, filled);
  }
  return filled === bytes.length ? bytes : bytes.subarray(0, filled);
}
