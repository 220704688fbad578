/**
 * The caller's call-site fallback of originalFunction (issue #12 §1, docs/API.md): when the map
 * cannot give a frame's enclosing function its original name (a minified identifier the map does
 * not name, or no stored script at all), the `names` entry at the caller's call site names it,
 * then the minified name. A truly anonymous function stays `<anonymous>`. Crafted byte by byte: a
 * one-line "minified" script whose map names the call `o(7)` as `findProduct` but not `o` itself,
 * and has no sourcesContent to read the name from.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { encode } from '@jridgewell/sourcemap-codec';
import type { SourceMapSegment } from '@jridgewell/sourcemap-codec';
import { StackResolver } from '../../src/symbolicate/index.ts';
import type { FrameResult } from '../../src/symbolicate/index.ts';
import { MemTree } from './fixtures.ts';

// Original (app.js):
//   0 function findProduct(id) {
//   1   throw new Error(id);
//   2 }
//   3 function checkout() {
//   4   return findProduct(7);
//   5 }
//   6 checkout();
//   7 [1].forEach(function () { throw new Error('cb'); });
const SCRIPT = 'function o(n){throw new Error(n)}function c(){return o(7)}c();[1].forEach(function(){throw new Error("cb")});';
const at = (needle: string, from = 0): number => {
  const i = SCRIPT.indexOf(needle, from);
  assert.ok(i >= 0, needle);
  return i;
};
const NAMES = ['checkout', 'findProduct', 'forEach'];
const segments: SourceMapSegment[] = [
  [0, 0, 0, 0], // function (no sourcesContent: the header cannot be read)
  [at('o('), 0, 0, 9], // `o`: mapped, but the map gives it no name
  [at('throw'), 0, 1, 2],
  [at('function c'), 0, 3, 0],
  [at('c('), 0, 3, 9, 0], // checkout
  [at('return'), 0, 4, 2],
  [at('o(7'), 0, 4, 9, 1], // the call site: findProduct
  [at('c();'), 0, 6, 0, 0], // checkout
  [at('[1]'), 0, 7, 0],
  [at('forEach'), 0, 7, 4, 2], // forEach
  [at('function()'), 0, 7, 12],
  [at('throw', at('function()')), 0, 7, 27],
];
const MAP = JSON.stringify({ version: 3, file: 'app.min.js', sources: ['app.js'], names: NAMES, mappings: encode([segments]) });
const URL = 'https://cdn.example.com/app.min.js';
const loc = (col: number) => `${URL}:1:${col + 1}`;

/** The stack of `checkout()` → `findProduct(7)` throwing, as V8 prints it (optionally with extra frames). */
function stackOfFindProduct(between = ''): string {
  return [
    'Error: 7',
    `    at o (${loc(at('throw'))})`,
    ...(between ? [between] : []),
    `    at c (${loc(at('o(7'))})`,
    `    at ${loc(at('c();'))}`,
  ].join('\n');
}

const pick = (f: FrameResult) => [f.originalFunction, f.originalFunctionSource];

async function resolveIn(files: Record<string, string>, stack: string): Promise<FrameResult[]> {
  const resolver = new StackResolver({ workers: 1 });
  try {
    return (await resolver.resolve(new MemTree(`call-site-${Math.random()}`, files), { stack })).frames;
  } finally {
    await resolver.close();
  }
}

describe('originalFunction: the caller call-site fallback', () => {
  const withScript = { 'app.min.js': SCRIPT, 'app.min.js.map': MAP };

  test('a minified function name the map does not name: the caller names it at its call site', async () => {
    const frames = await resolveIn(withScript, stackOfFindProduct());
    assert.deepEqual(frames.map(pick), [
      ['findProduct', 'caller'],
      ['checkout', 'script'],
      ['<module>', 'script'],
    ]);
    assert.match(frames[0]!.originalFunctionDetail!, /does not name the minified identifier of o: named after the caller's call site/);
    assert.equal(frames[1]!.originalFunctionDetail, undefined);
  });

  test('native frames between the two (Array.map) are skipped: the caller is the next frame with a location', async () => {
    const frames = await resolveIn(withScript, stackOfFindProduct('    at Array.map (<anonymous>)'));
    assert.deepEqual(pick(frames[0]!), ['findProduct', 'caller']);
    assert.equal(frames[1]!.reason, 'BadFrame');
  });

  test('a caller that does not resolve names nothing: the minified name stays, and the frame says so', async () => {
    const frames = await resolveIn(withScript, stackOfFindProduct('    at other (https://cdn.example.com/unknown.js:1:5)'));
    assert.deepEqual(pick(frames[0]!), ['o', 'minified']);
    assert.match(frames[0]!.originalFunctionDetail!, /caller's call site names none/);
  });

  test('the outermost frame has no caller', async () => {
    const stack = `Error: 7\n    at o (${loc(at('throw'))})`;
    assert.deepEqual((await resolveIn(withScript, stack)).map(pick), [['o', 'minified']]);
  });

  test('a truly anonymous callback stays <anonymous>; the call-site name only goes into the detail', async () => {
    const stack = [
      'Error: cb',
      `    at ${loc(at('throw', at('function()')))}`,
      '    at Array.forEach (<anonymous>)',
      `    at ${loc(at('forEach'))}`,
    ].join('\n');
    const frames = await resolveIn(withScript, stack);
    assert.deepEqual(pick(frames[0]!), ['<anonymous>', 'script']);
    assert.equal(frames[0]!.originalFunctionDetail, 'an anonymous function, called as forEach');
  });

  test('script not stored: the caller names the frame, then the minified name the stack printed, else null', async () => {
    const frames = await resolveIn({ 'app.min.js.map': MAP }, stackOfFindProduct());
    assert.deepEqual(frames.map(pick), [
      ['findProduct', 'caller'],
      ['checkout', 'caller'],
      [null, 'script-missing'],
    ]);
    assert.match(frames[0]!.originalFunctionDetail!, /not stored: named after the caller's call site/);
    assert.match(frames[2]!.originalFunctionDetail!, /not stored/);
    // Outermost frame with a printed name: that minified name, marked as such.
    const alone = await resolveIn({ 'app.min.js.map': MAP }, `Error\n    at c (${loc(at('o(7'))})`);
    assert.deepEqual(alone.map(pick), [['c', 'minified']]);
    assert.match(alone[0]!.originalFunctionDetail!, /not stored: the minified name the stack printed/);
  });

  test('frames batch input: the next frame is the caller too', async () => {
    const resolver = new StackResolver({ workers: 1 });
    const tree = new MemTree('call-site-frames', withScript);
    const { frames } = await resolver.resolve(tree, {
      frames: [
        { url: URL, line: 1, column: at('throw') + 1, functionName: 'o' },
        { url: URL, line: 1, column: at('o(7') + 1, functionName: 'c' },
      ],
    });
    await resolver.close();
    assert.deepEqual(frames.map(pick), [
      ['findProduct', 'caller'],
      ['checkout', 'script'],
    ]);
  });
});
