/**
 * How long does parsing a big sourcemap block the event loop, and what does the worker path buy?
 *
 *   node --import tsx --expose-gc bench/symbolicate-parse.ts [modules=4300]
 *
 * Builds a synthetic TS project (modules × a class with 8 methods + 8 functions) with esbuild
 * (bundle + minify + external sourcemap with sourcesContent) under .bench-work/symbolicate/ —
 * 4300 modules ≈ a 30 MB map, mostly on one generated line, like real minified bundles — then
 * measures main-thread blocking for:
 *   1. trace-mapping inline: JSON.parse + new TraceMap + first originalPositionFor (decode)
 *   2. packSourceMap inline (what StackResolver does under workerThresholdBytes)
 *   3. alternatives for getting a worker's result back to the main thread:
 *      a. decoded nested arrays by structured clone + presortedDecodedMap
 *      b. flat Int32Array (transferred) + rebuilding nested arrays for presortedDecodedMap
 *      c. the JSON text back + new TraceMap + decode on main (= no gain)
 *   4. StackResolver, worker path: the longest event-loop stall during a cold resolve
 *   5. StackResolver, warm resolve (cache hit)
 * "blocked" for async paths = the longest gap seen by a 1 ms interval timer during the operation.
 */
import { build } from 'esbuild';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { TraceMap, originalPositionFor, presortedDecodedMap } from '@jridgewell/trace-mapping';
import type { SourceMapSegment } from '@jridgewell/trace-mapping';
import { StackResolver } from '../src/symbolicate/index.ts';
import type { TreeSource } from '../src/symbolicate/index.ts';
import { packSourceMap, SourceMapIndex } from '../src/symbolicate/sourcemap.ts';

const N = Number(process.argv[2] ?? 4300);
const dir = join(process.cwd(), '.bench-work', 'symbolicate', `n${N}`);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

async function generate(): Promise<void> {
  if (existsSync(join(dir, 'out', 'app.js.map'))) return;
  mkdirSync(join(dir, 'src'), { recursive: true });
  let index = '';
  for (let i = 0; i < N; i++) {
    let s = `export class Widget${i} {\n  private items: number[] = [];\n  constructor(public name: string, private factor = ${i}) {}\n`;
    for (let m = 0; m < 8; m++) {
      s += `  method${m}(input: number): number {\n    let total = this.factor * ${m};\n    for (const item of this.items) {\n`;
      s += `      if (item % ${m + 2} === 0) total += item * input;\n      else total -= Math.floor(item / ${m + 1});\n    }\n`;
      s += `    if (total > ${1000 * m}) throw new Error('overflow in ${i}.${m}: ' + this.name);\n`;
      s += `    return total + helper${i}_${m}(input, this.name.length);\n  }\n`;
    }
    s += '}\n';
    for (let m = 0; m < 8; m++) {
      s += `export function helper${i}_${m}(a: number, b: number): number {\n  const label = \`h${i}_${m}:\${a}:\${b}\`;\n  return label.length + a * ${m} - b;\n}\n`;
    }
    writeFileSync(join(dir, 'src', `mod${i}.ts`), s);
    index += `import { Widget${i} } from './mod${i}.ts';\nexport const w${i} = new Widget${i}('w${i}');\n`;
  }
  writeFileSync(join(dir, 'src', 'index.ts'), index);
  await build({
    entryPoints: [join(dir, 'src', 'index.ts')],
    bundle: true,
    minify: true,
    sourcemap: 'external',
    outfile: join(dir, 'out', 'app.js'),
    format: 'esm',
    logLevel: 'error',
  });
}

function monitor(): () => number {
  let max = 0;
  let last = performance.now();
  const t = setInterval(() => {
    const now = performance.now();
    max = Math.max(max, now - last);
    last = now;
  }, 1);
  return () => {
    clearInterval(t);
    return Math.max(max, performance.now() - last);
  };
}

const ms = (x: number) => `${x.toFixed(0)} ms`;
const settle = () => new Promise((r) => setTimeout(r, 50));

/** A worker (plain JS, no TS loader needed) that decodes with trace-mapping and replies in one of the alternative shapes. */
function altWorker(): Worker {
  const tm = createRequire(import.meta.url).resolve('@jridgewell/trace-mapping');
  return new Worker(
    `const { parentPort } = require('worker_threads');
const { AnyMap, decodedMappings } = require(${JSON.stringify(tm)});
parentPort.on('message', ({ bytes, mode }) => {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  if (mode === 'json') return parentPort.postMessage({ text });
  const map = AnyMap(JSON.parse(text));
  const dec = decodedMappings(map);
  const meta = { sources: map.sources, sourcesContent: map.sourcesContent, names: map.names };
  if (mode === 'nested') return parentPort.postMessage({ meta, mappings: dec });
  let n = 0; for (const l of dec) n += l.length;
  const segs = new Int32Array(n * 5), starts = new Uint32Array(dec.length + 1);
  let k = 0;
  dec.forEach((line, i) => { starts[i] = k / 5; for (const s of line) { for (let j = 0; j < 5; j++) segs[k + j] = j < s.length ? s[j] : -1; k += 5; } });
  starts[dec.length] = n;
  parentPort.postMessage({ meta, segs, starts }, [segs.buffer, starts.buffer]);
});`,
    { eval: true },
  );
}

