/**
 * Inputs for the resolution benches: one big real sourcemap and V8 stacks pointing into it.
 *
 * The map: esbuild bundles + minifies TypeScript's compiler (`typescript/lib/typescript.js`, ~9 MB
 * of real JS) with an external sourcemap (sourcesContent included), → static/js/ts.js(.map).
 * The project's own `typescript` dependency is TypeScript 7 (a native binary, no typescript.js),
 * so the 5.x JS compiler is fetched once with `npm pack typescript@5.9.3` into the bench cache
 * (set MAPVAULT_BENCH_TS_JS=/path/to/typescript.js to use another file instead).
 */
import { build } from 'esbuild';
import { createWriteStream, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { TraceMap, eachMapping, originalPositionFor } from '@jridgewell/trace-mapping';
import yazl from 'yazl';
import { CACHE, ROOT, log, run } from './lib.ts';

export const TS_VERSION = '5.9.3';
export const CDN = 'https://cdn.example.com';
export const MAP_PATH_IN_ZIP = 'static/js/ts.js.map';
export const SCRIPT_URL = `${CDN}/static/js/ts.js`;

/** typescript.js: the project's if it has one, else the cached 5.x tarball (fetched once with npm pack). */
export async function typescriptJs(): Promise<string> {
  const candidates = [
    process.env.MAPVAULT_BENCH_TS_JS,
    join(ROOT, 'node_modules/typescript/lib/typescript.js'),
    join(CACHE, 'package/lib/typescript.js'),
  ];
  for (const c of candidates) if (c && existsSync(c)) return c;
  mkdirSync(CACHE, { recursive: true });
  log(`fetching typescript@${TS_VERSION} (npm pack) into ${CACHE} for its lib/typescript.js`);
  await run('npm', ['pack', `typescript@${TS_VERSION}`, '--silent'], { cwd: CACHE });
  await run('tar', ['xzf', `typescript-${TS_VERSION}.tgz`], { cwd: CACHE });
  return join(CACHE, 'package/lib/typescript.js');
}

export interface BigMap {
  /** The minified bundle and its map on disk. */
  js: string;
  map: string;
  mapBytes: number;
  /** A zip holding the map at static/js/ts.js.map (deflated). */
  zip: string;
  zipBytes: number;
}

export async function bigMap(): Promise<BigMap> {
  const dir = join(CACHE, 'tsmap');
  const js = join(dir, 'static/js/ts.js');
  const map = js + '.map';
  const zip = join(dir, 'ts-map.zip');
  if (!existsSync(zip)) {
    const entry = await typescriptJs();
    log(`bundling ${entry} with esbuild (minify, external sourcemap)`);
    mkdirSync(join(dir, 'static/js'), { recursive: true });
    await build({
      entryPoints: [entry],
      bundle: true,
      minify: true,
      sourcemap: 'external',
      platform: 'node',
      format: 'cjs',
      outfile: js,
      logLevel: 'silent',
      legalComments: 'none',
    });
    const z = new yazl.ZipFile();
    z.addFile(map, MAP_PATH_IN_ZIP, { compress: true });
    z.end();
    await pipeline(z.outputStream, createWriteStream(zip + '.tmp'));
    await run('mv', [zip + '.tmp', zip]);
  }
  return { js, map, mapBytes: statSync(map).size, zip, zipBytes: statSync(zip).size };
}

/** Small deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Stacks {
  /** V8-format stacks, `framesPerStack` frames each, all at generated positions that have a mapping. */
  stacks: string[];
  framesPerStack: number;
  /** The generated positions used (1-based line, 1-based column, as browsers print them). */
  positions: Array<[number, number]>;
}

/** `count` V8 stacks of `framesPerStack` frames at real mapped positions of the map, cached. */
export function stacksFor(mapFile: string, count: number, framesPerStack = 20, seed = 42): Stacks {
  const file = join(CACHE, `stacks-${count}x${framesPerStack}-${seed}.json`);
  if (existsSync(file) && statSync(file).mtimeMs > statSync(mapFile).mtimeMs) return JSON.parse(readFileSync(file, 'utf8')) as Stacks;
  const tm = new TraceMap(readFileSync(mapFile, 'utf8'));
  const gen: number[] = []; // pairs: generated line (1-based), generated column (0-based)
  const names: (string | null)[] = [];
  eachMapping(tm, (m) => {
    if (m.source === null) return;
    gen.push(m.generatedLine, m.generatedColumn);
    names.push(m.name);
  });
  const rnd = prng(seed);
  const positions: Array<[number, number]> = [];
  const stacks: string[] = [];
  for (let s = 0; s < count; s++) {
    const lines = [`TypeError: Cannot read properties of undefined (reading 'kind') #${s}`];
    for (let f = 0; f < framesPerStack; f++) {
      const k = Math.floor(rnd() * names.length);
      const line = gen[2 * k]!,
        col = gen[2 * k + 1]! + 1;
      // Sanity: the position must resolve (it is a mapping's own start).
      if (originalPositionFor(tm, { line, column: col - 1 }).source === null) throw new Error('picked an unmapped position');
      positions.push([line, col]);
      lines.push(`    at ${names[k] ?? `fn${f}`} (${SCRIPT_URL}:${line}:${col})`);
    }
    stacks.push(lines.join('\n'));
  }
  const out: Stacks = { stacks, framesPerStack, positions };
  writeFileSync(file, JSON.stringify(out));
  return out;
}
