import { createHash } from 'node:crypto';
import { link } from 'node:fs/promises';
import { Readable } from 'node:stream';
import {
  CatalogUnavailableError,
  treeId,
  type Catalog,
  type FileRecord,
  type Identity,
  type PartRecord,
  type SourceMapRecord,
  type UploadTask,
} from '../catalog/catalog.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import type { ScratchDir } from '../storage/scratch.ts';
import { archiveEntryRef, partSegment, treeSegment, type ArchiveSegment, type StoredFile } from '../storage/tree-archive.ts';
import { writeStreamToFile, type WrittenFile } from '../storage/write-file.ts';
import { extractZip, type ArchiveLimits, type ZipSource } from '../archive/safe-zip.ts';
import { SourceMapCheck } from '../sourcemaps/map-check.ts';
import { MappingIndexBuilder } from '../symbolicate/java/index-writer.ts';
import { isMappingPath } from '../symbolicate/java/mapping-file.ts';
import { ScriptDebugIdReader, isScriptPath, mapDebugId } from '../symbolicate/debug-id.ts';
import { ApiError } from '../errors.ts';
import type { Locker } from '../locking/locker.ts';
import { underIdentityLock } from '../locking/identity-lock.ts';
import {
  mappingIndexPath,
  mergedRevisionId,
  partKey,
  refuseReservedPath,
  retiredTree,
  treeArchiveSegmentPath,
  treePrefix,
  uploadPrefix,
} from '../storage/blob-keys.ts';
import { newUploadId, randomAlphanumeric } from '../util/ids.ts';
import { fileDigester } from '../util/file-digests.ts';
import type { Quotas } from '../catalog/quotas.ts';
import { abandonStaging } from '../storage/staging.ts';
import type { Admission } from '../util/admission.ts';
import { metrics } from '../metrics/metrics.ts';
import { defined } from '../util/invariant.ts';

export interface UploadServiceOptions {
  catalog: Catalog;
  blobs: BlobStore;
  scratch: ScratchDir;
  now: () => number;
  uploadTtlMs: number;
  retiredGraceMs: number;
  maxParts: number;
  archiveLimits: ArchiveLimits;
  quotas: Quotas;
  /** Serializes merges, deletes and single-file writes of one identity, across nodes when shared. */
  locker: Locker;
  /** How long a merge or delete waits for another one of the same identity before 409 Merge.InProgress. */
  lockTimeoutMs: number;
  /** Caps how many merges run at once (MAPVAULT_MAX_MERGES); the rest queue briefly, then get 503. */
  merges: Admission;
  /**
   * A running merge's lease on its task (and its quota reservation) lasts this long and is renewed
   * a third of the way through, so one that died with its process frees the task soon after.
   */
  mergeLeaseMs: number;
  /** Called with the treeId of a tree replaced or removed, so this node's caches of it are dropped. */
  onTreeRetired: (revisionId: string) => void;
  /** Asks the collector to delete garbage that just became due. */
  collectSoon: () => void;
  /**
   * Runs on the extracted staging tree before it is published (the lookup indexes of its maps,
   * symbolicate/index/build.ts); returns warnings for the merge summary.
   */
  postProcess?: (stagingPrefix: string, files: ReadonlyArray<StoredFile>) => Promise<string[]>;
}

export interface MergeResult {
  appId: string;
  version: string;
  env: string;
  size: number;
  sha256: string;
  fileCount: number;
  mapCount: number;
  warnings: string[];
}

/** A merge that dies with the process leaves its staging tree queued; it is collected after this long. */
const STAGING_TIMEOUT_MS = 6 * 3_600_000;

/** Stored-bytes reservations of a merge grow by at least this much, so a 10 000-file tree is not 10 000 transactions. */
const RESERVATION_STEP = 16 * 1024 * 1024;

/** The multipart upload protocol: init, parts, list, cancel, merge. One method per verb. */
export class UploadService {
  constructor(private readonly o: UploadServiceOptions) {}

