/**
 * Target 6: the CLI, end to end — `mapvault upload <dir>` of a build directory with 2 000 maps
 * totalling 300 MB — against what the public Guance scripts do: `zip -r` the directory, `split`
 * it into 10 MB parts, and `curl` init, each part, and merge, one after the other.
 *
 *   npm run bench:cli -- [--runs N] [--quick]
 *
 * Both talk to the same `node bin/mapvault serve` (its own process), each run under a new
 * version. The time of each is wall clock from starting the command to its exit, including the
 * CLI's own start-up (tsx) and the server's merge. The maps are synthetic but map-like: JSON with
 * a slice of real JS (TypeScript's compiler) as sourcesContent and a slice of a real mappings
 * string, so they compress like real maps (~3–4:1).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bigMap, prng, typescriptJs } from './fixtures.ts';
import { API_KEY, CACHE, ROOT, Report, callApi, interleaved, log, parseArgs, removeDir, run, startMapvault, tempDir } from './lib.ts';

const opts = parseArgs();
const FILES = opts.quick ? 200 : 2000;
const TOTAL = opts.quick ? 30 * 1000 * 1000 : 300 * 1000 * 1000;

async function buildDir(): Promise<string> {
  const dir = join(CACHE, `cli-dist-${FILES}-${TOTAL}`);
  if (existsSync(join(dir, '.done'))) return dir;
  log(`generating ${FILES} maps, ${(TOTAL / 1e6).toFixed(0)} MB in all, under ${dir}`);
  const code = readFileSync(await typescriptJs(), 'utf8');
  const mappings = (JSON.parse(readFileSync((await bigMap()).map, 'utf8')) as { mappings: string }).mappings;
  const rnd = prng(7);
  const each = Math.floor(TOTAL / FILES);
  for (let i = 0; i < FILES; i++) {
    const sub = join(dir, 'static', 'js', `chunk-${Math.floor(i / 200)}`);
    mkdirSync(sub, { recursive: true });
    const contentLen = Math.floor(each * 0.62);
    const mapLen = each - contentLen - 200;
    const c0 = Math.floor(rnd() * (code.length - contentLen));
    let m0 = Math.floor(rnd() * (mappings.length - mapLen));
    while (m0 > 0 && mappings[m0 - 1] !== ';' && mappings[m0 - 1] !== ',') m0--; // start on a segment
    const map = {
      version: 3,
      file: `page-${i}.js`,
      sources: [`webpack://app/src/pages/page-${i}.ts`],
      names: [],
      sourcesContent: [code.slice(c0, c0 + contentLen)],
      mappings: mappings.slice(m0, m0 + mapLen),
    };
    writeFileSync(join(sub, `page-${i}.${((i * 2654435761) >>> 0).toString(16)}.js.map`), JSON.stringify(map));
  }
  writeFileSync(join(dir, '.done'), '');
  return dir;
}

/** The public scripts' way, as the README walk-through does it: zip -r, split, curl per part. */
const SCRIPT = String.raw`
set -euo pipefail
cd "$SRC"
rm -f "$WORK/app.zip" "$WORK"/chunk_*
zip -r -q "$WORK/app.zip" static
cd "$WORK"
split -b 10m -d -a 6 app.zip chunk_
init=$(curl -sf "$API/multipart_upload_init" -H "DF-API-KEY: $KEY" -H 'Content-Type: application/json' \
  -d "{\"appId\":\"$APP\",\"version\":\"$VERSION\",\"env\":\"bench\",\"needCover\":false}")
upload=$(printf '%s' "$init" | grep -o '"uploadId":"[A-Za-z0-9]*"' | cut -d'"' -f4)
[ -n "$upload" ]
i=0
for c in chunk_*; do
  curl -sf "$API/upload_part" -H "DF-API-KEY: $KEY" -F uploadId=$upload -F chunkIndex=$i -F "files=@$c" >/dev/null
  i=$((i+1))
done
curl -sf "$API/part_merge" -H "DF-API-KEY: $KEY" -H 'Content-Type: application/json' -d "{\"uploadId\":\"$upload\"}" >/dev/null
`;

const src = await buildDir();
const dataDir = await tempDir('mv-cli');
const work = await tempDir('cli-work');
const mv = await startMapvault(dataDir);
const report = new Report('CLI upload (target 6)', opts);
try {
  let n = 0;
  const check = async (version: string) => {
    const list = await callApi<Array<{ version: string; mapCount: number }>>(mv.api, '/list?appId=cli');
    const sm = list.find((x) => x.version === version);
    if (!sm || sm.mapCount !== FILES) throw new Error(`version ${version}: ${JSON.stringify(sm)}`);
  };
  const cliRun = async () => {
    const version = `cli-${n++}-${Date.now()}`;
    const t0 = performance.now();
    await run(process.execPath, [
      join(ROOT, 'bin', 'mapvault'),
      'upload',
      src,
      '--endpoint',
      mv.url,
      '--api-key',
      API_KEY,
      '--app-id',
      'cli',
      '--version',
      version,
      '--env',
      'bench',
      '--concurrency',
      '4',
      '--part-size-mb',
      '10',
      '--state-dir',
      join(work, 'state'),
      '--no-progress',
    ]);
    const ms = performance.now() - t0;
    await check(version);
    return ms;
  };
  const scriptRun = async () => {
    const version = `script-${n++}-${Date.now()}`;
    const t0 = performance.now();
    const proc = await import('node:child_process');
    await new Promise<void>((res, rej) => {
      const p = proc.spawn('bash', ['-c', SCRIPT], {
        env: { ...process.env, SRC: src, WORK: work, API: mv.api, KEY: API_KEY, APP: 'cli', VERSION: version },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      p.stderr.on('data', (b: Buffer) => {
        err += b.toString();
      });
      p.once('exit', (code) => (code === 0 ? res() : rej(new Error(`script exited ${code}: ${err}`))));
    });
    const ms = performance.now() - t0;
    await check(version);
    return ms;
  };
  log(`${opts.runs} runs each, interleaved`);
  const r = await interleaved(opts.runs, cliRun, scriptRun);
  report.ratioRow(
    `mapvault upload <dir>: ${FILES} maps, ${(TOTAL / 1e6).toFixed(0)} MB, 4 parts in flight (floor: zip -r + split + serial curl)`,
    's',
    r.a.map((x) => x / 1000),
    r.b.map((x) => x / 1000),
    1.0,
    '≤ 1.0× (ours)',
  );
} finally {
  await mv.stop();
  if (!opts.keep) await Promise.all([removeDir(dataDir), removeDir(work)]);
  report.finish();
}
