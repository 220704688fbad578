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
}

export interface SourceMapRecord extends Identity {
  /** The immutable revision whose blobs under `trees/<revisionId>/` hold the tree. */
  revisionId: string;
  createdAt: number;
  size: number;
  sha256: string;
  fileCount: number;
  mapCount: number;
  warnings: string[];
}

export interface PublishRequest {
  sourcemap: SourceMapRecord;
  files: FileRecord[];
  /** Replace an existing sourcemap of the same identity (else fail with `exists`). */
  replace: boolean;
  /** The upload task this merge consumes: deleted, with its parts, in the same transaction. */
  consumeUploadId?: string;
  /** The consumed task's part blobs, queued for collection in the same transaction. */
  consumeGarbage?: GarbageEntry;
  /** The staging garbage entry of the new revision, cancelled by publishing it. */
  stagingPrefix: string;
  /** The garbage entry for a replaced revision (due later, so readers in flight finish first). */
  retire: (revisionId: string) => GarbageEntry;
}

export type PublishResult =
  | { ok: true; replaced: SourceMapRecord | null }
  | { ok: false; reason: 'exists' | 'upload-gone' };

export interface GarbageEntry {
  prefix: string;
  dueAt: number;
  /** Set for a sourcemap tree: its file rows are forgotten together with the entry. */
  revisionId?: string;
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
  /** Upserts a part; not ok if the task no longer exists (cancelled, merged or expired). */
  putPart(workspace: string, uploadId: string, part: PartRecord, now: number): Promise<{ ok: boolean; replacedBlobKey?: string }>;
  listParts(workspace: string, uploadId: string): Promise<PartRecord[]>;
  /**
   * The same parts as UTF-8 JSON, built by the database: `chunkIndexs` is `[0,1,…]` and `parts` is
   * `[{"chunkIndex","size","md5","sha256","uploadedAt"},…]`, ascending. A 10 000-part task answers
   * `part_list` without materialising 10 000 row objects (see docs/BENCHMARKS.md, target 5).
   * Another workspace's task has no parts.
   */
  listPartsJson(workspace: string, uploadId: string): Promise<{ chunkIndexs: Buffer; parts: Buffer }>;
  /** Deletes the task and its parts and queues `garbage`; false if it did not exist. */
  deleteUpload(workspace: string, uploadId: string, garbage: GarbageEntry): Promise<boolean>;
  /** Deletes tasks expired at `now` (with their parts), queuing `garbageFor(uploadId)` for each. */
  expireUploads(now: number, garbageFor: (uploadId: string) => GarbageEntry): Promise<string[]>;

  // Sourcemaps.
  getSourceMap(identity: Identity): Promise<SourceMapRecord | null>;
  /**
   * The app's sourcemaps as the UTF-8 JSON of the `list` answer, built by the database, newest first
   * (then version, then env, descending): `[{"declaration","appId","version","env","createAt",
   * "size","fileCount","mapCount","sha256","warnings"},…]`, `createAt` in unix seconds and
   * `declaration` being the JSON text given. For the same reason as listPartsJson.
   */
  listSourceMapsJson(workspace: string, appId: string, declaration: string): Promise<Buffer>;
  /**
   * A number that changes with every write changing the app's list (publish, replace, delete,
   * upsertFile), in the same transaction as the write; 0 for an app never written. Every server
   * sharing the catalog sees it, so it validates an answer cached by any of them.
   */
  listVersion(workspace: string, appId: string): Promise<number>;
  publishSourceMap(req: PublishRequest): Promise<PublishResult>;
  /** Deletes the sourcemap and queues its tree for collection; null if absent. */
  deleteSourceMap(identity: Identity, garbage: (revisionId: string) => GarbageEntry): Promise<SourceMapRecord | null>;
  listFiles(revisionId: string): Promise<FileRecord[]>;
  getFile(revisionId: string, path: string): Promise<FileRecord | null>;
  /** Adds or replaces one file of a live revision and updates the sourcemap's totals. */
  upsertFile(identity: Identity, revisionId: string, file: FileRecord, isMap: boolean): Promise<boolean>;

  usage(workspace: string): Promise<WorkspaceUsage>;

  // Garbage: blob prefixes to delete once due. Staging revisions are queued before they are
  // written, so a crash mid-merge can never leave unreferenced blobs behind for good.
  enqueueGarbage(entry: GarbageEntry): Promise<void>;
  dueGarbage(now: number, limit: number): Promise<GarbageEntry[]>;
  /** Called after the prefix's blobs are deleted; also forgets the revision's file rows. */
  removeGarbage(prefix: string): Promise<void>;

  close(): Promise<void>;
}