  async init(identity: Identity, needCover: boolean) {
    const now = this.o.now();
    const existsSameFile = (await this.o.catalog.getSourceMap(identity)) !== null;
    const existsOldTask = (await this.o.catalog.countOpenUploads(identity, now)) > 0;
    // Guance's documented behaviour: no task when the sourcemap exists and overwriting was not asked for.
    if (existsSameFile && !needCover) return { uploadId: '', existsSameFile, existsOldTask };
    const task: UploadTask = { ...identity, uploadId: newUploadId(), needCover, createdAt: now, expiresAt: now + this.o.uploadTtlMs };
    await this.o.catalog.createUpload(task);
    return { uploadId: task.uploadId, existsSameFile, existsOldTask };
  }

  async getTask(workspace: string, uploadId: string): Promise<UploadTask> {
    const task = await this.o.catalog.getUpload(workspace, uploadId, this.o.now());
    // Other workspaces' tasks get the very same answer as unknown ones.
    if (!task)
      throw new ApiError('Upload.NotFound', `upload task ${uploadId} does not exist, has expired, or was already merged or cancelled`);
    return task;
  }

  /**
   * Accepts a part already received into a scratch file. The part is stored under a fresh key and
   * the catalog row is switched to it in one step, so a re-sent index replaces the old one atomically
   * and the row never points at a half-written part.
   */
  async acceptPart(
    workspace: string,
    part: { uploadId: string; chunkIndex: number; file: WrittenFile; localPath: string; md5?: string; sha256?: string },
  ): Promise<PartRecord> {
    try {
      const task = await this.getTask(workspace, part.uploadId);
      if (part.chunkIndex >= this.o.maxParts) {
        throw new ApiError(
          'Part.TooMany',
          `chunkIndex ${part.chunkIndex} is out of range: at most ${this.o.maxParts} parts (0..${this.o.maxParts - 1})`,
        );
      }
      if (part.file.size === 0) throw new ApiError('Part.Empty', 'the part "files" is empty');
      for (const algo of ['md5', 'sha256'] as const) {
        const expected = part[algo];
        if (expected !== undefined && expected.toLowerCase() !== part.file[algo]) {
          throw new ApiError(
            'Part.ChecksumMismatch',
            `${algo} of part ${part.chunkIndex} is ${part.file[algo]}, the request said ${expected.toLowerCase()}; the part was discarded`,
          );
        }
      }
      const blobKey = partKey(task.uploadId, part.chunkIndex, randomAlphanumeric(8));
      await this.o.blobs.putFile(blobKey, part.localPath);
      const record: PartRecord = {
        chunkIndex: part.chunkIndex,
        size: part.file.size,
        md5: part.file.md5,
        sha256: part.file.sha256,
        uploadedAt: this.o.now(),
        blobKey,
      };
      // The task's state and the quota are decided in the transaction that attaches the part.
      const put = await this.o.catalog.putPart(workspace, task.uploadId, record, this.o.now(), this.o.quotas.uploadBytes);
      if (!put.ok) {
        await this.o.blobs.delete(blobKey);
        if (put.reason === 'quota') throw this.o.quotas.uploadExceeded(part.file.size);
        if (put.reason === 'merging') throw mergeInProgress(task.uploadId);
        throw new ApiError('Upload.NotFound', `upload task ${part.uploadId} ended while the part was being received`);
      }
      if (put.replacedBlobKey) await this.o.blobs.delete(put.replacedBlobKey);
      metrics.uploadAccepted(record.size);
      return record;
    } finally {
      await this.o.scratch.remove(part.localPath);
    }
  }

  async listParts(workspace: string, uploadId: string) {
    const task = await this.getTask(workspace, uploadId);
    return { task, parts: await this.o.catalog.listParts(workspace, uploadId) };
  }

  async cancel(workspace: string, uploadId: string): Promise<void> {
    const deleted = await this.o.catalog.deleteUpload(workspace, uploadId, { prefix: uploadPrefix(uploadId), dueAt: this.o.now() });
    if (!deleted)
      throw new ApiError('Upload.NotFound', `upload task ${uploadId} does not exist, has expired, or was already merged or cancelled`);
    this.o.collectSoon();
  }

