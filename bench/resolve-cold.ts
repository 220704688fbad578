/**
 * Target 4: cold resolution — the first parse_stack on a 10 MB+ map — and what it does to
 * everyone else's latency meanwhile.
 *
 *   npm run bench:cold -- [--runs N] [--quick] [--prof[=DIR]]
 *
 * The big map (bench/fixtures.ts, ~14 MB) is uploaded once. Each run then measures the latency of
 * one parse_stack (a 20-frame stack into that map), with nothing cached:
 *  - restart: a freshly started server (after one parse_stack for an unknown app, so the route
 *    itself is warm and only the map is cold);
 *  - new version: a long-running server, the same map just uploaded under a new version.
 * Floor: trace-mapping's own time to first answer, in a fresh process (bench/floor-cold.ts:
 * readFile + JSON.parse + new TraceMap + first originalPositionFor; its second round, JIT warm,
 * is the floor of the "new version" row).
 * Event loop: meanwhile this process sends GET /healthz every 5 ms on keep-alive sockets; the p99
 * of their latencies during the cold request is the server's event-loop stall as a client sees
 * it (the server is another process, so monitorEventLoopDelay cannot be read directly).
 */
import http from 'node:http';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { bigMap, stacksFor } from './fixtures.ts';
import {
  MiB,
  Report,
  callApi,
  httpRequest,
  interleaved,
  log,
  parseArgs,
  percentile,
  removeDir,
  runScriptJson,
  sleep,
  startMapvault,
  tempDir,
  uploadZip,
  type MapvaultProc,
} from './lib.ts';

const opts = parseArgs();
const identity = { appId: 'tsbench', env: 'prod' };

const bm = await bigMap();
log(`map: ${(bm.mapBytes / MiB).toFixed(1)} MiB`);
const { stacks, positions } = stacksFor(bm.map, 200, 20);
const stack = stacks[0]!;
const [line0, col0] = positions[0]!;

async function* walkFiles(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walkFiles(p);
    else yield p;
  }
}

/** Pings /healthz every `everyMs` until stopped; returns each ping's latency with its start time. */
function pinger(url: string, everyMs = 5) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const samples: Array<{ at: number; ms: number }> = [];
  let inflight = 0;
  const timer = setInterval(() => {
    const at = performance.now();
    inflight++;
    httpRequest(`${url}/healthz`, { agent })
      .then(
        () => samples.push({ at, ms: performance.now() - at }),
        () => samples.push({ at, ms: NaN }),
      )
      .finally(() => inflight--);
  }, everyMs);
  return {
    samples,
    async stop() {
      clearInterval(timer);
      while (inflight > 0) await sleep(5);
      agent.destroy();
    },
  };
}

/** Opens some keep-alive sockets first so pings measure the server, not connection setup. */
async function idleBaseline(url: string): Promise<number> {
  const p = pinger(url);
  await sleep(500);
  await p.stop();
  return percentile(
    p.samples.map((s) => s.ms),
    99,
  );
}

async function coldRequest(mv: MapvaultProc, version: string): Promise<{ ms: number; p99: number; max: number }> {
  const p = pinger(mv.url);
  await sleep(200); // sockets warm, a few baseline pings
  const t0 = performance.now();
  const content = await callApi<{ frames: Array<{ resolved: boolean }> }>(mv.api, '/parse_stack', { ...identity, version, stack });
  const t1 = performance.now();
  await sleep(50);
  await p.stop();
  if (content.frames.some((f) => !f.resolved)) throw new Error('cold request did not resolve every frame');
  const during = p.samples.filter((s) => s.at >= t0 && s.at <= t1).map((s) => s.ms);
  if (during.some((x) => Number.isNaN(x))) throw new Error('a /healthz ping failed');
  return { ms: t1 - t0, p99: percentile(during, 99), max: Math.max(...during) };
}

const report = new Report('Resolution, cold (target 4)', opts);
const dataDir = await tempDir('mv-cold');
let server: MapvaultProc | null = await startMapvault(dataDir);
try {
  await uploadZip(server.api, bm.zip, bm.zipBytes, { ...identity, version: 'base' });
  await server.stop();
  server = null;

  // A: restarted server.
  const restart: Array<{ ms: number; p99: number; max: number; idleP99: number }> = [];
  const floors: Array<{ coldMs: number; warmMs: number }> = [];
  log(`${opts.runs} runs: restart server → first parse_stack; floor in a fresh process`);
  await interleaved(
    opts.runs,
    async () => {
      const mv = await startMapvault(dataDir, { prof: opts.prof });
      try {
        // Warm the route, auth and catalog paths on an app with no sourcemap (no map is touched).
        await callApi(mv.api, '/parse_stack', { appId: 'nothing-here', stack });
        const idleP99 = await idleBaseline(mv.url);
        restart.push({ ...(await coldRequest(mv, 'base')), idleP99 });
      } finally {
        await mv.stop();
      }
    },
    async () => {
      floors.push(await runScriptJson('floor-cold.ts', [bm.map, String(line0), String(col0)]));
    },
  );

  // B: a long-running server, the map uploaded again under a new version before each run.
  log(`${opts.runs} runs: new version on a running server → first parse_stack`);
  const mv = await startMapvault(dataDir);
  server = mv;
  await callApi(mv.api, '/parse_stack', { ...identity, version: 'base', stack }); // warm everything once
  const fresh: Array<{ ms: number; p99: number; max: number }> = [];
  for (let i = 0; i < opts.runs; i++) {
    const version = `v${i}-${Date.now()}`;
    await uploadZip(mv.api, bm.zip, bm.zipBytes, { ...identity, version });
    await sleep(300);
    fresh.push(await coldRequest(mv, version));
  }

  report.ratioRow(
    `first parse_stack on a ${(bm.mapBytes / MiB).toFixed(0)} MiB map, restarted server (floor: trace-mapping parse + 1st lookup, fresh process)`,
    'ms',
    restart.map((r) => r.ms),
    floors.map((f) => f.coldMs),
    0.25,
  );
  report.ratioRow(
    'first parse_stack, new version on a running server (floor: same, JIT warm)',
    'ms',
    fresh.map((r) => r.ms),
    floors.map((f) => f.warmMs),
    1.5,
  );
  report.ratioRow(
    '  /healthz p99 every 5 ms during the cold request, restart (floor col: same server idle)',
    'ms',
    restart.map((r) => r.p99),
    restart.map((r) => r.idleP99),
    null,
  );
  report.absoluteRow(
    '  /healthz p99 every 5 ms during the cold request, new version',
    'ms',
    fresh.map((r) => r.p99),
    null,
    null,
    '–',
  );
  report.absoluteRow(
    '  /healthz worst during the cold request, restart',
    'ms',
    restart.map((r) => r.max),
    null,
    null,
    '–',
  );
  // The lookup index built at merge (symbolicate/index/), beside the map in the blob store.
  const indexes: number[] = [];
  for await (const f of walkFiles(join(dataDir, 'blobs', 'trees'))) if (f.endsWith('.mvx')) indexes.push((await stat(f)).size);
  if (indexes.length > 0) {
    report.absoluteRow(
      '  bytes of lookup index per byte of map',
      'x',
      indexes.map((b) => b / bm.mapBytes),
      null,
      null,
      '–',
    );
  }
} finally {
  if (server) await server.stop();
  if (!opts.keep) await removeDir(dataDir);
  report.finish();
}
