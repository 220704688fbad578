import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../../src/errors.ts';
import { StackResolver, checkStackLimits } from '../../src/symbolicate/index.ts';
import type { FrameResult, ResolveResult } from '../../src/symbolicate/index.ts';
import { CDN, MemTree, buildFixture, expectedFor, generatedFor, sourceLine, stackOf } from './fixtures.ts';
import type { Bundle, Fixture } from './fixtures.ts';

let fx: Fixture;
let tree: MemTree;
let resolver: StackResolver;
let indexMap: string;
let appLines: number;

before(async () => {
  fx = await buildFixture();
  // Index map: the app and the "other" bundle concatenated, each starting on its own line.
  appLines = fx.app.js.trimEnd().split('\n').length; // esbuild's 'external' mode adds no comment
  indexMap = JSON.stringify({
    version: 3,
    sections: [
      { offset: { line: 0, column: 0 }, map: JSON.parse(fx.app.map!) },
      { offset: { line: appLines, column: 0 }, map: JSON.parse(fx.other.map!) },
    ],
  });
  tree = new MemTree('tree-1', {
    'static/js/app.js': fx.app.js,
    'static/js/app.js.map': fx.app.map!,
    'static/js/nc.js.map': fx.noContent.map!,
    'static/js/other.js.map': fx.other.map!,
    'static/js/combined.js.map': indexMap,
    // inline data: URL; no .map anywhere for it
    'static/inline/vendor.js': fx.inline.js,
    // sourceMappingURL pointing somewhere unconventional
    'static/js/ext.js': `${fx.other.js}//# sourceMappingURL=../../maps/v2/ext-7f3a.map\n`,
    'maps/v2/ext-7f3a.map': fx.other.map!,
    // only findable by path suffix; the decoy matches fewer segments
    'build/out/assets/lib.js.map': fx.suffix.map!,
    'zz/lib.js.map': fx.other.map!,
    'static/js/broken.js.map': '{"version":3,"sources":',
  });
  resolver = new StackResolver();
});
after(async () => {
  await resolver.close();
  fx.cleanup();
});

const LOC = /(https:\/\/cdn\.example\.com\/[^\s():]+):(\d+):(\d+)/;

/**
 * Checks every frame of `url` against source-map@0.6 on `mapJson`, and that the rewritten stack
 * is the input with exactly those locations replaced.
 */
function checkAgainstSourceMap(input: string, res: ResolveResult, url: string, mapJson: string): FrameResult[] {
  const mine = res.frames.filter((f) => f.url === url);
  assert.ok(mine.length > 0, 'no frames of the bundle');
  for (const f of mine) {
    const want = expectedFor(mapJson, f.line!, f.column!);
    assert.equal(f.resolved, true, f.raw);
    assert.deepEqual({ source: f.source, line: f.originalLine, column: f.originalColumn, name: f.name }, want, f.raw);
  }
  const expected = input
    .split('\n')
    .map((line) => {
      const m = LOC.exec(line);
      if (!m || m[1] !== url) return line;
      const w = expectedFor(mapJson, Number(m[2]), Number(m[3]));
      return line.replace(LOC, `${w.source}:${w.line}:${w.column}`);
    })
    .join('\n');
  assert.equal(res.stack, expected);
  return mine;
}

async function realStack(b: Bundle, fn: string): Promise<{ stack: string; res: ResolveResult }> {
  const stack = await stackOf(b, fn);
  return { stack, res: await resolver.resolve(tree, { stack }) };
}

