/**
 * Target 3: warm resolution throughput.
 *
 *   npm run bench:resolve -- [--runs N] [--quick] [--prof[=DIR]] [--parsing-only]
 *
 * --parsing-only: only the client that parses every answer (the tighter target), e.g. for profiles.
 *
 * One big real map (TypeScript's compiler bundled + minified by esbuild, ~14 MB map, see
 * bench/fixtures.ts) is uploaded to mapvault as a zip at static/js/ts.js.map through the API.
 * bench/load-client.ts (its own process) then drives POST /parse_stack with 20-frame V8 stacks
 * at real mapped positions, from 8 concurrent keep-alive connections, for a fixed window after a
 * warm-up; the same client drives the floor (bench/floor-resolve-server.ts: bare node:http +
 * trace-mapping on the preloaded map, same request and answer shape). Runs are interleaved.
 *
 * Client shapes (a target counts as met only when it is met with every one): the load client
 * JSON-parses 1 answer in 50 (a sampling checker), or every answer (an SDK-like client, which
 * spends its own CPU on each answer on the same 2 cores). Each row also gives the server's CPU
 * time per request, steadier than frames/s when the machine is shared.
 * Also printed: trace-mapping's raw originalPositionFor rate in this process, for reference.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TraceMap, originalPositionFor } from '@jridgewell/trace-mapping';
import { bigMap, stacksFor } from './fixtures.ts';
import {
  API_KEY,
  MiB,
  Report,
  callApi,
  interleaved,
  log,
  parseArgs,
  processCpuMs,
  removeDir,
  runScriptJson,
  startMapvault,
  startScript,
  stats,
  tempDir,
  uploadZip,
} from './lib.ts';

const opts = parseArgs();
const CONCURRENCY = 8;
const FRAMES = 20;
const warmupMs = opts.quick ? 500 : 1500;
const durationMs = opts.quick ? 1500 : 4000;
const identity = { appId: 'tsbench', version: '1.0.0', env: 'prod' };
const parsingOnly = opts.rest.includes('--parsing-only');

interface LoadResult {
  /** serverCpuMs: CPU time of the server process (all threads) per answered request, warm-up included. */
  serverCpuMs: number;
  allRequests: number;
  framesPerSecond: number;
  requestsPerSecond: number;
  errors: number;
  firstError: string;
  sampled: number;
  sampledFrames: number;
  sampledResolved: number;
  p50Ms: number;
  p99Ms: number;
}

const bm = await bigMap();
log(`map: ${(bm.mapBytes / MiB).toFixed(1)} MiB (${bm.map}), zip ${(bm.zipBytes / MiB).toFixed(1)} MiB`);
const { stacks } = stacksFor(bm.map, 200, FRAMES);
const bodiesFile = join(await tempDir('bodies'), 'bodies.json');
writeFileSync(bodiesFile, JSON.stringify(stacks.map((stack) => JSON.stringify({ ...identity, stack }))));

