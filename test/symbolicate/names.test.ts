/**
 * src/symbolicate/names: original function names of minified code, each naming form on
 * hand-written source minified for real by esbuild (with and without sourcesContent), the map
 * rules (names on the identifier, on the preceding token, off by one), ECMA-426 `scopes`, the
 * innermost-range lookup, and bad input (unparsable or absurdly nested scripts).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { transformSync } from 'esbuild';
import { computeFunctionRanges, decodeScopes, enclosingFunction, rangesFromScopes } from '../../src/symbolicate/names/index.ts';
import type { FunctionRange, GeneratedMappings, MappedSegment } from '../../src/symbolicate/names/index.ts';
import { indexMappings } from '../../src/symbolicate/names/frame-names.ts';
import { packSourceMap, SourceMapIndex } from '../../src/symbolicate/sourcemap.ts';
import { StackResolver } from '../../src/symbolicate/index.ts';
import { MemTree } from './fixtures.ts';

/** Every `mark("X")` is a probe: the expected name of the function it sits in follows in EXPECT. */
const SOURCE = `
export function checkout(cart) { mark("decl"); return cart; }
export async function pay() { await null; mark("async"); }
export function* ids() { yield mark("generator"); }
export const arrow = (x) => mark("const-arrow") + x;
export const fnExpr = function () { return mark("const-fn"); };
export const named = function innerName() { return mark("named-fn-expr"); };
window.app.handler = function () { return mark("member-assign"); };
export const api = {
  load() { return mark("object-method"); },
  save: (x) => mark("object-arrow") + x,
  get ready() { return mark("object-getter"); },
  nested: { deep() { return mark("nested-object"); } },
};
export class Cart {
  static count = mark("static-field");
  static { mark("static-block"); }
  items = mark("instance-field");
  onClick = () => mark("field-arrow");
  #secret = 1;
  constructor(owner) { this.owner = owner; mark("constructor"); }
  subtotal() { return [1, 2].map((x) => x * mark("callback")).length + mark("method"); }
  #applyDiscount(v) { return v * mark("private-method") * this.#secret; }
  get total() { return this.#applyDiscount(mark("getter")); }
  set discount(v) { mark("setter"); }
  static create() { return new Cart(mark("static-method")); }
  [Symbol.iterator]() { return mark("computed"); }
}
export const Lazy = class { run() { return mark("class-expr-method"); } };
export default function () { return mark("export-default"); }
mark("top-level");
(function () { mark("iife"); })();
`;

const EXPECT: Record<string, string | null> = {
  decl: 'checkout',
  async: 'pay',
  generator: 'ids',
  'const-arrow': 'arrow',
  'const-fn': 'fnExpr',
  'named-fn-expr': 'innerName',
  'member-assign': 'window.app.handler',
  'object-method': 'api.load',
  'object-arrow': 'api.save',
  'object-getter': 'get api.ready',
  'nested-object': 'api.nested.deep',
  'static-field': 'Cart.<static_initializer>',
  'static-block': 'Cart.<static_initializer>',
  'instance-field': 'new Cart',
  'field-arrow': 'Cart.onClick',
  constructor: 'new Cart',
  callback: '<anonymous>',
  method: 'Cart.subtotal',
  'private-method': 'Cart.#applyDiscount',
  getter: 'get Cart.total',
  setter: 'set Cart.discount',
  'static-method': 'Cart.create',
  computed: 'Cart[Symbol.iterator]',
  'class-expr-method': 'Lazy.run',
  'export-default': 'default',
  'top-level': null,
  iife: '<anonymous>',
};

/** 0-based generated position of `mark("X")`'s string literal. */
function probe(code: string, label: string): { line: number; column: number } {
  const at = code.search(new RegExp(`["'\`]${label}["'\`]`));
  assert.ok(at >= 0, `probe ${label} not in the output`);
  const before = code.slice(0, at).split('\n');
  return { line: before.length - 1, column: before[before.length - 1]!.length };
}

function minified(sourcesContent: boolean): { code: string; map: string } {
  const r = transformSync(SOURCE, {
    minify: true,
    sourcemap: 'external',
    sourcesContent,
    format: 'esm',
    target: 'es2022',
    sourcefile: 'shop.js',
  });
  return { code: r.code, map: r.map };
}

function rangesOf(code: string, map: string): FunctionRange[] {
  const index = new SourceMapIndex(packSourceMap(Buffer.from(map)));
  const r = computeFunctionRanges({ map: JSON.parse(map), script: code, mappings: indexMappings(index) });
  assert.equal(r.from, 'script');
  return r.ranges!;
}

