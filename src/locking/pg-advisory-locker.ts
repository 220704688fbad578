import type pg from 'pg';
import { abortPromise, LockTimeoutError, type Lock, type Locker } from './locker.ts';

/** First wait between tries; doubles up to MAX_POLL_MS. */
const FIRST_POLL_MS = 10;
const MAX_POLL_MS = 200;

/**
 * Locks shared by every node on one PostgreSQL database: session-level advisory locks
 * (`pg_try_advisory_lock` on a 64-bit hash of the key), each held on a connection of its own taken
 * from the pool for as long as the lock is held. If the node dies, PostgreSQL ends the session and
 * the lock with it, so a kill -9 never leaves an identity locked. Trying without blocking (and
 * retrying with backoff) keeps the timeout and the AbortSignal exact, with no backend left waiting.
 *
 * The key space is the one-key form of advisory locks; the catalog's transaction-scoped identity
 * locks use the two-key form, which PostgreSQL keeps apart, so a merge holding this lock can still
 * publish.
 */
export class PgAdvisoryLocker implements Locker {
  constructor(
    private readonly pool: pg.Pool,
    /** Turns a connection failure into the error the caller reports (the catalog's "unavailable"). */
    private readonly mapError: (err: unknown) => unknown = (err) => err,
  ) {}

  async lock(key: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<Lock> {
    const deadline = Date.now() + opts.timeoutMs;
    const aborted = abortPromise(opts.signal);
    let client: pg.PoolClient | undefined;
    const connecting = this.pool.connect();
    try {
      client = await Promise.race([connecting, aborted.promise]).catch((err) => {
        // Aborted while connecting: the connection, when it comes, goes straight back.
        connecting.then(
          (c) => c.release(),
          () => {},
        );
        throw err;
      });
      for (let wait = FIRST_POLL_MS; ; wait = Math.min(wait * 2, MAX_POLL_MS)) {
        const got = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [key]);
        if (got.rows[0]?.ok) break; // one row, always
        const left = deadline - Date.now();
        if (left <= 0) throw new LockTimeoutError(key, opts.timeoutMs);
        await Promise.race([new Promise((r) => setTimeout(r, Math.min(wait, left))), aborted.promise]);
      }
    } catch (err) {
      client?.release(err instanceof LockTimeoutError || err === opts.signal?.reason ? undefined : (err as Error));
      throw err instanceof LockTimeoutError || err === opts.signal?.reason ? err : this.mapError(err);
    } finally {
      aborted.dispose();
    }
    const held = client;
    // A checked-out client has no pool listener: without ours, its connection dying while the lock is
    // held (PostgreSQL restarted, backend terminated) would be an unhandled 'error' that ends the process.
    let lost: Error | undefined;
    const onError = (err: Error) => void (lost ??= err);
    held.on('error', onError);
    let released = false;
    return {
      unlock: async () => {
        if (released) return;
        released = true;
        try {
          if (lost) throw lost;
          await held.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]);
          held.off('error', onError);
          held.release();
        } catch (err) {
          // The session is gone, and its locks with it: drop the connection instead of reusing it.
          held.off('error', onError);
          held.release(err as Error);
        }
      },
    };
  }

  async close(): Promise<void> {}
}