async function alternative(w: Worker, bytes: Buffer, mode: 'nested' | 'flat' | 'json'): Promise<{ blocked: number; wall: number }> {
  gc();
  await settle();
  const copy = new Uint8Array(bytes);
  const stop = monitor();
  const t0 = performance.now();
  const msg = await new Promise<any>((res) => {
    w.once('message', res);
    w.postMessage({ bytes: copy, mode }, [copy.buffer]);
  });
  let map: TraceMap;
  if (mode === 'json') map = new TraceMap(msg.text);
  else if (mode === 'nested') map = presortedDecodedMap({ version: 3, ...msg.meta, mappings: msg.mappings });
  else {
    const { segs, starts } = msg as { segs: Int32Array; starts: Uint32Array };
    const lines: SourceMapSegment[][] = [];
    for (let i = 0; i + 1 < starts.length; i++) {
      const line: SourceMapSegment[] = [];
      for (let s = starts[i]!; s < starts[i + 1]!; s++) {
        const o = s * 5;
        if (segs[o + 1]! < 0) line.push([segs[o]!]);
        else if (segs[o + 4]! < 0) line.push([segs[o]!, segs[o + 1]!, segs[o + 2]!, segs[o + 3]!]);
        else line.push([segs[o]!, segs[o + 1]!, segs[o + 2]!, segs[o + 3]!, segs[o + 4]!]);
      }
      lines.push(line);
    }
    map = presortedDecodedMap({ version: 3, ...msg.meta, mappings: lines });
  }
  originalPositionFor(map, { line: 1, column: 100 });
  const wall = performance.now() - t0;
  await settle();
  return { blocked: stop(), wall };
}

await generate();
const mapPath = join(dir, 'out', 'app.js.map');
const bytes = readFileSync(mapPath);
const parsed = JSON.parse(bytes.toString('utf8'));
console.log(
  `map: ${(bytes.length / 1e6).toFixed(1)} MB (mappings ${(parsed.mappings.length / 1e6).toFixed(1)} MB, sourcesContent ${(parsed.sourcesContent.join('').length / 1e6).toFixed(1)} MB, ${parsed.sources.length} sources, ${parsed.mappings.split(';').length} generated line(s))`,
);

for (let round = 0; round < 2; round++) {
  gc();
  const t0 = performance.now();
  const tm = new TraceMap(JSON.parse(bytes.toString('utf8')));
  const t1 = performance.now();
  originalPositionFor(tm, { line: 1, column: 100 });
  const t2 = performance.now();
  console.log(
    `1. trace-mapping inline (round ${round + 1}): parse+TraceMap ${ms(t1 - t0)} + first lookup/decode ${ms(t2 - t1)} = blocked ${ms(t2 - t0)}`,
  );
}
for (let round = 0; round < 2; round++) {
  gc();
  const t0 = performance.now();
  const ix = new SourceMapIndex(packSourceMap(bytes));
  console.log(
    `2. packSourceMap inline (round ${round + 1}): blocked ${ms(performance.now() - t0)} (packed size ${(ix.cost / 1e6).toFixed(1)} MB)`,
  );
}

const w = altWorker();
await new Promise((r) => w.once('online', r));
for (const mode of ['nested', 'flat', 'json'] as const) {
  const { blocked, wall } = await alternative(w, bytes, mode);
  console.log(`3. worker alternative "${mode}": main blocked ${ms(blocked)}, wall ${ms(wall)}`);
}
await w.terminate();

const tree: TreeSource = {
  id: 'bench',
  listFiles: async () => ['app.js.map'],
  fileInfo: async (p) => (p === 'app.js.map' ? { size: bytes.length, sha256: '' } : null),
  readFile: async (p) => (p === 'app.js.map' ? bytes : null),
};
const stack = `Error: x\n    at f (https://cdn.example.com/app.js:1:100)`;
for (const [label, threshold] of [
  ['worker', 0],
  ['inline', Infinity],
] as const) {
  const r = new StackResolver({ workerThresholdBytes: threshold });
  if (label === 'worker') {
    // Start the worker first so its one-off startup (tsx loading the module) is not counted.
    await r.resolve(
      { ...tree, id: 'warmup', readFile: async () => Buffer.from('{"version":3,"sources":[],"names":[],"mappings":""}') },
      { stack },
    );
  }
  gc();
  await settle();
  const stop = monitor();
  const t0 = performance.now();
  const res = await r.resolve(tree, { stack });
  const wall = performance.now() - t0;
  await settle();
  const blocked = stop();
  const t1 = performance.now();
  await r.resolve(tree, { stack });
  const warm = performance.now() - t1;
  console.log(
    `${label === 'worker' ? 4 : 2}'. StackResolver ${label}: cold resolve wall ${ms(wall)}, longest event-loop stall ${ms(blocked)}; warm resolve ${(warm).toFixed(2)} ms; resolved=${res.frames[0]!.resolved}`,
  );
  await r.close();
}
