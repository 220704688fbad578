/**
 * Targets 1 and 2: upload + merge throughput, and the server's peak memory.
 *
 *   npm run bench:upload -- [--runs N] [--quick] [--big-runs N] [--no-big] [--prof[=DIR]]
 *
 * mapvault: `node bin/mapvault serve` in its own process (fresh data dir per run); the client
 * (this process) sends a zip holding one incompressible file as 10 MiB multipart parts, 4 at a
 * time, over keep-alive node:http, then calls part_merge (concatenate, verify, extract, publish).
 *
 * floor: bench/floor-upload-server.ts in its own process, receiving the same part bytes as raw
 * PUT bodies (4 at a time) and streaming them to files; then `cat part_* > merged.zip` and
 * `unzip -q merged.zip` (Info-ZIP, which checks every CRC) — the least work that ends with the
 * same bytes extracted on disk.
 *
 * Client shapes (a target counts as met only when it is met with every one):
 *  - node: this process, multipart bodies streamed over keep-alive node:http (above);
 *  - curl: the Guance shell script's way — the zip `split -b 10m` into `chunk_NNNNNN` files (done
 *    once, outside the timing), then `xargs -P4 curl -F uploadId=… -F chunkIndex=… -F files=@chunk`
 *    (a new process and connection per part), init and merge with curl too. Its floor sends the
 *    same chunk files with `curl -T` (raw bodies, 4 in parallel), then `cat` + `unzip`.
 *
 * Memory: VmHWM of the server process (peak RSS since it started) after the run, for a 200 MiB
 * and a 1 GiB (103 parts) upload.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createReadStream } from 'node:fs';
import {
  API_KEY,
  MiB,
  Report,
  cachedRandomZip,
  httpRequest,
  interleaved,
  log,
  parseArgs,
  partRanges,
  peakRss,
  pool,
  processCpuMs,
  removeDir,
  run,
  startMapvault,
  startScript,
  tempDir,
  uploadZip,
} from './lib.ts';

const opts = parseArgs();
const noBig = opts.rest.includes('--no-big');
const bigRunsArg = opts.rest.find((a) => a.startsWith('--big-runs='));
const bigRuns = bigRunsArg ? Number(bigRunsArg.slice('--big-runs='.length)) : opts.runs;
const PART = 10 * MiB;
const CONCURRENCY = 4;
const SMALL = opts.quick ? 40 * MiB : 200 * MiB;
const BIG = opts.quick ? 100 * MiB : 1024 * MiB;

/** cpuMs: the server's CPU time (all threads) from the first request to the merge's answer. */
interface Result {
  totalMs: number;
  partsMs: number;
  mergeMs: number;
  peak: number;
  cpuMs: number;
}

async function mapvaultRun(zip: string, size: number, i: number): Promise<Result> {
  const dataDir = await tempDir('mv-upload');
  const mv = await startMapvault(dataDir, { prof: opts.prof });
  try {
    const cpu0 = processCpuMs(mv.pid);
    const t = await uploadZip(
      mv.api,
      zip,
      size,
      { appId: 'bench', version: `r${i}`, env: 'bench' },
      { partSize: PART, concurrency: CONCURRENCY },
    );
    if (t.merge.fileCount !== 1 || t.merge.size !== size) throw new Error(`unexpected merge result ${JSON.stringify(t.merge)}`);
    const peak = peakRss(mv.pid);
    return { totalMs: t.totalMs, partsMs: t.partsMs, mergeMs: t.mergeMs, peak, cpuMs: processCpuMs(mv.pid) - cpu0 };
  } finally {
    await mv.stop();
    if (!opts.keep) await removeDir(dataDir);
  }
}

