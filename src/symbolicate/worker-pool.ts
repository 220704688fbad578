/**
 * A small, lazily started pool of map-parsing worker threads (map-worker.ts).
 *
 * Workers start on the first job, are unref'd while idle (they never keep the process alive) and
 * are stopped by close(). One job per worker at a time; extra jobs queue. If a worker cannot
 * even start (e.g. the TS loader is unavailable), the pool marks itself unavailable and rejects
 * with WorkerUnavailableError so callers fall back to parsing inline.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { InvalidSourceMapError } from './sourcemap.ts';
import type { PackedMap } from './sourcemap.ts';

export class WorkerUnavailableError extends Error {
  constructor(cause: Error) {
    super(`sourcemap worker unavailable: ${cause.message}`);
    this.name = 'WorkerUnavailableError';
  }
}

interface Job {
  id: number;
  bytes: Uint8Array;
  resolve(map: PackedMap): void;
  reject(err: Error): void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  job: Job | null;
  error: Error | null;
}

type Reply = { ready: true } | { id: number; map: PackedMap } | { id: number; error: string; invalid: boolean };

function startWorker(): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    // Running from TypeScript source under tsx. Node 20 workers do not get the parent's
    // `--import tsx` loader hooks, so load the worker module through tsx's API instead.
    const api = import.meta.resolve('tsx/esm/api');
    const url = new URL('./map-worker.ts', here).href;
    const code = `import(${JSON.stringify(api)}).then((m) => m.tsImport(${JSON.stringify(url)}, ${JSON.stringify(here)}))`;
    return new Worker(code, { eval: true });
  }
  return new Worker(new URL('./map-worker.js', here));
}

export const DEFAULT_POOL_SIZE = Math.max(1, Math.min(2, availableParallelism() - 1));

export class MapParserPool {
  private slots: Slot[] = [];
  private queue: Job[] = [];
  private nextId = 1;
  /** Why workers cannot run here, once a worker died before becoming ready. */
  unavailable: Error | null = null;

  constructor(
    readonly size: number = DEFAULT_POOL_SIZE,
    /** How to start a worker (replaceable for tests). */
    private readonly start: () => Worker = startWorker,
  ) {}

  /** Parses in a worker. `bytes` is copied (it may belong to the caller), the copy transferred. */
  parse(bytes: Uint8Array): Promise<PackedMap> {
    if (this.unavailable) return Promise.reject(new WorkerUnavailableError(this.unavailable));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, bytes: new Uint8Array(bytes), resolve, reject });
      this.pump();
    });
  }

  /**
   * Starts the workers now rather than on the first job: a worker's startup (a fresh isolate
   * loading the TS sources through tsx) takes 0.5–1 s, which would otherwise be added to the
   * first cold parse_stack after a restart. A worker that is ready and idle is unref'd as usual.
   */
  prestart(): void {
    while (!this.unavailable && this.slots.length < this.size) this.spawn();
  }

  async close(): Promise<void> {
    const slots = this.slots;
    this.slots = []; // detached slots' exit handlers just reject their job (see spawn)
    for (const job of this.queue.splice(0)) job.reject(new Error('sourcemap worker pool closed'));
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const slot = this.slots.find((s) => s.ready && !s.job);
      if (!slot) {
        if (this.slots.length < this.size && this.slots.every((s) => s.ready)) this.spawn();
        return;
      }
      const job = this.queue.shift()!;
      slot.job = job;
      slot.worker.ref(); // a pending parse must keep the process alive
      slot.worker.postMessage({ id: job.id, bytes: job.bytes }, [job.bytes.buffer as ArrayBuffer]);
    }
  }

  private spawn(): void {
    let worker: Worker;
    try {
      worker = this.start();
    } catch (e) {
      this.unavailable = e as Error;
      for (const job of this.queue.splice(0)) job.reject(new WorkerUnavailableError(e as Error));
      return;
    }
    const slot: Slot = { worker, ready: false, job: null, error: null };
    this.slots.push(slot);
    slot.worker.on('message', (m: Reply) => {
      if ('ready' in m) slot.ready = true;
      else if (slot.job && slot.job.id === m.id) {
        const job = slot.job;
        slot.job = null;
        if ('map' in m) job.resolve(m.map);
        else job.reject(m.invalid ? new InvalidSourceMapError(m.error) : new Error(m.error));
      }
      this.pump();
      if (!slot.job) slot.worker.unref();
    });
    slot.worker.on('error', (err) => {
      slot.error = err;
    });
    slot.worker.on('exit', (code) => {
      if (!this.slots.includes(slot)) {
        slot.job?.reject(new Error('sourcemap worker pool closed'));
        return;
      }
      this.slots = this.slots.filter((s) => s !== slot);
      const err = slot.error ?? new Error(`sourcemap worker exited with code ${code}`);
      if (!slot.ready) {
        this.unavailable = err;
        for (const job of this.queue.splice(0)) job.reject(new WorkerUnavailableError(err));
      }
      slot.job?.reject(slot.ready ? err : new WorkerUnavailableError(err));
      this.pump();
    });
  }
}
