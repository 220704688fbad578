/**
 * Scale-out mode (PostgreSQL catalog + S3 blobs on Swift) against the embedded mode (SQLite + a
 * directory), same machine, same run: the "mapvault" column is the scale-out node, the "floor"
 * column the embedded one, and the target is scale-out ≤ 2× embedded on every row.
 *
 *   npm run bench:scale -- [--runs N] [--quick] [--files=N]
 *
 * The services come from MAPVAULT_TEST_PG_URL / MAPVAULT_TEST_S3_URL (+ AWS_*), or are started
 * with scripts/services/postgres.sh and swift.sh when those are unset. Each run uses a fresh
 * database and a fresh bucket prefix. Both nodes are `node bin/mapvault serve` processes; runs
 * are interleaved so noise from other work on the machine lands on both.
 *
 * Rows: upload + merge of the 200 MiB archive (random bytes, 10 MiB parts, 4 at a time); the
 * merge of a 20 000-file archive; `list` of an app with 9 990 sourcemaps and `part_list` of a
 * 10 000-part task (catalogs seeded through the Catalog interface before the nodes start, as in
 * bench/catalog.ts); warm `parse_stack` (20 frames into the ~14 MB map, cached); cold
 * `parse_stack` (the first one after the map was uploaded under a new version).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';
import { loadConfig } from '../src/config.ts';
import { createMapvault } from '../src/server.ts';
import { S3BlobStore } from '../src/storage/s3/s3-blob-store.ts';
import { parseS3Url } from '../src/storage/s3/s3-url.ts';
import { bigMap, stacksFor } from './fixtures.ts';
import {
  API_KEY,
  CACHE,
  MiB,
  Report,
  WORKSPACE,
  cachedRandomZip,
  callApi,
  httpRequest,
  interleaved,
  log,
  parseArgs,
  percentile,
  removeDir,
  ROOT,
  startMapvault,
  tempDir,
  uploadZip,
  type MapvaultProc,
} from './lib.ts';
import { seedCatalog } from './seed-catalog.ts';

const opts = parseArgs();
const ARCHIVE_BYTES = (opts.quick ? 20 : 200) * MiB;
/** `--files=N` measures the many-files merge with another count (20 000 takes many minutes on a slow S3 server). */
const filesArg = opts.rest.find((a) => a.startsWith('--files='));
const MANY_FILES = filesArg ? Number(filesArg.slice('--files='.length)) : opts.quick ? 2_000 : 20_000;
const ROWS = 10_000;
const requests = opts.quick ? 30 : 100;
const hex = (n: number) => randomBytes(n).toString('hex');

