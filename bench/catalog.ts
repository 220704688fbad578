/**
 * Target 5: catalog-backed reads at scale — `list` with 10 000 sourcemaps and `part_list` of a
 * 10 000-part task — p99 latency over HTTP.
 *
 *   npm run bench:catalog -- [--runs N] [--quick] [--prof[=DIR]]
 *
 * Seeding 10 000 sourcemaps over HTTP would take long, so the SQLite catalog in a fresh data dir
 * is filled directly through SqliteCatalog (publishSourceMap ×10 000: app "big" gets 9 990
 * versions, app "small" 10; createUpload + putPart ×10 000 with fake blob keys) before the server
 * starts. Then `node bin/mapvault serve` on that data dir answers GET /list?appId= and
 * GET /part_list?uploadId=, one request at a time on a keep-alive socket; the floor
 * (bench/floor-catalog-server.ts) answers the same from the same file with bare node:http +
 * better-sqlite3. Per run: p99 (and p50) over `requests` sequential requests; runs interleaved.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteCatalog } from '../src/catalog/sqlite-catalog.ts';
import {
  API_KEY,
  API_PREFIX,
  Report,
  WORKSPACE,
  httpRequest,
  interleaved,
  log,
  parseArgs,
  percentile,
  processCpuMs,
  removeDir,
  startMapvault,
  startScript,
  stats,
  tempDir,
} from './lib.ts';
import { seedCatalog } from './seed-catalog.ts';

const opts = parseArgs();
const SOURCEMAPS = 10_000;
const PARTS = 10_000;
const requests = opts.quick ? 30 : 100;

const dataDir = await tempDir('mv-catalog');
const uploadId = randomBytes(24)
  .toString('base64')
  .replace(/[^A-Za-z0-9]/g, '')
  .slice(0, 32)
  .padEnd(32, 'x');
{
  const t0 = performance.now();
  const catalog = new SqliteCatalog(join(dataDir, 'mapvault.db'));
  await seedCatalog(catalog, { sourcemaps: SOURCEMAPS, parts: PARTS, uploadId });
  await catalog.close();
  log(`seeded ${SOURCEMAPS} sourcemaps and a ${PARTS}-part task in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

const mv = await startMapvault(dataDir, { prof: opts.prof });
const floor = await startScript('floor-catalog-server.ts', [join(dataDir, 'mapvault.db'), WORKSPACE]);
const report = new Report('Catalog (target 5)', opts);

async function latencies(
  pid: number,
  base: string,
  path: string,
  headers: Record<string, string>,
  check: (body: any) => void,
  beforeEach?: () => Promise<void>,
): Promise<{ p99: number; p50: number; cpuMs: number }> {
  const ms: number[] = [];
  // One keep-alive socket per run: between runs the bench may stay busy in-process for longer than
  // the server's keep-alive timeout, and a socket the server closed meanwhile would fail the run.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const cpu0 = processCpuMs(pid);
  for (let i = 0; i < requests; i++) {
    await beforeEach?.();
    const t0 = performance.now();
    const r = await httpRequest(base + path, { headers, agent });
    ms.push(performance.now() - t0);
    if (r.status !== 200) throw new Error(`${base}${path}: HTTP ${r.status} ${r.body.toString().slice(0, 200)}`);
    if (i === 0) check(JSON.parse(r.body.toString()).content);
  }
  agent.destroy();
  return { p99: percentile(ms, 99), p50: percentile(ms, 50), cpuMs: (processCpuMs(pid) - cpu0) / requests };
}

try {
  // The SQL alone, in this process: what any design that reads the rows from SQLite per request pays.
  const db = new Database(join(dataDir, 'mapvault.db'), { readonly: true });
  const listSql = db.prepare(
    'SELECT * FROM sourcemaps WHERE workspace = ? AND app_id = ? ORDER BY created_at DESC, version DESC, env DESC',
  );
  const partsSql = db.prepare(
    'SELECT p.* FROM parts p JOIN uploads u ON u.upload_id = p.upload_id WHERE p.upload_id = ? AND u.workspace = ? ORDER BY p.chunk_index',
  );
  // mapvault's own catalog queries, through SqliteCatalog (synchronous underneath, so timed directly).
  const catalog = new SqliteCatalog(join(dataDir, 'mapvault.db'));
  const sqlOnly = (f: () => unknown) => () => {
    const ms: number[] = [];
    for (let i = 0; i < requests; i++) {
      const t0 = performance.now();
      f();
      ms.push(performance.now() - t0);
    }
    return percentile(ms, 99);
  };
  // A single-file upload's catalog write (it changes the listed size), made before each request of the
  // `change` case: mapvault's kept list answer is then invalid every time and is rebuilt from SQLite.
  const touched = await catalog.getSourceMap({ workspace: WORKSPACE, appId: 'big', version: '1.99.99', env: 'prod' });
  if (!touched) throw new Error('seed: 1.99.99 missing');
  let touches = 0;
  const touch = async () => {
    const file = { path: 'bench-touch.js', size: ++touches, sha256: 'x' };
    const written = await catalog.upsertFile({
      identity: touched,
      revisionId: touched.revisionId,
      file,
      isMap: false,
      stagingPrefix: 'bench/',
      retire: () => ({ prefix: 'bench/', dueAt: 0 }),
    });
    if (!written.ok) throw new Error('touch failed');
  };
  const bigList = {
    sql: sqlOnly(() => listSql.all(WORKSPACE, 'big')),
    catalogSql: sqlOnly(() => catalog.listSourceMaps(WORKSPACE, 'big')),
    path: '/list?appId=big',
    check: (c: any[]) => {
      if (c.length !== SOURCEMAPS - 10) throw new Error(`list big: ${c.length}`);
    },
  };
  const cases: Array<{
    name: string;
    sql: () => number;
    catalogSql: () => number;
    path: string;
    check: (c: any) => void;
    beforeEach?: () => Promise<void>;
  }> = [
    {
      ...bigList,
      beforeEach: touch,
      name: `list?appId=, app with ${SOURCEMAPS - 10} of ${SOURCEMAPS} sourcemaps, each request after a write to the app (answer rebuilt)`,
    },
    { ...bigList, name: `list?appId=, app with ${SOURCEMAPS - 10} of ${SOURCEMAPS} sourcemaps, unchanged between requests (kept answer)` },
    {
      name: `list?appId=, app with 10 of ${SOURCEMAPS} sourcemaps`,
      sql: sqlOnly(() => listSql.all(WORKSPACE, 'small')),
      catalogSql: sqlOnly(() => catalog.listSourceMaps(WORKSPACE, 'small')),
      path: '/list?appId=small',
      check: (c: any[]) => {
        if (c.length !== 10) throw new Error(`list small: ${c.length}`);
      },
    },
    {
      name: `part_list, task with ${PARTS} parts`,
      sql: sqlOnly(() => partsSql.all(uploadId, WORKSPACE)),
      catalogSql: sqlOnly(() => catalog.listParts(WORKSPACE, uploadId)),
      path: `/part_list?uploadId=${uploadId}`,
      check: (c: any) => {
        if (c.chunkIndexs.length !== PARTS) throw new Error(`part_list: ${c.chunkIndexs.length}`);
      },
    },
  ];
  for (const c of cases) {
    const mvRun = () => latencies(mv.pid, mv.api, c.path, { 'DF-API-KEY': API_KEY }, c.check, c.beforeEach);
    const floorRun = () => latencies(floor.pid, floor.url + API_PREFIX, c.path, {}, c.check, c.beforeEach);
    await mvRun();
    await floorRun(); // warm-up round, not counted
    const r = await interleaved(opts.runs, mvRun, floorRun);
    report.absoluteRow(
      `${c.name}: p99 of ${requests} sequential requests`,
      'ms',
      r.a.map((x) => x.p99),
      r.b.map((x) => x.p99),
      20,
      '< 20 ms',
      true,
    );
    report.ratioRow(
      '  p50',
      'ms',
      r.a.map((x) => x.p50),
      r.b.map((x) => x.p50),
      null,
    );
    report.ratioRow(
      '  server CPU time per request (user + system, all threads)',
      'ms',
      r.a.map((x) => x.cpuMs),
      r.b.map((x) => x.cpuMs),
      null,
    );
    const sql = Array.from({ length: opts.runs }, c.sql);
    const catalogSql = Array.from({ length: opts.runs }, c.catalogSql);
    report.add({
      name: '  reference, the query alone in-process, p99 (mapvault: its catalog read, rows as records; floor column: the rows as objects, better-sqlite3 .all())',
      unit: 'ms',
      mapvault: stats(catalogSql),
      floor: stats(sql),
      ratio: null,
      target: '–',
      met: null,
    });
  }
  db.close();
  await catalog.close();
} finally {
  await mv.stop();
  await floor.stop();
  if (!opts.keep) await removeDir(dataDir);
  report.finish();
}
