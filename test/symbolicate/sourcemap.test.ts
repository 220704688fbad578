import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { AnyMap, encodedMap, originalPositionFor, presortedDecodedMap } from '@jridgewell/trace-mapping';
import type { SourceMapSegment } from '@jridgewell/trace-mapping';
import { InvalidSourceMapError, SourceMapIndex, packSourceMap } from '../../src/symbolicate/sourcemap.ts';
import { buildFixture } from './fixtures.ts';
import type { Fixture } from './fixtures.ts';

let fx: Fixture;
before(async () => {
  fx = await buildFixture();
});
after(() => fx.cleanup());

const parse = (json: unknown) => new SourceMapIndex(packSourceMap(Buffer.from(typeof json === 'string' ? json : JSON.stringify(json))));

/** Every (line, column) in a window: the packed lookup must equal trace-mapping's originalPositionFor. */
function assertSameAsTraceMapping(json: string, lines: number, columns: number): void {
  const ours = parse(json);
  const tm = AnyMap(json);
  for (let line = 1; line <= lines; line++) {
    for (let column = 1; column <= columns; column++) {
      const want = originalPositionFor(tm, { line, column: column - 1 });
      const m = ours.lookup(line, column);
      const got = m
        ? { source: ours.source(m.sourceIndex), line: m.line, column: m.column - 1, name: ours.name(m.nameIndex) }
        : { source: null, line: null, column: null, name: null };
      assert.deepEqual(got, want, `line ${line} column ${column}`);
    }
  }
}

test('lookup equals trace-mapping originalPositionFor (GLB) at every position of a real bundle', () => {
  const width = fx.app.js.split('\n')[0]!.length;
  assertSameAsTraceMapping(fx.app.map!, 3, width + 5);
});

test('lookup edge cases: equal columns, 1-field segments, empty lines, names', () => {
  const mappings: SourceMapSegment[][] = [[[0], [2, 0, 0, 0], [5, 0, 1, 2, 0], [5, 1, 3, 4], [10, 0, 2, 0, 1], [20]], [], [[3, 1, 10, 0]]];
  const json = JSON.stringify(encodedMap(presortedDecodedMap({ version: 3, sources: ['a.ts', 'b.ts'], names: ['foo', 'bar'], mappings })));
  assertSameAsTraceMapping(json, 4, 30);
  const ix = parse(json);
  assert.deepEqual(ix.lookup(1, 6), { generatedColumn: 6, sourceIndex: 0, line: 2, column: 3, nameIndex: 0 }); // first of the equal columns
  assert.equal(ix.lookup(1, 1), null); // 1-field segment
  assert.equal(ix.lookup(2, 5), null); // empty line
  assert.equal(ix.lookup(9, 1), null); // past the last line
  assert.equal(ix.lineCount, 3);
});

test('index maps (sections) are flattened like AnyMap', () => {
  const a = JSON.parse(fx.app.map!);
  const b = JSON.parse(fx.other.map!);
  const json = JSON.stringify({
    version: 3,
    sections: [
      { offset: { line: 0, column: 0 }, map: a },
      { offset: { line: 2, column: 0 }, map: b },
    ],
  });
  assertSameAsTraceMapping(json, 4, 600);
});

test('source = sourceRoot joined with sources[i], as the map says', () => {
  const base = { version: 3, names: [], mappings: 'AAAA,CACA' };
  assert.equal(parse({ ...base, sourceRoot: 'webpack://', sources: ['app/./src/a.ts'] }).source(0), 'webpack://app/./src/a.ts');
  assert.equal(parse({ ...base, sourceRoot: 'src', sources: ['../lib/b.ts'] }).source(0), 'src/../lib/b.ts');
  assert.equal(parse({ ...base, sourceRoot: 'https://x/', sources: ['a.ts'] }).source(0), 'https://x/a.ts');
  assert.equal(parse({ ...base, sources: ['../src/a.ts'] }).source(0), '../src/a.ts');
  assert.equal(parse({ ...base, sourceRoot: 'root', sources: ['webpack://app/a.ts'] }).source(0), 'webpack://app/a.ts');
});