/** `VAR=value` from a service script's `export` lines (values may be single-quoted). */
async function startService(script: string): Promise<Record<string, string>> {
  const proc = spawn('bash', [join(ROOT, 'scripts/services', script), 'start'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout.on('data', (c) => (out += c));
  const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
  if (code !== 0) throw new Error(`${script} start exited with ${code}`);
  const vars: Record<string, string> = {};
  for (const m of out.matchAll(/^export (\w+)=(?:'([^']*)'|(\S*))$/gm)) vars[m[1]!] = m[2] ?? m[3] ?? '';
  return vars;
}

async function services(): Promise<{ pgUrl: string; s3Url: string; aws: Record<string, string> }> {
  const env: Record<string, string | undefined> = { ...process.env };
  if (!env.MAPVAULT_TEST_PG_URL) Object.assign(env, await startService('postgres.sh'));
  if (!env.MAPVAULT_TEST_S3_URL) Object.assign(env, await startService('swift.sh'));
  const aws: Record<string, string> = {};
  for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) if (env[k]) aws[k] = env[k]!;
  // This process opens the bucket too (the cleanup at the end), with the same credentials.
  Object.assign(process.env, aws);
  return { pgUrl: env.MAPVAULT_TEST_PG_URL!, s3Url: env.MAPVAULT_TEST_S3_URL!, aws };
}

async function freshDatabase(pgUrl: string): Promise<string> {
  const name = `mapvault_bench_${hex(4)}`;
  const proc = spawn('psql', [pgUrl, '-Atqc', `CREATE DATABASE ${name}`], { stdio: ['ignore', 'ignore', 'inherit'] });
  if ((await new Promise((resolve) => proc.once('exit', resolve))) !== 0) throw new Error('psql: CREATE DATABASE failed');
  const u = new URL(pgUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

/** A zip of `count` small deflated JS files (2–3 KB each), generated once into the cache. */
async function manyFilesZip(count: number): Promise<string> {
  mkdirSync(CACHE, { recursive: true });
  const path = join(CACHE, `many-files-${count}.zip`);
  if (!existsSync(path)) {
    log(`generating ${path} (${count} files)`);
    const zip = new yazl.ZipFile();
    for (let i = 0; i < count; i++) {
      const body = `/* chunk ${i} */ export function f${i}(a){return a+${i}}\n//# ${randomBytes(1000 + (i % 500)).toString('base64')}\n`;
      zip.addBuffer(Buffer.from(body), `static/chunks/${Math.floor(i / 1000)}/c${i}.js`, { compress: true, mtime: new Date(0) });
    }
    zip.end();
    await pipeline(zip.outputStream, createWriteStream(`${path}.tmp`));
    renameSync(`${path}.tmp`, path);
  }
  return path;
}

/**
 * Fills a node's catalog before it starts, through the Catalog interface (whatever backend its
 * environment selects): app "big" gets 9 990 sourcemaps, app "small" 10, and one task 10 000 parts.
 */
async function seed(dataDir: string, env: Record<string, string>, uploadId: string): Promise<void> {
  const mv = await createMapvault(
    loadConfig({ ...process.env, ...env, MAPVAULT_DATA_DIR: dataDir, MAPVAULT_API_KEYS: `${API_KEY}=${WORKSPACE}` }),
    { logger: false, announce: () => {} },
  );
  try {
    await seedCatalog(mv.catalog, { sourcemaps: ROWS, parts: ROWS, uploadId });
  } finally {
    await mv.close();
  }
}

async function p99(mv: MapvaultProc, path: string): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < requests; i++) {
    const t0 = performance.now();
    const r = await httpRequest(mv.api + path, { headers: { 'DF-API-KEY': API_KEY } });
    ms.push(performance.now() - t0);
    if (r.status !== 200) throw new Error(`${path}: HTTP ${r.status} ${r.body.toString().slice(0, 200)}`);
  }
  return percentile(ms, 99);
}

const report = new Report('Scale-out (PostgreSQL + S3 on Swift) against embedded (SQLite + directory), indicative: shared machine', opts);
const svc = await services();
const uploadId = hex(16);
const scaleEnv = {
  ...svc.aws,
  MAPVAULT_CATALOG_URL: await freshDatabase(svc.pgUrl),
  MAPVAULT_BLOB_URL: (() => {
    const u = new URL(svc.s3Url);
    return `s3://${u.host}/bench-${hex(6)}/${u.search}`;
  })(),
  MAPVAULT_KEY_PEPPER: hex(32),
};
// Explicitly empty for the embedded node, whatever the shell exported (README's several-nodes section exports them).
const embeddedEnv = { MAPVAULT_CATALOG_URL: '', MAPVAULT_BLOB_URL: '' };
const embeddedDir = await tempDir('mv-embedded');
const scaleDir = await tempDir('mv-scale');
let scale: MapvaultProc | null = null;
let embedded: MapvaultProc | null = null;
try {
  log(`seeding both catalogs with ${ROWS} sourcemaps and a ${ROWS}-part task`);
  await seed(embeddedDir, embeddedEnv, uploadId);
  await seed(scaleDir, scaleEnv, uploadId);
  scale = await startMapvault(scaleDir, { env: scaleEnv });
  embedded = await startMapvault(embeddedDir, { env: embeddedEnv });
  const nodes = { scale, embedded };

  const archive = cachedRandomZip(ARCHIVE_BYTES);
  log(`${opts.runs} runs: upload + merge of ${ARCHIVE_BYTES / MiB} MiB`);
  const big = await interleaved(
    opts.runs,
    (i) => uploadZip(nodes.scale.api, archive, ARCHIVE_BYTES, { appId: 'archive', version: `s${i}` }),
    (i) => uploadZip(nodes.embedded.api, archive, ARCHIVE_BYTES, { appId: 'archive', version: `e${i}` }),
  );
  report.ratioRow(
    `upload + merge of a ${ARCHIVE_BYTES / MiB} MiB archive (10 MiB parts, 4 at a time)`,
    's',
    big.a.map((t) => t.totalMs / 1000),
    big.b.map((t) => t.totalMs / 1000),
    2,
  );
  report.ratioRow(
    '  of which the merge',
    's',
    big.a.map((t) => t.mergeMs / 1000),
    big.b.map((t) => t.mergeMs / 1000),
    null,
  );

  const many = await manyFilesZip(MANY_FILES);
  const manyBytes = statSync(many).size;
  log(`${opts.runs} runs: merge of a ${MANY_FILES}-file archive (${(manyBytes / MiB).toFixed(1)} MiB)`);
  const files = await interleaved(
    opts.runs,
    (i) => uploadZip(nodes.scale.api, many, manyBytes, { appId: 'many', version: `s${i}` }),
    (i) => uploadZip(nodes.embedded.api, many, manyBytes, { appId: 'many', version: `e${i}` }),
  );
  for (const t of [...files.a, ...files.b])
    if (t.merge.fileCount !== MANY_FILES) throw new Error(`merge stored ${t.merge.fileCount} files`);
  report.ratioRow(
    `merge of a ${MANY_FILES}-file archive`,
    's',
    files.a.map((t) => t.mergeMs / 1000),
    files.b.map((t) => t.mergeMs / 1000),
    2,
  );

  for (const [name, path] of [
    [`list, app with ${ROWS - 10} sourcemaps (kept answer, validated per request): p99 of ${requests}`, '/list?appId=big'],
    [`part_list, task with ${ROWS} parts: p99 of ${requests}`, `/part_list?uploadId=${uploadId}`],
  ] as const) {
    await p99(nodes.scale, path);
    await p99(nodes.embedded, path);
    const r = await interleaved(
      opts.runs,
      () => p99(nodes.scale, path),
      () => p99(nodes.embedded, path),
    );
    report.ratioRow(name, 'ms', r.a, r.b, 2);
  }

  const bm = await bigMap();
  const { stacks } = stacksFor(bm.map, 50, 20);
  for (const node of [nodes.scale, nodes.embedded]) await uploadZip(node.api, bm.zip, bm.zipBytes, { appId: 'resolve', version: 'warm' });
  const warm = async (node: MapvaultProc) => {
    const ms: number[] = [];
    for (const stack of stacks) {
      const t0 = performance.now();
      await callApi(node.api, '/parse_stack', { appId: 'resolve', version: 'warm', stack });
      ms.push(performance.now() - t0);
    }
    return percentile(ms, 50);
  };
  await warm(nodes.scale);
  await warm(nodes.embedded);
  const w = await interleaved(
    opts.runs,
    () => warm(nodes.scale),
    () => warm(nodes.embedded),
  );
  report.ratioRow(
    `warm parse_stack, 20 frames into a ${(bm.mapBytes / MiB).toFixed(0)} MiB map: p50 of ${stacks.length}`,
    'ms',
    w.a,
    w.b,
    2,
  );

  const cold = async (node: MapvaultProc, version: string) => {
    await uploadZip(node.api, bm.zip, bm.zipBytes, { appId: 'resolve', version });
    const t0 = performance.now();
    await callApi(node.api, '/parse_stack', { appId: 'resolve', version, stack: stacks[0] });
    return performance.now() - t0;
  };
  const c = await interleaved(
    opts.runs,
    (i) => cold(nodes.scale, `cold-s${i}`),
    (i) => cold(nodes.embedded, `cold-e${i}`),
  );
  report.ratioRow('cold parse_stack (first after uploading the map under a new version)', 'ms', c.a, c.b, 2);
} catch (err) {
  // The servers' own words say why (a crash, a refused request); the bench's error alone often does not.
  for (const [name, node] of [
    ['scale-out', scale],
    ['embedded', embedded],
  ] as const) {
    if (node) process.stderr.write(`--- ${name} node output (last 4000 characters) ---\n${node.output().slice(-4000)}\n`);
  }
  throw err;
} finally {
  await scale?.stop();
  await embedded?.stop();
  if (!opts.keep) {
    await removeDir(embeddedDir);
    await removeDir(scaleDir);
    // The bucket prefix holds a few GiB after a full run.
    const blobs = await S3BlobStore.open(parseS3Url(scaleEnv.MAPVAULT_BLOB_URL));
    for (const prefix of ['trees/', 'uploads/']) await blobs.deletePrefix(prefix);
    blobs.close();
  }
  report.finish();
}