  async merge(workspace: string, uploadId: string, chunkIndexs?: number[], signal?: AbortSignal): Promise<MergeResult> {
    const first = await this.getTask(workspace, uploadId);
    return this.o.merges.run(() =>
      underIdentityLock(
        this.o,
        first,
        async () => {
          // Re-read under the lock: a merge of the same task that just finished consumed it.
          const task = await this.getTask(workspace, uploadId);
          // From here parts of the task are refused (409) until the merge publishes or fails.
          const leaseUntil = () => this.o.now() + this.o.mergeLeaseMs;
          const lease = await this.o.catalog.beginMerge(workspace, uploadId, this.o.now(), leaseUntil());
          if (lease === 'busy') throw mergeInProgress(uploadId);
          if (lease === 'gone') throw new ApiError('Upload.NotFound', `upload task ${uploadId} ended before the merge could start`);
          const revisionId = mergedRevisionId(uploadId, randomAlphanumeric(8));
          const renewal = setInterval(
            () => {
              this.o.catalog.renewLeases(workspace, uploadId, revisionId, leaseUntil()).catch(() => {});
            },
            Math.max(1, Math.floor(this.o.mergeLeaseMs / 3)),
          );
          try {
            return await this.mergeLeased(task, uploadId, revisionId, chunkIndexs);
          } catch (err) {
            if (!(err instanceof CatalogUnavailableError)) await this.o.catalog.endMerge(workspace, uploadId);
            throw err;
          } finally {
            clearInterval(renewal);
          }
        },
        signal,
      ),
    );
  }