const dataDir = await tempDir('mv-resolve');
const mv = await startMapvault(dataDir, { prof: opts.prof });
const floor = await startScript('floor-resolve-server.ts', [bm.map]);
const report = new Report('Resolution, warm (target 3)', opts);
try {
  const up = await uploadZip(mv.api, bm.zip, bm.zipBytes, identity);
  if (up.merge.mapCount !== 1) throw new Error(`upload: ${JSON.stringify(up.merge)}`);

  // Same answers from both (spot check on the first stack), and the map is parsed before timing.
  const a = await callApi<{ frames: any[] }>(mv.api, '/parse_stack', { ...identity, stack: stacks[0] });
  const fr = await fetch(floor.url, { method: 'POST', body: JSON.stringify({ stack: stacks[0] }) });
  const b = ((await fr.json()) as { content: { frames: any[] } }).content;
  if (a.frames.length !== FRAMES || a.frames.some((f) => !f.resolved))
    throw new Error(`mapvault did not resolve every frame: ${JSON.stringify(a.frames[0])}`);
  a.frames.forEach((f, i) => {
    const g = b.frames[i];
    if (f.originalLine !== g.originalLine || f.originalColumn !== g.originalColumn || f.name !== g.name) {
      throw new Error(`frame ${i} differs: mapvault ${JSON.stringify(f)} floor ${JSON.stringify(g)}`);
    }
  });

  const load = (pid: number, url: string, headers: Record<string, string>, parseEvery = false) => {
    const cpu0 = processCpuMs(pid);
    return runScriptJson<LoadResult>('load-client.ts', [
      JSON.stringify({
        url,
        headers,
        bodiesFile,
        concurrency: CONCURRENCY,
        warmupMs,
        durationMs,
        framesPerBody: FRAMES,
        parseEvery,
      }),
    ]).then((r) => {
      if (r.errors > 0) throw new Error(`load errors against ${url}: ${r.errors} (${r.firstError})`);
      if (r.sampledResolved !== r.sampledFrames)
        throw new Error(`${url}: ${r.sampledFrames - r.sampledResolved} sampled frames unresolved`);
      return { ...r, serverCpuMs: (processCpuMs(pid) - cpu0) / r.allRequests };
    });
  };
  log(`${opts.runs} runs × (${warmupMs} ms warm-up + ${durationMs} ms) per side, interleaved`);
  if (!parsingOnly) {
    const res = await interleaved(
      opts.runs,
      () => load(mv.pid, `${mv.api}/parse_stack`, { 'DF-API-KEY': API_KEY }),
      () => load(floor.pid, floor.url, {}),
    );

    report.rateRow(
      `parse_stack warm: frames/s, ${FRAMES}-frame V8 stacks, ${CONCURRENCY} keep-alive clients, 1 answer in 50 parsed`,
      'frames/s',
      res.a.map((r) => r.framesPerSecond),
      res.b.map((r) => r.framesPerSecond),
      0.5,
    );
    report.ratioRow(
      '  request latency p99 under that load',
      'ms',
      res.a.map((r) => r.p99Ms),
      res.b.map((r) => r.p99Ms),
      null,
    );
    report.ratioRow(
      '  server CPU time per request (all threads)',
      'ms',
      res.a.map((r) => r.serverCpuMs),
      res.b.map((r) => r.serverCpuMs),
      null,
    );
  }

  // The SDK-like client shape: the same load, but the client JSON-parses and checks every answer.
  const parsing = await interleaved(
    opts.runs,
    () => load(mv.pid, `${mv.api}/parse_stack`, { 'DF-API-KEY': API_KEY }, true),
    () => load(floor.pid, floor.url, {}, true),
  );
  report.rateRow(
    `parse_stack warm: frames/s, same load, client parses every answer`,
    'frames/s',
    parsing.a.map((r) => r.framesPerSecond),
    parsing.b.map((r) => r.framesPerSecond),
    0.5,
  );
  report.ratioRow(
    '  request latency p99 under that load',
    'ms',
    parsing.a.map((r) => r.p99Ms),
    parsing.b.map((r) => r.p99Ms),
    null,
  );
  report.ratioRow(
    '  server CPU time per request (all threads)',
    'ms',
    parsing.a.map((r) => r.serverCpuMs),
    parsing.b.map((r) => r.serverCpuMs),
    null,
  );

  // Reference: trace-mapping alone, in this process, on the same positions (no HTTP, no JSON).
  const tm = new TraceMap(readFileSync(bm.map, 'utf8'));
  const { positions } = stacksFor(bm.map, 200, FRAMES);
  for (const [line, col] of positions) originalPositionFor(tm, { line, column: col - 1 }); // decode + JIT first
  const rates: number[] = [];
  for (let r = 0; r < Math.max(opts.runs, 3); r++) {
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 500) {
      for (const [line, col] of positions) originalPositionFor(tm, { line, column: col - 1 });
      n += positions.length;
    }
    rates.push(n / ((performance.now() - t0) / 1000));
  }
  report.add({
    name: '  reference: raw trace-mapping originalPositionFor, in-process',
    unit: 'frames/s',
    mapvault: null,
    floor: stats(rates),
    ratio: null,
    target: '–',
    met: null,
  });
} finally {
  await mv.stop();
  await floor.stop();
  if (!opts.keep) await Promise.all([removeDir(dataDir), removeDir(dirname(bodiesFile))]);
  report.finish();
}
