import { Readable } from 'node:stream';
import {
  treeId,
  type AppSummary,
  type Catalog,
  type FileRecord,
  type Identity,
  type SourceMapRecord,
  type WorkspaceUsage,
} from '../catalog/catalog.ts';
import type { Locker } from '../locking/locker.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { openTreeFile, readTreeFile, type StoredFile } from '../storage/tree-archive.ts';
import { normalizeRelativePath } from '../archive/entry-path.ts';
import { ApiError } from '../errors.ts';
import { ByteLru } from '../util/byte-lru.ts';
import { newRevisionId, randomAlphanumeric } from '../util/ids.ts';
import { underIdentityLock } from '../locking/identity-lock.ts';
import {
  mapIndexPath,
  mappingIndexPath,
  refuseReservedPath,
  retiredFile,
  retiredTree,
  singleFileKey,
  singleFilePrefix,
  treePrefix,
} from '../storage/blob-keys.ts';
import type { Quotas } from '../catalog/quotas.ts';
import { abandonStaging } from '../storage/staging.ts';
import { InvalidSourceMapError } from '../symbolicate/index.ts';
import type { StoredFiles } from '../symbolicate/index/build.ts';
import { isScriptPath, mapDebugId, scriptDebugId } from '../symbolicate/debug-id.ts';
import type { DebugIdFinder } from '../symbolicate/types.ts';
import { SourceMapCheck } from './map-check.ts';
import { defined } from '../util/invariant.ts';

/** Files per debug ID handed to the resolver (the same build uploaded under several versions). */
const DEBUG_ID_HITS = 16;

/** A single-file write that dies with the process leaves its blob queued; it is collected after this long. */
const STAGING_TIMEOUT_MS = 6 * 3_600_000;

export interface SourceMapServiceOptions {
  catalog: Catalog;
  blobs: BlobStore;
  now: () => number;
  retiredGraceMs: number;
  locker: Locker;
  lockTimeoutMs: number;
  quotas: Quotas;
  onTreeRetired: (revisionId: string) => void;
  collectSoon: () => void;
  maxFileBytes: number;
  /** Files larger than this are not read for stack resolution. */
  maxResolveFileBytes: number;
  /** Memory for cached `list` answers. */
  listCacheBytes: number;
  /**
   * Runs after a single file is stored (the lookup index of a map, symbolicate/index/build.ts);
   * `stored` = the tree it is written into, for a map's script or a script's map stored before.
   */
  postProcess?: (treePrefix: string, files: ReadonlyArray<StoredFile>, stored?: StoredFiles) => Promise<string[]>;
}

/** A stored tree as the resolver reads it: one revision, immutable except for single-file uploads. */
export interface StoredTree {
  id: string;
  listFiles(): Promise<string[]>;
  fileInfo(path: string): Promise<{ size: number; sha256: string } | null>;
  readFile(path: string): Promise<Buffer | null>;
  readIndex(mapPath: string): Promise<Buffer | null>;
  writeIndex(mapPath: string, index: Uint8Array): Promise<void>;
  /** Android: a file's sha256, and the mapping lookup index stored beside it at merge (symbolicate/java). */
  fileSha256(path: string): Promise<string | null>;
  readMappingIndex(path: string): Promise<Buffer | null>;
}

/** Stored sourcemaps: list, browse, read, delete, and single-file writes. */
export class SourceMapService {
  private readonly listCache: ByteLru<{ stamp: string; variant: string; rendered: Buffer }>;

  constructor(private readonly o: SourceMapServiceOptions) {
    this.listCache = new ByteLru(o.listCacheBytes);
  }

  /**
   * The app's sourcemaps (Catalog.listSourceMaps), as `render` turns them into bytes. What was
   * rendered is kept with the listing's stamp and reused only while the catalog says the stamp is
   * current (one cheap conditional read per request), so no node ever serves a stale list.
   * `variant` names everything besides the rows that went into the bytes (the declaration).
   */
  async list(workspace: string, appId: string, variant: string, render: (rows: SourceMapRecord[]) => Buffer): Promise<Buffer> {
    const key = `${workspace}\u0000${appId}`;
    const kept = this.listCache.get(key);
    const listing = await this.o.catalog.listSourceMaps(workspace, appId, kept?.variant === variant ? kept.stamp : undefined);
    if (listing === 'unchanged') return defined(kept, 'the cached listing whose stamp was sent').rendered;
    const rendered = render(listing.rows);
    this.listCache.set(key, { stamp: listing.stamp, variant, rendered }, rendered.length);
    return rendered;
  }

