import type pg from 'pg';

/**
 * The PostgreSQL catalog's schema, as the list of migrations that build it: migration i brings
 * schema version i to i + 1. The version lives in `mapvault_schema`. Text that is sorted or
 * compared is `COLLATE "C"` (byte order), so `list` orders exactly as SQLite's BINARY collation
 * does, whatever the database's default collation is.
 */
export const MIGRATIONS: readonly string[] = [
  // 0 → 1: the tables of SQLite schema v1, without the generated JSON columns (an SQLite optimization).
  `
  CREATE TABLE api_keys (
    key_hash TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL
  );
  CREATE INDEX api_keys_source ON api_keys (source);
  CREATE TABLE uploads (
    upload_id TEXT COLLATE "C" PRIMARY KEY,
    workspace TEXT COLLATE "C" NOT NULL,
    app_id TEXT COLLATE "C" NOT NULL,
    version TEXT COLLATE "C" NOT NULL,
    env TEXT COLLATE "C" NOT NULL,
    need_cover BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
  );
  CREATE INDEX uploads_identity ON uploads (workspace, app_id, version, env);
  CREATE INDEX uploads_expiry ON uploads (expires_at);
  CREATE TABLE parts (
    upload_id TEXT COLLATE "C" NOT NULL REFERENCES uploads (upload_id) ON DELETE CASCADE,
    chunk_index INTEGER NOT NULL,
    size BIGINT NOT NULL,
    md5 TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    blob_key TEXT NOT NULL,
    PRIMARY KEY (upload_id, chunk_index)
  );
  CREATE TABLE sourcemaps (
    workspace TEXT COLLATE "C" NOT NULL,
    app_id TEXT COLLATE "C" NOT NULL,
    version TEXT COLLATE "C" NOT NULL,
    env TEXT COLLATE "C" NOT NULL,
    revision_id TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    file_count INTEGER NOT NULL,
    map_count INTEGER NOT NULL,
    warnings TEXT NOT NULL,
    PRIMARY KEY (workspace, app_id, version, env)
  );
  CREATE INDEX sourcemaps_list_order ON sourcemaps (workspace, app_id, created_at DESC, version DESC, env DESC);
  CREATE TABLE list_versions (
    workspace TEXT COLLATE "C" NOT NULL,
    app_id TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (workspace, app_id)
  );
  CREATE TABLE files (
    revision_id TEXT COLLATE "C" NOT NULL,
    path TEXT COLLATE "C" NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (revision_id, path)
  );
  CREATE TABLE garbage (
    prefix TEXT COLLATE "C" PRIMARY KEY,
    due_at BIGINT NOT NULL,
    revision_id TEXT COLLATE "C"
  );
  CREATE INDEX garbage_due ON garbage (due_at);
  `,
  // 1 → 2: single-file writes count on the revision (cache keys); settings shared by every node.
  `
  ALTER TABLE sourcemaps ADD COLUMN tree_version INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
  // 2 → 3: merge leases on tasks, blob keys of files written alone, stored-bytes reservations (quotas).
  `
  ALTER TABLE uploads ADD COLUMN merging_until BIGINT NOT NULL DEFAULT 0;
  ALTER TABLE files ADD COLUMN blob_key TEXT;
  CREATE TABLE reservations (
    reservation_id TEXT PRIMARY KEY,
    workspace TEXT COLLATE "C" NOT NULL,
    bytes BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
  );
  CREATE INDEX reservations_workspace ON reservations (workspace);
  `,
  // 3 → 4: when each API key was last used (mapvault keys list).
  `
  ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;
  `,
  // 4 → 5: debug IDs of the files of live revisions, looked up per workspace (issue #12 §2).
  `
  CREATE TABLE debug_ids (
    revision_id TEXT COLLATE "C" NOT NULL,
    path TEXT COLLATE "C" NOT NULL,
    workspace TEXT COLLATE "C" NOT NULL,
    debug_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (revision_id, path)
  );
  CREATE INDEX debug_ids_lookup ON debug_ids (workspace, debug_id);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Any constant: the advisory lock that lets one node at a time create or upgrade the schema. */
const MIGRATION_LOCK = 0x6d617076; // "mapv"

export class SchemaTooNewError extends Error {}

/**
 * Brings the schema up to `target` (default: the newest this code knows) in one transaction,
 * under an advisory lock so nodes starting together migrate once. Refuses a schema newer than
 * this code: an older node must not misread or write a layout it does not know.
 */
export async function migrate(client: pg.PoolClient, database: string, target = SCHEMA_VERSION): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS mapvault_schema (version INTEGER NOT NULL)');
    const row = (await client.query<{ version: number }>('SELECT version FROM mapvault_schema')).rows[0];
    const current = row?.version ?? 0;
    if (current > SCHEMA_VERSION) {
      throw new SchemaTooNewError(
        `the catalog database "${database}" has schema version ${current}; this mapvault knows up to ${SCHEMA_VERSION}: upgrade mapvault`,
      );
    }
    for (const migration of MIGRATIONS.slice(current, target)) await client.query(migration);
    if (!row) await client.query('INSERT INTO mapvault_schema (version) VALUES ($1)', [Math.max(current, target)]);
    else if (target > current) await client.query('UPDATE mapvault_schema SET version = $1', [target]);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}
