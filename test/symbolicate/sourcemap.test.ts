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
  const mappings: SourceMapSegment[][] = [
    [[0], [2, 0, 0, 0], [5, 0, 1, 2, 0], [5, 1, 3, 4], [10, 0, 2, 0, 1], [20]],
    [],
    [[3, 1, 10, 0]],
  ];
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
  const json = JSON.stringify({ version: 3, sections: [{ offset: { line: 0, column: 0 }, map: a }, { offset: { line: 2, column: 0 }, map: b }] });
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
  assert.throws(() => packSourceMap(Buffer.from('{not json')), (e: unknown) => e instanceof InvalidSourceMapError && /not valid JSON/.test(e.message));
  assert.throws(() => packSourceMap(Buffer.from('{}')), InvalidSourceMapError);
  assert.throws(() => packSourceMap(Buffer.from('{"version":3,"mappings":"AAAA"}')), InvalidSourceMapError);
  const ok = '{"version":3,"sources":["a.ts"],"names":[],"mappings":"AAAA"}';
  assert.equal(parse(`\ufeff${ok}`).source(0), 'a.ts');
  assert.equal(parse(`)]}'\n${ok}`).source(0), 'a.ts');
});
