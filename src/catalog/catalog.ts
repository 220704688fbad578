/**
 * Metadata: API keys, upload tasks and their parts, stored sourcemaps and their files,
 * and a queue of blob prefixes to collect. Every method is scoped by workspace where the
 * data belongs to one. Async so a PostgreSQL implementation fits unchanged; every
 * implementation must pass `test/catalog/catalog.contract.ts`.
 *
 * Times are Unix milliseconds, passed in by the caller (so tests can inject a clock).
 */

/** `(workspace, appId, version, env)`; version and env may be "". */
export interface Identity {
  workspace: string;
  appId: string;
  version: string;
  env: string;
}

export interface UploadTask extends Identity {
  uploadId: string;
  needCover: boolean;
  createdAt: number;
  expiresAt: number;
}

export interface PartRecord {
  chunkIndex: number;
  size: number;
  md5: string;
  sha256: string;
  uploadedAt: number;
  /** Where the bytes are; a re-sent part gets a new key, so the row only ever points at a whole part. */
  blobKey: string;
}

export interface FileRecord {
  path: string;
  size: number;
  sha256: string;
  /**
   * Where the bytes are when not at `trees/<revisionId>/<path>`: a file written on its own
   * (upload_file_content) gets a fresh key, so a reader holding the old row still reads the old bytes;
   * a merged file's place in the tree's stored archive (storage/tree-archive.ts owns that encoding).
   */
  blobKey?: string;
  /**
   * The file's debug ID (a map's `debugId`/`debug_id`, a script's `//# debugId=` comment), as a
   * lower-case UUID; absent when it has none. Indexed per workspace (Catalog.findDebugId).
   */
  debugId?: string;
}

/** A file of a live sourcemap that carries the debug ID looked for (Catalog.findDebugId). */
export interface DebugIdHit {
  sourcemap: SourceMapRecord;
  path: string;
}

export interface SourceMapRecord extends Identity {
  /** The revision whose blobs under `trees/<revisionId>/` hold the tree. */
  revisionId: string;
  /**
   * How many single-file writes (upsertFile) the revision has had: 0 when published. A revision is
   * immutable except for those writes, so `(revisionId, treeVersion)` names the tree's exact
   * content and keys every cache of it (see treeId below).
   */
  treeVersion: number;
  createdAt: number;
  size: number;
  sha256: string;
  fileCount: number;
  mapCount: number;
  warnings: string[];
}

/**
 * The id of a tree's exact content, for cache keys: the revision and how many single-file writes
 * it has had. A replaced, deleted or edited tree gets a new id on every node at once, because
 * every request reads the sourcemap row from the catalog first.
 */
export const treeId = (sm: Pick<SourceMapRecord, 'revisionId' | 'treeVersion'>): string => `${sm.revisionId}/${sm.treeVersion}`;

export interface PublishRequest {
  /** Stored with treeVersion 0. */
  sourcemap: Omit<SourceMapRecord, 'treeVersion'>;
  files: FileRecord[];
  /** Replace an existing sourcemap of the same identity (else fail with `exists`). */
  replace: boolean;
  /** The upload task this merge consumes: deleted, with its parts, in the same transaction. */
  consumeUploadId?: string;
  /** The consumed task's part blobs, queued for collection in the same transaction. */
  consumeGarbage?: GarbageEntry;
  /**
   * The consumed task's parts (blob keys) that the new tree's archive is made of, kept for it: the
   * publish fails with `upload-gone` unless each is still one of the task's parts (a part sent again
   * after the merge's lease ran out has replaced, and deleted, the one the merge read).
   */
  keepParts?: string[];
  /** The staging garbage entry of the new revision, cancelled by publishing it. */
  stagingPrefix: string;
  /** The garbage entries for a replaced revision (due later, so readers in flight finish first). */
  retire: (revisionId: string) => GarbageEntry[];
  /** A stored-bytes reservation (reserveStored) that this publish consumes, in the same transaction. */
  reservationId?: string;
}

/** One file written into a live revision (upload_file_content): the row is switched to a new blob key. */
export interface FileWrite {
  identity: Identity;
  revisionId: string;
  file: FileRecord;
  isMap: boolean;
  /** The staging garbage entry queued before the blob was written, cancelled by this write. */
  stagingPrefix: string;
  /**
   * The garbage entry for the replaced file's blob (due later, so readers in flight finish first),
   * or null when its bytes have no object of their own (a merged file, kept in the tree's archive).
   */
  retire: (old: FileRecord) => GarbageEntry | null;
  reservationId?: string;
}

