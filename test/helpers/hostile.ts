/**
 * Budgets for hostile-input tests against a real server process: a /healthz watcher (the server
 * must keep answering others while a hostile request runs) and the process's memory from /proc.
 */
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { KEY_A } from './server.ts';
import type { ServerProcess } from './process.ts';

export interface HealthReport {
  /** Slowest /healthz answer while watching, wall ms (Infinity if one failed). */
  worstMs: number;
  /**
   * The most CPU time the server's main thread (its event loop) used while one /healthz ping
   * waited for its answer, ms (10 ms ticks, from /proc). A ping waits on the main thread only
   * while that thread works without yielding, so this is the longest stall in CPU time: on a
   * machine shared by many jobs a 50 ms block can take 300 ms of wall time (the process waits for
   * a core), while a block of work proportional to hostile input uses its CPU time whatever the
   * load. Budgets are asserted on this figure; worstMs is reported beside it.
   */
  worstCpuMs: number;
  pings: number;
}

const TICK_MS = 10; // USER_HZ = 100 on Linux

/** CPU time (user + system) of one thread so far, ms. */
function threadCpuMs(pid: number, tid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

/**
 * Sends GET /healthz every `everyMs` on keep-alive sockets (several in flight if the server
 * stalls) until stop(); reports the slowest answer, in wall time and in the server main
 * thread's CPU time (see HealthReport). `pid` is the server process (its main thread's id).
 */
export function watchHealth(baseUrl: string, pid: number, everyMs = 20): { stop(): Promise<HealthReport> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  let worst = 0;
  let worstCpu = 0;
  let pings = 0;
  const inflight = new Set<Promise<void>>();
  const ping = () => {
    const t0 = performance.now();
    const cpu0 = threadCpuMs(pid, pid);
    const p = new Promise<void>((resolve) => {
      const req = http.get(`${baseUrl}/healthz`, { agent }, (res) => {
        res.resume();
        res.on('end', () => {
          worst = Math.max(worst, res.statusCode === 200 ? performance.now() - t0 : Infinity);
          worstCpu = Math.max(worstCpu, threadCpuMs(pid, pid) - cpu0);
          pings++;
          resolve();
        });
      });
      req.on('error', () => {
        worst = worstCpu = Infinity;
        resolve();
      });
    });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };
  const timer = setInterval(ping, everyMs);
  ping();
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all([...inflight]);
      agent.destroy();
      return { worstMs: worst, worstCpuMs: worstCpu, pings };
    },
  };
}

/** Resident and peak resident memory of a process, MiB (Linux /proc). */
export function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

export async function postJson(s: ServerProcess, path: string, body: unknown, key = KEY_A) {
  const res = await fetch(s.api + path, {
    method: 'POST',
    headers: { 'DF-API-KEY': key, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

/** init → one part → merge, against a server process. */
export async function uploadZipTo(s: ServerProcess, zip: Buffer, identity: { appId: string; version: string; env?: string }) {
  const init = await postJson(s, '/multipart_upload_init', { ...identity, needCover: true });
  if (init.status !== 200) throw new Error(`init: ${JSON.stringify(init.body)}`);
  const uploadId = init.body.content.uploadId as string;
  const form = new FormData();
  form.append('uploadId', uploadId);
  form.append('chunkIndex', '0');
  form.append('files', new Blob([new Uint8Array(zip)]), 'chunk_000000');
  const part = await fetch(`${s.api}/upload_part`, { method: 'POST', headers: { 'DF-API-KEY': KEY_A }, body: form });
  if (part.status !== 200) throw new Error(`part: ${await part.text()}`);
  const merged = await postJson(s, '/part_merge', { uploadId });
  if (merged.status !== 200) throw new Error(`merge: ${JSON.stringify(merged.body)}`);
  return merged.body.content;
}

/**
 * Runs `work` while watching /healthz; returns its result and the health report. The watch
 * starts a little before and ends a little after, so stalls at either edge count.
 */
export async function underHealthWatch<T>(s: ServerProcess, work: () => Promise<T>): Promise<{ result: T; health: HealthReport }> {
  const w = watchHealth(s.url, s.proc.pid!);
  await new Promise((r) => setTimeout(r, 100));
  try {
    const result = await work();
    await new Promise((r) => setTimeout(r, 100));
    return { result, health: await w.stop() };
  } catch (e) {
    await w.stop();
    throw e;
  }
}
