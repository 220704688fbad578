#!/usr/bin/env node
// Builds the web console (src/console/web) into build/console: two bundles (the page and its zip
// worker), the HTML and CSS, each with .gz and .br twins for @fastify/static's preCompressed.
// Runs as npm's `prepare` step, so `npm install` builds it; the output is never committed.
import { copyFile, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = `${root}src/console/web/`;
// `--out DIR` builds elsewhere (the tests build their own copy, so parallel test files never race).
const outArg = process.argv.indexOf('--out');
const out = outArg > 0 ? `${process.argv[outArg + 1].replace(/\/$/, '')}/` : `${root}build/console/`;

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await build({
  entryPoints: { app: `${src}main.tsx`, 'zip-worker': `${src}zip-worker.ts` },
  outdir: out,
  bundle: true,
  format: 'esm',
  minify: true,
  target: 'es2022',
  platform: 'browser',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'eof',
  logLevel: 'warning',
});
for (const file of ['index.html', 'app.css', 'favicon.svg']) await copyFile(src + file, out + file);

let firstLoadGzip = 0;
for (const file of await readdir(out)) {
  const bytes = await readFile(out + file);
  const gz = gzipSync(bytes, { level: 9 });
  await writeFile(`${out}${file}.gz`, gz);
  await writeFile(`${out}${file}.br`, brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
  if (file === 'app.js') firstLoadGzip += gz.length;
}
process.stderr.write(`web console built in ${out} (app.js: ${(firstLoadGzip / 1024).toFixed(1)} KiB gzip)\n`);