async function floorRun(zip: string, size: number, i: number): Promise<Result> {
  const root = await tempDir('floor-upload');
  const srv = await startScript('floor-upload-server.ts', [root]);
  try {
    const task = `t${i}`;
    const cpu0 = processCpuMs(srv.pid);
    const t0 = performance.now();
    await pool(partRanges(size, PART), CONCURRENCY, async ([s, e], idx) => {
      const r = await httpRequest(`${srv.url}/${task}/${idx}`, {
        method: 'PUT',
        headers: { 'content-length': e - s, 'content-type': 'application/octet-stream' },
        body: Readable.from(createReadStream(zip, { start: s, end: e - 1, highWaterMark: 1 * MiB })),
      });
      if (r.status !== 200) throw new Error(`floor PUT ${idx}: ${r.status}`);
    });
    const t1 = performance.now();
    const dir = join(root, task);
    const unzipCpuMs = await catUnzip(dir);
    const t2 = performance.now();
    if (statSync(join(dir, 'out', 'random.bin')).size !== size - (30 + 10 + 46 + 10 + 22)) throw new Error('floor: wrong extracted size');
    const peak = peakRss(srv.pid);
    const cpuMs = processCpuMs(srv.pid) - cpu0 + unzipCpuMs;
    return { totalMs: t2 - t0, partsMs: t1 - t0, mergeMs: t2 - t1, peak, cpuMs };
  } finally {
    await srv.stop();
    if (!opts.keep) await removeDir(root);
  }
}

/**
 * The floor's merge: `cat` + `unzip` in `dir`; returns their CPU time (ms), read from bash's `times`
 * (children's user and system time), so the floor's CPU column counts its merge too.
 */
