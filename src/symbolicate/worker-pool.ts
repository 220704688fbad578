/**
 * A small, lazily started pool of map-parsing worker threads (map-worker.ts).
 *
 * Workers start on the first job, are unref'd while idle (they never keep the process alive) and
 * are stopped by close(). One job per worker at a time; extra jobs queue. If a worker cannot
 * even start (e.g. the TS loader is unavailable), the pool marks itself unavailable and rejects
 * with WorkerUnavailableError so callers fall back to parsing inline.
 *
 * Each worker runs under V8 `resourceLimits` (heap) and each job under a deadline: a map that
 * exhausts the heap or the time kills (or gets terminated with) its worker, never the server, and
 * the job fails with ParseLimitError (an InvalidSourceMapError: the frame gets that reason, and the
 * resolver remembers it for the revision so the map is not tried again).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { InvalidSourceMapError } from './sourcemap.ts';

export class WorkerUnavailableError extends Error {
  constructor(cause: Error) {
    super(`sourcemap worker unavailable: ${cause.message}`);
    this.name = 'WorkerUnavailableError';
  }
}

/** The map could not be parsed within the worker's memory or time limits. */
export class ParseLimitError extends InvalidSourceMapError {
  constructor(message: string) {
    super(message);
    this.name = 'ParseLimitError';
  }
}

export interface ParserLimits {
  /** V8 old-generation heap of each worker, MiB. */
  heapMb: number;
  /** A job taking longer terminates its worker. */
  jobTimeoutMs: number;
}

export const DEFAULT_PARSER_LIMITS: Readonly<ParserLimits> = { heapMb: 1024, jobTimeoutMs: 60_000 };

interface Job {
  id: number;
  bytes: Uint8Array;
  script: Uint8Array | null;
  sha256: string;
  resolve(index: Uint8Array): void;
  reject(err: Error): void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  job: Job | null;
  error: Error | null;
  /** Why the running job's worker was terminated by us (deadline), if it was. */
  killed: string | null;
  deadline: NodeJS.Timeout | null;
}

type Reply = { ready: true } | { id: number; index: Uint8Array } | { id: number; error: string; invalid: boolean };

function startWorker(limits: ParserLimits): Worker {
  const here = import.meta.url;
  const resourceLimits = { maxOldGenerationSizeMb: limits.heapMb, maxYoungGenerationSizeMb: 32 };
  if (here.endsWith('.ts')) {
    // Running from TypeScript source under tsx. Node 20 workers do not get the parent's
    // `--import tsx` loader hooks, so load the worker module through tsx's API instead.
    const api = import.meta.resolve('tsx/esm/api');
    const url = new URL('./map-worker.ts', here).href;
    const code = `import(${JSON.stringify(api)}).then((m) => m.tsImport(${JSON.stringify(url)}, ${JSON.stringify(here)}))`;
    return new Worker(code, { eval: true, resourceLimits });
  }
  return new Worker(new URL('./map-worker.js', here), { resourceLimits });
}

export const DEFAULT_POOL_SIZE = Math.max(1, Math.min(2, availableParallelism() - 1));

export class MapParserPool {
  private slots: Slot[] = [];
  private queue: Job[] = [];
  private nextId = 1;
  /** Why workers cannot run here, once a worker died before becoming ready. */
  unavailable: Error | null = null;

  readonly limits: ParserLimits;
  private readonly start: () => Worker;

  constructor(
    readonly size: number = DEFAULT_POOL_SIZE,
    /** How to start a worker (replaceable for tests). */
    start?: () => Worker,
    limits: Partial<ParserLimits> = {},
  ) {
    this.limits = { ...DEFAULT_PARSER_LIMITS, ...limits };
    this.start = start ?? (() => startWorker(this.limits));
  }

  /**
   * Turns a map (and its generated script, for function names) into its lookup index file in a
   * worker (index/make.ts). The bytes are copied (they may belong to the caller), the copies
   * transferred.
   */
  parse(bytes: Uint8Array, script: Uint8Array | null = null, sha256 = ''): Promise<Uint8Array> {
    if (this.unavailable) return Promise.reject(new WorkerUnavailableError(this.unavailable));
    return new Promise((resolve, reject) => {
      this.queue.push({
        id: this.nextId++,
        bytes: new Uint8Array(bytes),
        script: script && new Uint8Array(script),
        sha256,
        resolve,
        reject,
      });
      this.pump();
    });
  }

  async close(): Promise<void> {
    const slots = this.slots;
    this.slots = []; // detached slots' exit handlers just reject their job (see spawn)
    for (const job of this.queue.splice(0)) job.reject(new Error('sourcemap worker pool closed'));
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private pump(): void {
    for (let job = this.queue[0]; job !== undefined; job = this.queue[0]) {
      const slot = this.slots.find((s) => s.ready && !s.job);
      if (!slot) {
        if (this.slots.length < this.size && this.slots.every((s) => s.ready)) this.spawn();
        return;
      }
      this.queue.shift();
      slot.job = job;
      slot.worker.ref(); // a pending parse must keep the process alive
      slot.deadline = setTimeout(() => {
        slot.killed = `parsing took longer than ${this.limits.jobTimeoutMs} ms`;
        void slot.worker.terminate();
      }, this.limits.jobTimeoutMs);
      slot.deadline.unref();
      const transfer = [job.bytes.buffer, ...(job.script ? [job.script.buffer] : [])] as ArrayBuffer[];
      slot.worker.postMessage({ id: job.id, bytes: job.bytes, script: job.script, sha256: job.sha256 }, transfer);
    }
  }

  /** A worker that died (or was terminated) during a job: the map broke a limit. */
  private limitError(slot: Slot, err: Error): ParseLimitError {
    if (slot.killed) return new ParseLimitError(`the map could not be parsed: ${slot.killed}`);
    const oom = (err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY';
    return new ParseLimitError(
      oom
        ? `the map could not be parsed within the parser's memory limit (${this.limits.heapMb} MiB heap)`
        : `the map parser stopped: ${err.message}`,
    );
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
    const slot: Slot = { worker, ready: false, job: null, error: null, killed: null, deadline: null };
    this.slots.push(slot);
    slot.worker.on('message', (m: Reply) => {
      if ('ready' in m) slot.ready = true;
      else if (slot.job && slot.job.id === m.id) {
        const job = slot.job;
        slot.job = null;
        if (slot.deadline) clearTimeout(slot.deadline);
        if ('index' in m) job.resolve(m.index);
        else job.reject(m.invalid ? new InvalidSourceMapError(m.error) : new Error(m.error));
      }
      this.pump();
      if (!slot.job) slot.worker.unref();
    });
    slot.worker.on('error', (err) => {
      slot.error = err;
    });
    slot.worker.on('exit', (code) => {
      if (slot.deadline) clearTimeout(slot.deadline);
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
      slot.job?.reject(slot.ready ? this.limitError(slot, err) : new WorkerUnavailableError(err));
      this.pump();
    });
  }
}
