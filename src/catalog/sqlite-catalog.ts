import Database from 'better-sqlite3';
import type {
  AppSummary,
  Catalog,
  DebugIdHit,
  FileWrite,
  FileWriteResult,
  GarbageEntry,
  Identity,
  PartRecord,
  PublishRequest,
  PublishResult,
  PutPartResult,
  SourceMapListing,
  StoredReservation,
  UploadTask,
} from './catalog.ts';
import { type FileRow, type SourceMapRow, toFile, toSourceMap, toUpload, type UploadRow, type ApiKeyRow, toApiKey } from './rows.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS api_keys (
  key_hash TEXT PRIMARY KEY,
  workspace TEXT NOT NULL,
  source TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER
);
CREATE TABLE IF NOT EXISTS uploads (
  upload_id TEXT PRIMARY KEY,
  workspace TEXT NOT NULL,
  app_id TEXT NOT NULL,
  version TEXT NOT NULL,
  env TEXT NOT NULL,
  need_cover INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  -- While > now, a merge of the task is running (a lease: a merge that died cannot hold it for ever).
  merging_until INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS uploads_identity ON uploads (workspace, app_id, version, env);
CREATE INDEX IF NOT EXISTS uploads_expiry ON uploads (expires_at);
CREATE TABLE IF NOT EXISTS parts (
  upload_id TEXT NOT NULL REFERENCES uploads (upload_id) ON DELETE CASCADE,
  chunk_index INTEGER NOT NULL,
  size INTEGER NOT NULL,
  md5 TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  uploaded_at INTEGER NOT NULL,
  blob_key TEXT NOT NULL,
  PRIMARY KEY (upload_id, chunk_index)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sourcemaps (
  workspace TEXT NOT NULL,
  app_id TEXT NOT NULL,
  version TEXT NOT NULL,
  env TEXT NOT NULL,
  revision_id TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  file_count INTEGER NOT NULL,
  map_count INTEGER NOT NULL,
  warnings TEXT NOT NULL,
  tree_version INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace, app_id, version, env)
);
-- The whole \`list\` order, so listing an app reads the index in order instead of sorting.
CREATE INDEX IF NOT EXISTS sourcemaps_list_order ON sourcemaps (workspace, app_id, created_at DESC, version DESC, env DESC);
-- Bumped by every write that changes an app's \`list\` answer; lets a cached answer be validated cheaply.
CREATE TABLE IF NOT EXISTS list_versions (
  workspace TEXT NOT NULL,
  app_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY (workspace, app_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS files (
  revision_id TEXT NOT NULL,
  path TEXT NOT NULL,
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  -- NULL: the bytes are at trees/<revision_id>/<path>. Set for a file written alone (upload_file_content).
  blob_key TEXT,
  PRIMARY KEY (revision_id, path)
) WITHOUT ROWID;
-- Debug IDs of the files of live revisions (a revision's rows leave when it is replaced or deleted).
CREATE TABLE IF NOT EXISTS debug_ids (
  revision_id TEXT NOT NULL,
  path TEXT NOT NULL,
  workspace TEXT NOT NULL,
  debug_id TEXT NOT NULL,
  PRIMARY KEY (revision_id, path)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS debug_ids_lookup ON debug_ids (workspace, debug_id);
-- Stored bytes promised to writes in progress (quota), counted until released or expired.
CREATE TABLE IF NOT EXISTS reservations (
  reservation_id TEXT PRIMARY KEY,
  workspace TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS garbage (
  prefix TEXT PRIMARY KEY,
  due_at INTEGER NOT NULL,
  revision_id TEXT
);
CREATE TABLE IF NOT EXISTS settings (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
`;

/**
 * PRAGMA user_version of SCHEMA. 0 is the first release's layout, which ordered the list index by
 * created_at alone; 1 had STORED generated columns with each row's answer JSON (list_entry,
 * list_entry_tail), and no tree_version and no settings; 2 had no uploads.merging_until, files.blob_key nor
 * reservations; 3 had no api_keys.last_used_at; 4 had no debug_ids (created by SCHEMA).
 */
const SCHEMA_VERSION = 5;
const SOURCEMAP_COLUMNS = 'workspace, app_id, version, env, revision_id, created_at, size, sha256, file_count, map_count, warnings';
const PART_COLUMNS = 'upload_id, chunk_index, size, md5, sha256, uploaded_at, blob_key';

/** Creates the schema, or brings an older catalog file up to it, in one transaction. */
function applySchema(db: Database.Database, file: string) {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new Error(`the catalog ${file} has schema version ${version}; this mapvault knows up to ${SCHEMA_VERSION}: upgrade mapvault`);
  }
  db.transaction(() => {
    const existed = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sourcemaps'").get() !== undefined;
    const fromV0 = version === 0 && existed;
    if (fromV0) {
      // The list index changed and v1's generated columns came in with a rebuild, so the two tables are rebuilt around their rows.
      db.exec(
        'DROP INDEX IF EXISTS sourcemaps_newest; ALTER TABLE sourcemaps RENAME TO sourcemaps_v0; ALTER TABLE parts RENAME TO parts_v0;',
      );
    }
    const fromV1 = version === 1;
    db.exec(SCHEMA);
    if (fromV1) {
      db.exec(`ALTER TABLE sourcemaps ADD COLUMN tree_version INTEGER NOT NULL DEFAULT 0;
               ALTER TABLE sourcemaps DROP COLUMN list_entry_tail; ALTER TABLE parts DROP COLUMN list_entry;`);
    }
    const keyColumns = db.prepare('SELECT name FROM pragma_table_info(?)').all('api_keys') as Array<{ name: string }>;
    if (!keyColumns.some((c) => c.name === 'last_used_at')) db.exec('ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER');
    if (fromV0) {
      db.exec(`INSERT INTO sourcemaps (${SOURCEMAP_COLUMNS}) SELECT ${SOURCEMAP_COLUMNS} FROM sourcemaps_v0; DROP TABLE sourcemaps_v0;
               INSERT INTO parts (${PART_COLUMNS}) SELECT ${PART_COLUMNS} FROM parts_v0; DROP TABLE parts_v0;`);
    }
    if (existed && version < 3) {
      db.exec('ALTER TABLE uploads ADD COLUMN merging_until INTEGER NOT NULL DEFAULT 0; ALTER TABLE files ADD COLUMN blob_key TEXT;');
    }
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}

/** Catalog on one SQLite file (WAL). better-sqlite3 is synchronous; each method is one short transaction. */
export class SqliteCatalog implements Catalog {
  private readonly db: Database.Database;
  private readonly stmt;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // FULL: a commit is on disk before it returns (NORMAL could lose the last commits on power loss),
    // so an acknowledged upload survives one; blobs are fsynced before the commit that publishes them.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    try {
      applySchema(this.db, file);
    } catch (e) {
      this.db.close();
      throw e;
    }
    const p = (sql: string) => this.db.prepare(sql);
    const identityWhere = 'workspace = @workspace AND app_id = @appId AND version = @version AND env = @env';
    this.stmt = {
      putKey: p(`INSERT INTO api_keys (key_hash, workspace, source, created_at) VALUES (@keyHash, @workspace, @source, @createdAt)
                 ON CONFLICT (key_hash) DO UPDATE SET workspace = excluded.workspace, source = excluded.source`),
      keysOfSource: p('SELECT key_hash FROM api_keys WHERE source = ?'),
      deleteKey: p('DELETE FROM api_keys WHERE key_hash = ?'),
      findKey: p('SELECT key_hash, workspace FROM api_keys WHERE key_hash = ?'),
      countKeys: p('SELECT count(*) AS n FROM api_keys'),
      listKeys: p('SELECT key_hash, workspace, source, created_at, last_used_at FROM api_keys ORDER BY created_at, key_hash'),
      touchKey: p('UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE key_hash = ?'),
      insertUpload: p(`INSERT INTO uploads (upload_id, workspace, app_id, version, env, need_cover, created_at, expires_at)
                       VALUES (@uploadId, @workspace, @appId, @version, @env, @needCover, @createdAt, @expiresAt)`),
      getUpload: p('SELECT * FROM uploads WHERE upload_id = ? AND workspace = ? AND expires_at > ?'),
      countOpen: p(`SELECT count(*) AS n FROM uploads WHERE ${identityWhere} AND expires_at > @now`),
      uploadLease: p('SELECT merging_until FROM uploads WHERE upload_id = ? AND workspace = ? AND expires_at > ?').pluck(),
      setMergeLease: p('UPDATE uploads SET merging_until = ? WHERE upload_id = ? AND workspace = ?'),
      renewMergeLease: p('UPDATE uploads SET merging_until = ? WHERE upload_id = ? AND workspace = ? AND merging_until > 0'),
      renewReservation: p('UPDATE reservations SET expires_at = ? WHERE reservation_id = ?'),
      releaseMergeLeases: p('UPDATE uploads SET merging_until = 0 WHERE merging_until > 0 AND merging_until <= ?'),
      upsertPart: p(`INSERT INTO parts (upload_id, chunk_index, size, md5, sha256, uploaded_at, blob_key)
                     VALUES (@uploadId, @chunkIndex, @size, @md5, @sha256, @uploadedAt, @blobKey)
                     ON CONFLICT (upload_id, chunk_index) DO UPDATE SET size = excluded.size, md5 = excluded.md5,
                       sha256 = excluded.sha256, uploaded_at = excluded.uploaded_at, blob_key = excluded.blob_key`),
      partBlobKey: p('SELECT blob_key, size FROM parts WHERE upload_id = ? AND chunk_index = ?'),
      partBlobKeys: p('SELECT blob_key FROM parts WHERE upload_id = ?').pluck(),
      listParts: p(`SELECT json_group_array(json_array(chunk_index, size, md5, sha256, uploaded_at, blob_key))
                    FROM (SELECT p.* FROM parts p JOIN uploads u ON u.upload_id = p.upload_id
                          WHERE p.upload_id = ? AND u.workspace = ? ORDER BY p.chunk_index)`).pluck(),
      deleteUpload: p('DELETE FROM uploads WHERE upload_id = ? AND workspace = ?'),
      expired: p('SELECT upload_id FROM uploads WHERE expires_at <= ?'),
      deleteUploadById: p('DELETE FROM uploads WHERE upload_id = ?'),
      getSourceMap: p(`SELECT * FROM sourcemaps WHERE ${identityWhere}`),
      // Private to SQLite: the rows come back as one JSON text built by SQLite and parsed by V8 in
      // one call, instead of one JS string per text value (better-sqlite3 pays ~1 µs each). SQLite
      // never flattens an ordered subquery into an aggregate, so the array keeps the index order.
      // See docs/BENCHMARKS.md, target 5.
      // workspace and app_id are the query's own arguments, and `warnings` stays a JSON text (nearly
      // always '[]'): asking SQLite to re-parse it with json() doubled the query's cost.
      listSourceMaps: p(`SELECT json_group_array(json_array(version, env, revision_id, created_at, size, sha256,
                                 file_count, map_count, warnings, tree_version))
                         FROM (SELECT * FROM sourcemaps WHERE workspace = ? AND app_id = ? ORDER BY created_at DESC, version DESC, env DESC)`).pluck(),
      upsertSourceMap:
        p(`INSERT INTO sourcemaps (workspace, app_id, version, env, revision_id, created_at, size, sha256, file_count, map_count, warnings)
                          VALUES (@workspace, @appId, @version, @env, @revisionId, @createdAt, @size, @sha256, @fileCount, @mapCount, @warnings)
                          ON CONFLICT (workspace, app_id, version, env) DO UPDATE SET revision_id = excluded.revision_id, tree_version = 0,
                            created_at = excluded.created_at, size = excluded.size, sha256 = excluded.sha256,
                            file_count = excluded.file_count, map_count = excluded.map_count, warnings = excluded.warnings`),
      deleteSourceMap: p(`DELETE FROM sourcemaps WHERE ${identityWhere}`),
      listVersion: p('SELECT version FROM list_versions WHERE workspace = ? AND app_id = ?').pluck(),
      bumpListVersion: p(`INSERT INTO list_versions (workspace, app_id, version) VALUES (@workspace, @appId, 1)
                          ON CONFLICT (workspace, app_id) DO UPDATE SET version = version + 1`),
      insertFile: p('INSERT INTO files (revision_id, path, size, sha256, blob_key) VALUES (?, ?, ?, ?, ?)'),
      upsertFile: p(`INSERT INTO files (revision_id, path, size, sha256, blob_key) VALUES (?, ?, ?, ?, ?)
                     ON CONFLICT (revision_id, path) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256, blob_key = excluded.blob_key`),
      deleteFiles: p('DELETE FROM files WHERE revision_id = ?'),
      // Each file with its debug ID; getFile's plain row is enough where the ID does not matter.
      listFiles: p(`SELECT f.path, f.size, f.sha256, f.blob_key, d.debug_id FROM files f
                    LEFT JOIN debug_ids d ON d.revision_id = f.revision_id AND d.path = f.path WHERE f.revision_id = ? ORDER BY f.path`),
      getFile: p(`SELECT f.path, f.size, f.sha256, f.blob_key, d.debug_id FROM files f
                  LEFT JOIN debug_ids d ON d.revision_id = f.revision_id AND d.path = f.path WHERE f.revision_id = ? AND f.path = ?`),
      // '/' is 0x2F and '0' 0x30: every path under the directory `?` sorts between `?/` and `?0`.
      fileUnder: p('SELECT path FROM files WHERE revision_id = ? AND path > ? AND path < ? ORDER BY path LIMIT 1').pluck(),
      insertDebugId: p('INSERT INTO debug_ids (revision_id, path, workspace, debug_id) VALUES (?, ?, ?, ?)'),
      deleteDebugId: p('DELETE FROM debug_ids WHERE revision_id = ? AND path = ?'),
      deleteDebugIds: p('DELETE FROM debug_ids WHERE revision_id = ?'),
      findDebugId: p(`SELECT s.*, d.path AS debug_path FROM debug_ids d JOIN sourcemaps s ON s.revision_id = d.revision_id
                      WHERE d.workspace = ? AND d.debug_id = ? ORDER BY s.created_at DESC, s.revision_id DESC LIMIT ?`),
      revisionTotals: p(`SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM files WHERE revision_id = ?`),
      updateTotals: p(`UPDATE sourcemaps SET size = @size, file_count = @fileCount, map_count = map_count + @addMap,
                         tree_version = tree_version + 1
                       WHERE revision_id = @revisionId`),
      listApps: p(`SELECT app_id AS appId, count(*) AS sourcemapCount, sum(size) AS size, max(created_at) AS latestCreatedAt
                    FROM sourcemaps WHERE workspace = ? GROUP BY app_id ORDER BY app_id`),
      usageUploads: p(
        `SELECT coalesce(sum(p.size), 0) AS n FROM parts p JOIN uploads u ON u.upload_id = p.upload_id WHERE u.workspace = ?`,
      ),
      usageStored: p('SELECT coalesce(sum(size), 0) AS n FROM sourcemaps WHERE workspace = ?'),
      reservedStored: p('SELECT coalesce(sum(bytes), 0) FROM reservations WHERE workspace = ? AND expires_at > ?').pluck(),
      reserve:
        p(`INSERT INTO reservations (reservation_id, workspace, bytes, expires_at) VALUES (@reservationId, @workspace, @bytes, @expiresAt)
                  ON CONFLICT (reservation_id) DO UPDATE SET bytes = bytes + excluded.bytes, expires_at = excluded.expires_at`),
      deleteReservation: p('DELETE FROM reservations WHERE reservation_id = ?'),
      releaseReservations: p('DELETE FROM reservations WHERE expires_at <= ?'),
      enqueueGarbage: p(`INSERT INTO garbage (prefix, due_at, revision_id) VALUES (@prefix, @dueAt, @revisionId)
                         ON CONFLICT (prefix) DO UPDATE SET due_at = min(due_at, excluded.due_at)`),
      dueGarbage: p('SELECT prefix, due_at, revision_id FROM garbage WHERE due_at <= ? ORDER BY due_at LIMIT ?'),
      garbageRevision: p('SELECT revision_id FROM garbage WHERE prefix = ?'),
      removeGarbage: p('DELETE FROM garbage WHERE prefix = ?'),
      insertSetting: p('INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING'),
      getSetting: p('SELECT value FROM settings WHERE name = ?').pluck(),
    };
  }

  async putApiKey(key: { keyHash: string; workspace: string; source: string; createdAt: number }) {
    this.stmt.putKey.run(key);
  }

  async pruneApiKeys(source: string, keep: string[]) {
    const keepSet = new Set(keep);
    this.db.transaction(() => {
      for (const { key_hash } of this.stmt.keysOfSource.all(source) as Array<{ key_hash: string }>) {
        if (!keepSet.has(key_hash)) this.stmt.deleteKey.run(key_hash);
      }
    })();
  }

  async findApiKey(keyHash: string) {
    const row = this.stmt.findKey.get(keyHash) as { key_hash: string; workspace: string } | undefined;
    return row ? { keyHash: row.key_hash, workspace: row.workspace } : null;
  }

  async countApiKeys() {
    return (this.stmt.countKeys.get() as { n: number }).n;
  }

  async listApiKeys() {
    return (this.stmt.listKeys.all() as ApiKeyRow[]).map(toApiKey);
  }

  async deleteApiKey(keyHash: string) {
    return this.stmt.deleteKey.run(keyHash).changes > 0;
  }

  async touchApiKey(keyHash: string, at: number) {
    this.stmt.touchKey.run(at, keyHash);
  }

  async createUpload(task: UploadTask) {
    this.stmt.insertUpload.run({ ...task, needCover: task.needCover ? 1 : 0 });
  }

  async getUpload(workspace: string, uploadId: string, now: number) {
    const row = this.stmt.getUpload.get(uploadId, workspace, now) as UploadRow | undefined;
    return row ? toUpload(row) : null;
  }

  async countOpenUploads(identity: Identity, now: number) {
    return (this.stmt.countOpen.get({ ...identity, now }) as { n: number }).n;
  }

  async putPart(workspace: string, uploadId: string, part: PartRecord, now: number, uploadQuota = 0) {
    return this.db.transaction((): PutPartResult => {
      const lease = this.stmt.uploadLease.get(uploadId, workspace, now) as number | undefined;
      if (lease === undefined) return { ok: false, reason: 'gone' };
      if (lease > now) return { ok: false, reason: 'merging' };
      const previous = this.stmt.partBlobKey.get(uploadId, part.chunkIndex) as { blob_key: string; size: number } | undefined;
      if (uploadQuota > 0) {
        const pending = (this.stmt.usageUploads.get(workspace) as { n: number }).n - (previous?.size ?? 0);
        if (pending + part.size > uploadQuota) return { ok: false, reason: 'quota' };
      }
      this.stmt.upsertPart.run({ uploadId, ...part });
      return previous && previous.blob_key !== part.blobKey ? { ok: true, replacedBlobKey: previous.blob_key } : { ok: true };
    })();
  }

  async beginMerge(workspace: string, uploadId: string, now: number, until: number) {
    return this.db.transaction(() => {
      const lease = this.stmt.uploadLease.get(uploadId, workspace, now) as number | undefined;
      if (lease === undefined) return 'gone' as const;
      if (lease > now) return 'busy' as const;
      this.stmt.setMergeLease.run(until, uploadId, workspace);
      return 'ok' as const;
    })();
  }

  async endMerge(workspace: string, uploadId: string) {
    this.stmt.setMergeLease.run(0, uploadId, workspace);
  }

  async renewLeases(workspace: string, uploadId: string, reservationId: string, until: number) {
    this.db.transaction(() => {
      this.stmt.renewMergeLease.run(until, uploadId, workspace);
      this.stmt.renewReservation.run(until, reservationId);
    })();
  }

  async releaseLeases(dueBy: number) {
    this.db.transaction(() => {
      this.stmt.releaseMergeLeases.run(dueBy);
      this.stmt.releaseReservations.run(dueBy);
    })();
  }

  async listParts(workspace: string, uploadId: string): Promise<PartRecord[]> {
    const rows = JSON.parse(this.stmt.listParts.get(uploadId, workspace) as string) as Array<
      [number, number, string, string, number, string]
    >;
    return rows.map(([chunkIndex, size, md5, sha256, uploadedAt, blobKey]) => ({ chunkIndex, size, md5, sha256, uploadedAt, blobKey }));
  }

  async deleteUpload(workspace: string, uploadId: string, garbage: GarbageEntry) {
    return this.db.transaction(() => {
      const deleted = this.stmt.deleteUpload.run(uploadId, workspace).changes > 0;
      if (deleted) this.enqueue(garbage);
      return deleted;
    })();
  }

  async expireUploads(now: number, garbageFor: (uploadId: string) => GarbageEntry) {
    return this.db.transaction(() => {
      const ids = (this.stmt.expired.all(now) as Array<{ upload_id: string }>).map((r) => r.upload_id);
      for (const id of ids) {
        this.stmt.deleteUploadById.run(id);
        this.enqueue(garbageFor(id));
      }
      return ids;
    })();
  }

  async getSourceMap(identity: Identity) {
    const row = this.stmt.getSourceMap.get(identity) as SourceMapRow | undefined;
    return row ? toSourceMap(row) : null;
  }

  async listSourceMaps(workspace: string, appId: string, unlessStamp?: string): Promise<SourceMapListing | 'unchanged'> {
    return this.db.transaction((): SourceMapListing | 'unchanged' => {
      const stamp = String((this.stmt.listVersion.get(workspace, appId) as number | undefined) ?? 0);
      if (stamp === unlessStamp) return 'unchanged';
      const rows = JSON.parse(this.stmt.listSourceMaps.get(workspace, appId) as string) as Array<
        [string, string, string, number, number, string, number, number, string, number]
      >;
      return {
        stamp,
        rows: rows.map(([version, env, revisionId, createdAt, size, sha256, fileCount, mapCount, warnings, treeVersion]) => ({
          workspace,
          appId,
          version,
          env,
          revisionId,
          createdAt,
          size,
          sha256,
          fileCount,
          mapCount,
          warnings: warnings === '[]' ? [] : (JSON.parse(warnings) as string[]),
          treeVersion,
        })),
      };
    })();
  }

  async publishSourceMap(req: PublishRequest): Promise<PublishResult> {
    const sm = req.sourcemap;
    return this.db.transaction((): PublishResult => {
      const existing = this.stmt.getSourceMap.get(sm) as SourceMapRow | undefined;
      if (existing && !req.replace) return { ok: false, reason: 'exists' };
      if (req.consumeUploadId !== undefined) {
        if (req.keepParts && !this.holdsParts(req.consumeUploadId, req.keepParts)) return { ok: false, reason: 'upload-gone' };
        if (this.stmt.deleteUpload.run(req.consumeUploadId, sm.workspace).changes === 0) {
          return { ok: false, reason: 'upload-gone' };
        }
        if (req.consumeGarbage) this.enqueue(req.consumeGarbage);
      }
      for (const f of req.files) {
        this.stmt.insertFile.run(sm.revisionId, f.path, f.size, f.sha256, f.blobKey ?? null);
        if (f.debugId) this.stmt.insertDebugId.run(sm.revisionId, f.path, sm.workspace, f.debugId);
      }
      this.stmt.upsertSourceMap.run({ ...sm, warnings: JSON.stringify(sm.warnings) });
      this.stmt.bumpListVersion.run(sm);
      this.stmt.removeGarbage.run(req.stagingPrefix);
      if (req.reservationId !== undefined) this.stmt.deleteReservation.run(req.reservationId);
      // The replaced revision's file rows stay until its blobs are collected: readers in flight still see a whole tree.
      // Its debug IDs go now: a lookup finds only live trees.
      if (existing) {
        for (const g of req.retire(existing.revision_id)) this.enqueue(g);
        if (existing.revision_id !== sm.revisionId) this.stmt.deleteDebugIds.run(existing.revision_id);
      }
      return { ok: true, replaced: existing ? toSourceMap(existing) : null };
    })();
  }

  async deleteSourceMap(identity: Identity, garbage: (revisionId: string) => GarbageEntry[]) {
    return this.db.transaction(() => {
      const existing = this.stmt.getSourceMap.get(identity) as SourceMapRow | undefined;
      if (!existing) return null;
      this.stmt.deleteSourceMap.run(identity);
      this.stmt.deleteDebugIds.run(existing.revision_id);
      this.stmt.bumpListVersion.run(identity);
      for (const g of garbage(existing.revision_id)) this.enqueue(g);
      return toSourceMap(existing);
    })();
  }

  async listFiles(revisionId: string) {
    return (this.stmt.listFiles.all(revisionId) as FileRow[]).map(toFile);
  }

  async getFile(revisionId: string, path: string) {
    const row = this.stmt.getFile.get(revisionId, path) as FileRow | undefined;
    return row ? toFile(row) : null;
  }

  async findDebugId(workspace: string, debugId: string, limit: number): Promise<DebugIdHit[]> {
    const rows = this.stmt.findDebugId.all(workspace, debugId, limit) as Array<SourceMapRow & { debug_path: string }>;
    return rows.map((r) => ({ sourcemap: toSourceMap(r), path: r.debug_path }));
  }

  async upsertFile(w: FileWrite) {
    const { identity, revisionId, file } = w;
    return this.db.transaction((): FileWriteResult => {
      const current = this.stmt.getSourceMap.get(identity) as SourceMapRow | undefined;
      if (!current || current.revision_id !== revisionId) return { ok: false, reason: 'replaced' };
      // A tree is a tree: `a` cannot be a file while `a/b` is one, whichever came first.
      const under = this.stmt.fileUnder.get(revisionId, `${file.path}/`, `${file.path}0`) as string | undefined;
      if (under !== undefined) return { ok: false, reason: 'path-conflict', path: under };
      const segments = file.path.split('/');
      for (let i = 1; i < segments.length; i++) {
        const ancestor = segments.slice(0, i).join('/');
        if (this.stmt.getFile.get(revisionId, ancestor)) return { ok: false, reason: 'path-conflict', path: ancestor };
      }
      const old = this.stmt.getFile.get(revisionId, file.path) as FileRow | undefined;
      this.stmt.upsertFile.run(revisionId, file.path, file.size, file.sha256, file.blobKey ?? null);
      this.stmt.deleteDebugId.run(revisionId, file.path);
      if (file.debugId) this.stmt.insertDebugId.run(revisionId, file.path, identity.workspace, file.debugId);
      const totals = this.stmt.revisionTotals.get(revisionId) as { n: number; bytes: number };
      this.stmt.updateTotals.run({ revisionId, size: totals.bytes, fileCount: totals.n, addMap: w.isMap && !old ? 1 : 0 });
      this.stmt.bumpListVersion.run(identity);
      this.stmt.removeGarbage.run(w.stagingPrefix);
      const retired = old && w.retire(toFile(old));
      if (retired) this.enqueue(retired);
      if (w.reservationId !== undefined) this.stmt.deleteReservation.run(w.reservationId);
      return { ok: true };
    })();
  }

  async listApps(workspace: string) {
    return this.stmt.listApps.all(workspace) as AppSummary[];
  }

  async usage(workspace: string) {
    return {
      uploadBytes: (this.stmt.usageUploads.get(workspace) as { n: number }).n,
      storedBytes: (this.stmt.usageStored.get(workspace) as { n: number }).n,
    };
  }

  async reserveStored(r: StoredReservation) {
    return this.db.transaction(() => {
      const stored = (this.stmt.usageStored.get(r.workspace) as { n: number }).n;
      const reserved = this.stmt.reservedStored.get(r.workspace, r.now) as number;
      if (stored - r.credit + reserved + r.bytes > r.limit) return false;
      this.stmt.reserve.run({ reservationId: r.reservationId, workspace: r.workspace, bytes: r.bytes, expiresAt: r.expiresAt });
      return true;
    })();
  }

  async releaseReservation(reservationId: string) {
    this.stmt.deleteReservation.run(reservationId);
  }

  /** Whether every one of `blobKeys` is still a part of the task. */
  private holdsParts(uploadId: string, blobKeys: string[]): boolean {
    const held = new Set(this.stmt.partBlobKeys.all(uploadId) as string[]);
    return blobKeys.every((k) => held.has(k));
  }

  private enqueue(entry: GarbageEntry) {
    this.stmt.enqueueGarbage.run({ prefix: entry.prefix, dueAt: entry.dueAt, revisionId: entry.revisionId ?? null });
  }

  async enqueueGarbage(entry: GarbageEntry) {
    this.enqueue(entry);
  }

  async dueGarbage(now: number, limit: number) {
    const rows = this.stmt.dueGarbage.all(now, limit) as Array<{ prefix: string; due_at: number; revision_id: string | null }>;
    return rows.map((r) => ({ prefix: r.prefix, dueAt: r.due_at, ...(r.revision_id ? { revisionId: r.revision_id } : {}) }));
  }

  async removeGarbage(prefix: string) {
    this.db.transaction(() => {
      const row = this.stmt.garbageRevision.get(prefix) as { revision_id: string | null } | undefined;
      if (row?.revision_id) {
        this.stmt.deleteFiles.run(row.revision_id);
        this.stmt.deleteDebugIds.run(row.revision_id);
      }
      this.stmt.removeGarbage.run(prefix);
    })();
  }

  async ensureSetting(name: string, value: string) {
    return this.db.transaction(() => {
      this.stmt.insertSetting.run(name, value);
      return this.stmt.getSetting.get(name) as string;
    })();
  }

  async close() {
    if (this.db.open) this.db.close();
  }
}
