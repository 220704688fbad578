/**
 * Mutual exclusion per key (a sourcemap identity) between requests, on one node or across nodes.
 * Modelled on tus-node-server's Locker: acquiring waits at most `timeoutMs` and stops early when
 * `signal` aborts (the client went away), so a stuck holder can never pile up waiters for good.
 * Implementations: MemoryLocker (one process) and PgAdvisoryLocker (every node on one PostgreSQL).
 */
export interface Locker {
  /** Resolves once the lock is held; rejects with LockTimeoutError, or with the signal's reason. */
  lock(key: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<Lock>;
  close(): Promise<void>;
}

export interface Lock {
  /** Idempotent. */
  unlock(): Promise<void>;
}

export class LockTimeoutError extends Error {
  constructor(
    readonly key: string,
    readonly timeoutMs: number,
  ) {
    super(`lock ${key} not acquired within ${timeoutMs} ms`);
    this.name = 'LockTimeoutError';
  }
}

/** Runs `work` holding the lock on `key`, and releases it however `work` ends. */
export async function withLock<T>(
  locker: Locker,
  key: string,
  opts: { timeoutMs: number; signal?: AbortSignal },
  work: () => Promise<T>,
): Promise<T> {
  const lock = await locker.lock(key, opts);
  try {
    return await work();
  } finally {
    await lock.unlock();
  }
}

/** Rejects when the signal aborts (already aborted: at once). */
export function abortPromise(signal: AbortSignal | undefined): { promise: Promise<never>; dispose: () => void } {
  if (!signal) return { promise: new Promise<never>(() => {}), dispose: () => {} };
  let onAbort!: () => void;
  const promise = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason ?? new Error('aborted'));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  promise.catch(() => {});
  return { promise, dispose: () => signal.removeEventListener('abort', onAbort) };
}
