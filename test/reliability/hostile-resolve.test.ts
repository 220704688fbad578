/**
 * Issue #10, resolver side: hostile stored files and stacks against a real server process. Each
 * case stores a crafted file through the normal upload path, resolves through it, and holds the
 * server to budgets: /healthz keeps answering within 200 ms while the hostile request runs, and
 * peak RSS stays bounded where memory is the point. Maps are written byte by byte as text, not
 * produced by a bundler, because each one lies about something.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';
import { zipEntries } from '../helpers/fixtures.ts';
import { memoryMiB, postJson, underHealthWatch, uploadZipTo } from '../helpers/hostile.ts';

const HEALTH_BUDGET_MS = 200;
const CDN = 'https://cdn.example.com';

/** A one-segment plain map (`AAAA`: generated 0:0 → a.ts 0:0), as JSON text. */
const tinyMap = (source: string) => `{"version":3,"sources":["${source}"],"names":[],"mappings":"AAAA"}`;

async function store(s: ServerProcess, version: string, files: Record<string, string | Buffer>) {
  await uploadZipTo(s, await zipEntries(files), { appId: 'hostile', version });
}

async function resolveFrames(s: ServerProcess, version: string, frames: Array<{ url: string; line: number; column: number }>) {
  return postJson(s, '/parse_stack', { appId: 'hostile', version, frames });
}

/**
 * One request under the /healthz watch; asserts the budget and returns the answer: no ping may
 * wait while the server's event loop works 200 ms without yielding (measured in the main thread's
 * CPU time, see HealthReport.worstCpuMs). The old code stalled 0.6–27 s on these inputs.
 */
async function hostileRequest<T>(s: ServerProcess, what: string, work: () => Promise<T>): Promise<T> {
  const { result, health } = await underHealthWatch(s, work);
  assert.ok(
    health.worstCpuMs < HEALTH_BUDGET_MS,
    `${what}: a /healthz ping waited while the event loop used ${health.worstCpuMs} ms of CPU (budget ${HEALTH_BUDGET_MS}; wall ${health.worstMs.toFixed(0)} ms)`,
  );
  assert.ok(health.pings > 0);
  return result;
}