test('real V8 errors from the minified bundle resolve like source-map@0.6 and point at the throw', async () => {
  const throwLine = sourceLine('src/validate.ts', 'throw');
  for (const fn of ['runSync', 'runAsync', 'runCtor']) {
    const { stack, res } = await realStack(fx.app, fn);
    assert.equal(res.stack.split('\n')[0], 'Error: invalid amount'); // message passes through
    assert.ok(!res.frames.some((f) => f.raw.startsWith('Error')), 'message lines are not frames');
    const frames = checkAgainstSourceMap(stack, res, fx.app.url, fx.app.map!);
    const top = frames[0]!;
    assert.match(top.source!, /src\/validate\.ts$/);
    assert.equal(top.originalLine, throwLine);
    assert.match(top.context!.line, /throw new ValidationError/);
    assert.equal(top.context!.pre.length, 4); // line 5: only 4 lines before it
    assert.equal(top.context!.post.length, 4); // lines 6-8 and the empty line after the final newline
    // The caller frames land in cart.ts/index.ts on the lines that make the calls.
    assert.match(frames[1]!.source!, /src\/cart\.ts$/);
    const callers: Record<string, [string, string]> = {
      runSync: ['src/index.ts', 'cart.add(-1)'],
      runAsync: ['src/cart.ts', 'return cart.add(price)'],
      runCtor: ['src/index.ts', 'new Account(-2)'],
    };
    const [file, text] = callers[fn]!;
    const caller = frames[2]!;
    assert.ok(caller.source!.endsWith(file), `${fn}: ${caller.source}`);
    assert.equal(caller.originalLine, sourceLine(file, text), fn);
    assert.ok(caller.context!.line.includes(text));
  }
});

test('frames in other files stay unresolved with the paths looked for', async () => {
  const { res } = await realStack(fx.app, 'runSync');
  const foreign = res.frames.filter((f) => f.url !== fx.app.url);
  assert.ok(foreign.length > 0);
  for (const f of foreign) {
    assert.equal(f.resolved, false);
    assert.equal(f.reason, 'NoSourceMap');
    assert.ok(f.detail!.includes('.map'), f.detail);
    assert.ok(res.stack.includes(f.raw), 'unresolved line kept byte-for-byte');
  }
});

test('no sourcesContent: resolved, no context', async () => {
  const { stack, res } = await realStack(fx.noContent, 'runSync');
  const frames = checkAgainstSourceMap(stack, res, fx.noContent.url, fx.noContent.map!);
  assert.ok(frames.every((f) => f.context === undefined));
});

test('inline data: sourceMappingURL found through the stored .js', async () => {
  const { stack, res } = await realStack(fx.inline, 'runOther');
  const b64 = /base64,(\S+)/.exec(fx.inline.js)![1]!;
  const frames = checkAgainstSourceMap(stack, res, fx.inline.url, Buffer.from(b64, 'base64').toString());
  assert.match(frames[0]!.context!.line, /throw new TypeError/);
});

test('sourceMappingURL to an unconventional path, relative to the .js', async () => {
  const raw = await stackOf(fx.other, 'runOther');
  const url = `${CDN}/static/js/ext.js`;
  const stack = raw.split(fx.other.url).join(url);
  const res = await resolver.resolve(tree, { stack });
  checkAgainstSourceMap(stack, res, url, fx.other.map!);
});

test('longest path suffix: assets/lib.js → build/out/assets/lib.js.map (not zz/lib.js.map)', async () => {
  const { stack, res } = await realStack(fx.suffix, 'runSync');
  const frames = checkAgainstSourceMap(stack, res, fx.suffix.url, fx.suffix.map!);
  assert.match(frames[0]!.source!, /validate\.ts$/);
});

test('index map (sections): same answers as the individual maps, second section shifted', async () => {
  const url = `${CDN}/static/js/combined.js`;
  const a = generatedFor(fx.app.map!, 'src/validate.ts', sourceLine('src/validate.ts', 'throw'));
  const b = generatedFor(fx.other.map!, 'src/other.ts', sourceLine('src/other.ts', 'throw'));
  const stack = `Error: x\n    at a (${url}:${a.line}:${a.column})\n    at b (${url}:${b.line + appLines}:${b.column})`;
  const res = await resolver.resolve(tree, { stack });
  const wa = expectedFor(fx.app.map!, a.line, a.column);
  const wb = expectedFor(fx.other.map!, b.line, b.column);
  assert.equal(res.stack, `Error: x\n    at a (${wa.source}:${wa.line}:${wa.column})\n    at b (${wb.source}:${wb.line}:${wb.column})`);
  assert.match(res.frames[1]!.context!.line, /throw new TypeError/);
});

