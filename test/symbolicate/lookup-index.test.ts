/**
 * The binary lookup index (src/symbolicate/index/): the index path must answer exactly like the
 * JSON path and like an independent implementation (trace-mapping) — on every position of the
 * real-bundle fixtures and on random positions of a big real map — and the function-range
 * section must answer like a brute-force search.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { TraceMap, encodedMap, originalPositionFor, presortedDecodedMap } from '@jridgewell/trace-mapping';
import type { SourceMapSegment } from '@jridgewell/trace-mapping';
import { SourceMapIndex, packSourceMap } from '../../src/symbolicate/sourcemap.ts';
import { writeIndex, functionTable } from '../../src/symbolicate/index/writer.ts';
import { IndexFormatError, IndexVersionError, indexMapSha256, readIndex } from '../../src/symbolicate/index/reader.ts';
import { FORMAT_VERSION } from '../../src/symbolicate/index/layout.ts';
import type { FunctionRange } from '../../src/symbolicate/names/function-ranges.ts';
import { StackResolver } from '../../src/symbolicate/index.ts';
import { normalizeRelativePath } from '../../src/archive/entry-path.ts';
import { mapIndexPath, mappingIndexPath } from '../../src/storage/blob-keys.ts';
import { MemTree, buildFixture, stackOf } from './fixtures.ts';
import type { Fixture } from './fixtures.ts';

let fx: Fixture;
let big: { map: string; js: string; dir: string };
before(async () => {
  fx = await buildFixture();
  // A big real map: the server's own dependencies (Fastify, ajv, undici, …) bundled and minified.
  const dir = mkdtempSync(join(tmpdir(), 'mapvault-bigmap-'));
  await build({
    stdin: {
      contents:
        "export * from 'fastify'; export * from 'undici'; export * from '@fastify/multipart'; export * from 'yauzl'; export * from 'yazl';",
      resolveDir: process.cwd(),
    },
    bundle: true,
    minify: true,
    sourcemap: 'external',
    platform: 'node',
    format: 'esm',
    outfile: join(dir, 'big.js'),
    logLevel: 'silent',
  });
  big = { map: readFileSync(join(dir, 'big.js.map'), 'utf8'), js: readFileSync(join(dir, 'big.js'), 'utf8'), dir };
});
after(() => {
  fx.cleanup();
  rmSync(big.dir, { recursive: true, force: true });
});

const sha = (s: string | Uint8Array) => createHash('sha256').update(s).digest('hex');
const viaJson = (json: string) => new SourceMapIndex(packSourceMap(Buffer.from(json)));
const viaIndex = (json: string, ranges: FunctionRange[] = []) => readIndex(writeIndex(packSourceMap(Buffer.from(json)), ranges, sha(json)));

function answer(ix: SourceMapIndex, line: number, column: number) {
  const m = ix.lookup(line, column);
  return (
    m && {
      source: ix.source(m.sourceIndex),
      line: m.line,
      column: m.column,
      name: ix.name(m.nameIndex),
      context: ix.context(m.sourceIndex, m.line, 5),
    }
  );
}

test('index = JSON path at every position of the real-bundle fixtures (esbuild builds of a TS project)', () => {
  for (const bundle of [fx.app, fx.other]) {
    const json = bundle.map!;
    const a = viaJson(json);
    const b = viaIndex(json);
    const lines = bundle.js.split('\n');
    for (let line = 1; line <= lines.length + 1; line++) {
      for (let column = 0; column <= (lines[line - 1]?.length ?? 3) + 2; column++) {
        assert.deepEqual(answer(b, line, column), answer(a, line, column), `${line}:${column}`);
      }
    }
    assert.equal(b.lineCount, a.lineCount);
  }
});

test('index = JSON path = trace-mapping on 20 000 random positions of a big real map', () => {
  const a = viaJson(big.map);
  const b = viaIndex(big.map);
  const tm = new TraceMap(big.map);
  const lines = big.js.split('\n');
  assert.ok(big.map.length > 1_000_000, `map is ${big.map.length} bytes`);
  let seed = 1;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  let resolved = 0;
  for (let i = 0; i < 20_000; i++) {
    const line = 1 + rnd(lines.length);
    const column = 1 + rnd(lines[line - 1]!.length + 1);
    const got = answer(b, line, column);
    assert.deepEqual(got, answer(a, line, column), `${line}:${column}`);
    const want = originalPositionFor(tm, { line, column: column - 1 });
    assert.deepEqual(
      got ? [got.source, got.line, got.column - 1, got.name] : [null, null, null, null],
      [want.source, want.line, want.column, want.name],
      `${line}:${column}`,
    );
    if (got) resolved++;
  }
  assert.ok(resolved > 15_000);
});

test('index maps with a section at line 200 000 000 and sources on the ignore list survive the round trip', () => {
  const tiny = (s: string, extra = {}) => ({
    version: 3,
    sources: [s, `node_modules/${s}`],
    names: ['n'],
    mappings: 'AAAAA,EACAA',
    ...extra,
  });
  const json = JSON.stringify({
    version: 3,
    sections: [
      { offset: { line: 0, column: 0 }, map: tiny('a.ts', { ignoreList: [1] }) },
      { offset: { line: 200_000_000, column: 5 }, map: tiny('b.ts', { x_google_ignoreList: [0] }) },
    ],
  });
  const a = viaJson(json);
  const b = viaIndex(json);
  for (const [line, column] of [
    [1, 1],
    [1, 3],
    [200_000_001, 6],
    [200_000_001, 9],
    [100, 1],
    [200_000_002, 1],
  ] as const) {
    assert.deepEqual(answer(b, line, column), answer(a, line, column));
  }
  assert.equal(b.lineCount, 200_000_001);
  assert.deepEqual(
    [0, 1, 2, 3].map((i) => b.ignored(i)),
    [false, true, true, false],
  );
});

test('function ranges: the innermost enclosing range, like a brute-force search over random nestings', () => {
  let seed = 3;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const json = fx.app.map!;
  for (let t = 0; t < 100; t++) {
    // Random properly nested ranges on a 5×60 grid, built as a tree.
    const ranges: FunctionRange[] = [];
    const grow = (sl: number, sc: number, el: number, ec: number, depth: number) => {
      let l = sl;
      let c = sc;
      for (let k = 0; k < 3 && depth < 4; k++) {
        const s = { l, c: c + rnd(5) };
        const e = { l: s.l + rnd(2), c: s.c + 1 + rnd(15) };
        if (e.l > el || (e.l === el && e.c > ec)) break;
        if (s.l === sl && s.c === sc && e.l === el && e.c === ec) continue; // two functions never share one span
        ranges.push({ startLine: s.l, startColumn: s.c, endLine: e.l, endColumn: e.c, name: `f${ranges.length}` });
        grow(s.l, s.c, e.l, e.c, depth + 1);
        l = e.l;
        c = e.c;
      }
    };
    grow(0, 0, 4, 60, 0);
    const ix = viaIndex(
      json,
      [...ranges].sort(() => rnd(3) - 1),
    );
    for (let line = 0; line < 5; line++) {
      for (let column = 0; column < 62; column++) {
        const inside = ranges.filter(
          (r) =>
            (line > r.startLine || (line === r.startLine && column >= r.startColumn)) &&
            (line < r.endLine || (line === r.endLine && column < r.endColumn)),
        );
        // Innermost = the latest start (nesting: a later start inside means a deeper range); on equal starts the shorter one.
        inside.sort(
          (x, y) => x.startLine - y.startLine || x.startColumn - y.startColumn || y.endLine - x.endLine || y.endColumn - x.endColumn,
        );
        assert.equal(ix.enclosingFunction(line + 1, column + 1)?.name ?? null, inside.at(-1)?.name ?? null, `t${t} ${line}:${column}`);
      }
    }
  }
  // Partial overlaps and empty ranges are dropped, not trusted.
  const { table, names } = functionTable([
    { startLine: 0, startColumn: 0, endLine: 0, endColumn: 10, name: 'outer' },
    { startLine: 0, startColumn: 5, endLine: 0, endColumn: 20, name: 'overlaps' },
    { startLine: 0, startColumn: 7, endLine: 0, endColumn: 7, name: 'empty' },
  ]);
  assert.deepEqual(names, ['outer']);
  assert.equal(table.length, 6);
  assert.equal(viaJson(json).enclosingFunction(1, 1), null); // no ranges known: no answer
});

test('versioned file: magic, version and the map sha256 are checked; damaged files are refused, never trusted', () => {
  const json = fx.app.map!;
  const file = writeIndex(packSourceMap(Buffer.from(json)), [], sha(json));
  assert.equal(indexMapSha256(file), sha(json));
  assert.equal(indexMapSha256(writeIndex(packSourceMap(Buffer.from(json)))), null);
  const other = new Uint8Array(file);
  new DataView(other.buffer).setUint32(4, FORMAT_VERSION + 1, true);
  assert.throws(
    () => readIndex(other),
    (e: unknown) => e instanceof IndexVersionError && e.found === FORMAT_VERSION + 1,
  );
  assert.throws(() => readIndex(Buffer.from('not an index at all, just some bytes here')), IndexFormatError);
  assert.throws(() => readIndex(file.subarray(0, file.length - 64)), IndexFormatError); // cut short
  const lying = new Uint8Array(file);
  new DataView(lying.buffer).setUint32(56 + 8 * 3 + 4, 0x7fffffff, true); // STRINGS length past the end
  assert.throws(() => readIndex(lying), IndexFormatError);
  // Unaligned bytes are copied, not misread.
  const unaligned = new Uint8Array(file.length + 1).subarray(1);
  unaligned.set(file);
  assert.deepEqual(answer(readIndex(unaligned), 1, 10), answer(readIndex(file), 1, 10));
  // Random damage inside the tables: lookups stay bounded (no throw, no hang).
  let seed = 9;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let t = 0; t < 200; t++) {
    const bad = new Uint8Array(file);
    for (let k = 0; k < 20; k++) bad[200 + rnd(bad.length - 200)] = rnd(256);
    let ix: SourceMapIndex;
    try {
      ix = readIndex(bad);
    } catch (e) {
      assert.ok(e instanceof IndexFormatError);
      continue;
    }
    for (let i = 0; i < 50; i++) answer(ix, 1 + rnd(4), rnd(400));
  }
});

test('index blobs live under a name no upload can take', () => {
  assert.match(mapIndexPath('static/js/app.js.map'), /^i:\//);
  assert.throws(() => normalizeRelativePath(mapIndexPath('static/js/app.js.map')));
  assert.throws(() => normalizeRelativePath(mappingIndexPath('mapping.txt')));
  assert.throws(() => normalizeRelativePath('i:'));
});

test('resolver: the stored index is read instead of the map; missing, outdated or stale indexes are rebuilt and stored', async () => {
  const stack = await stackOf(fx.app, 'runSync');
  const mapPath = 'static/js/app.js.map';
  class IndexedTree extends MemTree {
    indexes = new Map<string, Uint8Array>();
    indexWrites = 0;
    async readIndex(p: string) {
      return this.indexes.get(p) ?? null;
    }
    async writeIndex(p: string, bytes: Uint8Array) {
      this.indexWrites++;
      this.indexes.set(p, bytes);
    }
  }
  const expected = await new StackResolver().resolve(new MemTree('json', { [mapPath]: fx.app.map! }), { stack });

  const fresh = new IndexedTree('t1', { [mapPath]: fx.app.map! });
  const r1 = new StackResolver();
  assert.deepEqual(await r1.resolve(fresh, { stack }), expected); // no index yet: parsed, and the index stored
  assert.deepEqual([r1.stats().parses, r1.stats().indexReads, fresh.indexWrites], [1, 0, 1]);
  assert.equal(indexMapSha256(fresh.indexes.get(mapPath)!), sha(fx.app.map!));

  const r2 = new StackResolver(); // "after a restart"
  const t2 = new IndexedTree('t2', { [mapPath]: fx.app.map! });
  t2.indexes = fresh.indexes;
  assert.deepEqual(await r2.resolve(t2, { stack }), expected);
  assert.deepEqual([r2.stats().parses, r2.stats().indexReads, t2.reads.includes(mapPath)], [0, 1, false]); // the map itself was not read

  const outdated = new Uint8Array(fresh.indexes.get(mapPath)!);
  new DataView(outdated.buffer).setUint32(4, 999, true);
  const stale = writeIndex(packSourceMap(Buffer.from(fx.other.map!)), [], sha(fx.other.map!)); // built from other bytes
  for (const [label, bytes] of [
    ['outdated version', outdated],
    ['built from other bytes', stale],
  ] as const) {
    const r = new StackResolver();
    const t = new IndexedTree(`t-${label}`, { [mapPath]: fx.app.map! });
    t.indexes.set(mapPath, bytes);
    assert.deepEqual(await r.resolve(t, { stack }), expected, label);
    assert.deepEqual([r.stats().parses, t.indexWrites], [1, 1], label);
    assert.equal(indexMapSha256(t.indexes.get(mapPath)!), sha(fx.app.map!), label);
    await r.close();
  }
  await Promise.all([r1.close(), r2.close()]);
});

test('block-compressed segments: long lines, equal columns across block edges, 1-field segments, int32 extremes', () => {
  let seed = 11;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let t = 0; t < 30; t++) {
    const mappings: SourceMapSegment[][] = Array.from({ length: 1 + rnd(5) }, () => {
      let col = rnd(3);
      return Array.from({ length: rnd(120) }, () => {
        col += rnd(4) === 0 ? 0 : rnd(3); // runs of equal columns, which land on block edges
        const k = rnd(4);
        const big = rnd(5) === 0;
        return k === 0
          ? [col]
          : k === 1
            ? [col, rnd(3), big ? 2 ** 31 - 1 - rnd(3) : rnd(50), big ? rnd(2 ** 30) : rnd(80)]
            : [col, rnd(3), rnd(50), rnd(80), big ? 2 ** 31 - 2 : rnd(4)];
      }) as SourceMapSegment[];
    });
    const json = JSON.stringify(
      encodedMap(presortedDecodedMap({ version: 3, sources: ['a.ts', 'b.ts', 'c.ts'], names: ['n0', 'n1', 'n2', 'n3'], mappings })),
    );
    const a = viaJson(json);
    const b = viaIndex(json);
    for (let line = 1; line <= mappings.length + 1; line++) {
      for (let column = 0; column < 260; column++) {
        assert.deepEqual(b.lookup(line, column), a.lookup(line, column), `t${t} ${line}:${column}`);
      }
    }
  }
});

test('index = JSON path = trace-mapping on every frame of the real-browser fixtures (webpack, rollup, esbuild, vite × chromium, firefox), function names included', async () => {
  const { FIXTURE_DIR, BUNDLERS, BROWSERS } = await import('../helpers/real-bundles.ts');
  const { parseFrameLine } = await import('../../src/symbolicate/frames.ts');
  const { urlPath } = await import('../../src/symbolicate/locate.ts');
  const { makeIndexFile } = await import('../../src/symbolicate/index/make.ts');
  const { loadFunctionNames, originalFunctionFields } = await import('../../src/symbolicate/names/frame-names.ts');
  const dist = join(FIXTURE_DIR, 'dist');
  const loaded = new Map<
    string,
    { a: SourceMapIndex; b: SourceMapIndex; tm: TraceMap; names: Awaited<ReturnType<typeof loadFunctionNames>> } | null
  >();
  let frames = 0;
  for (const bundler of BUNDLERS) {
    for (const browser of BROWSERS) {
      const stacks = JSON.parse(readFileSync(join(FIXTURE_DIR, 'stacks', `${bundler}.${browser}.json`), 'utf8')) as Record<
        string,
        string | null
      >;
      for (const stack of Object.values(stacks)) {
        for (const line of (stack ?? '').split('\n')) {
          const f = parseFrameLine(line);
          if (!f?.span) continue;
          const script = urlPath(f.url!)!;
          if (!loaded.has(script)) {
            let entry = null;
            try {
              const json = readFileSync(join(dist, `${script}.map`), 'utf8');
              const js = readFileSync(join(dist, script));
              const names = await loadFunctionNames(Buffer.from(json), viaJson(json), async () => js);
              entry = {
                a: viaJson(json),
                b: readIndex(await makeIndexFile(Buffer.from(json), js, sha(json))),
                tm: new TraceMap(json),
                names,
              };
            } catch {
              entry = null; // a frame outside the app (the test page, browser internals)
            }
            loaded.set(script, entry);
          }
          const m = loaded.get(script);
          if (!m) continue;
          frames++;
          const got = answer(m.b, f.line!, f.column!);
          assert.deepEqual(got, answer(m.a, f.line!, f.column!), line);
          const want = originalPositionFor(m.tm, { line: f.line!, column: f.column! - 1 });
          // (trace-mapping normalizes `a/./b` in sources; the index keeps them as the map says.)
          assert.deepEqual(
            got ? [got.source!.replace(/\/\.\//g, '/'), got.line, got.column - 1] : [null, null, null],
            [want.source, want.line, want.column],
            line,
          );
          // originalFunction from the ranges stored in the index = names/ computing them itself.
          const fromNames = originalFunctionFields(m.names, f.line!, f.column!);
          const stored = m.b.enclosingFunction(f.line!, f.column!);
          assert.equal(stored?.name ?? (m.names.ranges ? '<module>' : null), fromNames.originalFunction, line);
          assert.equal(stored?.provisional ?? false, fromNames.provisional, line);
        }
      }
    }
  }
  assert.ok(frames > 100, `${frames} frames`);
});