  private async mergeLeased(
    task: UploadTask,
    uploadId: string,
    revisionId: string,
    chunkIndexs: number[] | undefined,
  ): Promise<MergeResult> {
    const { workspace } = task;
    const uploaded = await this.o.catalog.listParts(workspace, uploadId);
    const parts = selectParts(uploaded, chunkIndexs);
    // Refused before the parts are copied to scratch: 10 000 parts could be 100 GiB on disk for an
    // archive that extraction would refuse anyway.
    const total = parts.reduce((n, p) => n + p.size, 0);
    if (total > maxArchiveBytes(this.o.archiveLimits)) {
      throw new ApiError(
        'Archive.TooLarge',
        `the parts add up to ${total} bytes, more than any archive within the limits (${this.o.archiveLimits.maxTotalBytes} bytes uncompressed, ${this.o.archiveLimits.maxEntries} entries) can be`,
        { limit: maxArchiveBytes(this.o.archiveLimits), actual: total },
      );
    }
    const existing = await this.o.catalog.getSourceMap(task);
    if (existing && !task.needCover) throw alreadyExists(task);

    const staging = treePrefix(revisionId);
    // Scratch files of this merge: downloaded parts (S3) or the concatenated zip, and its store copy.
    const scratchFiles: string[] = [];
    const newScratch = (suffix: string) => {
      const path = this.o.scratch.newPath(suffix);
      scratchFiles.push(path);
      return path;
    };
    try {
      // The zip is checked where the parts are, as the concatenation of their local files (the
      // store's own files, or local copies and downloads on S3), and kept as segments
      // (storage/tree-archive.ts): the parts themselves, where they were uploaded, when they are few
      // enough, else one segment of the tree written from their concatenation.
      const asParts = parts.length <= MAX_ARCHIVE_SEGMENTS;
      const segments: ArchiveSegment[] = asParts ? parts.map((p) => partSegment(p.blobKey, p.size)) : [treeSegment(0, total)];
      // Queued before the first blob is written: a crash from here on leaves nothing unreferenced for good.
      await this.o.catalog.enqueueGarbage({ prefix: staging, dueAt: this.o.now() + STAGING_TIMEOUT_MS, revisionId });
      try {
        // A concatenated segment goes to the store while the entries are checked. Until the publish
        // it is staging garbage (queued above, deleted on any failure once the write has settled),
        // and its bytes are the parts' bytes, already counted by the upload quota.
        let stored: Promise<void> | null = null;
        let extracted;
        let archiveDigest;
        try {
          const source = asParts ? await this.localParts(parts, newScratch) : [await this.concatenateToFile(parts, newScratch('.zip'))];
          // The archive's sha256 is computed by a worker thread while this one extracts (both read
          // the same files from the page cache): on 2 cores the hash no longer adds to the merge's time.
          archiveDigest = fileDigester.digest(source, ['sha256']);
          archiveDigest.catch(() => {}); // awaited below; a failed extraction must not leave it unhandled
          if (!asParts) {
            stored = this.storeConcatenated(defined(source[0], 'the zip'), staging, newScratch);
            stored.catch(() => {}); // awaited below, or settled before the staging prefix is deleted
          }
          extracted = await this.extract(task, source, segments, revisionId, existing);
        } catch (err) {
          await stored?.catch(() => {}); // so no write lands after the staging prefix is deleted
          throw err;
        }
        // Durable before the publish below, like every blob.
        await stored;
        if (this.o.postProcess) {
          const usable = extracted.files.filter((f) => !extracted.brokenMaps.has(f.path)); // already warned about
          extracted.warnings.push(...(await this.o.postProcess(staging, usable)));
        }
        const digest = await archiveDigest;
        if (digest.size !== total) throw new Error(`the merged archive changed while it was hashed (${total} → ${digest.size} bytes)`);
        const zip = { size: total, sha256: digest.sha256 };
        const sourcemap = {
          ...identityOf(task),
          revisionId,
          createdAt: this.o.now(),
          size: extracted.totalBytes,
          sha256: zip.sha256,
          fileCount: extracted.files.length,
          mapCount: extracted.mapCount,
          warnings: extracted.warnings,
        };
        const published = await this.o.catalog.publishSourceMap({
          sourcemap,
          files: extracted.files,
          replace: task.needCover,
          consumeUploadId: uploadId,
          // Kept parts go with the tree (retiredTree); concatenated ones are collected now.
          ...(asParts
            ? { keepParts: parts.map((p) => p.blobKey) }
            : { consumeGarbage: { prefix: uploadPrefix(uploadId), dueAt: this.o.now() } }),
          stagingPrefix: staging,
          reservationId: revisionId,
          retire: (old) => retiredTree(old, this.o.now() + this.o.retiredGraceMs),
        });
        if (!published.ok) {
          throw published.reason === 'exists'
            ? alreadyExists(task)
            : new ApiError('Upload.NotFound', `upload task ${uploadId} ended during the merge`);
        }
        if (published.replaced) this.o.onTreeRetired(treeId(published.replaced));
        if (asParts) await this.deleteUnmerged(uploaded, parts);
        this.o.collectSoon();
        const { appId, version, env } = task;
        return {
          appId,
          version,
          env,
          size: zip.size,
          sha256: zip.sha256,
          fileCount: sourcemap.fileCount,
          mapCount: sourcemap.mapCount,
          warnings: sourcemap.warnings,
        };
      } catch (err) {
        await abandonStaging(this.o, staging, revisionId, err);
        throw err;
      }
    } finally {
      for (const path of scratchFiles) await this.o.scratch.remove(path);
    }
  }

  /** The parts' local files, in order: the store's own, or downloads (PARTS_IN_FLIGHT at a time). */
  private async localParts(parts: PartRecord[], newScratch: (suffix: string) => string): Promise<string[]> {
    const paths: string[] = [];
    await eachBounded(parts, async (part, i) => {
      const path = await this.o.blobs.localFile(part.blobKey, newScratch('.part'));
      if (path === null) throw partReplaced(part);
      paths[i] = path;
    });
    return paths;
  }

  /**
   * Parts the task had but the merge left out (chunkIndexs named fewer): nothing references them
   * now that the task is consumed. Best effort: one a crash leaves goes with the tree's parts.
   */
  private async deleteUnmerged(uploaded: PartRecord[], merged: PartRecord[]): Promise<void> {
    const kept = new Set(merged.map((p) => p.blobKey));
    for (const part of uploaded) if (!kept.has(part.blobKey)) await this.o.blobs.delete(part.blobKey).catch(() => {});
  }

