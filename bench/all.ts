/**
 * Runs every bench in turn (each in its own process) and prints one combined table at the end.
 *
 *   npm run bench -- [--runs N] [--quick] [--only upload,resolve,cold,catalog,cli,java,scale,console]
 *
 * Arguments other than --only are passed to each bench. The combined table (markdown) is also
 * written to .bench-work/mv/results/all.md, with the machine's description.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { ROOT, TABLE_HEADER, WORK, formatRow, type Row } from './lib.ts';

const BENCHES: Record<string, string> = {
  upload: 'upload.ts',
  resolve: 'resolve.ts',
  cold: 'resolve-cold.ts',
  catalog: 'catalog.ts',
  cli: 'cli.ts',
  java: 'java-retrace.ts',
  scale: 'scale-out.ts',
  console: 'console.ts',
};
const args = process.argv.slice(2);
const onlyIdx = args.findIndex((a) => a === '--only' || a.startsWith('--only='));
let only = Object.keys(BENCHES);
if (!process.env.MAPVAULT_TEST_CHROMIUM) {
  // The console bench drives Chromium: without it, run the rest (an explicit --only console still fails loudly).
  only = only.filter((b) => b !== 'console');
  process.stderr.write(
    'MAPVAULT_TEST_CHROMIUM is unset: skipping the console bench (eval "$(scripts/services/chromium.sh start)" to include it)\n',
  );
}
if (onlyIdx >= 0) {
  const a = args[onlyIdx]!;
  const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : args[onlyIdx + 1]!;
  args.splice(onlyIdx, a.includes('=') ? 1 : 2);
  only = v.split(',');
  for (const o of only) if (!BENCHES[o]) throw new Error(`--only: unknown bench "${o}" (${Object.keys(BENCHES).join(', ')})`);
}

const results = join(WORK, 'results');
mkdirSync(results, { recursive: true });
const started = new Date();
const load0 = loadavg();
const t0 = performance.now();
const sections: string[] = [];
const failed: string[] = [];
for (const name of only) {
  const json = join(results, `${name}.json`);
  const code = await new Promise<number | null>((res) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', BENCHES[name]!), ...args, '--json', json], {
      cwd: ROOT,
      stdio: 'inherit',
    });
    p.once('exit', (c) => res(c));
  });
  if (code !== 0) {
    failed.push(name);
    continue;
  }
  const { title, rows } = JSON.parse(readFileSync(json, 'utf8')) as { title: string; rows: Row[] };
  sections.push(`**${title}**\n\n${TABLE_HEADER}\n${rows.map(formatRow).join('\n')}`);
}
const load1 = loadavg();
const header = [
  `Date: ${started.toISOString().replace('T', ' ').slice(0, 16)} UTC · Node ${process.version} · ${cpus().length} × ${cpus()[0]?.model.trim() ?? '?'}`,
  `Load average at start ${load0.map((x) => x.toFixed(2)).join(' ')}, at end ${load1.map((x) => x.toFixed(2)).join(' ')} · total ${((performance.now() - t0) / 60000).toFixed(1)} min · args: ${args.join(' ') || '(defaults: --runs 5)'}`,
].join('\n');
const out = `${header}\n\n${sections.join('\n\n')}\n`;
writeFileSync(join(results, 'all.md'), out);
process.stdout.write(`\n# All benchmarks\n\n${out}`);
if (failed.length > 0) {
  process.stderr.write(`\nfailed: ${failed.join(', ')}\n`);
  process.exit(1);
}