  /** The workspace's apps with stored sourcemaps (GET /apps). */
  listApps(workspace: string): Promise<AppSummary[]> {
    return this.o.catalog.listApps(workspace);
  }

  /** Bytes stored and pending for the workspace (GET /whoami). */
  usage(workspace: string): Promise<WorkspaceUsage> {
    return this.o.catalog.usage(workspace);
  }

  async get(identity: Identity): Promise<SourceMapRecord> {
    const sm = await this.o.catalog.getSourceMap(identity);
    if (!sm) throw notFound(identity);
    return sm;
  }

  async fileTree(identity: Identity) {
    const sm = await this.get(identity);
    // One revision id for the whole answer: a concurrent overwrite cannot mix two trees.
    return { sourcemap: sm, files: await this.o.catalog.listFiles(sm.revisionId) };
  }

  async readFile(identity: Identity, path: string): Promise<{ body: Readable; size: number }> {
    const sm = await this.get(identity);
    const normalized = normalizeRelativePath(path);
    // The row first, then the blob it names: a file's blob is never rewritten in place, so the size
    // sent as Content-Length is the size of these very bytes, whatever overwrite lands meanwhile.
    const stat = await this.o.catalog.getFile(sm.revisionId, normalized);
    const body = stat && (await openTreeFile(this.o.blobs, treePrefix(sm.revisionId), stat));
    if (!body || !stat) {
      throw new ApiError(
        'File.NotFound',
        `no file "${normalized}" in the sourcemap of appId "${identity.appId}", version "${identity.version}", env "${identity.env}"`,
      );
    }
    return { body, size: stat.size };
  }

  /** The tree the resolver reads, or null when no sourcemap is stored for the identity. */
  async tree(identity: Identity): Promise<StoredTree | null> {
    const sm = await this.o.catalog.getSourceMap(identity);
    return sm ? this.treeOf(sm) : null;
  }

  /**
   * The workspace's debug-ID index as the resolver asks it (Catalog.findDebugId): each stored file
   * carrying the ID, in the tree of its sourcemap, newest first.
   */
  debugIdFinder(workspace: string): DebugIdFinder {
    return {
      find: async (debugId) =>
        (await this.o.catalog.findDebugId(workspace, debugId, DEBUG_ID_HITS)).map((hit) => ({
          tree: this.treeOf(hit.sourcemap),
          path: hit.path,
          identity: { appId: hit.sourcemap.appId, version: hit.sourcemap.version, env: hit.sourcemap.env },
        })),
    };
  }