  /** Many parts: their bytes in one scratch file, the zip's single segment. */
  private async concatenateToFile(parts: PartRecord[], zipPath: string): Promise<string> {
    const blobs = this.o.blobs;
    const bytes = async function* () {
      for (const part of parts) {
        const body = await blobs.get(part.blobKey);
        if (!body) throw partReplaced(part);
        for await (const chunk of body) yield chunk as Buffer;
      }
    };
    await writeStreamToFile(Readable.from(bytes()), zipPath, { md5: false, sha256: false });
    return zipPath;
  }

  /**
   * The concatenated zip as the archive's one segment, through a hard link: the store takes its
   * file (on a filesystem, a rename) while the extraction and the digest read the original.
   */
  private async storeConcatenated(zipPath: string, staging: string, newScratch: (suffix: string) => string): Promise<void> {
    const storeCopy = newScratch('.zip');
    await link(zipPath, storeCopy);
    await this.o.blobs.putFile(staging + treeArchiveSegmentPath(0), storeCopy);
  }

  private async extract(
    task: UploadTask,
    source: ZipSource,
    segments: readonly ArchiveSegment[],
    revisionId: string,
    existing: SourceMapRecord | null,
  ) {
    const staging = treePrefix(revisionId);
    const warnings: string[] = [];
    const brokenMaps = new Set<string>();
    // Debug IDs of maps and scripts, read as they stream (indexed by the catalog with the files).
    const debugIds = new Map<string, string>();
    let mapCount = 0;
    let written = 0;
    let reserved = 0;
    // Stored bytes are reserved (reservation id = the revision) before they are written, so concurrent merges cannot overshoot the quota.
    const reserve = async (need: number) => {
      const credit = existing?.size ?? 0;
      try {
        await this.o.quotas.reserveStored(task.workspace, revisionId, Math.max(need, RESERVATION_STEP), credit, this.o.mergeLeaseMs);
        reserved += Math.max(need, RESERVATION_STEP);
      } catch {
        await this.o.quotas.reserveStored(task.workspace, revisionId, need, credit, this.o.mergeLeaseMs);
        reserved += need;
      }
    };
    // Nothing is written per file: the verified archive's segments (stored by the caller) hold
    // the tree's bytes, and each file row says where its bytes are in them (storage/tree-archive.ts).
    const locations = new Map<string, string>();
    const summary = await extractZip(source, this.o.archiveLimits, async (path, body, declaredSize, location) => {
      refuseReservedPath(path);
      if (written + declaredSize > reserved) await reserve(written + declaredSize - reserved);
      // Maps are checked as they stream, in constant memory, so broken ones become warnings.
      const check = path.endsWith('.map') ? new SourceMapCheck() : null;
      // Android: a ProGuard/R8 mapping is checked and indexed as it streams (symbolicate/java),
      // the index written to the scratch dir as it grows (memory stays flat).
      const mapping = isMappingPath(path) ? new MappingIndexBuilder({ spill: this.o.scratch }) : null;
      const script = isScriptPath(path) ? new ScriptDebugIdReader() : null;
      const sha256 = createHash('sha256');
      let size = 0;
      try {
        for await (const chunk of body as Readable) {
          size += (chunk as Buffer).length;
          sha256.update(chunk as Buffer);
          check?.write(chunk as Buffer);
          script?.write(chunk as Buffer);
          mapping?.write(chunk as Buffer);
          if (mapping?.full) await mapping.drain();
        }
      } catch (err) {
        await mapping?.discard();
        throw err;
      }
      written += size;
      locations.set(path, archiveEntryRef(location, segments));
      if (check) {
        const problem = check.result();
        if (problem) {
          warnings.push(`${path}: ${problem}`);
          brokenMaps.add(path);
        } else {
          mapCount++;
          const id = mapDebugId({ debugId: check.stringField('debugId'), debug_id: check.stringField('debug_id') });
          if (id) debugIds.set(path, id);
        }
      }
      const scriptId = script?.debugId();
      if (scriptId) debugIds.set(path, scriptId);
      if (mapping) {
        const built = await mapping.finish();
        for (const w of built.warnings) warnings.push(`${path}: ${w}`);
        if (built.indexPath === null) warnings.push(`${path}: not a ProGuard/R8 mapping (${built.notMapping})`);
        else {
          try {
            await this.o.blobs.putFile(staging + mappingIndexPath(path), built.indexPath);
          } finally {
            await this.o.scratch.remove(built.indexPath);
          }
          mapCount++;
        }
      }
      return { size, sha256: sha256.digest('hex') };
    });
    const files = summary.files.map((f): FileRecord => {
      const debugId = debugIds.get(f.path);
      return {
        ...f,
        blobKey: defined(locations.get(f.path), `the place of ${f.path} in the archive`),
        ...(debugId === undefined ? {} : { debugId }),
      };
    });
    return { files, totalBytes: summary.totalBytes, mapCount, warnings, brokenMaps };
  }
}