async function catUnzip(dir: string): Promise<number> {
  const out = await run('bash', ['-c', 'cat part_* > merged.zip && unzip -q -o merged.zip -d out && times'], { cwd: dir });
  // `times` prints the shell's user/system times, then its children's: "0m1.234s 0m0.456s".
  const m = /(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/.exec(out.trim());
  if (!m) throw new Error(`no times in: ${out}`);
  return (Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1000;
}

/** The zip split into 10 MiB `chunk_NNNNNN` files, as the Guance shell script does (cached). */
async function chunksOf(zip: string): Promise<{ dir: string; chunks: string[] }> {
  const dir = `${zip}.chunks`;
  if (!existsSync(join(dir, 'done'))) {
    await removeDir(dir);
    mkdirSync(dir, { recursive: true });
    await run('sh', ['-c', `split -b ${PART} -d -a 6 "${zip}" chunk_ && touch done`], { cwd: dir });
  }
  return {
    dir,
    chunks: readdirSync(dir)
      .filter((f) => f.startsWith('chunk_'))
      .sort(),
  };
}

/** `xargs -P4` over the chunk files: one curl process per part, exit status checked by xargs. */
const xargsCurl = (perChunk: string) =>
  `ls chunk_* | xargs -P${CONCURRENCY} -I{} sh -c 'i=$(echo {} | sed "s/^chunk_0*//"); i=\${i:-0}; ${perChunk}'`;

async function mapvaultCurlRun(zip: string, size: number, i: number): Promise<Result> {
  const { dir } = await chunksOf(zip);
  const dataDir = await tempDir('mv-upload-curl');
  const mv = await startMapvault(dataDir, { prof: opts.prof });
  const curl = `curl -sS -f -H "DF-API-KEY: ${API_KEY}"`;
  try {
    const cpu0 = processCpuMs(mv.pid);
    const t0 = performance.now();
    const init = JSON.parse(
      await run('sh', [
        '-c',
        `${curl} -H 'Content-Type: application/json' -d '{"appId":"bench","version":"c${i}","env":"bench"}' ${mv.api}/multipart_upload_init`,
      ]),
    );
    const uploadId = init.content.uploadId as string;
    if (!uploadId) throw new Error(`curl init: ${JSON.stringify(init)}`);
    await run('sh', ['-c', xargsCurl(`${curl} -o /dev/null -F uploadId=${uploadId} -F chunkIndex=$i -F files=@{} ${mv.api}/upload_part`)], {
      cwd: dir,
    });
    const t1 = performance.now();
    const merge = JSON.parse(
      await run('sh', ['-c', `${curl} -H 'Content-Type: application/json' -d '{"uploadId":"${uploadId}"}' ${mv.api}/part_merge`]),
    );
    const t2 = performance.now();
    if (!merge.success || merge.content.fileCount !== 1 || merge.content.size !== size)
      throw new Error(`curl merge: ${JSON.stringify(merge)}`);
    return { totalMs: t2 - t0, partsMs: t1 - t0, mergeMs: t2 - t1, peak: peakRss(mv.pid), cpuMs: processCpuMs(mv.pid) - cpu0 };
  } finally {
    await mv.stop();
    if (!opts.keep) await removeDir(dataDir);
  }
}

async function floorCurlRun(zip: string, size: number, i: number): Promise<Result> {
  const { dir } = await chunksOf(zip);
  const root = await tempDir('floor-upload-curl');
  const srv = await startScript('floor-upload-server.ts', [root]);
  try {
    const task = `c${i}`;
    const cpu0 = processCpuMs(srv.pid);
    const t0 = performance.now();
    await run('sh', ['-c', xargsCurl(`curl -sS -f -o /dev/null -T {} ${srv.url}/${task}/$i`)], { cwd: dir });
    const t1 = performance.now();
    const out = join(root, task);
    const unzipCpuMs = await catUnzip(out);
    const t2 = performance.now();
    if (statSync(join(out, 'out', 'random.bin')).size !== size - (30 + 10 + 46 + 10 + 22))
      throw new Error('floor (curl): wrong extracted size');
    return {
      totalMs: t2 - t0,
      partsMs: t1 - t0,
      mergeMs: t2 - t1,
      peak: peakRss(srv.pid),
      cpuMs: processCpuMs(srv.pid) - cpu0 + unzipCpuMs,
    };
  } finally {
    await srv.stop();
    if (!opts.keep) await removeDir(root);
  }
}

/**
 * Seconds of CPU for the hashing mapvault must do over `bytes` and the floor does not: md5 and
 * sha256 of each part (returned by upload_part), sha256 of the merged archive (returned by
 * part_merge), sha256 (file_tree) and CRC-32 (zip verification; unzip does this one too) of the file.
 */
function hashCost(bytes: number): number {
  const buf = randomBytes(8 * MiB);
  const t0 = performance.now();
  const h = [createHash('md5'), createHash('sha256'), createHash('sha256'), createHash('sha256')];
  let crc = 0;
  for (let done = 0; done < bytes; done += buf.length) {
    const chunk = buf.subarray(0, Math.min(buf.length, bytes - done));
    for (const x of h) x.update(chunk);
    crc = crc32(chunk, crc);
  }
  for (const x of h) x.digest();
  return (performance.now() - t0) / 1000;
}

const s = (ms: number[]) => ms.map((x) => x / 1000);
const mib = (b: number[]) => b.map((x) => x / MiB);

const report = new Report('Upload + merge (targets 1, 2)', opts);
const sizeLabel = (n: number) => (n >= 1024 * MiB ? `${n / 1024 / MiB} GiB` : `${n / MiB} MiB`);

/**
 * Each run starts from a clean page cache: the floor leaves its unzipped files unsynced, and
 * mapvault's fsyncs (durable before the publish) would otherwise wait for that writeback.
 */
const settled =
  <T>(run: (i: number) => Promise<T>) =>
  (i: number): Promise<T> => {
    execFileSync('sync');
    return run(i);
  };

const smallZip = cachedRandomZip(SMALL);
log(`upload ${sizeLabel(SMALL)}: ${opts.runs} runs each, interleaved`);
const small = await interleaved(
  opts.runs,
  settled((i) => mapvaultRun(smallZip, SMALL, i)),
  settled((i) => floorRun(smallZip, SMALL, i)),
);
const nParts = Math.ceil(SMALL / PART);
report.ratioRow(
  `upload+merge ${sizeLabel(SMALL)} zip, ${nParts}×10 MiB parts, 4 in flight — node client`,
  's',
  s(small.a.map((r) => r.totalMs)),
  s(small.b.map((r) => r.totalMs)),
  1.5,
);
report.ratioRow(
  '  of which: parts (mapvault: multipart → part store; floor: raw PUT → file)',
  's',
  s(small.a.map((r) => r.partsMs)),
  s(small.b.map((r) => r.partsMs)),
  null,
);
report.ratioRow(
  '  of which: merge (mapvault: part_merge; floor: cat + unzip)',
  's',
  s(small.a.map((r) => r.mergeMs)),
  s(small.b.map((r) => r.mergeMs)),
  null,
);
report.ratioRow(
  '  CPU time of the server (all threads; floor: its server + cat + unzip)',
  's',
  s(small.a.map((r) => r.cpuMs)),
  s(small.b.map((r) => r.cpuMs)),
  null,
);
report.absoluteRow(
  `server peak RSS (VmHWM), ${sizeLabel(SMALL)} upload`,
  'MiB',
  mib(small.a.map((r) => r.peak)),
  mib(small.b.map((r) => r.peak)),
  200,
  '≤ 200 MiB',
);

log(`upload ${sizeLabel(SMALL)} with curl -F (xargs -P${CONCURRENCY}): ${opts.runs} runs each, interleaved`);
const smallCurl = await interleaved(
  opts.runs,
  settled((i) => mapvaultCurlRun(smallZip, SMALL, i)),
  settled((i) => floorCurlRun(smallZip, SMALL, i)),
);
report.ratioRow(
  `upload+merge ${sizeLabel(SMALL)} zip, ${nParts}×10 MiB parts, 4 in flight — curl -F (floor: curl -T)`,
  's',
  s(smallCurl.a.map((r) => r.totalMs)),
  s(smallCurl.b.map((r) => r.totalMs)),
  1.5,
);
report.ratioRow(
  '  of which: parts (curl -F multipart → part store; floor: curl -T → file)',
  's',
  s(smallCurl.a.map((r) => r.partsMs)),
  s(smallCurl.b.map((r) => r.partsMs)),
  null,
);
report.ratioRow('  of which: merge', 's', s(smallCurl.a.map((r) => r.mergeMs)), s(smallCurl.b.map((r) => r.mergeMs)), null);
report.ratioRow(
  '  CPU time of the server (all threads; floor: its server + cat + unzip)',
  's',
  s(smallCurl.a.map((r) => r.cpuMs)),
  s(smallCurl.b.map((r) => r.cpuMs)),
  null,
);
report.absoluteRow(
  `server peak RSS (VmHWM), ${sizeLabel(SMALL)} upload with curl`,
  'MiB',
  mib(smallCurl.a.map((r) => r.peak)),
  mib(smallCurl.b.map((r) => r.peak)),
  200,
  '≤ 200 MiB',
);

report.absoluteRow(
  '  reference: CPU time of the hashes the API requires (md5+sha256 of parts, sha256 of the archive, sha256+CRC-32 of the file), in-process',
  's',
  Array.from({ length: Math.max(3, opts.runs) }, () => hashCost(SMALL)),
  null,
  null,
  '–',
);

if (!noBig) {
  const bigZip = cachedRandomZip(BIG);
  log(`upload ${sizeLabel(BIG)}: ${bigRuns} runs each, interleaved`);
  const big = await interleaved(
    bigRuns,
    settled((i) => mapvaultRun(bigZip, BIG, i)),
    settled((i) => floorRun(bigZip, BIG, i)),
  );
  report.ratioRow(
    `upload+merge ${sizeLabel(BIG)} zip, ${Math.ceil(BIG / PART)} parts, 4 in flight (no target: for the memory rows)`,
    's',
    s(big.a.map((r) => r.totalMs)),
    s(big.b.map((r) => r.totalMs)),
    null,
  );
  report.absoluteRow('  reference: CPU time of the required hashes for this size, in-process', 's', [hashCost(BIG)], null, null, '–');
  report.absoluteRow(
    `server peak RSS (VmHWM), ${sizeLabel(BIG)} upload`,
    'MiB',
    mib(big.a.map((r) => r.peak)),
    mib(big.b.map((r) => r.peak)),
    200,
    '≤ 200 MiB',
  );
  // Same-index runs paired: how much the peak grows when the file is 5× bigger.
  const n = Math.min(big.a.length, small.a.length);
  const growth = (xs: Result[], ys: Result[]) => Array.from({ length: n }, (_, i) => xs[i]!.peak / ys[i]!.peak);
  report.absoluteRow(
    `peak RSS ${sizeLabel(BIG)} ÷ peak RSS ${sizeLabel(SMALL)} (×)`,
    '',
    growth(big.a, small.a),
    growth(big.b, small.b),
    1.2,
    '≤ 1.2 (flat)',
  );
}
report.finish();
