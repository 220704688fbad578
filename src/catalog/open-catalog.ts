import { join } from 'node:path';
import { CatalogUnavailableError, type Catalog } from './catalog.ts';
import { SqliteCatalog } from './sqlite-catalog.ts';
import { PgCatalog, isUnavailable } from './postgres/pg-catalog.ts';
import { SchemaTooNewError } from './postgres/schema.ts';
import type { Locker } from '../locking/locker.ts';
import { MemoryLocker } from '../locking/memory-locker.ts';
import { PgAdvisoryLocker } from '../locking/pg-advisory-locker.ts';

export interface OpenedCatalog {
  catalog: Catalog;
  /** Locks that every node sharing `catalog` respects. */
  locker: Locker;
  /** Whether other nodes may share this catalog (then nothing node-local may hold shared state). */
  shared: boolean;
}

/** A catalog that cannot be opened at startup; the message is one line naming the variable and the cause. */
export class CatalogConfigError extends Error {}

/**
 * MAPVAULT_CATALOG_URL=postgres://… selects PostgreSQL (several nodes); unset, the SQLite file in
 * the data dir (one node).
 */
export async function openCatalog(config: { catalogUrl?: string; dataDir: string }): Promise<OpenedCatalog> {
  if (!config.catalogUrl) {
    return { catalog: new SqliteCatalog(join(config.dataDir, 'mapvault.db')), locker: new MemoryLocker(), shared: false };
  }
  const url = config.catalogUrl;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CatalogConfigError('MAPVAULT_CATALOG_URL: not a URL; expected postgres://user:password@host:port/database');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new CatalogConfigError(
      `MAPVAULT_CATALOG_URL: unsupported scheme "${parsed.protocol}"; expected postgres://user:password@host:port/database`,
    );
  }
  const where = `${parsed.hostname || 'localhost'}:${parsed.port || 5432}${decodeURIComponent(parsed.pathname) || '/'}`;
  try {
    const catalog = await PgCatalog.open(url);
    const locker = new PgAdvisoryLocker(catalog.pool, (err) => (isUnavailable(err) ? new CatalogUnavailableError(err) : err));
    return { catalog, locker, shared: true };
  } catch (err) {
    if (err instanceof SchemaTooNewError) throw new CatalogConfigError(`MAPVAULT_CATALOG_URL: ${err.message}`);
    const e = err as { code?: string; message?: string };
    const cause = [e.code, e.message].filter(Boolean).join(' ') || String(err);
    throw new CatalogConfigError(`MAPVAULT_CATALOG_URL: cannot use PostgreSQL at ${where}: ${cause.replace(/\s+/g, ' ')}`);
  }
}
