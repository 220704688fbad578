/**
 * Reading debug IDs as files stream through a merge: a script's `//# debugId=` from its tail lines
 * (ScriptDebugIdReader, against scriptDebugId on the whole text) and a map's `debugId`/`debug_id`
 * (SourceMapCheck.stringField, against JSON.parse), whatever the chunk boundaries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScriptDebugIdReader, mapDebugId, scriptDebugId } from '../../src/symbolicate/debug-id.ts';
import { SourceMapCheck } from '../../src/sourcemaps/map-check.ts';

const ID = '3f2a9c1b-7d4e-4a5b-8c6d-0123456789ab';

/** Deterministic chunkings: every split point for short texts, a fixed pseudo-random walk for long ones. */
function* chunkings(bytes: Buffer): Generator<Buffer[]> {
  yield [bytes];
  if (bytes.length <= 10_000) yield [...bytes].map((b) => Buffer.from([b]));
  if (bytes.length <= 400) {
    for (let at = 1; at < bytes.length; at++) yield [bytes.subarray(0, at), bytes.subarray(at)];
    return;
  }
  let seed = 7;
  for (let round = 0; round < 20; round++) {
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; ) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const n = 1 + (seed % 300);
      chunks.push(bytes.subarray(at, at + n));
      at += n;
    }
    yield chunks;
  }
}

const readScript = (chunks: Buffer[]) => {
  const r = new ScriptDebugIdReader();
  for (const c of chunks) r.write(c);
  return r.debugId();
};

test("a script's debug ID read while streaming equals the whole-text reading, for every chunking", () => {
  const scripts = [
    `var a=1;\n//# debugId=${ID}\n//# sourceMappingURL=app.js.map\n`,
    `var a=1;\r\n//# debugId=${ID.toUpperCase()}\r\n//# sourceMappingURL=app.js.map\r\n\r\n`,
    `var a=1;\r//# debugId=${ID}\r//# sourceMappingURL=app.js.map`,
    `var a=1;\n//# debugId=${ID}\nvar b=2;\n`, // code after the comment: not the script's ID
    `var a=1;\n//# debugId=not-a-uuid\n`,
    `var a=1;\n`,
    `//# debugId=${ID}`,
    // A megabyte inline map after the comment: still found, in constant memory.
    `var a=1;\n//# debugId=${ID}\n//# sourceMappingURL=data:application/json;base64,${'QUFB'.repeat(300_000)}\n`,
    // More comment lines than the tail rule looks at.
    `var a=1;\n//# debugId=${ID}\n${'// note\n'.repeat(17)}`,
    `x\n//# debugId=${ID}\n${'   \n'.repeat(10)}`,
  ];
  for (const text of scripts) {
    const bytes = Buffer.from(text);
    const expected = scriptDebugId(bytes);
    for (const chunks of chunkings(bytes)) {
      assert.equal(readScript(chunks), expected, `${JSON.stringify(text.slice(0, 80))} in ${chunks.length} chunks`);
    }
  }
  assert.equal(readScript([Buffer.from(scripts[0]!)]), ID);
  assert.equal(readScript([Buffer.from(scripts[1]!)]), ID, 'lower-cased');
  assert.equal(readScript([Buffer.from(scripts[3]!)]), null);
  assert.equal(readScript([Buffer.from(scripts[7]!)]), ID);
});

test("a map's debugId (or debug_id) read by the streaming check equals JSON.parse's, for every chunking", () => {
  const maps = [
    { version: 3, sources: ['a.ts'], names: [], mappings: 'AAAA', debugId: ID },
    { version: 3, sources: ['a.ts'], names: [], mappings: 'AAAA', debug_id: ID.toUpperCase() },
    { version: 3, debugId: ID, debug_id: '00000000-0000-4000-8000-000000000000', sources: [], mappings: '' },
    { version: 3, sources: [], mappings: '', debugId: 'x'.repeat(5000) },
    { version: 3, sources: [], mappings: '', debugId: 42 },
    { version: 3, sources: [], mappings: '', x_nested: { debugId: ID } }, // not top level
    { version: 3, sources: [], mappings: '', sourcesContent: [`"debugId": "${ID}"`] },
  ];
  const texts = [...maps.map((m) => JSON.stringify(m)), `{"version":3,"sources":[],"mappings":"","debugId":"\\u0033${ID.slice(1)}"}`];
  for (const text of texts) {
    const expected = mapDebugId(JSON.parse(text));
    for (const chunks of chunkings(Buffer.from(text))) {
      const check = new SourceMapCheck();
      for (const c of chunks) check.write(c);
      assert.equal(check.result(), null);
      assert.equal(
        mapDebugId({ debugId: check.stringField('debugId'), debug_id: check.stringField('debug_id') }),
        expected,
        text.slice(0, 100),
      );
    }
  }
  assert.equal(mapDebugId(JSON.parse(texts[0]!)), ID);
  assert.equal(mapDebugId(JSON.parse(texts[1]!)), ID);
  assert.equal(mapDebugId(JSON.parse(texts.at(-1)!)), ID, 'escapes decoded');
});
