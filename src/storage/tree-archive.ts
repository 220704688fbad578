import { Readable, Transform, pipeline } from 'node:stream';
import { crc32, createInflateRaw } from 'node:zlib';
import type { BlobStore } from './blob-store.ts';
import { TREE_ARCHIVE_PATH } from './blob-keys.ts';

/**
 * A merged tree keeps its verified archive as ONE object (TREE_ARCHIVE_PATH in its prefix), and each of its files is served from that object by a
 * ranged read of the entry's bytes, inflated when deflated. A 20 000-file merge is then one
 * upload instead of 20 000 (docs/ARCHITECTURE.md, "Blobs on S3").
 *
 * The entry index is the files' catalog rows: a packed file's `blobKey` is `zip:<offset of its
 * data>:<stored bytes>:<method 0|8>:<crc32 hex>`. Real keys always start with `trees/`, so the two
 * can never be confused. This module is the one place that knows the encoding.
 */

/** A stored file as its catalog row describes it (FileRecord): enough to find and check its bytes. */
export interface StoredFile {
  path: string;
  size: number;
  sha256: string;
  blobKey?: string;
}

/** Where an entry's bytes are in the stored archive (from its local header, checked at merge). */
export interface ArchiveEntryLocation {
  dataOffset: number;
  storedSize: number;
  /** 0 stored, 8 deflated (the only methods the merge accepts). */
  method: 0 | 8;
  crc32: number;
}

const REF = /^zip:(\d+):(\d+):([08]):([0-9a-f]{8})$/;

export function archiveEntryRef(at: ArchiveEntryLocation): string {
  return `zip:${at.dataOffset}:${at.storedSize}:${at.method}:${(at.crc32 >>> 0).toString(16).padStart(8, '0')}`;
}

function parseRef(blobKey: string): ArchiveEntryLocation | null {
  const m = REF.exec(blobKey);
  if (!m) return null;
  const [, offset, stored, method, crc] = m;
  return { dataOffset: Number(offset), storedSize: Number(stored), method: method === '8' ? 8 : 0, crc32: Number.parseInt(crc ?? '', 16) };
}

/** True when the row's bytes live in the tree's archive (nothing of their own to collect). */
export const isInTreeArchive = (file: { blobKey?: string }): boolean => file.blobKey !== undefined && parseRef(file.blobKey) !== null;

/**
 * Streams a stored file of the tree under `prefix`: from the tree's archive when the row says so,
 * else its own object (`blobKey`, a file written alone) or `<prefix><path>`. Null when the bytes are
 * absent (the tree was collected). An archived entry is checked as it streams, like at merge: more
 * or fewer bytes than the row's size, or another CRC-32, fail the stream instead of ending it.
 */
export async function openTreeFile(blobs: BlobStore, prefix: string, file: Omit<StoredFile, 'sha256'>): Promise<Readable | null> {
  const at = file.blobKey === undefined ? null : parseRef(file.blobKey);
  if (!at) return blobs.get(file.blobKey ?? prefix + file.path);
  // An empty entry has no bytes to ask for; the archive's presence still says whether the tree is.
  const raw =
    at.storedSize === 0
      ? (await blobs.stat(prefix + TREE_ARCHIVE_PATH))
        ? Readable.from([])
        : null
      : await blobs.getRange(prefix + TREE_ARCHIVE_PATH, at.dataOffset, at.dataOffset + at.storedSize - 1);
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

/** A stored file's bytes in memory (maps and scripts for resolution, bounded by the callers). */
export async function readTreeFile(blobs: BlobStore, prefix: string, file: Omit<StoredFile, 'sha256'>): Promise<Buffer | null> {
  const body = await openTreeFile(blobs, prefix, file);
  if (!body) return null;
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