/** Real positions for hand-written stacks: the throw, and the call in Cart.add. */
function positions() {
  const t = generatedFor(fx.app.map!, 'src/validate.ts', sourceLine('src/validate.ts', 'throw'));
  const c = generatedFor(fx.app.map!, 'src/cart.ts', sourceLine('src/cart.ts', 'validateAmount(price)'));
  const loc = (p: { line: number; column: number }) => `${fx.app.url}:${p.line}:${p.column}`;
  const orig = (p: { line: number; column: number }) => {
    const w = expectedFor(fx.app.map!, p.line, p.column);
    return `${w.source}:${w.line}:${w.column}`;
  };
  return { t: loc(t), c: loc(c), T: orig(t), C: orig(c) };
}

test('Firefox stack', async () => {
  const { t, c, T, C } = positions();
  const res = await resolver.resolve(tree, { stack: `validateAmount@${t}\nadd/<@${c}\n@${c}\n` });
  assert.equal(res.stack, `validateAmount@${T}\nadd/<@${C}\n@${C}\n`);
  assert.deepEqual(
    res.frames.map((f) => f.functionName),
    ['validateAmount', 'add/<', null],
  );
  assert.ok(res.frames.every((f) => f.resolved));
});

test('Safari stack, with [native code] as BadFrame', async () => {
  const { t, c, T, C } = positions();
  const res = await resolver.resolve(tree, { stack: `validateAmount@${t}\nforEach@[native code]\nglobal code@${c}\n[native code]` });
  assert.equal(res.stack, `validateAmount@${T}\nforEach@[native code]\nglobal code@${C}\n[native code]`);
  assert.deepEqual(
    res.frames.map((f) => f.reason ?? 'ok'),
    ['ok', 'BadFrame', 'ok', 'BadFrame'],
  );
  assert.equal(res.frames[1]!.source, null);
});

test('Guance SDK stack', async () => {
  const { t, c, T, C } = positions();
  const stack = `ValidationError: invalid amount\n  at validateAmount @ ${t}\n  at <anonymous> @ ${c}`;
  const res = await resolver.resolve(tree, { stack });
  assert.equal(res.stack, `ValidationError: invalid amount\n  at validateAmount @ ${T}\n  at <anonymous> @ ${C}`);
  assert.deepEqual(
    res.frames.map((f) => f.functionName),
    ['validateAmount', null],
  );
  assert.equal(res.frames.length, 2);
});

test('V8 variants, CRLF and non-frame lines preserved byte-for-byte', async () => {
  const { t, c, T, C } = positions();
  const withQuery = t.replace(fx.app.url, `https://other-host:8443/static/js/app.js?v=3#x`);
  const stack = [
    'Error: invalid amount',
    '  caused by something',
    `    at async validateAmount (${t})`,
    `    at new Cart (${c})`,
    `    at Object.<anonymous> (${withQuery})`,
    `    at ${c}`,
    `    at eval (eval at <anonymous> (${t}), <anonymous>:1:1)`,
    '    at foo (native)',
    '    at Array.forEach (<anonymous>)',
    '',
  ].join('\r\n');
  const res = await resolver.resolve(tree, { stack });
  assert.equal(
    res.stack,
    [
      'Error: invalid amount',
      '  caused by something',
      `    at async validateAmount (${T})`,
      `    at new Cart (${C})`,
      `    at Object.<anonymous> (${T})`,
      `    at ${C}`,
      `    at eval (eval at <anonymous> (${T}), <anonymous>:1:1)`,
      '    at foo (native)',
      '    at Array.forEach (<anonymous>)',
      '',
    ].join('\r\n'),
  );
  assert.deepEqual(
    res.frames.map((f) => [f.functionName, f.resolved, f.reason]),
    [
      ['async validateAmount', true, undefined],
      ['new Cart', true, undefined],
      ['Object.<anonymous>', true, undefined],
      [null, true, undefined],
      ['eval', true, undefined],
      ['foo', false, 'BadFrame'],
      ['Array.forEach', false, 'BadFrame'],
    ],
  );
  assert.equal(res.frames[0]!.raw, `    at async validateAmount (${t})`); // raw without '\r'
});