export type FileWriteResult =
  | { ok: true }
  /** `replaced`: the revision is no longer live. `path-conflict`: `path` is a file where a directory is needed, or the reverse. */
  | { ok: false; reason: 'replaced' }
  | { ok: false; reason: 'path-conflict'; path: string };

export type PutPartResult =
  | { ok: true; replacedBlobKey?: string }
  /** `gone`: cancelled, merged or expired. `merging`: a merge of the task is running. `quota`: over `uploadQuota`. */
  | { ok: false; reason: 'gone' | 'merging' | 'quota' };

/** Stored bytes promised to a write in progress, so concurrent writers cannot together exceed a quota. */
export interface StoredReservation {
  workspace: string;
  reservationId: string;
  /** Added to what the reservation already holds. */
  bytes: number;
  limit: number;
  /** Bytes of the sourcemap (or file) this write replaces: freed when it publishes. */
  credit: number;
  now: number;
  /** A writer that dies leaves its reservation; it stops counting at this time (or at startup recovery). */
  expiresAt: number;
}

export type PublishResult = { ok: true; replaced: SourceMapRecord | null } | { ok: false; reason: 'exists' | 'upload-gone' };

export interface GarbageEntry {
  /** A blob prefix (ending in `/`), or one blob key (a file replaced by upload_file_content). */
  prefix: string;
  dueAt: number;
  /** Set for a sourcemap tree: its file rows are forgotten together with the entry. */
  revisionId?: string;
}

/** One app's sourcemaps, in `list` order, and a stamp of that state (see Catalog.listSourceMaps). */
export interface SourceMapListing {
  /**
   * Opaque; changes with every write to the app's sourcemaps (publish, replace, delete,
   * upsertFile), in the same transaction as the write, and only then. Read in the same snapshot
   * as `rows`, so it never names a newer state than the rows show.
   */
  stamp: string;
  /** Newest first (createdAt), ties broken by version then env, descending, comparing UTF-8 bytes. */
  rows: SourceMapRecord[];
}

/** One app of a workspace, as `GET /apps` shows it. */
export interface AppSummary {
  appId: string;
  /** Stored sourcemaps (versions × envs) of the app. */
  sourcemapCount: number;
  /** Total file bytes of those sourcemaps' trees. */
  size: number;
  /** createdAt of the newest one (Unix ms). */
  latestCreatedAt: number;
}

export interface WorkspaceUsage {
  /** Bytes of parts of unfinished uploads. */
  uploadBytes: number;
  /** Bytes of stored sourcemap trees. */
  storedBytes: number;
}

export interface ApiKeyRecord {
  keyHash: string;
  workspace: string;
  /** Who made it: `env` (MAPVAULT_API_KEYS), `cli` (`mapvault keys create/rotate`), `first-start`. */
  source: string;
  createdAt: number;
  /** ms since the epoch, recorded at most about once a minute; null if never used. */
  lastUsedAt: number | null;
}

export interface Catalog {
  // API keys (only hashes are stored).
  putApiKey(key: { keyHash: string; workspace: string; source: string; createdAt: number }): Promise<void>;
  /** Removes keys of `source` whose hash is not in `keep` (keeps env-configured keys in sync). */
  pruneApiKeys(source: string, keep: string[]): Promise<void>;
  findApiKey(keyHash: string): Promise<{ keyHash: string; workspace: string } | null>;
  countApiKeys(): Promise<number>;
  /** Every key's record (hash, never the key), oldest first; for `mapvault keys list`. */
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /** Deletes one key; false if it did not exist. */
  deleteApiKey(keyHash: string): Promise<boolean>;
  /** Records that a key was used at `at` (callers throttle this). */
  touchApiKey(keyHash: string, at: number): Promise<void>;

