/**
 * Shared helpers for the mapvault benchmarks (see docs/BENCHMARKS.md).
 *
 * Every bench compares mapvault, run as its own process (`node bin/mapvault serve`), with a "floor":
 * the least work that could possibly do the same job on this machine (a bare `http` server, `cat`,
 * `unzip`, trace-mapping in-process, ...). Runs of the two are interleaved (ABAB, order alternating)
 * so that noise from other work on the machine lands on both, and each row reports the median and
 * min–max over the runs plus the median of the per-run ratios.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Envelope } from '../src/cli/client.ts';
import { writeRandomStoredZip } from '../test/helpers/stored-zip.ts';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Generated inputs (cached between runs) and per-run data dirs. Git-ignored. */
export const WORK = join(ROOT, '.bench-work', 'mv');
export const CACHE = join(WORK, 'cache');
export const MiB = 1024 * 1024;
export const API_KEY = 'benchkey';
export const WORKSPACE = 'bench';
export const API_PREFIX = '/api/v1/rum_sourcemap';

// ───────────────────────────── arguments ─────────────────────────────

export interface BenchOptions {
  /** Measured runs per measurement (medians need ≥ 5). */
  runs: number;
  /** Fewer runs and smaller inputs: a smoke test of the bench itself, not a result. */
  quick: boolean;
  /** Write the rows as JSON here (used by bench/all.ts). */
  json?: string;
  /** Run mapvault with `--cpu-prof`; profiles land in this directory. */
  prof?: string;
  /** Keep temp data dirs (for inspection). */
  keep: boolean;
  /** Remaining positional / unknown args, for bench-specific flags. */
  rest: string[];
}

export function parseArgs(argv = process.argv.slice(2)): BenchOptions {
  const o: BenchOptions = { runs: 5, quick: false, keep: false, rest: [] };
  let runsGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--runs' || a.startsWith('--runs=')) {
      o.runs = Number(value());
      runsGiven = true;
      if (!Number.isInteger(o.runs) || o.runs < 1) throw new Error('--runs must be a positive integer');
    } else if (a === '--quick') o.quick = true;
    else if (a === '--keep') o.keep = true;
    else if (a === '--json' || a.startsWith('--json=')) o.json = resolve(value());
    else if (a === '--prof' || a.startsWith('--prof=')) o.prof = resolve(a.includes('=') ? a.slice(7) : join(WORK, 'prof'));
    else if (a === '--help' || a === '-h') {
      process.stdout.write('options: --runs N (default 5) --quick (1 run, smaller inputs) --json FILE --prof[=DIR] --keep\n');
      process.exit(0);
    } else o.rest.push(a);
  }
  if (o.quick && !runsGiven) o.runs = 1;
  return o;
}

// ───────────────────────────── statistics and the table ─────────────────────────────

export interface Stats {
  median: number;
  min: number;
  max: number;
  n: number;
  values: number[];
}

export function stats(values: number[]): Stats {
  const v = [...values].sort((a, b) => a - b);
  if (v.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0, values: [] };
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return { median, min: v[0]!, max: v[v.length - 1]!, n: v.length, values };
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const v = [...values].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))]!;
}

export interface Row {
  name: string;
  /** Unit of the mapvault and floor columns (s, ms, MiB, frames/s). */
  unit: string;
  /** null: a reference row that has only a floor value. */
  mapvault: Stats | null;
  floor: Stats | null;
  /** Per-run mapvault/floor ratios (or floor/mapvault for rates; see `ratioLabel`). */
  ratio: Stats | null;
  target: string;
  /** null: informational row, no target. */
  met: boolean | null;
}

