/**
 * `mapvault inject <dir>` on a real esbuild build (which emits no debug IDs): deterministic,
 * idempotent, sourceMappingURL kept last, mappings unchanged, IDs read back by the resolver's readers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { TraceMap, originalPositionFor } from '@jridgewell/trace-mapping';
import { runCli } from './helpers.ts';
import { findSourceMappingURL } from '../../src/symbolicate/locate.ts';
import { mapDebugId, scriptDebugId } from '../../src/symbolicate/debug-id.ts';

async function esbuildDist(): Promise<string> {
  const src = await mkdtemp(join(tmpdir(), 'mapvault-inject-src-'));
  await writeFile(
    join(src, 'a.ts'),
    "export function boom(n: number): number {\n  if (n < 0) throw new Error('neg');\n  return n * 2;\n}\n",
  );
  await writeFile(
    join(src, 'main.ts'),
    "import { boom } from './a.ts';\nexport const run = () => boom(-1);\nexport const lazy = () => import('./a.ts');\n",
  );
  const out = join(src, 'dist');
  await build({
    entryPoints: [join(src, 'main.ts')],
    bundle: true,
    minify: true,
    splitting: true,
    format: 'esm',
    sourcemap: 'linked',
    outdir: out,
    logLevel: 'silent',
  });
  return out;
}

async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const f of await readdir(dir)) files[f] = await readFile(join(dir, f), 'utf8');
  return files;
}

test('inject: same IDs on script and map, derived from the map, sourceMappingURL last, mappings intact, idempotent', async () => {
  const dist = await esbuildDist();
  const copy = `${dist}-copy`;
  await cp(dist, copy, { recursive: true });
  try {
    const before = await snapshot(dist);
    const scripts = Object.keys(before).filter((f) => f.endsWith('.js'));
    assert.ok(scripts.length >= 2, 'an entry and a chunk');
    for (const f of scripts) assert.equal(scriptDebugId(before[f]!), null);

    const first = await runCli(['inject', dist]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, new RegExp(`${scripts.length} scripts injected`));
    const after = await snapshot(dist);
    for (const f of scripts) {
      const id = scriptDebugId(after[f]!);
      assert.ok(id, f);
      assert.equal(mapDebugId(JSON.parse(after[`${f}.map`]!)), id, `${f}: script and map agree`);
      assert.equal(findSourceMappingURL(after[f]!), `${f}.map`, `${f}: the sourceMappingURL comment is still found (still last)`);
      assert.match(after[f]!.trimEnd().split('\n').at(-1)!, /^\/\/# sourceMappingURL=/);
      // Every generated position maps exactly as before.
      const was = new TraceMap(before[`${f}.map`]!);
      const now = new TraceMap(after[`${f}.map`]!);
      const lines = before[f]!.split('\n');
      for (let line = 1; line <= lines.length; line++) {
        for (let column = 0; column < lines[line - 1]!.length; column += 7) {
          assert.deepEqual(originalPositionFor(now, { line, column }), originalPositionFor(was, { line, column }));
        }
      }
      assert.equal(after[f]!.replace(/\/\/# debugId=[0-9a-f-]+\n/, ''), before[f]!, `${f}: only the comment was added`);
    }

    const second = await runCli(['inject', dist]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /0 scripts injected, \d+ already had one/);
    assert.deepEqual(await snapshot(dist), after, 'a second run changes nothing');

    // Deterministic: another copy of the same build gets the same IDs.
    assert.equal((await runCli(['inject', copy])).code, 0);
    assert.deepEqual(await snapshot(copy), after);

    // An ID on one side only is copied to the other; disagreeing sides are reported and left alone.
    const f = scripts[0]!;
    await writeFile(join(copy, `${f}.map`), before[`${f}.map`]!); // map loses its ID; the script keeps it
    assert.equal((await runCli(['inject', copy])).code, 0);
    assert.equal(mapDebugId(JSON.parse(await readFile(join(copy, `${f}.map`), 'utf8'))), scriptDebugId(after[f]!));
    await writeFile(
      join(copy, `${f}.map`),
      JSON.stringify({ ...JSON.parse(before[`${f}.map`]!), debug_id: '00000000-0000-4000-8000-000000000000' }),
    );
    const mismatch = await runCli(['inject', copy]);
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, /has debug ID .* but .* has 00000000-0000-4000-8000-000000000000/);
  } finally {
    await rm(join(dist, '..'), { recursive: true, force: true });
    await rm(copy, { recursive: true, force: true });
  }
});
