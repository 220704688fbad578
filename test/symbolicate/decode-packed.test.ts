import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TraceMap, decodedMappings, originalPositionFor } from '@jridgewell/trace-mapping';
import { SourceMapIndex, packSourceMap } from '../../src/symbolicate/sourcemap.ts';

/** What packSourceMap must produce: trace-mapping's decoded segments, flattened 5 ints each. */
function reference(mappings: string): { segs: number[]; lineStarts: number[] } | null {
  const decoded = decodedMappings(new TraceMap({ version: 3, sources: ['a.ts'], names: [], mappings }));
  const segs: number[] = [];
  const lineStarts: number[] = [];
  for (const line of decoded) {
    lineStarts.push(segs.length / 5);
    for (const s of line) {
      // Accumulators beyond int32 only come from junk; Int32Array storage wraps them differently.
      if (s.some((v) => v > 2147483647 || v < -2147483648)) return null;
      segs.push(s[0], s.length > 1 ? s[1]! : -1, s.length > 1 ? s[2]! : -1, s.length > 1 ? s[3]! : -1, s.length === 5 ? s[4]! : -1);
    }
  }
  lineStarts.push(segs.length / 5);
  return { segs, lineStarts };
}

function assertSameDecode(mappings: string): void {
  const want = reference(mappings);
  if (!want) return;
  const p = packSourceMap(Buffer.from(JSON.stringify({ version: 3, sources: ['a.ts'], names: [], mappings })));
  assert.deepEqual({ segs: Array.from(p.segs), lineStarts: Array.from(p.lineStarts) }, want, JSON.stringify(mappings));
}

test('the direct VLQ decoder equals trace-mapping on hand-picked and malformed mappings', () => {
  for (const m of [
    '',
    ';',
    ';;',
    'A',
    'AAAA',
    'AAAAA',
    'AAAAAA',
    'AAAA;',
    ';AAAA',
    'AAAA,CAAA',
    'AA,B',
    ',,,,',
    'AAAA,;;,',
    'GAAG,DAAD,CAAC;IACA,HAAH',
    'AAAAAAAAAAAAAAAA',
    'gBAAgB,CAAC',
    '//////',
    'zzzz',
    'Z',
    'AAAA,é',
    'é€AA',
  ]) {
    assertSameDecode(m);
  }
});

test('the direct VLQ decoder equals trace-mapping on random mappings (unsorted lines included)', () => {
  let seed = 1;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/,,,,;;';
  for (let t = 0; t < 3000; t++) {
    let m = '';
    for (let i = Math.floor(rnd() * 40); i > 0; i--) m += alphabet[Math.floor(rnd() * alphabet.length)];
    assertSameDecode(m);
  }
});

test('unsorted segments are sorted stably, and lookups agree with trace-mapping', () => {
  // Columns 10, 2, 2, 6 on line 1: sorted to 2, 2, 6, 10 with the two 2s in their original order.
  const json = JSON.stringify({ version: 3, sources: ['a.ts', 'b.ts'], names: ['x'], mappings: 'UAAA,RCAC,AACAA,IAAA' });
  const ix = new SourceMapIndex(packSourceMap(Buffer.from(json)));
  const tm = new TraceMap(json);
  for (let column = 1; column <= 14; column++) {
    const want = originalPositionFor(tm, { line: 1, column: column - 1 });
    const m = ix.lookup(1, column);
    const got = m
      ? { source: ix.source(m.sourceIndex), line: m.line, column: m.column - 1, name: ix.name(m.nameIndex) }
      : { source: null, line: null, column: null, name: null };
    assert.deepEqual(got, want, `column ${column}`);
  }
});
