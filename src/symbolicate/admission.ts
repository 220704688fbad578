/**
 * Admission for cold map loads, across all requests: a byte-weighted semaphore (bytes of maps
 * being read and parsed at once) combined with a cap on concurrent cold parses. A load waits in a
 * FIFO queue for at most `queueMs`; then it is refused with ApiError 'Server.Busy' (503, and the
 * route adds `Retry-After`). Memory of a parse is a small multiple of the map's bytes (JSON text,
 * parsed strings, packed arrays: ~4–10×, see docs/RELIABILITY.md), so bounding the bytes admitted
 * bounds the memory of all cold work together, whatever the number of requests.
 *
 * A load bigger than the whole budget is admitted alone (its weight is clamped to the budget):
 * it is never refused for its size here; MAPVAULT_MAX_MAP_BYTES decides that.
 */
import { ApiError } from '../errors.ts';

export interface AdmissionLimits {
  /** Bytes of maps (and scripts) being read and parsed at once. */
  budgetBytes: number;
  /** Cold parses at once. */
  maxConcurrent: number;
  /** How long a load may wait for room before 503. */
  queueMs: number;
  /** Waiting loads beyond this are refused at once. */
  maxWaiting?: number;
}

interface Waiter {
  weight: number;
  slot: boolean;
  grant(release: () => void): void;
  timer: NodeJS.Timeout;
}

export class ParseAdmission {
  private inUseBytes = 0;
  private active = 0;
  private readonly queue: Waiter[] = [];
  /** Loads refused (for stats and tests). */
  refused = 0;

  constructor(readonly limits: AdmissionLimits) {}

  stats(): { inUseBytes: number; active: number; waiting: number; refused: number } {
    return { inUseBytes: this.inUseBytes, active: this.active, waiting: this.queue.length, refused: this.refused };
  }

  /** Seconds a refused client should wait before retrying (the queue time, at least 1 s). */
  get retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.limits.queueMs / 1000));
  }

  /**
   * Waits for room for `bytes` (clamped to the budget) and, when `slot`, one cold-parse slot
   * (small maps parsed inline in microseconds take none); resolves to the release function
   * (call it once, when the bytes are no longer held).
   */
  acquire(bytes: number, slot = true, waitMs = this.limits.queueMs): Promise<() => void> {
    const weight = Math.max(0, Math.min(bytes, this.limits.budgetBytes));
    // Slotless loads (under the worker threshold: small, parsed in one go) may pass the queue when
    // their bytes fit; they cannot pile up, so they do not starve a big load waiting at the head.
    if ((this.queue.length === 0 || !slot) && this.fits(weight, slot)) return Promise.resolve(this.take(weight, slot));
    if (this.queue.length >= (this.limits.maxWaiting ?? 256) && waitMs <= this.limits.queueMs) return Promise.reject(this.busy(weight));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        weight,
        slot,
        grant: resolve,
        timer: setTimeout(() => {
          const i = this.queue.indexOf(waiter);
          if (i >= 0) this.queue.splice(i, 1);
          reject(this.busy(weight));
          this.pump(); // the head may have been the one blocking smaller loads behind it
        }, waitMs),
      };
      this.queue.push(waiter);
    });
  }

  /** Runs `fn` holding `bytes` of the budget (and a parse slot when `slot`). */
  async run<T>(bytes: number, slot: boolean, fn: () => Promise<T>, waitMs?: number): Promise<T> {
    const release = await this.acquire(bytes, slot, waitMs);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  private fits(weight: number, slot: boolean): boolean {
    return (!slot || this.active < this.limits.maxConcurrent) && this.inUseBytes + weight <= this.limits.budgetBytes;
  }

  private take(weight: number, slot: boolean): () => void {
    this.inUseBytes += weight;
    if (slot) this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inUseBytes -= weight;
      if (slot) this.active--;
      this.pump();
    };
  }

  /** FIFO: only the head may go, so a big load is not starved by a stream of small ones. */
  private pump(): void {
    for (let w = this.queue[0]; w !== undefined && this.fits(w.weight, w.slot); w = this.queue[0]) {
      this.queue.shift();
      clearTimeout(w.timer);
      w.grant(this.take(w.weight, w.slot));
    }
  }

  private busy(weight: number): ApiError {
    this.refused++;
    return new ApiError(
      'Server.Busy',
      `too many sourcemaps are being loaded right now (${this.active} parses, ${this.inUseBytes} of ${this.limits.budgetBytes} bytes in use; this one needs ${weight}); retry in ${this.retryAfterSeconds} s`,
      { retryAfterSeconds: this.retryAfterSeconds },
    );
  }
}