/**
 * A merged archive is kept as its parts (no byte written twice) up to this many; beyond, as one
 * segment written from their concatenation: thousands of small parts would spread entries over
 * many objects, and a file read would cost a request per part it crosses.
 */
const MAX_ARCHIVE_SEGMENTS = 64;
/** Parts downloaded at once during a merge. */
const PARTS_IN_FLIGHT = 4;

/**
 * Runs `fn` over `items`, PARTS_IN_FLIGHT at a time, starting no more after a failure; settles
 * every call that started before rejecting with the first failure (no write outlives the merge).
 */
async function eachBounded<T>(items: readonly T[], fn: (item: T, index: number) => Promise<void>): Promise<void> {
  const queue = items.entries();
  let failed = false;
  const results = await Promise.allSettled(
    Array.from({ length: Math.min(PARTS_IN_FLIGHT, items.length) }, async () => {
      for (const [i, item] of queue) {
        if (failed) return;
        await fn(item, i).catch((err: unknown) => {
          failed = true;
          throw err;
        });
      }
    }),
  );
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}

function partReplaced(part: PartRecord): ApiError {
  return new ApiError('Parts.Missing', `part ${part.chunkIndex} was replaced during the merge; merge again`, {
    missing: [part.chunkIndex],
  });
}

function identityOf(i: Identity): Identity {
  return { workspace: i.workspace, appId: i.appId, version: i.version, env: i.env };
}

function mergeInProgress(uploadId: string): ApiError {
  return new ApiError(
    'Merge.InProgress',
    `upload task ${uploadId} is being merged; parts can no longer be sent to it. If the merge fails, send the part again`,
  );
}

function alreadyExists(i: Identity): ApiError {
  return new ApiError(
    'SourceMap.AlreadyExists',
    `a sourcemap for appId "${i.appId}", version "${i.version}", env "${i.env}" already exists; start the upload with needCover: true to replace it`,
  );
}

/**
 * The largest zip that can hold at most `maxTotalBytes` of files in `maxEntries` entries, with room
 * for deflate's worst-case growth (< 1 %) and 8 KiB of headers, names and extra fields per entry
 * (real tools write under 200 bytes).
 */
function maxArchiveBytes(limits: ArchiveLimits): number {
  return Math.ceil(limits.maxTotalBytes * 1.01) + limits.maxEntries * 8192 + 65_536;
}

/** The parts to merge must be exactly 0..n-1: the requested ones when given, else all uploaded. */
function selectParts(uploaded: PartRecord[], requested?: number[]): PartRecord[] {
  const byIndex = new Map(uploaded.map((p) => [p.chunkIndex, p]));
  const wanted = new Set(requested ?? byIndex.keys());
  if (wanted.size === 0) throw new ApiError('Parts.Missing', 'no parts were uploaded for this task', { missing: [0] });
  const n = Math.max(...wanted) + 1;
  const missing: number[] = [];
  for (let i = 0; i < n; i++) if (!byIndex.has(i) || !wanted.has(i)) missing.push(i);
  if (missing.length > 0) {
    const shown = missing.length > 20 ? `${missing.slice(0, 20).join(', ')}, … (${missing.length} in all)` : missing.join(', ');
    throw new ApiError('Parts.Missing', `parts must be 0..${n - 1} without gaps; missing: ${shown}`, { missing });
  }
  return Array.from({ length: n }, (_, i) => defined(byIndex.get(i), `part ${i}, checked above`));
}
