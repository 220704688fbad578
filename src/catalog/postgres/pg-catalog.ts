import { createHash } from 'node:crypto';
import pg from 'pg';
import {
  CatalogUnavailableError,
  type AppSummary,
  type Catalog,
  type DebugIdHit,
  type FileWrite,
  type FileWriteResult,
  type GarbageEntry,
  type Identity,
  type PartRecord,
  type PublishRequest,
  type PublishResult,
  type PutPartResult,
  type SourceMapListing,
  type StoredReservation,
  type UploadTask,
} from '../catalog.ts';
import {
  type FileRow,
  type PartRow,
  type SourceMapRow,
  toFile,
  toPart,
  toSourceMap,
  toUpload,
  type UploadRow,
  type ApiKeyRow,
  toApiKey,
} from '../rows.ts';
import { migrate } from './schema.ts';
import { defined } from '../../util/invariant.ts';

/** The row of a query that always returns one (an aggregate, or a row the statement itself writes). */
const onlyRow = <R extends pg.QueryResultRow>(r: pg.QueryResult<R>): R => defined(r.rows[0], 'the row of a single-row query');

const IDENTITY_WHERE = 'workspace = $1 AND app_id = $2 AND version = $3 AND env = $4';
const identityParams = (i: Identity) => [i.workspace, i.appId, i.version, i.env];
/**
 * Writes to one identity (publish, delete, single-file write) take this transaction-scoped
 * advisory lock first, in the two-key space (the Locker uses the one-key space, so the two never
 * meet): under READ COMMITTED, each statement after it sees every write committed before it.
 */
const IDENTITY_XACT_LOCK = `SELECT pg_advisory_xact_lock(${0x6d76}, hashtext($1))`;
const identityLockKey = (i: Identity) => JSON.stringify([i.workspace, i.appId, i.version, i.env]);
/** Serializes the quota decisions of one workspace (READ COMMITTED would let two see the same total). */
const QUOTA_XACT_LOCK = `SELECT pg_advisory_xact_lock(${0x7175}, hashtext($1))`;
/** A file row with its debug ID. */
const FILE_SELECT = `SELECT f.path, f.size, f.sha256, f.blob_key, d.debug_id FROM files f
                     LEFT JOIN debug_ids d ON d.revision_id = f.revision_id AND d.path = f.path`;

// BIGINT columns hold Unix milliseconds and byte counts, all below 2^53: plain numbers.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 ? Number : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** Connection-level failures: the server is down, restarting, unreachable or out of connections. */
export function isUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code))
    return true;
  // Class 08: connection exception; 57P01-03: shutdown / cannot connect now; 53300: too many connections.
  if (code.startsWith('08') || ['57P01', '57P02', '57P03', '53300'].includes(code)) return true;
  const message = typeof e?.message === 'string' ? e.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(
    message,
  );
}

const statementNames = new Map<string, string>();
/** feature_not_supported: "cached plan must not change result type". */
const STALE_PLAN = '0A000';
/**
 * A name for a statement's text, so each connection parses and plans it once (a named prepared
 * statement) instead of on every call: half the server's work for the one-row lookups every request
 * makes (the key, the identity). The texts are the constants of this module, so the map is bounded.
 */
function statementName(sql: string): string {
  let name = statementNames.get(sql);
  if (name === undefined) {
    name = `mv_${createHash('sha1').update(sql).digest('hex').slice(0, 20)}`;
    statementNames.set(sql, name);
  }
  return name;
}

class Rollback<T> {
  constructor(readonly value: T) {}
}

export interface PgCatalogOptions {
  /** Connections in the pool (per node). */
  maxConnections?: number;
  /** Tests only: migrate no further than this schema version. */
  schemaVersion?: number;
}

/**
 * Catalog on PostgreSQL, for several nodes sharing one database. Each method is one statement or
 * one READ COMMITTED transaction; the races that isolation level allows are closed explicitly
 * (row locks on the upload task, the identity's advisory lock), and the contract test runs them.
 */
export class PgCatalog implements Catalog {
  private constructor(readonly pool: pg.Pool) {}