test('frame batch input: rendered V8-style, then rewritten', async () => {
  const t = generatedFor(fx.app.map!, 'src/validate.ts', sourceLine('src/validate.ts', 'throw'));
  const w = expectedFor(fx.app.map!, t.line, t.column);
  const res = await resolver.resolve(tree, {
    frames: [
      { url: fx.app.url, line: t.line, column: t.column, functionName: 'c' },
      { url: `${CDN}/static/js/missing.js`, line: 1, column: 5 },
    ],
  });
  assert.equal(res.stack, `    at c (${w.source}:${w.line}:${w.column})\n    at ${CDN}/static/js/missing.js:1:5`);
  assert.equal(res.frames[0]!.raw, `    at c (${fx.app.url}:${t.line}:${t.column})`);
  assert.equal(res.frames[1]!.raw, `    at ${CDN}/static/js/missing.js:1:5`);
  assert.equal(res.frames[1]!.reason, 'NoSourceMap');
});

test('reasons: NoSourceMap names the path looked for, NoMapping, BadFrame; output shape', async () => {
  const stack = [
    `    at a (${CDN}/static/js/missing.js?x=1:1:5)`,
    `    at b (${fx.app.url}:9999:1)`,
    `    at c (${CDN}/static/js/broken.js:1:1)`,
    '    at d (native)',
  ].join('\n');
  const res = await resolver.resolve(tree, { stack });
  assert.equal(res.stack, stack);
  const [missing, nomap, broken, badf] = res.frames;
  assert.deepEqual(missing, {
    raw: `    at a (${CDN}/static/js/missing.js?x=1:1:5)`,
    functionName: 'a',
    url: `${CDN}/static/js/missing.js?x=1`,
    line: 1,
    column: 5,
    resolved: false,
    source: null,
    originalLine: null,
    originalColumn: null,
    name: null,
    inApp: true,
    match: {
      by: null,
      map: null,
      tried: [
        'static/js/missing.js.map',
        'a sourceMappingURL comment in static/js/missing.js (not stored)',
        'a .map file whose path ends with missing.js.map',
      ],
      closest: [],
    },
    reason: 'NoSourceMap',
    detail: missing!.detail,
  });
  assert.match(missing!.detail!, /static\/js\/missing\.js\.map/);
  assert.match(missing!.detail!, /sourceMappingURL comment in static\/js\/missing\.js \(not stored\)/);
  assert.equal(nomap!.reason, 'NoMapping');
  assert.deepEqual(nomap!.match, { by: 'path', map: 'static/js/app.js.map' });
  assert.deepEqual(broken!.match, { by: 'path', map: 'static/js/broken.js.map' }); // found, but unusable
  assert.deepEqual(badf!.match, { by: null, map: null });
  assert.match(nomap!.detail!, /static\/js\/app\.js\.map.*line 9999/);
  assert.equal(broken!.reason, 'NoSourceMap');
  assert.match(broken!.detail!, /static\/js\/broken\.js\.map is not a usable sourcemap/);
  assert.equal(badf!.reason, 'BadFrame');

  const none = await resolver.resolve(null, { stack: `    at a (${fx.app.url}:1:5)` });
  assert.equal(none.frames[0]!.reason, 'NoSourceMap');
  assert.match(none.frames[0]!.detail!, /no sourcemap is stored.*static\/js\/app\.js\.map/);
});