  private treeOf(sm: SourceMapRecord): StoredTree {
    const identity: Identity = { workspace: sm.workspace, appId: sm.appId, version: sm.version, env: sm.env };
    const prefix = treePrefix(sm.revisionId);
    let files: Promise<string[]> | undefined;
    return {
      id: treeId(sm),
      listFiles: () => (files ??= this.o.catalog.listFiles(sm.revisionId).then((fs) => fs.map((f) => f.path))),
      fileInfo: (path) => this.o.catalog.getFile(sm.revisionId, path),
      // The lookup index beside each map (symbolicate/index/): built at merge, rebuilt lazily.
      readIndex: async (mapPath) => {
        const body = await this.o.blobs.get(prefix + mapIndexPath(mapPath));
        if (!body) return null;
        // Loaded whole, so bounded: an index holds its map's positions, names and sources (about
        // the map's size: 1.1x for the bench's 14 MiB map), and a map over the limit is never
        // indexed. Over twice the limit it is not used: the resolver rebuilds it from the map,
        // which is bounded itself.
        return readAtMost(body, 2 * this.o.maxResolveFileBytes);
      },
      writeIndex: async (mapPath, index) => {
        // Not into a tree that was replaced or deleted meanwhile (its prefix is being collected).
        if ((await this.o.catalog.getSourceMap(identity))?.revisionId !== sm.revisionId) return;
        await this.o.blobs.put(
          prefix + mapIndexPath(mapPath),
          Readable.from([Buffer.from(index.buffer, index.byteOffset, index.byteLength)]),
        );
      },
      readFile: async (path) => {
        const record = await this.o.catalog.getFile(sm.revisionId, path);
        if (!record) return null;
        if (record.size > this.o.maxResolveFileBytes) {
          throw new InvalidSourceMapError(
            `${path} is ${record.size} bytes; files over ${this.o.maxResolveFileBytes} bytes are not loaded (MAPVAULT_MAX_MAP_BYTES)`,
          );
        }
        return readTreeFile(this.o.blobs, prefix, record);
      },
      fileSha256: async (path) => (await this.o.catalog.getFile(sm.revisionId, path))?.sha256 ?? null,
      readMappingIndex: async (path) => {
        const body = await this.o.blobs.get(prefix + mappingIndexPath(path));
        if (!body) return null;
        // Loaded whole, so bounded like the files resolution loads (the index is smaller than its mapping).
        const bytes = await readAtMost(body, this.o.maxResolveFileBytes);
        if (bytes === null) {
          throw new InvalidSourceMapError(
            `the lookup index of ${path} is over ${this.o.maxResolveFileBytes} bytes; it is not loaded (MAPVAULT_MAX_MAP_BYTES)`,
          );
        }
        return bytes;
      },
    };
  }

  /** `signal`: the request was abandoned, stop waiting for the identity's lock. */
  async delete(identity: Identity, signal?: AbortSignal): Promise<void> {
    await underIdentityLock(
      this.o,
      identity,
      async () => {
        const removed = await this.o.catalog.deleteSourceMap(identity, (rev) => retiredTree(rev, this.o.now() + this.o.retiredGraceMs));
        if (!removed) throw notFound(identity);
        this.o.onTreeRetired(treeId(removed));
      },
      signal,
    );
    this.o.collectSoon();
  }

  /**
   * Creates or overwrites one file of the stored tree. Same rule as merges: the bytes go to a new
   * key first (queued as staging garbage, with stored bytes reserved), then one catalog transaction
   * points the file row at them (or publishes a new sourcemap holding just this file) and retires
   * the old blob after the grace period. A failure or a crash before that transaction leaves
   * everything as it was: no half-written file, no empty sourcemap.
   */
  private async copyBlob(from: string, to: string): Promise<void> {
    const body = await this.o.blobs.get(from);
    if (body) await this.o.blobs.put(to, body);
  }

  /** The files of a stored tree for index building; a file too big to resolve reads as absent. */
  private storedFiles(sm: SourceMapRecord): StoredFiles {
    const tree = this.treeOf(sm);
    return {
      size: async (path) => (await tree.fileInfo(path))?.size ?? null,
      read: (path) =>
        tree.readFile(path).catch((e: unknown) => {
          if (e instanceof InvalidSourceMapError) return null;
          throw e;
        }),
    };
  }