test('context: 5 lines around, CRLF, 300-char cut, file edges', () => {
  const lines = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`);
  lines[9] = 'x'.repeat(400);
  const ix = parse({ version: 3, names: [], mappings: 'AAAA', sources: ['a.ts', 'b.ts'], sourcesContent: [lines.join('\r\n'), null] });
  assert.deepEqual(ix.context(0, 8, 5), {
    pre: ['line 3', 'line 4', 'line 5', 'line 6', 'line 7'],
    line: 'line 8',
    post: ['line 9', 'x'.repeat(300), 'line 11', 'line 12', 'line 13'],
  });
  assert.deepEqual(ix.context(0, 1, 2), { pre: [], line: 'line 1', post: ['line 2', 'line 3'] });
  assert.deepEqual(ix.context(0, 20, 2), { pre: ['line 18', 'line 19'], line: 'line 20', post: [] });
  assert.equal(ix.context(0, 21, 2), null);
  assert.equal(ix.context(1, 1, 2), null); // no content for this source
  const emoji = parse({ version: 3, names: [], mappings: 'AAAA', sources: ['e.ts'], sourcesContent: ['a'.repeat(299) + '😀'] });
  assert.equal(emoji.context(0, 1, 0)!.line, 'a'.repeat(299)); // no half surrogate pair
});

test('invalid sourcemaps throw InvalidSourceMapError; BOM and XSSI prefix accepted', () => {
  assert.throws(
    () => packSourceMap(Buffer.from('{not json')),
    (e: unknown) => e instanceof InvalidSourceMapError && /not valid JSON/.test(e.message),
  );
  assert.throws(() => packSourceMap(Buffer.from('{}')), InvalidSourceMapError);
  assert.throws(() => packSourceMap(Buffer.from('{"version":3,"mappings":"AAAA"}')), InvalidSourceMapError);
  const ok = '{"version":3,"sources":["a.ts"],"names":[],"mappings":"AAAA"}';
  assert.equal(parse(`\ufeff${ok}`).source(0), 'a.ts');
  assert.equal(parse(`)]}'\n${ok}`).source(0), 'a.ts');
});

test('index maps: random sections (column offsets, shared lines, nesting, string maps) flatten exactly like AnyMap', () => {
  let seed = 7;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const plain = (k: number) => {
    const mappings: SourceMapSegment[][] = Array.from({ length: 1 + rnd(4) }, () => {
      let col = 0;
      return Array.from({ length: rnd(6) }, () => {
        col += 1 + rnd(7);
        const kind = rnd(3);
        return kind === 0 ? [col] : kind === 1 ? [col, rnd(2), rnd(9), rnd(9)] : [col, rnd(2), rnd(9), rnd(9), rnd(2)];
      }) as SourceMapSegment[];
    });
    return encodedMap(presortedDecodedMap({ version: 3, sources: [`s${k}a.ts`, `s${k}b.ts`], names: [`n${k}x`, `n${k}y`], mappings }));
  };
  for (let t = 0; t < 150; t++) {
    let line = 0;
    let column = 0;
    const sections = Array.from({ length: 1 + rnd(4) }, (_, k) => {
      if (rnd(2)) line += rnd(3); // sometimes the same line as the previous section
      column = rnd(2) ? column + rnd(20) : rnd(20);
      if (k > 0 && line === 0 && column === 0) column = 1;
      const map =
        rnd(5) === 0
          ? {
              version: 3,
              sections: [
                { offset: { line: 0, column: 0 }, map: plain(k) },
                { offset: { line: 1, column: 3 }, map: plain(k + 10) },
              ],
            }
          : plain(k);
      // (A nested index map given as a string trips AnyMap itself, so strings only for plain ones.)
      return { offset: { line, column }, map: rnd(4) === 0 && !('sections' in map) ? JSON.stringify(map) : map };
    });
    // Sections must be in order: sort, as a valid index map would be.
    sections.sort((a, b) => a.offset.line - b.offset.line || a.offset.column - b.offset.column);
    assertSameAsTraceMapping(JSON.stringify({ version: 3, sections }), line + 4, 80);
  }
});

test('index maps: a section at line 200 000 000 costs its bytes, not its offset', () => {
  const tiny = (s: string) => ({ version: 3, sources: [s], names: [], mappings: 'AAAA' });
  const json = JSON.stringify({
    version: 3,
    sections: [
      { offset: { line: 0, column: 0 }, map: tiny('a.ts') },
      { offset: { line: 200_000_000, column: 7 }, map: tiny('b.ts') },
    ],
  });
  const ix = parse(json);
  assert.ok(ix.cost < 4096, `cost ${ix.cost}`);
  assert.equal(ix.lineCount, 200_000_001);
  assert.deepEqual(ix.lookup(200_000_001, 8), { generatedColumn: 8, sourceIndex: 1, line: 1, column: 1, nameIndex: -1 });
  assert.equal(ix.lookup(200_000_001, 7), null);
  assert.equal(ix.lookup(100_000_000, 1), null);
  assert.deepEqual(ix.lookup(1, 1), { generatedColumn: 1, sourceIndex: 0, line: 1, column: 1, nameIndex: -1 });
  for (const bad of [
    { line: 1e300, column: 0 },
    { line: -1, column: 0 },
    { line: 2 ** 32, column: 0 },
    { line: 0, column: 2 ** 31 },
    { line: 1.5, column: 0 },
    {},
  ]) {
    assert.throws(() => parse({ version: 3, sections: [{ offset: bad, map: tiny('a.ts') }] }), InvalidSourceMapError, JSON.stringify(bad));
  }
  let nested: unknown = tiny('deep.ts');
  for (let i = 0; i < 20; i++) nested = { version: 3, sections: [{ offset: { line: 1, column: 0 }, map: nested }] };
  assert.throws(() => parse(nested), /nest deeper/);
  assert.throws(
    () =>
      parse({
        version: 3,
        sections: [
          { offset: { line: 5, column: 0 }, map: tiny('a.ts') },
          { offset: { line: 1, column: 0 }, map: tiny('b.ts') },
        ],
      }),
    /not in order/,
  );
});