describe('names: every naming form, minified by esbuild', () => {
  for (const sourcesContent of [true, false]) {
    test(`${sourcesContent ? 'with' : 'without'} sourcesContent`, () => {
      const { code, map } = minified(sourcesContent);
      // The minifier really renamed things: the test would pass vacuously otherwise.
      assert.ok(!/function checkout|#applyDiscount|class Cart|api\.load/.test(code), code);
      const ranges = rangesOf(code, map);
      // Without the original text two names are beyond reach: esbuild drops a function
      // expression's own name and names `export default function` after the file in `names`.
      const expect = sourcesContent ? EXPECT : { ...EXPECT, 'named-fn-expr': 'named', 'export-default': 'shop_default' };
      for (const [label, want] of Object.entries(expect)) {
        const at = probe(code, label);
        assert.equal(enclosingFunction(ranges, at.line, at.column)?.name ?? null, want, label);
      }
    });
  }

  test('unminified code maps to itself (names are the source text)', () => {
    const r = transformSync(SOURCE, { sourcemap: 'external', format: 'esm', target: 'es2022', sourcefile: 'shop.js' });
    const ranges = rangesOf(r.code, r.map);
    for (const [label, want] of Object.entries(EXPECT)) {
      const at = probe(r.code, label);
      assert.equal(enclosingFunction(ranges, at.line, at.column)?.name ?? null, want, label);
    }
  });
});

/** A hand-made segment list: [generated line, generated column, original line, original column, name]. */
function mappingsOf(segments: [number, number, number, number, string | null][], original: string[] = []): GeneratedMappings {
  return {
    segmentAt(line, column) {
      let best: MappedSegment | null = null;
      for (const [gl, gc, ol, oc, name] of segments) {
        if (gl === line && gc <= column && (!best || gc >= best.generatedColumn))
          best = { generatedColumn: gc, sourceIndex: 0, line: ol, column: oc, name };
      }
      return best;
    },
    originalLine: (_source, line) => original[line] ?? null,
  };
}

describe('names: how identifiers are mapped', () => {
  const script = 'function a(){return 1}';
  const rangeName = (m: GeneratedMappings) => computeFunctionRanges({ map: null, script, mappings: m }).ranges![0]!.name;

  test('the names entry on the identifier', () => {
    assert.equal(
      rangeName(
        mappingsOf([
          [0, 0, 4, 0, null],
          [0, 9, 4, 9, 'checkout'],
        ]),
      ),
      'checkout',
    );
  });
  test('a segment one column before the identifier still counts (off-by-one generators)', () => {
    assert.equal(
      rangeName(
        mappingsOf([
          [0, 0, 4, 0, null],
          [0, 8, 4, 9, 'checkout'],
        ]),
      ),
      'checkout',
    );
  });
  test('the name on the preceding token when it maps to the same original position (TypeScript)', () => {
    assert.equal(
      rangeName(
        mappingsOf([
          [0, 0, 4, 0, 'checkout'],
          [0, 9, 4, 0, null],
        ]),
      ),
      'checkout',
    );
    // …but not when the preceding token maps elsewhere
    assert.equal(
      rangeName(
        mappingsOf([
          [0, 0, 3, 0, 'other'],
          [0, 9, 4, 0, null],
        ]),
      ),
      'a',
    );
  });
  test('a segment that starts well before the identifier is not its mapping: minified name kept', () => {
    assert.equal(
      rangeName(
        mappingsOf([
          [0, 0, 4, 0, null],
          [0, 3, 4, 3, 'wrong'],
        ]),
      ),
      'a',
    );
  });
  test('no names: the identifier the original text shows at the mapped position, never a keyword', () => {
    const original = ['', '', '', '', '  helper(x) {'];
    assert.equal(
      rangeName(
        mappingsOf(
          [
            [0, 0, 3, 0, null],
            [0, 9, 4, 2, null],
          ],
          original,
        ),
      ),
      'helper',
    );
    assert.equal(
      rangeName(
        mappingsOf(
          [
            [0, 0, 3, 0, null],
            [0, 9, 4, 0, null],
          ],
          ['', '', '', '', 'return x'],
        ),
      ),
      'a',
    );
  });
  test('the original `function NAME` header wins when the minifier dropped the name', () => {
    const anon = 'x(function(){return 1})';
    const m = mappingsOf([[0, 2, 7, 7, null]], ['', '', '', '', '', '', '', 'export async function runPipeline(input) {']);
    assert.equal(computeFunctionRanges({ map: null, script: anon, mappings: m }).ranges![0]!.name, 'runPipeline');
  });
  test('an unmapped private name stays as written, with its #', () => {
    const cls = 'class A{#b(){return 1}}';
    const m = mappingsOf([
      [0, 6, 0, 6, 'Cart'],
      [0, 8, 2, 2, 'applyDiscount'],
    ]);
    assert.equal(computeFunctionRanges({ map: null, script: cls, mappings: m }).ranges![0]!.name, 'Cart.#applyDiscount');
  });
});

describe('names: bad scripts are reported, never thrown', () => {
  const none = mappingsOf([]);
  test('a script acorn cannot parse', () => {
    const r = computeFunctionRanges({ map: null, script: 'function (', mappings: none });
    assert.equal(r.ranges, null);
    assert.match(r.problem!, /does not parse/);
  });
  test('absurd nesting (stack overflow in the parser) is a problem, not a crash', () => {
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    const r = computeFunctionRanges({ map: null, script: deep, mappings: none });
    assert.equal(r.ranges, null);
  });
  test('deeply nested functions that do parse: walked iteratively', () => {
    const n = 2000;
    const script = `${'(()=>'.repeat(n)}1${')'.repeat(n)}`;
    const r = computeFunctionRanges({ map: null, script, mappings: none });
    if (r.ranges) {
      assert.equal(r.ranges.length, n);
      assert.equal(enclosingFunction(r.ranges, 0, 5 * n)?.startColumn, 5 * (n - 1) + 1);
    } else assert.match(r.problem!, /does not parse/); // the parser's own recursion limit
  });
  test('sloppy-mode scripts parse as scripts', () => {
    const r = computeFunctionRanges({ map: null, script: 'with (o) { (function f() { return 010; })(); }', mappings: none });
    assert.deepEqual(
      r.ranges!.map((x) => x.name),
      ['f'],
    );
  });
});

describe('names: ECMA-426 scopes', () => {
  // Encoded by hand (tag, flags, positions as VLQ; see ecma-scopes.ts):
  //   original scopes: module [0:0–9:0] { function "checkout" [1:0–3:1] (stack frame) { block } }
  //   generated ranges: [0:0–0:40] → module { [0:10–0:30] → checkout, hidden [0:20–0:25] → checkout }
  const vlq = (n: number) => {
    const B = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    let out = '';
    do {
      let digit = n & 31;
      n >>>= 5;
      if (n > 0) digit |= 32;
      out += B[digit];
    } while (n > 0);
    return out;
  };
  const s = (n: number) => vlq(n < 0 ? (-n << 1) | 1 : n << 1);
  const item = (...parts: string[]) => parts.join('');
  const scopes = [
    item(vlq(1), vlq(0), vlq(0), vlq(0)), // module, no name
    item(vlq(1), vlq(1 | 4), vlq(1), vlq(0), s(0)), // "checkout" (names[0]), stack frame
    item(vlq(1), vlq(0), vlq(1), vlq(2)), // block
    item(vlq(2), vlq(1), vlq(0)),
    item(vlq(2), vlq(1), vlq(1)),
    item(vlq(2), vlq(6), vlq(0)),
    item(vlq(4), vlq(2), vlq(0), s(0)), // range at 0:0, definition = scope 0 (module)
    item(vlq(4), vlq(2), vlq(10), s(1)), // range at 0:10 → scope 1 (checkout)
    item(vlq(4), vlq(2 | 8), vlq(10), s(0)), // hidden range at 0:20 → scope 1
    item(vlq(5), vlq(5)), // ends 0:25
    item(vlq(5), vlq(5)), // ends 0:30
    item(vlq(5), vlq(10)), // ends 0:40
  ].join(',');

  test('a function range named by its definition scope; hidden ranges and the module give none', () => {
    const r = decodeScopes(scopes, ['checkout']);
    assert.deepEqual(r.ranges, [{ startLine: 0, startColumn: 10, endLine: 0, endColumn: 30, name: 'checkout' }]);
    assert.equal(enclosingFunction(r.ranges!, 0, 22)?.name, 'checkout');
    assert.equal(enclosingFunction(r.ranges!, 0, 35), null);
  });
  test('preferred over the script when the map has them; index-map sections are offset', () => {
    const map = { version: 3, sources: ['a.js'], names: ['checkout'], mappings: '', scopes };
    const r = computeFunctionRanges({ map, script: 'function a(){}', mappings: mappingsOf([]) });
    assert.equal(r.from, 'scopes');
    const indexMap = { version: 3, sections: [{ offset: { line: 3, column: 0 }, map }] };
    assert.deepEqual(rangesFromScopes(indexMap)![0], { startLine: 3, startColumn: 10, endLine: 3, endColumn: 30, name: 'checkout' });
  });
  test('garbage in "scopes" is a problem, and the script is used instead', () => {
    assert.equal(decodeScopes('!!!', []).ranges, null);
    const r = computeFunctionRanges({ map: { scopes: 'E', names: [] }, script: 'function a(){}', mappings: mappingsOf([]) });
    assert.equal(r.from, 'script');
  });
});

test('enclosingFunction: innermost of nested ranges, exclusive ends, siblings skipped', () => {
  const r = (sl: number, sc: number, el: number, ec: number, name: string): FunctionRange => ({
    startLine: sl,
    startColumn: sc,
    endLine: el,
    endColumn: ec,
    name,
  });
  const ranges = [
    r(0, 0, 5, 0, 'outer'),
    r(0, 10, 0, 20, 'first'),
    r(0, 12, 0, 14, 'tiny'),
    r(1, 0, 2, 0, 'second'),
    r(3, 0, 3, 9, 'third'),
  ];
  assert.equal(enclosingFunction(ranges, 0, 13)?.name, 'tiny');
  assert.equal(enclosingFunction(ranges, 0, 14)?.name, 'first');
  assert.equal(enclosingFunction(ranges, 0, 25)?.name, 'outer');
  assert.equal(enclosingFunction(ranges, 1, 50)?.name, 'second');
  assert.equal(enclosingFunction(ranges, 3, 9)?.name, 'outer');
  assert.equal(enclosingFunction(ranges, 5, 0), null);
  assert.equal(enclosingFunction([], 0, 0), null);
});

describe('names in the resolver: originalFunction on every resolved frame', () => {
  const { code, map } = minified(true);
  const url = 'https://cdn.example.com/static/shop.js';
  const frame = (label: string) => {
    const at = probe(code, label);
    return `    at x (${url}:${at.line + 1}:${at.column + 1})`;
  };
  const stack = `Error: boom\n${frame('private-method')}\n${frame('top-level')}`;

  test('script stored next to the map: names from the script; <module> for top-level code', async () => {
    const resolver = new StackResolver({ workers: 1 });
    const tree = new MemTree('with-script', { 'static/shop.js': code, 'static/shop.js.map': map });
    const { frames } = await resolver.resolve(tree, { stack });
    assert.deepEqual(
      frames.map((f) => [f.resolved, f.originalFunction, f.originalFunctionSource]),
      [
        [true, 'Cart.#applyDiscount', 'script'],
        [true, '<module>', 'script'],
      ],
    );
    // Computed once with the cached map: a second request reads neither the map nor the script.
    const reads = tree.reads.length;
    await resolver.resolve(tree, { stack });
    assert.equal(tree.reads.length, reads);
    await resolver.close();
  });

  test("script missing: the frame says so (named at the caller's call site, else by the stack's minified name)", async () => {
    const resolver = new StackResolver({ workers: 1 });
    const { frames } = await resolver.resolve(new MemTree('no-script', { 'static/shop.js.map': map }), { stack });
    assert.equal(frames[0]!.resolved, true);
    // The caller's position (`mark("top-level")` at top level) has no `names` entry here, so both
    // frames keep the name the stack printed (test/symbolicate/names-call-site.test.ts has callers).
    assert.equal(frames[1]!.name, null);
    for (const f of frames) {
      assert.equal(f.originalFunction, 'x');
      assert.equal(f.originalFunctionSource, 'minified');
      assert.match(f.originalFunctionDetail!, /not stored: the minified name the stack printed/);
    }
    await resolver.close();
  });

  test('script that does not parse: the frame says so, and still resolves', async () => {
    const resolver = new StackResolver({ workers: 1 });
    const tree = new MemTree('bad-script', { 'static/shop.js': `${code}\n}}}`, 'static/shop.js.map': map });
    const { frames } = await resolver.resolve(tree, { stack });
    assert.equal(frames[0]!.resolved, true);
    assert.equal(frames[0]!.originalFunctionSource, 'minified');
    assert.match(frames[0]!.originalFunctionDetail!, /does not parse.*: the minified name the stack printed/);
    // No printed name, no caller: nothing to name it by.
    const bare = await resolver.resolve(tree, { stack: stack.replace(/at x \(([^)]*)\)/g, 'at $1') });
    assert.equal(bare.frames[1]!.originalFunction, null);
    assert.equal(bare.frames[1]!.originalFunctionSource, 'script-unparsable');
    assert.match(bare.frames[1]!.originalFunctionDetail!, /does not parse/);
    await resolver.close();
  });
});