  // Upload tasks and parts.
  createUpload(task: UploadTask): Promise<void>;
  getUpload(workspace: string, uploadId: string, now: number): Promise<UploadTask | null>;
  countOpenUploads(identity: Identity, now: number): Promise<number>;
  /**
   * Upserts a part; refused if the task no longer exists, is being merged, or if the workspace's parts
   * would then exceed `uploadQuota` bytes (0 = no quota), all decided in one transaction.
   */
  putPart(workspace: string, uploadId: string, part: PartRecord, now: number, uploadQuota?: number): Promise<PutPartResult>;
  /**
   * Marks the task as being merged until `until` (a lease, so a merge that died cannot block it for
   * ever): parts are refused meanwhile. `busy` if another merge holds it, `gone` if the task ended.
   */
  beginMerge(workspace: string, uploadId: string, now: number, until: number): Promise<'ok' | 'gone' | 'busy'>;
  /** Ends the mark of a merge that failed (a published merge consumes its task). */
  endMerge(workspace: string, uploadId: string): Promise<void>;
  /** Extends a running merge's lease on its task and its stored reservation (if any) to `until`. */
  renewLeases(workspace: string, uploadId: string, reservationId: string, until: number): Promise<void>;
  /** Forgets merge leases and stored reservations that ended by `dueBy` (housekeeping: ended ones no longer count). */
  releaseLeases(dueBy: number): Promise<void>;
  /** The task's parts, ascending by chunkIndex; none for another workspace's task. */
  listParts(workspace: string, uploadId: string): Promise<PartRecord[]>;
  /** Deletes the task and its parts and queues `garbage`; false if it did not exist. */
  deleteUpload(workspace: string, uploadId: string, garbage: GarbageEntry): Promise<boolean>;
  /** Deletes tasks expired at `now` (with their parts), queuing `garbageFor(uploadId)` for each. */
  expireUploads(now: number, garbageFor: (uploadId: string) => GarbageEntry): Promise<string[]>;

  // Sourcemaps.
  getSourceMap(identity: Identity): Promise<SourceMapRecord | null>;
  /**
   * The app's sourcemaps (a conditional read, like an HTTP ETag): 'unchanged' when `unlessStamp`
   * is the app's current stamp, else the listing. Any node may keep what it derived from a listing
   * and check it with one cheap call; the stamp lives in the catalog, so every node sees every write.
   */
  listSourceMaps(workspace: string, appId: string, unlessStamp?: string): Promise<SourceMapListing | 'unchanged'>;
  publishSourceMap(req: PublishRequest): Promise<PublishResult>;
  /** Deletes the sourcemap and queues its tree for collection; null if absent. */
  deleteSourceMap(identity: Identity, garbage: (revisionId: string) => GarbageEntry[]): Promise<SourceMapRecord | null>;
  /** The revision's files by path, each with its debug ID when it has one. */
  listFiles(revisionId: string): Promise<FileRecord[]>;
  getFile(revisionId: string, path: string): Promise<FileRecord | null>;
  /**
   * Adds or replaces one file of a live revision and updates the sourcemap's totals, in one
   * transaction; the replaced file's blob is queued with `retire`. The file's debug ID (or its
   * absence) replaces the one the path had.
   */
  upsertFile(write: FileWrite): Promise<FileWriteResult>;

  /**
   * Debug IDs (issue #12 §2): the files of the workspace's live sourcemaps that carry `debugId`,
   * newest sourcemap first (createdAt, then revisionId, descending), at most `limit`. The index is
   * written with the files (publishSourceMap, upsertFile) and a revision's entries leave in the
   * same transaction that replaces or deletes it, so a hit always names a live tree.
   */
  findDebugId(workspace: string, debugId: string, limit: number): Promise<DebugIdHit[]>;

  /** The workspace's apps that have at least one stored sourcemap, ordered by appId (byte order). */
  listApps(workspace: string): Promise<AppSummary[]>;

  usage(workspace: string): Promise<WorkspaceUsage>;
  /**
   * Atomically: grows the reservation by `bytes` if the workspace's stored bytes, minus `credit`,
   * plus every live reservation (this one included) stay within `limit`; false (and no change) if not.
   */
  reserveStored(r: StoredReservation): Promise<boolean>;
  /** Idempotent. */
  releaseReservation(reservationId: string): Promise<void>;

  /**
   * Settings shared by every node on this catalog (the API-key pepper when no secret is
   * configured): stores `value` under `name` unless a value is already stored, and returns the
   * stored one. Two nodes starting at once agree on one value.
   */
  ensureSetting(name: string, value: string): Promise<string>;

  // Garbage: blob prefixes to delete once due. Staging revisions are queued before they are
  // written, so a crash mid-merge can never leave unreferenced blobs behind for good.
  enqueueGarbage(entry: GarbageEntry): Promise<void>;
  dueGarbage(now: number, limit: number): Promise<GarbageEntry[]>;
  /** Called after the prefix's blobs are deleted; also forgets the revision's file rows. */
  removeGarbage(prefix: string): Promise<void>;

  close(): Promise<void>;
}

/**
 * The catalog's server could not be reached (restarting, network blip). Thrown by every method
 * instead of the driver's error, so the API answers 503 `Catalog.Unavailable` with Retry-After.
 * A write that fails this way may still have committed (the connection can drop during COMMIT):
 * callers must not undo its effects by hand, only leave them to the garbage queue.
 */
export class CatalogUnavailableError extends Error {
  constructor(readonly cause: unknown) {
    super(`the catalog is unavailable: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'CatalogUnavailableError';
  }
}
