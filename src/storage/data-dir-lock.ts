import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/**
 * One server per data directory. The lock is an exclusive SQLite lock (a POSIX record lock) on
 * `<dataDir>/mapvault.lock`, held for the life of the process: the kernel releases it when the
 * process ends however it ends (kill -9 included), so there is never a stale lock to clean up.
 * Taken before anything in the directory is opened, so a refused second server touches nothing.
 */
/** Referenced here so the connection (and with it the lock) is never garbage-collected while held. */
const held = new Set<Database.Database>();

export function lockDataDir(dataDir: string): { release(): void } {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'mapvault.lock');
  const db = new Database(file, { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code === 'SQLITE_BUSY') {
      throw new Error(
        `another mapvault server is using ${dataDir} (it holds ${file}); stop it first, or give this one another MAPVAULT_DATA_DIR`,
      );
    }
    throw err;
  }
  held.add(db);
  return {
    release() {
      held.delete(db);
      db.close();
    },
  };
}
