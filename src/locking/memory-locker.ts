import { LockTimeoutError, type Lock, type Locker } from './locker.ts';

interface Waiter {
  grant: () => void;
}

/**
 * Locks within this process: a FIFO queue of waiters per key, woken one at a time (no polling).
 * Enough when one node owns the catalog (SQLite).
 */
export class MemoryLocker implements Locker {
  private readonly queues = new Map<string, Waiter[]>();
  private readonly held = new Set<string>();

  lock(key: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<Lock> {
    if (opts.signal?.aborted) return Promise.reject(opts.signal.reason ?? new Error('aborted'));
    if (!this.held.has(key)) {
      this.held.add(key);
      return Promise.resolve(this.lockOf(key));
    }
    return new Promise<Lock>((resolve, reject) => {
      const queue = this.queues.get(key) ?? [];
      this.queues.set(key, queue);
      const leave = () => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        const i = queue.indexOf(waiter);
        if (i >= 0) queue.splice(i, 1);
        if (queue.length === 0 && this.queues.get(key) === queue) this.queues.delete(key);
      };
      const waiter: Waiter = {
        grant: () => {
          leave();
          resolve(this.lockOf(key));
        },
      };
      const onAbort = () => {
        leave();
        reject(opts.signal?.reason ?? new Error('aborted'));
      };
      const timer = setTimeout(() => {
        leave();
        reject(new LockTimeoutError(key, opts.timeoutMs));
      }, opts.timeoutMs);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(waiter);
    });
  }

  private lockOf(key: string): Lock {
    let released = false;
    return {
      unlock: async () => {
        if (released) return;
        released = true;
        // Hand the lock straight to the next waiter, so no newcomer can jump the queue.
        const next = this.queues.get(key)?.[0];
        if (next) next.grant();
        else this.held.delete(key);
      },
    };
  }

  async close(): Promise<void> {}
}