  async putFile(identity: Identity, filename: string, content: string, signal?: AbortSignal): Promise<void> {
    const path = normalizeRelativePath(filename);
    refuseReservedPath(path);
    const bytes = Buffer.from(content, 'utf8');
    if (bytes.length > this.o.maxFileBytes) {
      throw new ApiError('Request.TooLarge', `file content is ${bytes.length} bytes; at most ${this.o.maxFileBytes} (10 MiB) per file`);
    }
    await underIdentityLock(
      this.o,
      identity,
      async () => {
        const sm = await this.o.catalog.getSourceMap(identity);
        const revisionId = sm?.revisionId ?? newRevisionId();
        const old = sm ? await this.o.catalog.getFile(revisionId, path) : null;
        const key = sm ? singleFileKey(revisionId, randomAlphanumeric(16), path) : treePrefix(revisionId) + path;
        const staging = sm ? singleFilePrefix(key) : treePrefix(revisionId);
        const reservationId = randomAlphanumeric(16);
        await this.o.quotas.reserveStored(identity.workspace, reservationId, bytes.length, old?.size ?? 0, STAGING_TIMEOUT_MS);
        try {
          await this.o.catalog.enqueueGarbage({ prefix: staging, dueAt: this.o.now() + STAGING_TIMEOUT_MS, ...(sm ? {} : { revisionId }) });
          const stored = await this.o.blobs.put(key, Readable.from([bytes]));
          const debugId = await fileDebugId(path, bytes);
          const file: FileRecord = {
            path,
            size: stored.size,
            sha256: stored.sha256,
            ...(sm ? { blobKey: key } : {}),
            ...(debugId ? { debugId } : {}),
          };
          const isMap = path.endsWith('.map');
          // Before the publishing transaction, beside the bytes (under the staging prefix): the index
          // of a map (with the tree's stored script), or of the stored map of a script (now with names).
          await this.o.postProcess?.(staging, [{ path, size: stored.size, sha256: stored.sha256 }], sm ? this.storedFiles(sm) : undefined);
          if (sm) {
            const written = await this.o.catalog.upsertFile({
              identity,
              revisionId,
              file,
              isMap,
              stagingPrefix: staging,
              reservationId,
              retire: (f) => retiredFile(revisionId, f, this.o.now() + this.o.retiredGraceMs),
            });
            if (!written.ok) {
              throw written.reason === 'replaced'
                ? new ApiError('SourceMap.NotFound', 'the sourcemap was replaced while the file was written; send the file again')
                : new ApiError(
                    'Archive.DuplicatePath',
                    `"${path}" collides with "${written.path}" in the stored tree: one path cannot be both a file and a directory`,
                    { path, conflictsWith: written.path },
                  );
            }
            this.o.onTreeRetired(treeId(sm));
            if (old) this.o.collectSoon();
            // The resolver looks for a map's index at the tree's own place: copy it there (for a script,
            // its map's). Best effort once committed: an index carries the sha256 of its map and of the
            // script its names came from, so until the copy lands the old one is rebuilt, never trusted.
            for (const map of path.endsWith('.map') ? [path] : [`${path}.map`]) {
              await this.copyBlob(staging + mapIndexPath(map), treePrefix(revisionId) + mapIndexPath(map)).catch(() => {});
            }
          } else {
            const result = await this.o.catalog.publishSourceMap({
              sourcemap: {
                ...identity,
                revisionId,
                createdAt: this.o.now(),
                size: stored.size,
                sha256: '',
                fileCount: 1,
                mapCount: isMap ? 1 : 0,
                warnings: [],
              },
              files: [file],
              replace: false,
              stagingPrefix: staging,
              reservationId,
              retire: (rev) => retiredTree(rev, this.o.now() + this.o.retiredGraceMs),
            });
            if (!result.ok) throw new ApiError('SourceMap.AlreadyExists', 'the sourcemap was created concurrently; send the file again');
          }
        } catch (err) {
          await abandonStaging(this.o, staging, reservationId, err);
          throw err;
        }
      },
      signal,
    );
  }
}

/**
 * The debug ID a single uploaded file carries, as the merge reads it: a map's `debugId`/`debug_id`
 * (checked in slices, yielding between them, so 10 MiB of JSON never holds the event loop), a
 * script's `//# debugId=` among its last lines.
 */
async function fileDebugId(path: string, bytes: Buffer): Promise<string | null> {
  if (isScriptPath(path)) return scriptDebugId(bytes);
  if (!path.endsWith('.map')) return null;
  const check = new SourceMapCheck();
  for (let at = 0; at < bytes.length; at += 256 * 1024) {
    check.write(bytes.subarray(at, at + 256 * 1024));
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  if (check.result() !== null) return null;
  return mapDebugId({ debugId: check.stringField('debugId'), debug_id: check.stringField('debug_id') });
}

function notFound(i: Identity): ApiError {
  return new ApiError('SourceMap.NotFound', `no sourcemap for appId "${i.appId}", version "${i.version}", env "${i.env}"`);
}

/** A stream's bytes when they are at most `limit`; null (the stream destroyed) as soon as they are more. */
async function readAtMost(body: Readable, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const c of body) {
    total += (c as Buffer).length;
    if (total > limit) {
      body.destroy();
      return null;
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}