describe('work bounded by bytes, not by numbers written in the input', () => {
  let dataDir: string;
  let s: ServerProcess;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'mapvault-hostile-'));
    // A small parser heap: maps that need more are refused per frame (and the server lives).
    s = await spawnServer(dataDir, { MAPVAULT_PARSER_HEAP: '96MiB', LOG_LEVEL: 'warn', MAPVAULT_ARCHIVE_MAX_RATIO: '100000' });
  });
  after(async () => {
    await s.kill9();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('critical: a ~250-byte index map with a section at line 200 000 000 resolves in bounded memory and time', async () => {
    const map = `{"version":3,"sections":[{"offset":{"line":0,"column":0},"map":${tinyMap('first.ts')}},{"offset":{"line":200000000,"column":7},"map":${tinyMap('far.ts')}}]}`;
    assert.ok(map.length < 256, `${map.length} bytes`);
    await store(s, 'offset', { 'static/js/app.js.map': map });
    const before = memoryMiB(s.proc.pid!);
    const r = await hostileRequest(s, 'section offset', () =>
      resolveFrames(s, 'offset', [
        { url: `${CDN}/static/js/app.js`, line: 200_000_001, column: 8 },
        { url: `${CDN}/static/js/app.js`, line: 1, column: 1 },
        { url: `${CDN}/static/js/app.js`, line: 100_000_000, column: 1 },
      ]),
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const [far, first, between] = r.body.content.frames;
    assert.deepEqual([far.resolved, far.source, far.originalLine, far.originalColumn], [true, 'far.ts', 1, 1]);
    assert.deepEqual([first.resolved, first.source], [true, 'first.ts']);
    assert.equal(between.reason, 'NoMapping');
    const afterMem = memoryMiB(s.proc.pid!);
    assert.ok(afterMem.peak - before.peak < 64, `peak RSS grew by ${(afterMem.peak - before.peak).toFixed(0)} MiB`);
  });

  test('offsets, nesting and order that cannot be honoured are refused per frame, with the reason', async () => {
    const cases: Record<string, string> = {
      'huge.js.map': `{"version":3,"sections":[{"offset":{"line":1e300,"column":0},"map":${tinyMap('x.ts')}}]}`,
      'negative.js.map': `{"version":3,"sections":[{"offset":{"line":-5,"column":0},"map":${tinyMap('x.ts')}}]}`,
      'past-int32.js.map': `{"version":3,"sections":[{"offset":{"line":4294967296,"column":0},"map":${tinyMap('x.ts')}}]}`,
      'unordered.js.map': `{"version":3,"sections":[{"offset":{"line":9,"column":0},"map":${tinyMap('x.ts')}},{"offset":{"line":2,"column":0},"map":${tinyMap('y.ts')}}]}`,
      'deep.js.map': `${'{"version":3,"sections":[{"offset":{"line":1000000,"column":0},"map":'.repeat(40)}${tinyMap('x.ts')}${'}]}'.repeat(40)}`,
    };
    const files = Object.fromEntries(Object.entries(cases).map(([k, v]) => [`static/js/${k}`, v]));
    await store(s, 'refused', files);
    const frames = Object.keys(cases).map((k) => ({ url: `${CDN}/static/js/${k.replace(/\.map$/, '')}`, line: 3, column: 1 }));
    const r = await hostileRequest(s, 'refused offsets', () => resolveFrames(s, 'refused', frames));
    assert.equal(r.status, 200);
    const details = r.body.content.frames.map((f: any) => [f.resolved, f.reason, f.detail]);
    for (const [i, [resolved, reason, detail]] of details.entries()) {
      assert.equal(resolved, false, frames[i]!.url);
      assert.equal(reason, 'NoSourceMap', frames[i]!.url);
      assert.match(detail, /not a usable sourcemap/, frames[i]!.url);
    }
    assert.match(details[3][2], /not in order/);
    assert.match(details[4][2], /nest deeper/);
  });

  test('huge line/column/source/name values and endless VLQ continuations cost only their bytes', async () => {
    // Field values near 2^31 and beyond (VLQ wraps at 32 bits), a 1 MiB run of continuation digits,
    // and a names index far past the names array.
    const big =
      'gggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg'; // 'g' = continuation, digit 0
    const files = {
      'static/js/values.js.map': `{"version":3,"sources":["v.ts"],"names":["n"],"mappings":"AAAA,C//////DA//////D//////D//////D;${big.repeat(6000)}B;AA+/////D"}`,
      'static/js/names.js.map': `{"version":3,"sources":["v.ts"],"names":["n"],"mappings":"AAAA+/////H"}`,
    };
    await store(s, 'values', files);
    const r = await hostileRequest(s, 'huge values', () =>
      resolveFrames(s, 'values', [
        { url: `${CDN}/static/js/values.js`, line: 1, column: 1_000_000_000 },
        { url: `${CDN}/static/js/values.js`, line: 2, column: 1 },
        { url: `${CDN}/static/js/values.js`, line: 3, column: 1 },
        { url: `${CDN}/static/js/values.js`, line: 2 ** 40, column: 2 ** 40 },
        { url: `${CDN}/static/js/names.js`, line: 1, column: 1 },
      ]),
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const frames = r.body.content.frames;
    assert.equal(frames[3].reason, 'NoMapping');
    assert.match(frames[3].detail, /past the end/);
    assert.equal(frames[4].resolved, true);
    assert.equal(frames[4].name, null); // name index past the names array: no name, no crash
  });

  test('a deeply nested JSON bomb is parsed off the serving thread', async () => {
    // 1.5 MiB of nested arrays: JSON.parse takes ~0.5 s on one core. It used to run inline
    // (maps under 2 MiB were parsed on the main thread); now only maps under 64 KiB are.
    const depth = 750_000;
    const bomb = `{"version":3,"sources":["a.ts"],"names":[],"mappings":"AAAA","x_junk":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    await store(s, 'nested', { 'static/js/app.js.map': bomb });
    const r = await hostileRequest(s, 'nested JSON', () =>
      resolveFrames(s, 'nested', [{ url: `${CDN}/static/js/app.js`, line: 1, column: 1 }]),
    );
    assert.equal(r.status, 200);
    assert.equal(r.body.content.frames[0].resolved, true);
  });

  test('a map that exhausts the parser heap kills only its worker; the reason is remembered for the revision', async () => {
    // ~24 MiB of one-character names: a few hundred MiB of V8 heap once parsed, over the 96 MiB limit.
    const names = `"a",`.repeat(6 * 1024 * 1024);
    const map = `{"version":3,"sources":["a.ts"],"names":[${names}"a"],"mappings":"AAAA"}`;
    await store(s, 'oom', { 'static/js/app.js.map': map, 'static/js/ok.js.map': tinyMap('ok.ts') });
    const frames = [
      { url: `${CDN}/static/js/app.js`, line: 1, column: 1 },
      { url: `${CDN}/static/js/ok.js`, line: 1, column: 1 },
    ];
    const r = await hostileRequest(s, 'heap exhaustion', () => resolveFrames(s, 'oom', frames));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.content.frames[0].resolved, false);
    assert.match(r.body.content.frames[0].detail, /memory limit/);
    assert.equal(r.body.content.frames[1].resolved, true); // the next parse gets a fresh worker
    const again = await hostileRequest(s, 'heap exhaustion, again', () => resolveFrames(s, 'oom', frames));
    assert.match(again.body.content.frames[0].detail, /memory limit/);
    assert.equal(s.proc.exitCode, null);
  });
});

describe('sourceMappingURL and the suffix fallback: no super-linear work, misses remembered', () => {
  let dataDir: string;
  let s: ServerProcess;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'mapvault-hostile-locate-'));
    s = await spawnServer(dataDir, { LOG_LEVEL: 'warn', MAPVAULT_ARCHIVE_MAX_RATIO: '100000' });
  });
  after(async () => {
    await s.kill9();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('a 260 KB script of repeated sourceMappingURL comments without whitespace does not stall the server', async () => {
    // The old whole-file regex backtracked quadratically on this: `(\S+)` ran to the ` x` from
    // every one of the 13 000 comment starts, then gave back one character at a time.
    const js = `${'//@sourceMappingURL='.repeat(13_000)} x`;
    const tail = `x()\n${'//@sourceMappingURL='.repeat(13_000)} x`;
    await store(s, 'smu', { 'static/js/app.js': js, 'static/js/tail.js': tail });
    for (const name of ['app', 'tail']) {
      const r = await hostileRequest(s, `sourceMappingURL ${name}`, () =>
        resolveFrames(s, 'smu', [{ url: `${CDN}/static/js/${name}.js`, line: 1, column: 1 }]),
      );
      assert.equal(r.status, 200);
      assert.equal(r.body.content.frames[0].reason, 'NoSourceMap');
    }
  });

  test('a 1 000-frame stack against a 1 500-map tree with deep paths resolves by the suffix index, once per revision', async () => {
    const files: Record<string, string> = {};
    const deep = Array.from({ length: 30 }, (_, i) => `d${i}`).join('/');
    for (let i = 0; i < 1500; i++) files[`build/${i % 7}/${deep}/chunk-${i}.js.map`] = tinyMap(`chunk-${i}.ts`);
    await store(s, 'suffix', files);
    const frames = Array.from({ length: 1000 }, (_, i) => ({
      url: `${CDN}/other/${deep}/${i % 2 ? `chunk-${i}` : `missing-${i}`}.js`,
      line: 1,
      column: 1,
    }));
    const r = await hostileRequest(s, 'suffix fallback', () => resolveFrames(s, 'suffix', frames));
    assert.equal(r.status, 200);
    const got = r.body.content.frames;
    for (let i = 0; i < 1000; i++) {
      if (i % 2) assert.equal(got[i].source, `chunk-${i}.ts`, JSON.stringify(got[i]));
      else assert.equal(got[i].reason, 'NoSourceMap');
    }
    // Again: every decision (hits and misses) is remembered for the revision.
    const again = await hostileRequest(s, 'suffix fallback, again', () => resolveFrames(s, 'suffix', frames));
    assert.deepEqual(again.body.content.frames, got);
  });
});

describe('bounded cold loading across requests', () => {
  let dataDir: string;
  let s: ServerProcess;
  /** A synthetic plain map of about `mib` MiB: long mappings and a big sourcesContent. */
  const bigMap = (mib: number, tag: string) => {
    const line = 'AAAA,CAAC,CAAC,CAAC,CAAC,CAAC,CAAC,CAAC;'; // 8 segments per generated line
    const lines = Math.floor((mib * 1024 * 1024) / 2 / line.length);
    const content = `// ${tag}\n${'let x = 1;\n'.repeat(Math.floor((mib * 1024 * 1024) / 2 / 11))}`;
    return `{"version":3,"sources":["${tag}.ts"],"sourcesContent":[${JSON.stringify(content)}],"names":[],"mappings":"${line.repeat(lines)}"}`;
  };
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'mapvault-hostile-budget-'));
    s = await spawnServer(dataDir, {
      LOG_LEVEL: 'warn',
      MAPVAULT_ARCHIVE_MAX_RATIO: '100000',
      MAPVAULT_PARSE_BUDGET_BYTES: '8MiB',
      MAPVAULT_MAX_COLD_PARSES: '1',
      MAPVAULT_PARSE_QUEUE: '300ms',
    });
    const files: Record<string, string> = {};
    for (let i = 0; i < 12; i++) files[`static/js/m${i}.js.map`] = bigMap(6, `m${i}`);
    await store(s, 'budget', files);
  });
  after(async () => {
    await s.kill9();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('12 concurrent cold 6 MiB maps under an 8 MiB budget: some 503 Server.Busy + Retry-After, bounded peak RSS, the rest resolve', async () => {
    const base = memoryMiB(s.proc.pid!);
    const answers = await hostileRequest(s, 'concurrent cold loads', () =>
      Promise.all(
        Array.from({ length: 12 }, (_, i) => resolveFrames(s, 'budget', [{ url: `${CDN}/static/js/m${i}.js`, line: 3, column: 6 }])),
      ),
    );
    const busy = answers.filter((a) => a.status === 503);
    const ok = answers.filter((a) => a.status === 200);
    assert.ok(busy.length > 0, 'some loads must be refused when the budget is exhausted');
    assert.ok(ok.length > 0);
    for (const b of busy) {
      assert.equal(b.body.errorCode, 'Server.Busy');
      assert.equal(b.body.success, false);
      assert.ok(Number(b.headers.get('retry-after')) >= 1);
    }
    for (const a of ok) assert.equal(a.body.content.frames[0].resolved, true);
    // One 6 MiB map at a time: JSON text, parsed strings and packed arrays of one map, not twelve.
    const grown = memoryMiB(s.proc.pid!).peak - base.peak;
    assert.ok(grown < 150, `peak RSS grew by ${grown.toFixed(0)} MiB`);
    // Retried later, each resolves.
    for (let i = 0; i < 12; i++) {
      const r = await resolveFrames(s, 'budget', [{ url: `${CDN}/static/js/m${i}.js`, line: 3, column: 6 }]);
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
  });
});
