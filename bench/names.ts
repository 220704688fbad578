/**
 * Original function names (issue #12 §1): accuracy of `originalFunction` on the real-bundles
 * fixture (test/fixtures/real-bundles: one app bundled by webpack 5, rollup + terser, esbuild
 * --minify and vite build; stacks recorded in chromium and firefox-esr), per bundler and browser.
 * A frame counts when it resolves; it is right when originalFunction equals the oracle's name
 * (test/helpers/function-oracle.ts, which parses the original source).
 *
 *   npm run bench:names [-- --misses]
 *
 * Accuracy is not timing: the same figures are asserted (≥ 90 %) by
 * test/symbolicate/names-real-bundles.test.ts. Also printed: the time to compute each script's
 * function ranges (acorn parse + name mapping), for the merge-time budget.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packSourceMap, SourceMapIndex } from '../src/symbolicate/sourcemap.ts';
import { computeFunctionRanges } from '../src/symbolicate/names/index.ts';
import { indexMappings } from '../src/symbolicate/names/frame-names.ts';
import { BUNDLERS, FIXTURE_DIR, scoreNames } from '../test/helpers/real-bundles.ts';
import type { Score } from '../test/helpers/real-bundles.ts';

const showMisses = process.argv.includes('--misses');
function table(title: string, scores: Score[]): void {
  console.log(`\n${title}\n`);
  console.log('| bundler | browser | resolved frames | right originalFunction | accuracy |');
  console.log('| --- | --- | ---: | ---: | ---: |');
  for (const s of scores) {
    console.log(`| ${s.bundler} | ${s.browser} | ${s.resolved} | ${s.correct} | ${((100 * s.correct) / s.resolved).toFixed(1)} % |`);
  }
  const total = scores.reduce((a, s) => ({ resolved: a.resolved + s.resolved, correct: a.correct + s.correct }), {
    resolved: 0,
    correct: 0,
  });
  console.log(`| all | both | ${total.resolved} | ${total.correct} | ${((100 * total.correct) / total.resolved).toFixed(1)} % |`);
  if (showMisses) {
    for (const s of scores) {
      for (const m of s.misses)
        console.log(
          `miss ${s.bundler}/${s.browser} ${m.scenario}: ${m.frame} → ${m.source}:${m.line}:${m.column} got ${m.got}, oracle ${m.want}`,
        );
    }
  }
}

table('Maps as built (with sourcesContent):', await scoreNames());
table('The same maps without sourcesContent (names from `names` only):', await scoreNames({ withoutSourcesContent: true }));
// Maps uploaded without their scripts: no ranges, so each frame is named at its caller's call site
// (the `names` entry there), else by the minified name the stack printed.
table(
  'The maps alone, scripts not stored (caller call-site names, then minified names):',
  await scoreNames({ omit: (p) => p.endsWith('.js') }),
);
console.log('');

// Range computation time per script (median of 20), to size the merge-time work.
const bundleScripts: Record<string, string> = {
  webpack: 'webpack/main.js',
  rollup: 'rollup/main.chunk.js',
  esbuild: 'esbuild/main.js',
  vite: 'vite/assets/',
};
for (const bundler of BUNDLERS) {
  let script = bundleScripts[bundler]!;
  if (script.endsWith('/')) {
    const { readdirSync } = await import('node:fs');
    script += readdirSync(join(FIXTURE_DIR, 'dist', script)).find((f) => f.startsWith('index-') && f.endsWith('.js'))!;
  }
  const text = readFileSync(join(FIXTURE_DIR, 'dist', script), 'utf8');
  const index = new SourceMapIndex(packSourceMap(readFileSync(join(FIXTURE_DIR, 'dist', `${script}.map`))));
  const times: number[] = [];
  let count = 0;
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    count = computeFunctionRanges({ map: null, script: text, mappings: indexMappings(index) }).ranges?.length ?? 0;
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  console.log(`${bundler}: ${script} (${text.length} bytes): ${count} function ranges in ${times[10]!.toFixed(2)} ms`);
}

// The big real bundle of the other benches (TypeScript's compiler, esbuild --minify): range
// computation for a multi-MiB script, done once per map load today (at merge time once the
// lookup index stores the ranges).
{
  const { bigMap } = await import('./fixtures.ts');
  const big = await bigMap();
  const text = readFileSync(big.js, 'utf8');
  const index = new SourceMapIndex(packSourceMap(readFileSync(big.map)));
  const times: number[] = [];
  const cpus: number[] = [];
  let count = 0;
  for (let i = 0; i < 5; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    count = computeFunctionRanges({ map: null, script: text, mappings: indexMappings(index) }).ranges?.length ?? 0;
    times.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpus.push((c.user + c.system) / 1000);
  }
  times.sort((a, b) => a - b);
  cpus.sort((a, b) => a - b);
  const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
  console.log(
    `typescript.js bundle: ${mib(text.length)} MiB script, ${mib(big.mapBytes)} MiB map: ${count} function ranges in ${times[2]!.toFixed(0)} ms wall, ${cpus[2]!.toFixed(0)} ms CPU (medians of 5)`,
  );
}