  /** Connects, then creates or upgrades the schema. Throws on a bad URL, an unreachable server or a newer schema. */
  static async open(url: string, opts: PgCatalogOptions = {}): Promise<PgCatalog> {
    const pool = new pg.Pool({
      connectionString: url,
      max: opts.maxConnections ?? 10,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
      types,
      application_name: 'mapvault',
    });
    // An idle connection dropped by the server (restart) must not crash the process; the pool replaces it.
    pool.on('error', () => {});
    try {
      const client = await pool.connect();
      try {
        await migrate(client, client.database ?? '', opts.schemaVersion);
      } finally {
        client.release();
      }
    } catch (err) {
      await pool.end().catch(() => {});
      throw err;
    }
    return new PgCatalog(pool);
  }

  private async q<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      try {
        return await this.pool.query<R>({ name: statementName(sql), text: sql, values: params });
      } catch (err) {
        // A node that migrated the schema meanwhile changed what a prepared `SELECT *` returns: this
        // connection's plan is stale, so the statement is sent unprepared (as it always was before).
        if ((err as { code?: unknown }).code !== STALE_PLAN) throw err;
        return await this.pool.query<R>(sql, params);
      }
    } catch (err) {
      throw isUnavailable(err) ? new CatalogUnavailableError(err) : err;
    }
  }

  /** One transaction; `fn` throws a Rollback to end it without committing and return a value. */
  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw isUnavailable(err) ? new CatalogUnavailableError(err) : err;
    }
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const value = await fn(client);
      await client.query('COMMIT');
      return value;
    } catch (err) {
      if (isUnavailable(err)) {
        broken = err as Error;
        throw new CatalogUnavailableError(err);
      }
      await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      if (err instanceof Rollback) return err.value as T;
      throw err;
    } finally {
      // A connection that failed is destroyed rather than returned to the pool.
      client.release(broken);
    }
  }

  async putApiKey(key: { keyHash: string; workspace: string; source: string; createdAt: number }) {
    await this.q(
      `INSERT INTO api_keys (key_hash, workspace, source, created_at) VALUES ($1, $2, $3, $4)
                  ON CONFLICT (key_hash) DO UPDATE SET workspace = excluded.workspace, source = excluded.source`,
      [key.keyHash, key.workspace, key.source, key.createdAt],
    );
  }

  async pruneApiKeys(source: string, keep: string[]) {
    await this.q('DELETE FROM api_keys WHERE source = $1 AND NOT (key_hash = ANY($2::text[]))', [source, keep]);
  }

  async findApiKey(keyHash: string) {
    const row = (
      await this.q<{ key_hash: string; workspace: string }>('SELECT key_hash, workspace FROM api_keys WHERE key_hash = $1', [keyHash])
    ).rows[0];
    return row ? { keyHash: row.key_hash, workspace: row.workspace } : null;
  }

  async countApiKeys() {
    return Number(onlyRow(await this.q<{ n: string }>('SELECT count(*) AS n FROM api_keys')).n);
  }

  async listApiKeys() {
    const sql = 'SELECT key_hash, workspace, source, created_at, last_used_at FROM api_keys ORDER BY created_at, key_hash COLLATE "C"';
    return (await this.q<ApiKeyRow>(sql)).rows.map(toApiKey);
  }

  async deleteApiKey(keyHash: string) {
    return ((await this.q('DELETE FROM api_keys WHERE key_hash = $1', [keyHash])).rowCount ?? 0) > 0;
  }

  async touchApiKey(keyHash: string, at: number) {
    await this.q('UPDATE api_keys SET last_used_at = GREATEST(coalesce(last_used_at, 0), $1) WHERE key_hash = $2', [at, keyHash]);
  }

  async createUpload(t: UploadTask) {
    await this.q(
      `INSERT INTO uploads (upload_id, workspace, app_id, version, env, need_cover, created_at, expires_at)
                  VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [t.uploadId, t.workspace, t.appId, t.version, t.env, t.needCover, t.createdAt, t.expiresAt],
    );
  }

  async getUpload(workspace: string, uploadId: string, now: number) {
    const row = (
      await this.q<UploadRow>('SELECT * FROM uploads WHERE upload_id = $1 AND workspace = $2 AND expires_at > $3', [
        uploadId,
        workspace,
        now,
      ])
    ).rows[0];
    return row ? toUpload(row) : null;
  }

  async countOpenUploads(identity: Identity, now: number) {
    const r = await this.q<{ n: string }>(`SELECT count(*) AS n FROM uploads WHERE ${IDENTITY_WHERE} AND expires_at > $5`, [
      ...identityParams(identity),
      now,
    ]);
    return Number(onlyRow(r).n);
  }

  async putPart(workspace: string, uploadId: string, part: PartRecord, now: number, uploadQuota = 0) {
    return this.tx(async (c): Promise<PutPartResult> => {
      if (uploadQuota > 0) await c.query(QUOTA_XACT_LOCK, [`upload:${workspace}`]);
      // The task row stays locked until commit: a cancel, expiry or merge of the task waits for this
      // part (and then removes it with the task), and two parts of one index cannot both miss the other.
      const task = (
        await c.query<{ merging_until: number }>(
          'SELECT merging_until FROM uploads WHERE upload_id = $1 AND workspace = $2 AND expires_at > $3 FOR NO KEY UPDATE',
          [uploadId, workspace, now],
        )
      ).rows[0];
      if (!task) throw new Rollback<PutPartResult>({ ok: false, reason: 'gone' });
      if (task.merging_until > now) throw new Rollback<PutPartResult>({ ok: false, reason: 'merging' });
      const previous = (
        await c.query<{ blob_key: string; size: number }>('SELECT blob_key, size FROM parts WHERE upload_id = $1 AND chunk_index = $2', [
          uploadId,
          part.chunkIndex,
        ])
      ).rows[0];
      if (uploadQuota > 0) {
        const pending =
          onlyRow(
            await c.query<{ n: number }>(
              `SELECT coalesce(sum(p.size), 0)::bigint AS n FROM parts p JOIN uploads u ON u.upload_id = p.upload_id
                                                      WHERE u.workspace = $1`,
              [workspace],
            ),
          ).n - (previous?.size ?? 0);
        if (pending + part.size > uploadQuota) throw new Rollback<PutPartResult>({ ok: false, reason: 'quota' });
      }
      await c.query(
        `INSERT INTO parts (upload_id, chunk_index, size, md5, sha256, uploaded_at, blob_key) VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (upload_id, chunk_index) DO UPDATE SET size = excluded.size, md5 = excluded.md5,
                       sha256 = excluded.sha256, uploaded_at = excluded.uploaded_at, blob_key = excluded.blob_key`,
        [uploadId, part.chunkIndex, part.size, part.md5, part.sha256, part.uploadedAt, part.blobKey],
      );
      return previous && previous.blob_key !== part.blobKey ? { ok: true, replacedBlobKey: previous.blob_key } : { ok: true };
    });
  }

  async beginMerge(workspace: string, uploadId: string, now: number, until: number) {
    return this.tx(async (c) => {
      const task = (
        await c.query<{ merging_until: number }>(
          'SELECT merging_until FROM uploads WHERE upload_id = $1 AND workspace = $2 AND expires_at > $3 FOR UPDATE',
          [uploadId, workspace, now],
        )
      ).rows[0];
      if (!task) return 'gone' as const;
      if (task.merging_until > now) return 'busy' as const;
      await c.query('UPDATE uploads SET merging_until = $1 WHERE upload_id = $2', [until, uploadId]);
      return 'ok' as const;
    });
  }

  async endMerge(workspace: string, uploadId: string) {
    await this.q('UPDATE uploads SET merging_until = 0 WHERE upload_id = $1 AND workspace = $2', [uploadId, workspace]);
  }

  async renewLeases(workspace: string, uploadId: string, reservationId: string, until: number) {
    await this.q(
      `WITH t AS (UPDATE uploads SET merging_until = $1 WHERE upload_id = $2 AND workspace = $3 AND merging_until > 0)
                  UPDATE reservations SET expires_at = $1 WHERE reservation_id = $4`,
      [until, uploadId, workspace, reservationId],
    );
  }

  async releaseLeases(dueBy: number) {
    await this.q(
      `WITH t AS (UPDATE uploads SET merging_until = 0 WHERE merging_until > 0 AND merging_until <= $1)
                  DELETE FROM reservations WHERE expires_at <= $1`,
      [dueBy],
    );
  }

  async listParts(workspace: string, uploadId: string) {
    const r = await this.q<PartRow>(
      `SELECT p.chunk_index, p.size, p.md5, p.sha256, p.uploaded_at, p.blob_key
                                     FROM parts p JOIN uploads u ON u.upload_id = p.upload_id
                                     WHERE p.upload_id = $1 AND u.workspace = $2 ORDER BY p.chunk_index`,
      [uploadId, workspace],
    );
    return r.rows.map(toPart);
  }

  async deleteUpload(workspace: string, uploadId: string, garbage: GarbageEntry) {
    return this.tx(async (c) => {
      const deleted = await c.query('DELETE FROM uploads WHERE upload_id = $1 AND workspace = $2', [uploadId, workspace]);
      if (deleted.rowCount === 0) return false;
      await enqueue((sql, p) => c.query(sql, p), [garbage]);
      return true;
    });
  }

  async expireUploads(now: number, garbageFor: (uploadId: string) => GarbageEntry) {
    return this.tx(async (c) => {
      const ids = (await c.query<{ upload_id: string }>('DELETE FROM uploads WHERE expires_at <= $1 RETURNING upload_id', [now])).rows.map(
        (r) => r.upload_id,
      );
      await enqueue((sql, p) => c.query(sql, p), ids.map(garbageFor));
      return ids;
    });
  }

  async getSourceMap(identity: Identity) {
    const row = (await this.q<SourceMapRow>(`SELECT * FROM sourcemaps WHERE ${IDENTITY_WHERE}`, identityParams(identity))).rows[0];
    return row ? toSourceMap(row) : null;
  }

  async listSourceMaps(workspace: string, appId: string, unlessStamp?: string): Promise<SourceMapListing | 'unchanged'> {
    const stampSql = 'coalesce((SELECT version FROM list_versions WHERE workspace = $1 AND app_id = $2), 0)';
    if (unlessStamp !== undefined) {
      const current = onlyRow(await this.q<{ stamp: number }>(`SELECT ${stampSql} AS stamp`, [workspace, appId])).stamp;
      if (String(current) === unlessStamp) return 'unchanged';
    }
    // One statement, so the stamp and the rows come from one snapshot.
    const r = await this.q<SourceMapRow & { stamp: number }>(
      `
      SELECT v.stamp, s.* FROM (SELECT ${stampSql} AS stamp) v
      LEFT JOIN LATERAL (SELECT * FROM sourcemaps WHERE workspace = $1 AND app_id = $2) s ON true
      ORDER BY s.created_at DESC, s.version DESC, s.env DESC`,
      [workspace, appId],
    );
    const stamp = String(onlyRow(r).stamp);
    return { stamp, rows: onlyRow(r).revision_id === null ? [] : r.rows.map(toSourceMap) };
  }

  async publishSourceMap(req: PublishRequest): Promise<PublishResult> {
    const sm = req.sourcemap;
    return this.tx(async (c): Promise<PublishResult> => {
      await c.query(IDENTITY_XACT_LOCK, [identityLockKey(sm)]);
      const existing = (await c.query<SourceMapRow>(`SELECT * FROM sourcemaps WHERE ${IDENTITY_WHERE}`, identityParams(sm))).rows[0];
      if (existing && !req.replace) throw new Rollback<PublishResult>({ ok: false, reason: 'exists' });
      if (req.consumeUploadId !== undefined) {
        if (req.keepParts) {
          // The task row locked first: a part being attached (putPart locks it too) lands before or never.
          await c.query('SELECT 1 FROM uploads WHERE upload_id = $1 AND workspace = $2 FOR UPDATE', [req.consumeUploadId, sm.workspace]);
          const held = await c.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM parts WHERE upload_id = $1 AND blob_key = ANY($2::text[])',
            [req.consumeUploadId, req.keepParts],
          );
          if (onlyRow(held).n !== new Set(req.keepParts).size) throw new Rollback<PublishResult>({ ok: false, reason: 'upload-gone' });
        }
        const consumed = await c.query('DELETE FROM uploads WHERE upload_id = $1 AND workspace = $2', [req.consumeUploadId, sm.workspace]);
        if (consumed.rowCount === 0) throw new Rollback<PublishResult>({ ok: false, reason: 'upload-gone' });
        if (req.consumeGarbage) await enqueue((sql, p) => c.query(sql, p), [req.consumeGarbage]);
      }
      if (req.files.length > 0) {
        await c.query(
          `INSERT INTO files (revision_id, path, size, sha256, blob_key)
                       SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[])`,
          [
            sm.revisionId,
            req.files.map((f) => f.path),
            req.files.map((f) => f.size),
            req.files.map((f) => f.sha256),
            req.files.map((f) => f.blobKey ?? null),
          ],
        );
        const withIds = req.files.filter((f) => f.debugId);
        if (withIds.length > 0) {
          await c.query(
            `INSERT INTO debug_ids (revision_id, path, workspace, debug_id) SELECT $1, p, $2, d FROM unnest($3::text[], $4::text[]) AS t (p, d)`,
            [sm.revisionId, sm.workspace, withIds.map((f) => f.path), withIds.map((f) => f.debugId)],
          );
        }
      }
      await c.query(
        `INSERT INTO sourcemaps (workspace, app_id, version, env, revision_id, created_at, size, sha256, file_count, map_count, warnings)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                     ON CONFLICT (workspace, app_id, version, env) DO UPDATE SET revision_id = excluded.revision_id, tree_version = 0,
                       created_at = excluded.created_at, size = excluded.size, sha256 = excluded.sha256,
                       file_count = excluded.file_count, map_count = excluded.map_count, warnings = excluded.warnings`,
        [...identityParams(sm), sm.revisionId, sm.createdAt, sm.size, sm.sha256, sm.fileCount, sm.mapCount, JSON.stringify(sm.warnings)],
      );
      await bumpListVersion(c, sm);
      await c.query('DELETE FROM garbage WHERE prefix = $1', [req.stagingPrefix]);
      if (req.reservationId !== undefined) await c.query('DELETE FROM reservations WHERE reservation_id = $1', [req.reservationId]);
      // The replaced revision's file rows stay until its blobs are collected: readers in flight still see a whole tree.
      // Its debug IDs go now: a lookup finds only live trees.
      if (existing) {
        await enqueue((sql, p) => c.query(sql, p), req.retire(existing.revision_id));
        await c.query('DELETE FROM debug_ids WHERE revision_id = $1 AND revision_id <> $2', [existing.revision_id, sm.revisionId]);
      }
      return { ok: true, replaced: existing ? toSourceMap(existing) : null };
    });
  }

  async deleteSourceMap(identity: Identity, garbage: (revisionId: string) => GarbageEntry[]) {
    return this.tx(async (c) => {
      await c.query(IDENTITY_XACT_LOCK, [identityLockKey(identity)]);
      const removed = (await c.query<SourceMapRow>(`DELETE FROM sourcemaps WHERE ${IDENTITY_WHERE} RETURNING *`, identityParams(identity)))
        .rows[0];
      if (!removed) return null;
      await c.query('DELETE FROM debug_ids WHERE revision_id = $1', [removed.revision_id]);
      await bumpListVersion(c, identity);
      await enqueue((sql, p) => c.query(sql, p), garbage(removed.revision_id));
      return toSourceMap(removed);
    });
  }

  async listFiles(revisionId: string) {
    return (await this.q<FileRow>(`${FILE_SELECT} WHERE f.revision_id = $1 ORDER BY f.path`, [revisionId])).rows.map(toFile);
  }

  async getFile(revisionId: string, path: string) {
    const row = (await this.q<FileRow>(`${FILE_SELECT} WHERE f.revision_id = $1 AND f.path = $2`, [revisionId, path])).rows[0];
    return row ? toFile(row) : null;
  }

  async findDebugId(workspace: string, debugId: string, limit: number): Promise<DebugIdHit[]> {
    const r = await this.q<SourceMapRow & { debug_path: string }>(
      `SELECT s.*, d.path AS debug_path FROM debug_ids d
      JOIN sourcemaps s ON s.revision_id = d.revision_id
      WHERE d.workspace = $1 AND d.debug_id = $2 ORDER BY s.created_at DESC, s.revision_id DESC LIMIT $3`,
      [workspace, debugId, limit],
    );
    return r.rows.map((row) => ({ sourcemap: toSourceMap(row), path: row.debug_path }));
  }

  async upsertFile(w: FileWrite) {
    const { identity, revisionId, file } = w;
    return this.tx(async (c): Promise<FileWriteResult> => {
      await c.query(IDENTITY_XACT_LOCK, [identityLockKey(identity)]);
      const current = (
        await c.query<{ revision_id: string }>(`SELECT revision_id FROM sourcemaps WHERE ${IDENTITY_WHERE}`, identityParams(identity))
      ).rows[0];
      if (!current || current.revision_id !== revisionId) return { ok: false, reason: 'replaced' };
      // A tree is a tree: `a` cannot be a file while `a/b` is one, whichever came first ('/' < '0' in byte order).
      const segments = file.path.split('/');
      const ancestors = segments.slice(0, -1).map((_, i) => segments.slice(0, i + 1).join('/'));
      const clash = (
        await c.query<{ path: string }>(
          `SELECT path FROM files WHERE revision_id = $1
                         AND ((path > $2 AND path < $3) OR path = ANY($4::text[])) ORDER BY path LIMIT 1`,
          [revisionId, `${file.path}/`, `${file.path}0`, ancestors],
        )
      ).rows[0];
      if (clash) return { ok: false, reason: 'path-conflict', path: clash.path };
      const old = (
        await c.query<FileRow>('SELECT path, size, sha256, blob_key FROM files WHERE revision_id = $1 AND path = $2', [
          revisionId,
          file.path,
        ])
      ).rows[0];
      await c.query(
        `INSERT INTO files (revision_id, path, size, sha256, blob_key) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (revision_id, path) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256, blob_key = excluded.blob_key`,
        [revisionId, file.path, file.size, file.sha256, file.blobKey ?? null],
      );
      await c.query('DELETE FROM debug_ids WHERE revision_id = $1 AND path = $2', [revisionId, file.path]);
      if (file.debugId) {
        await c.query('INSERT INTO debug_ids (revision_id, path, workspace, debug_id) VALUES ($1, $2, $3, $4)', [
          revisionId,
          file.path,
          identity.workspace,
          file.debugId,
        ]);
      }
      await c.query(
        `UPDATE sourcemaps SET (size, file_count) = (SELECT coalesce(sum(size), 0), count(*) FROM files WHERE revision_id = $1),
                       map_count = map_count + $2, tree_version = tree_version + 1
                     WHERE revision_id = $1`,
        [revisionId, w.isMap && !old ? 1 : 0],
      );
      await bumpListVersion(c, identity);
      await c.query('DELETE FROM garbage WHERE prefix = $1', [w.stagingPrefix]);
      const retired = old && w.retire(toFile(old));
      if (retired) await enqueue((sql, p) => c.query(sql, p), [retired]);
      if (w.reservationId !== undefined) await c.query('DELETE FROM reservations WHERE reservation_id = $1', [w.reservationId]);
      return { ok: true };
    });
  }

  async listApps(workspace: string) {
    // app_id is COLLATE "C": byte order, as SQLite's.
    return (
      await this.q<AppSummary>(
        `SELECT app_id AS "appId", count(*)::int AS "sourcemapCount", sum(size)::bigint AS size,
                                        max(created_at) AS "latestCreatedAt"
                                      FROM sourcemaps WHERE workspace = $1 GROUP BY app_id ORDER BY app_id`,
        [workspace],
      )
    ).rows;
  }

  async usage(workspace: string) {
    const r = await this.q<{ upload_bytes: number; stored_bytes: number }>(
      `SELECT
        (SELECT coalesce(sum(p.size), 0)::bigint FROM parts p JOIN uploads u ON u.upload_id = p.upload_id WHERE u.workspace = $1) AS upload_bytes,
        (SELECT coalesce(sum(size), 0)::bigint FROM sourcemaps WHERE workspace = $1) AS stored_bytes`,
      [workspace],
    );
    return { uploadBytes: onlyRow(r).upload_bytes, storedBytes: onlyRow(r).stored_bytes };
  }

  async reserveStored(r: StoredReservation) {
    return this.tx(async (c) => {
      await c.query(QUOTA_XACT_LOCK, [`stored:${r.workspace}`]);
      const used = onlyRow(
        await c.query<{ n: number }>(
          `SELECT
          (SELECT coalesce(sum(size), 0)::bigint FROM sourcemaps WHERE workspace = $1)
          + (SELECT coalesce(sum(bytes), 0)::bigint FROM reservations WHERE workspace = $1 AND expires_at > $2) AS n`,
          [r.workspace, r.now],
        ),
      ).n;
      if (used - r.credit + r.bytes > r.limit) return false;
      await c.query(
        `INSERT INTO reservations (reservation_id, workspace, bytes, expires_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (reservation_id) DO UPDATE SET bytes = reservations.bytes + excluded.bytes, expires_at = excluded.expires_at`,
        [r.reservationId, r.workspace, r.bytes, r.expiresAt],
      );
      return true;
    });
  }

  async releaseReservation(reservationId: string) {
    await this.q('DELETE FROM reservations WHERE reservation_id = $1', [reservationId]);
  }

  async ensureSetting(name: string, value: string) {
    // ON CONFLICT DO NOTHING waits for a concurrent insert of the same name, so both callers read one value.
    await this.q('INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [name, value]);
    return onlyRow(await this.q<{ value: string }>('SELECT value FROM settings WHERE name = $1', [name])).value;
  }

  async enqueueGarbage(entry: GarbageEntry) {
    await enqueue((sql, params) => this.q(sql, params), [entry]);
  }

  async dueGarbage(now: number, limit: number) {
    const r = await this.q<{ prefix: string; due_at: number; revision_id: string | null }>(
      'SELECT prefix, due_at, revision_id FROM garbage WHERE due_at <= $1 ORDER BY due_at, prefix LIMIT $2',
      [now, limit],
    );
    return r.rows.map((g) => ({ prefix: g.prefix, dueAt: g.due_at, ...(g.revision_id ? { revisionId: g.revision_id } : {}) }));
  }

  async removeGarbage(prefix: string) {
    await this.q(
      `WITH gone AS (DELETE FROM garbage WHERE prefix = $1 RETURNING revision_id),
                       ids AS (DELETE FROM debug_ids WHERE revision_id IN (SELECT revision_id FROM gone WHERE revision_id IS NOT NULL))
                  DELETE FROM files WHERE revision_id IN (SELECT revision_id FROM gone WHERE revision_id IS NOT NULL)`,
      [prefix],
    );
  }

  async close() {
    await this.pool.end();
  }
}

async function bumpListVersion(c: pg.PoolClient, i: { workspace: string; appId: string }) {
  await c.query(
    `INSERT INTO list_versions (workspace, app_id, version) VALUES ($1, $2, 1)
                 ON CONFLICT (workspace, app_id) DO UPDATE SET version = list_versions.version + 1`,
    [i.workspace, i.appId],
  );
}

/** Queues entries; an entry already queued keeps the earlier due time. */
async function enqueue(run: (sql: string, params: unknown[]) => Promise<unknown>, entries: GarbageEntry[]) {
  if (entries.length === 0) return;
  await run(
    `INSERT INTO garbage (prefix, due_at, revision_id) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])
             ON CONFLICT (prefix) DO UPDATE SET due_at = least(garbage.due_at, excluded.due_at)`,
    [entries.map((e) => e.prefix), entries.map((e) => e.dueAt), entries.map((e) => e.revisionId ?? null)],
  );
}