const num = (x: number): string => {
  if (!Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a >= 10000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toFixed(3);
};
export const fmtStats = (s: Stats | null, unit = ''): string =>
  !s || s.n === 0 ? '–' : s.n === 1 ? `${num(s.median)}${unit}` : `${num(s.median)}${unit} (${num(s.min)}–${num(s.max)})`;
const fmtRatio = (s: Stats | null): string =>
  !s || s.n === 0 ? '–' : s.n === 1 ? `${s.median.toFixed(2)}×` : `${s.median.toFixed(2)}× (${s.min.toFixed(2)}–${s.max.toFixed(2)})`;

export const TABLE_HEADER =
  '| measurement | mapvault median (min–max) | floor median (min–max) | ratio median (min–max) | target | met |\n' +
  '| --- | --- | --- | --- | --- | --- |';

export function formatRow(r: Row): string {
  const u = r.unit ? ` ${r.unit}` : '';
  const met = r.met === null ? '–' : r.met ? 'yes' : '**no**';
  return `| ${r.name} | ${fmtStats(r.mapvault, u)} | ${fmtStats(r.floor, u)} | ${fmtRatio(r.ratio)} | ${r.target} | ${met} |`;
}

/** Prints rows as they are measured and collects them for --json. */
export class Report {
  readonly rows: Row[] = [];
  private headerPrinted = false;
  constructor(
    readonly title: string,
    private readonly opts: BenchOptions,
  ) {}

  add(row: Row): Row {
    if (!this.headerPrinted) {
      process.stdout.write(`\n## ${this.title}\n\n${TABLE_HEADER}\n`);
      this.headerPrinted = true;
    }
    this.rows.push(row);
    process.stdout.write(formatRow(row) + '\n');
    return row;
  }

  /** Per-run paired ratios of a "lower is better" measurement (time, memory): mapvault / floor. */
  ratioRow(name: string, unit: string, mv: number[], floor: number[], target: number | null, targetText?: string): Row {
    const ratio = stats(mv.map((m, i) => m / floor[i]!));
    return this.add({
      name,
      unit,
      mapvault: stats(mv),
      floor: stats(floor),
      ratio,
      target: target === null ? '–' : (targetText ?? `≤ ${target}×`),
      met: target === null ? null : ratio.median <= target,
    });
  }

  /** "Higher is better" (rates): ratio = mapvault / floor, target is a minimum. */
  rateRow(name: string, unit: string, mv: number[], floor: number[], target: number | null): Row {
    const ratio = stats(mv.map((m, i) => m / floor[i]!));
    return this.add({
      name,
      unit,
      mapvault: stats(mv),
      floor: stats(floor),
      ratio,
      target: target === null ? '–' : `≥ ${target}×`,
      met: target === null ? null : ratio.median >= target,
    });
  }

  /** An absolute target on mapvault's median (e.g. "p99 < 20 ms"); the floor is for reference. */
  absoluteRow(
    name: string,
    unit: string,
    mv: number[],
    floor: number[] | null,
    limit: number | null,
    targetText: string,
    strict = false,
  ): Row {
    const s = stats(mv);
    const f = floor ? stats(floor) : null;
    const ratio = floor ? stats(mv.map((m, i) => m / floor[i]!)) : null;
    const met = limit === null ? null : strict ? s.median < limit : s.median <= limit;
    return this.add({ name, unit, mapvault: s, floor: f, ratio, target: targetText, met });
  }

  finish(): void {
    if (this.opts.json) {
      mkdirSync(dirname(this.opts.json), { recursive: true });
      writeFileSync(this.opts.json, JSON.stringify({ title: this.title, rows: this.rows }, null, 2));
    }
    process.stdout.write('\n');
  }
}

export const log = (msg: string): void => void process.stderr.write(`[bench] ${msg}\n`);

// ───────────────────────────── processes ─────────────────────────────

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => res(port));
    });
  });
}

/** Peak resident set size (VmHWM) of a live process, in bytes. */
export function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/**
 * CPU time (user + system, all threads) a live process has used so far, in ms, from /proc/<pid>/stat
 * (10 ms ticks). On a shared, noisy machine the CPU a side spends per unit of work is steadier than
 * its wall time, so the benches report it beside the timings.
 */
export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces), counted from field 3: utime is 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** Resets VmHWM to the current RSS (Linux ≥ 4.0, needs write access to /proc/pid/clear_refs). */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

export interface ServerProc {
  proc: ChildProcess;
  pid: number;
  /** http://127.0.0.1:PORT */
  url: string;
  /** Everything the process printed (capped). */
  output(): string;
  stop(): Promise<void>;
}

function collect(proc: ChildProcess): () => string {
  let out = '';
  const add = (b: Buffer) => {
    if (out.length < 256 * 1024) out += b.toString();
  };
  proc.stdout?.on('data', add);
  proc.stderr?.on('data', add);
  return () => out;
}

