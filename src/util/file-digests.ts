/**
 * md5 / sha256 of local files (upload parts in scratch, the merged archive), computed by a worker
 * thread so the serving thread only moves bytes.
 *
 * Two ways in: `digest(path)` hashes a finished file; `follow(path)` hashes a file WHILE it is being
 * written: the writer reports how many bytes are on disk (`written`), the worker reads them from the
 * page cache as they come, and `finish(size)` only waits for the tail. An upload part's digests are
 * thus ready about when its last byte is, instead of queueing behind the other parts' digests once
 * every part is on disk (on 2 cores that queue was most of the parts phase's time over the raw
 * floor: docs/BENCHMARKS.md, target 1b).
 *
 * The worker is plain JavaScript given as source (no TypeScript loader to start, ~30 ms) with a tiny
 * heap; it reads with one 1 MiB buffer (bounded memory whatever the files' sizes and however many
 * jobs are open), one read per job in turn, so no job waits for another file to be hashed whole.
 * Workers are unref'd while idle. When a worker cannot run (it failed to start or died), files are
 * hashed on this thread instead: slower, never wrong.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { InternalError } from './invariant.ts';

export type DigestAlgorithm = 'md5' | 'sha256';
export interface FileDigests {
  size: number;
  md5?: string;
  sha256?: string;
}

/** A file being hashed while it is written (FileDigester.follow). */
export interface DigestFollower<A extends DigestAlgorithm = DigestAlgorithm> {
  /** The first `bytes` of the file are written (its writes completed); cheap to call per chunk. */
  written(bytes: number): void;
  /** The file is complete at `size` bytes: its digests, once the worker has read the rest. */
  finish(size: number): Promise<FileDigests & Record<A, string>>;
  /** The file is abandoned (the write failed or the request was refused): stop reading it. */
  cancel(): void;
}

/** Progress is posted to the worker once this much more is on disk (a message per socket read would cost more than it saves). */
const PROGRESS_STEP = 1024 * 1024;

