/**
 * md5 / sha256 of local files (upload parts in scratch, the merged archive), computed by a worker
 * thread so the serving thread only moves bytes. On 2 cores the hashing of one part overlaps the
 * receiving of the next ones; before, md5 + sha256 of every byte ran on the event loop, which was
 * most of the gap between the parts phase and the raw floor (docs/BENCHMARKS.md, target 1).
 *
 * The worker is plain JavaScript given as source (no TypeScript loader to start, ~30 ms), reads
 * the file with one 1 MiB buffer (bounded memory whatever the file's size) and answers one job at
 * a time; extra jobs queue. Workers are unref'd while idle. When a worker cannot run (it failed
 * to start or died), files are hashed on this thread instead: slower, never wrong.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { InternalError } from './invariant.ts';

export type DigestAlgorithm = 'md5' | 'sha256';
export interface FileDigests { size: number; md5?: string; sha256?: string }

interface Job {
  id: number;
  path: string;
  algorithms: DigestAlgorithm[];
  resolve(d: FileDigests): void;
  reject(err: Error): void;
}

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { openSync, readSync, closeSync } = require('node:fs');
const { createHash } = require('node:crypto');
const buf = Buffer.allocUnsafe(1024 * 1024);
parentPort.on('message', ({ id, path, algorithms }) => {
  let fd = -1;
  try {
    fd = openSync(path, 'r');
    const hashes = algorithms.map((a) => createHash(a));
    let size = 0;
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; size += n) {
      const chunk = buf.subarray(0, n);
      for (const h of hashes) h.update(chunk);
    }
    const out = { size };
    algorithms.forEach((a, i) => { out[a] = hashes[i].digest('hex'); });
    parentPort.postMessage({ id, digests: out });
  } catch (e) {
    parentPort.postMessage({ id, error: { message: String(e && e.message), code: e && e.code } });
  } finally {
    if (fd >= 0) closeSync(fd);
  }
});
`;

/** On this thread: the fallback when no worker can run. */
async function digestHere(path: string, algorithms: DigestAlgorithm[]): Promise<FileDigests> {
  const hashes = algorithms.map((a) => [a, createHash(a)] as const);
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
    size += (chunk as Buffer).length;
    for (const [, h] of hashes) h.update(chunk as Buffer);
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

interface Slot { worker: Worker; job: Job | null }

export class FileDigester {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private broken = false;

  /** `threads`: worker threads; 0 hashes on this thread. Default: 1 on ≤ 2 cores, else 2. */
  constructor(readonly threads = Math.max(1, Math.min(2, availableParallelism() - 1))) {}

  /** The file's size and the digests asked for (lowercase hex). Errors are the file system's (ENOENT…). */
  async digest<A extends DigestAlgorithm>(path: string, algorithms: A[]): Promise<FileDigests & Record<A, string>> {
    if (this.threads === 0 || this.broken) return having(await digestHere(path, algorithms), algorithms);
    return having(await new Promise<FileDigests>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, path, algorithms, resolve, reject });
      this.pump();
    }), algorithms);
  }

  private pump(): void {
    for (let job = this.queue[0]; job !== undefined; job = this.queue[0]) {
      let slot = this.slots.find((s) => s.job === null);
      if (!slot && this.slots.length < this.threads) slot = this.start();
      if (!slot) return;
      this.queue.shift();
      slot.job = job;
      slot.worker.ref();
      slot.worker.postMessage({ id: job.id, path: job.path, algorithms: job.algorithms });
    }
  }

  private start(): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    const slot: Slot = { worker, job: null };
    worker.unref();
    worker.on('message', (msg: { id: number; digests?: FileDigests; error?: { message: string; code?: string } }) => {
      const job = slot.job;
      if (!job || job.id !== msg.id) return;
      slot.job = null;
      worker.unref();
      if (msg.digests) job.resolve(msg.digests);
      else job.reject(Object.assign(new Error(msg.error?.message ?? 'digest failed'), msg.error?.code ? { code: msg.error.code } : {}));
      this.pump();
    });
    const fail = () => {
      // A worker that cannot run: this job and every later one are hashed here.
      this.broken = true;
      this.slots.splice(this.slots.indexOf(slot), 1);
      const job = slot.job;
      slot.job = null;
      const waiting = [...(job ? [job] : []), ...this.queue.splice(0)];
      for (const j of waiting) digestHere(j.path, j.algorithms).then(j.resolve, j.reject);
    };
    worker.once('error', fail);
    worker.once('exit', (code) => {
      if (this.slots.includes(slot)) fail();
      void code;
    });
    this.slots.push(slot);
    return slot;
  }

  /** Stops the workers; jobs in progress are finished on this thread. */
  async close(): Promise<void> {
    const slots = this.slots.splice(0);
    await Promise.all(slots.map(async (s) => {
      const job = s.job;
      s.job = null;
      await s.worker.terminate();
      if (job) digestHere(job.path, job.algorithms).then(job.resolve, job.reject);
    }));
  }
}

/** The server's digester: parts and archives of every request share its worker. */
export const fileDigester = new FileDigester();