async function stopProc(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  proc.kill('SIGINT');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

export async function waitHealthy(url: string, proc: ChildProcess, output: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}:\n${output()}`);
    try {
      const r = await httpRequest(`${url}/healthz`, { method: 'GET', agent: false });
      if (r.status === 200) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`server not healthy after ${timeoutMs} ms:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface MapvaultProc extends ServerProc {
  /** Base of the API: url + /api/v1/rum_sourcemap */
  api: string;
  dataDir: string;
}

/**
 * Starts `node bin/mapvault serve` as its own process, exactly as a user would, on a free port with
 * its data in `dataDir`, one API key (benchkey → workspace "bench") and warn-level logs.
 */
export async function startMapvault(
  dataDir: string,
  opts: { env?: Record<string, string>; prof?: string; nodeArgs?: string[] } = {},
): Promise<MapvaultProc> {
  const port = await freePort();
  const nodeArgs = [...(opts.prof ? ['--cpu-prof', '--cpu-prof-dir', opts.prof] : []), ...(opts.nodeArgs ?? [])];
  const proc = spawn(process.execPath, [...nodeArgs, join(ROOT, 'bin', 'mapvault'), 'serve'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      MAPVAULT_DATA_DIR: dataDir,
      MAPVAULT_API_KEYS: `${API_KEY}=${WORKSPACE}`,
      LOG_LEVEL: 'warn',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collect(proc);
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(url, proc, output);
  return { proc, pid: proc.pid!, url, api: url + API_PREFIX, dataDir, output, stop: () => stopProc(proc) };
}

/**
 * Starts a bench-owned TypeScript server (a floor) in its own process. The script must print
 * `READY <port>` on stdout once listening.
 */
export async function startScript(script: string, args: string[], opts: { nodeArgs?: string[] } = {}): Promise<ServerProc> {
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', join(ROOT, 'bench', script), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collect(proc);
  const port = await new Promise<number>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${script} did not start:\n${output()}`)), 60_000);
    proc.once('exit', (code) => rej(new Error(`${script} exited with ${code}:\n${output()}`)));
    proc.stdout!.on('data', () => {
      const m = /READY (\d+)/.exec(output());
      if (m) {
        clearTimeout(timer);
        res(Number(m[1]));
      }
    });
  });
  proc.removeAllListeners('exit');
  return { proc, pid: proc.pid!, url: `http://127.0.0.1:${port}`, output, stop: () => stopProc(proc) };
}

/** Runs a bench-owned TS script to completion and returns the JSON it prints last on stdout. */
export async function runScriptJson<T>(script: string, args: string[], opts: { nodeArgs?: string[] } = {}): Promise<T> {
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', join(ROOT, 'bench', script), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collect(proc);
  let stdout = '';
  proc.stdout!.on('data', (b: Buffer) => {
    stdout += b.toString();
  });
  const code = await new Promise<number | null>((res) => proc.once('exit', (c) => res(c)));
  if (code !== 0) throw new Error(`${script} exited with ${code}:\n${output()}`);
  const last = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as T;
}

export async function run(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<string> {
  const proc = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = collect(proc);
  const code = await new Promise<number | null>((res, rej) => {
    proc.once('error', rej);
    proc.once('exit', (c) => res(c));
  });
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${code}:\n${output()}`);
  return output();
}

export async function tempDir(label: string): Promise<string> {
  mkdirSync(join(WORK, 'tmp'), { recursive: true });
  return mkdtemp(join(WORK, 'tmp', `${label}-`));
}

export const removeDir = (dir: string): Promise<void> => rm(dir, { recursive: true, force: true });

// ───────────────────────────── HTTP ─────────────────────────────

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export function httpRequest(
  url: string,
  opts: { method?: string; headers?: Record<string, string | number>; body?: Buffer | string | Readable; agent?: http.Agent | false } = {},
): Promise<HttpResponse> {
  return new Promise((res, rej) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: opts.agent ?? keepAlive }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => res({ status: r.statusCode ?? 0, headers: r.headers, body: Buffer.concat(chunks) }));
      r.on('error', rej);
    });
    req.on('error', rej);
    const body = opts.body;
    if (body instanceof Readable) {
      body.on('error', (e) => req.destroy(e));
      body.pipe(req);
    } else req.end(body);
  });
}

export const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** Calls a JSON endpoint of the API; throws unless the envelope says success. */
export async function callApi<T = any>(
  api: string,
  path: string,
  body?: unknown,
  method = body === undefined ? 'GET' : 'POST',
): Promise<T> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const r = await httpRequest(api + path, {
    method,
    headers: {
      'DF-API-KEY': API_KEY,
      ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
    },
    body: payload,
  });
  const env = JSON.parse(r.body.toString()) as Envelope<T>;
  if (r.status !== 200 || !env.success) throw new Error(`${path}: HTTP ${r.status} ${env.errorCode} ${env.message}`);
  return env.content;
}

/** Sends bytes [start, end) of `file` as one upload_part, in the public clients' multipart field order. */
export async function sendPart(api: string, uploadId: string, chunkIndex: number, file: string, start: number, end: number): Promise<void> {
  const boundary = `----mapvaultbench${chunkIndex}x${Math.random().toString(36).slice(2)}`;
  const field = (name: string, value: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  const head = Buffer.from(
    field('uploadId', uploadId) +
      field('chunkIndex', String(chunkIndex)) +
      `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="chunk_${String(chunkIndex).padStart(6, '0')}"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n',
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const body = Readable.from(
    (async function* () {
      yield head;
      yield* createReadStream(file, { start, end: end - 1, highWaterMark: 1 * MiB });
      yield tail;
    })(),
  );
  const r = await httpRequest(`${api}/upload_part`, {
    method: 'POST',
    headers: {
      'DF-API-KEY': API_KEY,
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': head.length + (end - start) + tail.length,
    },
    body,
  });
  if (r.status !== 200) throw new Error(`upload_part ${chunkIndex}: HTTP ${r.status} ${r.body.toString().slice(0, 500)}`);
}

/** Runs `fn` over `items` with at most `n` in flight. */
export async function pool<T>(items: T[], n: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

export const partRanges = (size: number, partSize: number): Array<[number, number]> =>
  Array.from({ length: Math.ceil(size / partSize) }, (_, i) => [i * partSize, Math.min(size, (i + 1) * partSize)]);

export interface UploadTiming {
  partsMs: number;
  mergeMs: number;
  totalMs: number;
  merge: any;
}

/** init → parts (`concurrency` at a time) → part_merge, timed. */
export async function uploadZip(
  api: string,
  zipPath: string,
  size: number,
  identity: { appId: string; version?: string; env?: string; needCover?: boolean },
  opts: { partSize?: number; concurrency?: number } = {},
): Promise<UploadTiming> {
  const t0 = performance.now();
  const init = await callApi<{ uploadId: string }>(api, '/multipart_upload_init', identity);
  if (!init.uploadId) throw new Error(`init gave no uploadId: ${JSON.stringify(init)}`);
  await pool(partRanges(size, opts.partSize ?? 10 * MiB), opts.concurrency ?? 4, ([s, e], i) =>
    sendPart(api, init.uploadId, i, zipPath, s, e),
  );
  const t1 = performance.now();
  const merge = await callApi(api, '/part_merge', { uploadId: init.uploadId });
  const t2 = performance.now();
  return { partsMs: t1 - t0, mergeMs: t2 - t1, totalMs: t2 - t0, merge };
}

// ───────────────────────────── zips ─────────────────────────────

/** The random zip of `zipSize` bytes, generated once into the cache. */
export function cachedRandomZip(zipSize: number): string {
  mkdirSync(CACHE, { recursive: true });
  const path = join(CACHE, `random-${zipSize}.zip`);
  if (!existsSync(path)) {
    log(`generating ${path} (${(zipSize / MiB).toFixed(0)} MiB of random bytes)`);
    writeRandomStoredZip(path + '.tmp', zipSize);
    renameSync(path + '.tmp', path);
  }
  return path;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `a` and `b` alternately `runs` times (ABAB, then BABA, ...) so drift hits both equally. */
export async function interleaved<A, B>(
  runs: number,
  a: (i: number) => Promise<A>,
  b: (i: number) => Promise<B>,
): Promise<{ a: A[]; b: B[] }> {
  const ra: A[] = [],
    rb: B[] = [];
  for (let i = 0; i < runs; i++) {
    if (i % 2 === 0) {
      ra.push(await a(i));
      rb.push(await b(i));
    } else {
      rb.push(await b(i));
      ra.push(await a(i));
    }
  }
  return { a: ra, b: rb };
}