test('limits: frame cap truncates, byte cap and bad input throw ApiError', async () => {
  const small = new StackResolver({ maxFrames: 2, maxStackBytes: 400 });
  try {
    const stack = `Error\n    at a (${fx.app.url}:1:1)\n    at b (${fx.app.url}:1:2)\n    at c (${fx.app.url}:1:3)\ntail`;
    const res = await small.resolve(tree, { stack });
    assert.equal(res.truncated, true);
    assert.equal(res.frames.length, 2);
    assert.deepEqual(res.stack.split('\n').slice(3), [`    at c (${fx.app.url}:1:3)`, 'tail']);
    const notTruncated = await small.resolve(tree, { stack: 'Error\nno frames' });
    assert.equal('truncated' in notTruncated, false);

    await assert.rejects(
      small.resolve(tree, { stack: 'x'.repeat(401) }),
      (e: unknown) => e instanceof ApiError && e.errorCode === 'Stack.TooLarge' && e.status === 413,
    );
    const frames = Array.from({ length: 3 }, () => ({ url: fx.app.url, line: 1, column: 1 }));
    const fr = await small.resolve(tree, { frames });
    assert.equal(fr.truncated, true);
    assert.equal(fr.frames.length, 2);
  } finally {
    await small.close();
  }
  const paramInvalid = (e: unknown) => e instanceof ApiError && e.errorCode === 'Param.Invalid';
  assert.throws(() => checkStackLimits({}), paramInvalid);
  assert.throws(() => checkStackLimits({ stack: 'a', frames: [] }), paramInvalid);
  assert.throws(() => checkStackLimits({ stack: 5 }), paramInvalid);
  assert.throws(
    () => checkStackLimits({ frames: [{ url: 'a', line: 0, column: 1 }] }),
    (e: unknown) => paramInvalid(e) && /frames\[0\]\.line/.test((e as Error).message),
  );
  assert.throws(
    () => checkStackLimits({ stack: 'x'.repeat(1024 * 1024 + 1) }),
    (e: unknown) => e instanceof ApiError && e.errorCode === 'Stack.TooLarge',
  );
  checkStackLimits({ stack: 'x'.repeat(1024 * 1024) });
});

test('match says how each map was found; inApp is false for ignore-listed and node_modules sources', async () => {
  const tiny = (sources: string[], extra = {}) => JSON.stringify({ version: 3, sources, names: [], mappings: 'AAAA,CCAA', ...extra });
  const t = new MemTree('match', {
    'static/js/direct.js.map': tiny(['src/a.ts', 'webpack://app/node_modules/lib/x.js']),
    'static/js/named.js': 'x()\n//# sourceMappingURL=maps/named.map\n',
    'static/js/maps/named.map': tiny(['src/named.ts', 'vendor/react.js'], { ignoreList: [1] }),
    'static/js/inline.js': `x()\n//# sourceMappingURL=data:application/json;base64,${Buffer.from(tiny(['src/inline.ts', 'lib.js'], { x_google_ignoreList: [1] })).toString('base64')}\n`,
    'dist/js/moved.js.map': tiny(['src/moved.ts']),
    'build/v2/main.9c1b.js.map': tiny(['src/main.ts']),
    'other/main.1111.js': 'x()',
  });
  const r = new StackResolver();
  const frames = [
    { url: `${CDN}/static/js/direct.js`, line: 1, column: 1 },
    { url: `${CDN}/static/js/direct.js`, line: 1, column: 2 },
    { url: `${CDN}/static/js/named.js`, line: 1, column: 1 },
    { url: `${CDN}/static/js/named.js`, line: 1, column: 2 },
    { url: `${CDN}/static/js/inline.js`, line: 1, column: 2 },
    { url: `${CDN}/elsewhere/js/moved.js`, line: 1, column: 1 },
    { url: `${CDN}/build/v2/main.3f2a.js`, line: 1, column: 1 },
    { url: `${CDN}/node_modules/pkg/index.js`, line: 1, column: 1 },
  ];
  const res = (await r.resolve(t, { frames })).frames;
  assert.deepEqual(
    res.map((f) => [f.match.by, f.match.map, f.inApp, f.source]),
    [
      ['path', 'static/js/direct.js.map', true, 'src/a.ts'],
      ['path', 'static/js/direct.js.map', false, 'webpack://app/node_modules/lib/x.js'],
      ['sourceMappingURL', 'static/js/maps/named.map', true, 'src/named.ts'],
      ['sourceMappingURL', 'static/js/maps/named.map', false, 'vendor/react.js'],
      ['sourceMappingURL', 'static/js/inline.js', false, 'lib.js'],
      ['suffix', 'dist/js/moved.js.map', true, 'src/moved.ts'],
      [null, null, true, null],
      [null, null, false, null],
    ],
  );
  // Uploaded but not applied: the closest stored names say why (a different content hash).
  assert.deepEqual(res[6]!.match.closest, ['build/v2/main.9c1b.js.map', 'other/main.1111.js']);
  assert.equal(res[6]!.match.tried!.length, 3);
  await r.close();
});