// Messages to the worker: {op:'open', id, paths, algorithms, available, size} (size -1 while following,
// else the final size; null = read every path to its end, in order, as one stream), {op:'grow', id, available}, {op:'end', id, size},
// {op:'cancel', id}. Replies: {id, digests} or {id, error}.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { openSync, readSync, closeSync } = require('node:fs');
const { createHash } = require('node:crypto');
const buf = Buffer.allocUnsafe(1024 * 1024);
const jobs = new Map();
let scheduled = false;
const close = (id, job) => { jobs.delete(id); try { if (job.fd >= 0) closeSync(job.fd); } catch {} };
const fail = (id, job, e) => {
  close(id, job);
  parentPort.postMessage({ id, error: { message: String(e && e.message), code: e && e.code } });
};
// One read of up to 1 MiB per open job per round; messages (more bytes, new jobs) are handled between rounds.
function round() {
  scheduled = false;
  for (const [id, job] of jobs) {
    try {
      const want = job.size === null ? buf.length : Math.min(buf.length, job.available - job.offset);
      let n = 0;
      if (want > 0) {
        n = readSync(job.fd, buf, 0, want, job.position);
        const chunk = buf.subarray(0, n);
        for (const h of job.hashes) h.update(chunk);
        job.offset += n;
        job.position += n;
      }
      if (job.size === null && want > 0 && n === 0 && job.next < job.paths.length) {
        // The end of one of several files: the stream goes on with the next.
        closeSync(job.fd);
        job.fd = -1; // closed: if the next open throws, fail() must not close it again
        job.fd = openSync(job.paths[job.next++], 'r');
        job.position = 0;
        continue;
      }
      const complete = job.size === null ? want > 0 && n === 0 : job.size >= 0 && job.offset >= job.size;
      if (complete) {
        const out = { size: job.offset };
        job.algorithms.forEach((a, i) => { out[a] = job.hashes[i].digest('hex'); });
        close(id, job);
        parentPort.postMessage({ id, digests: out });
      } else if (want > 0 && n === 0) {
        throw Object.assign(new Error('the file is shorter than the bytes reported written (' + job.offset + ' < ' + job.available + ')'), { code: 'ESHORT' });
      }
    } catch (e) {
      fail(id, job, e);
    }
  }
  for (const job of jobs.values()) if (job.size === null || job.offset < job.available) return schedule();
}
function schedule() { if (!scheduled) { scheduled = true; setImmediate(round); } }
parentPort.on('message', (m) => {
  if (m.op === 'open') {
    let fd;
    try { fd = openSync(m.paths[0], 'r'); } catch (e) { parentPort.postMessage({ id: m.id, error: { message: String(e && e.message), code: e && e.code } }); return; }
    const size = m.size;
    jobs.set(m.id, { fd, paths: m.paths, next: 1, position: 0, algorithms: m.algorithms, hashes: m.algorithms.map((a) => createHash(a)), offset: 0,
      available: size === null ? Infinity : size >= 0 ? size : m.available, size });
  } else {
    const job = jobs.get(m.id);
    if (!job) return;
    if (m.op === 'grow') job.available = Math.max(job.available, m.available);
    else if (m.op === 'end') { job.size = m.size; job.available = m.size; }
    else if (m.op === 'cancel') { close(m.id, job); return; }
  }
  schedule();
});
`;

/** On this thread: the fallback when no worker can run. */
async function digestHere(paths: readonly string[], algorithms: DigestAlgorithm[]): Promise<FileDigests> {
  const hashes = algorithms.map((a) => [a, createHash(a)] as const);
  let size = 0;
  for (const path of paths) {
    for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
      size += (chunk as Buffer).length;
      for (const [, h] of hashes) h.update(chunk as Buffer);
    }
  }
  const out: FileDigests = { size };
  for (const [a, h] of hashes) out[a] = h.digest('hex');
  return out;
}

/** `digests`, checked to hold every one of `algorithms` (so the type can say they are there). */
function having<A extends DigestAlgorithm>(digests: FileDigests, algorithms: readonly A[]): FileDigests & Record<A, string> {
  for (const a of algorithms) if (typeof digests[a] !== 'string') throw new InternalError(`the ${a} digest is missing`);
  return digests as FileDigests & Record<A, string>;
}

interface Job {
  id: number;
  /** One file, or (for `digest`) several hashed as their concatenation. */
  paths: readonly string[];
  algorithms: DigestAlgorithm[];
  /** The final size once known; null: read to the end of the file (`digest`). */
  size: number | null;
  /** Moved to this thread (no worker): hashed by `here` once complete. */
  local?: boolean;
  resolve(d: FileDigests): void;
  reject(err: Error): void;
}

interface Slot {
  worker: Worker;
  jobs: Map<number, Job>;
}

type Reply = { id: number; digests?: FileDigests; error?: { message: string; code?: string } };

export class FileDigester {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private broken = false;

  /** `threads`: worker threads; 0 hashes on this thread. Default: 1 on ≤ 2 cores, else 2. */
  constructor(readonly threads = Math.max(1, Math.min(2, availableParallelism() - 1))) {}

  /**
   * The file's size and the digests asked for (lowercase hex); of several files, those of their
   * concatenation in order (an archive stored as its parts). Errors are the file system's (ENOENT…).
   */
  async digest<A extends DigestAlgorithm>(path: string | readonly string[], algorithms: A[]): Promise<FileDigests & Record<A, string>> {
    const paths = typeof path === 'string' ? [path] : path;
    return having(
      await new Promise<FileDigests>((resolve, reject) => {
        const job: Job = { id: this.nextId++, paths, algorithms, size: null, resolve, reject };
        this.open(job, 0);
      }),
      algorithms,
    );
  }

  /**
   * Hashes `path` as it is written. Nothing is opened before the first `written` (the file may not
   * exist yet); `finish` of a file never reported opens it then, like `digest`.
   */
  follow<A extends DigestAlgorithm>(path: string, algorithms: A[]): DigestFollower<A> {
    let job: Job | null = null;
    let result: Promise<FileDigests & Record<A, string>> = Promise.reject(new InternalError('digest follow finished before it started'));
    let posted = 0;
    let cancelled = false;
    result.catch(() => {}); // replaced by start(), which always runs before finish() returns
    const start = (available: number, size: number) => {
      result = new Promise<FileDigests>((resolve, reject) => {
        job = { id: this.nextId++, paths: [path], algorithms, size, resolve, reject };
        this.open(job, available);
      }).then((d) => having(d, algorithms));
      result.catch(() => {}); // awaited by finish(); a cancelled follow is never awaited
    };
    return {
      written: (bytes) => {
        if (cancelled || bytes - posted < PROGRESS_STEP) return;
        posted = bytes;
        if (!job) start(bytes, -1);
        else this.post(job, { op: 'grow', id: job.id, available: bytes });
      },
      finish: (size) => {
        if (!job) start(size, size);
        else this.post(job, { op: 'end', id: job.id, size });
        return result;
      },
      cancel: () => {
        cancelled = true;
        if (job) this.drop(job);
      },
    };
  }

  /** Sends a job to the least busy worker, or hashes it here when no worker can run. */
  private open(job: Job, available: number): void {
    if (this.threads === 0 || this.broken) return this.here(job);
    let slot = this.slots.reduce<Slot | undefined>((best, s) => (!best || s.jobs.size < best.jobs.size ? s : best), undefined);
    if (!slot || (slot.jobs.size > 0 && this.slots.length < this.threads)) slot = this.start();
    slot.jobs.set(job.id, job);
    slot.worker.ref();
    slot.worker.postMessage({ op: 'open', id: job.id, paths: job.paths, algorithms: job.algorithms, available, size: job.size });
  }

  private slotOf(job: Job): Slot | undefined {
    return this.slots.find((s) => s.jobs.get(job.id) === job);
  }

  private post(job: Job, msg: { op: 'grow'; id: number; available: number } | { op: 'end'; id: number; size: number }): void {
    if (msg.op === 'end') job.size = msg.size;
    const slot = this.slotOf(job);
    if (slot) slot.worker.postMessage(msg);
    else if (job.local && msg.op === 'end') this.here(job); // moved to this thread while it was being written
    // Otherwise the job already failed (its promise says why).
  }

  private drop(job: Job): void {
    job.local = false; // never hashed here either
    const slot = this.slotOf(job);
    if (!slot) return;
    slot.jobs.delete(job.id);
    slot.worker.postMessage({ op: 'cancel', id: job.id });
    if (slot.jobs.size === 0) slot.worker.unref();
    job.reject(new Error('digest cancelled'));
  }

  /** On this thread; a followed file still being written is hashed when `finish` gives its size (see `post`). */
  private here(job: Job): void {
    job.local = true;
    if (job.size !== null && job.size < 0) return;
    digestHere(job.paths, job.algorithms).then(job.resolve, job.reject);
  }

  private start(): Slot {
    // The worker allocates almost nothing (one 1 MiB buffer, read from outside its heap): a small heap keeps its RSS small.
    const worker = new Worker(WORKER_SOURCE, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 16 } });
    const slot: Slot = { worker, jobs: new Map() };
    worker.unref();
    worker.on('message', (msg: Reply) => {
      const job = slot.jobs.get(msg.id);
      if (!job) return; // cancelled meanwhile
      slot.jobs.delete(msg.id);
      if (slot.jobs.size === 0) worker.unref();
      if (msg.digests) job.resolve(msg.digests);
      else job.reject(Object.assign(new Error(msg.error?.message ?? 'digest failed'), msg.error?.code ? { code: msg.error.code } : {}));
    });
    const fail = () => {
      // A worker that cannot run: its jobs and every later one are hashed here.
      this.broken = true;
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      const jobs = [...slot.jobs.values()];
      slot.jobs.clear();
      for (const j of jobs) this.here(j);
    };
    worker.once('error', fail);
    worker.once('exit', () => {
      if (this.slots.includes(slot)) fail();
    });
    this.slots.push(slot);
    return slot;
  }

  /** Stops the workers; jobs in progress are finished on this thread. */
  async close(): Promise<void> {
    const slots = this.slots.splice(0);
    await Promise.all(
      slots.map(async (s) => {
        const jobs = [...s.jobs.values()];
        s.jobs.clear();
        await s.worker.terminate();
        for (const j of jobs) this.here(j);
      }),
    );
  }
}

/** The server's digester: parts and archives of every request share its worker. */
export const fileDigester = new FileDigester();
