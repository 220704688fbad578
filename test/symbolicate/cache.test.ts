import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { StackResolver } from '../../src/symbolicate/index.ts';
import { MapCache } from '../../src/symbolicate/map-cache.ts';
import { MapParserPool, WorkerUnavailableError } from '../../src/symbolicate/worker-pool.ts';
import { CDN, MemTree, buildFixture, generatedFor, sourceLine, stackOf } from './fixtures.ts';
import type { Fixture } from './fixtures.ts';

let fx: Fixture;
let stack: string;
let stackAll: string;
before(async () => {
  fx = await buildFixture();
  stack = stackAll = await stackOf(fx.app, 'runSync');
});
after(() => fx.cleanup());

const appTree = (id: string) => new MemTree(id, { 'static/js/app.js.map': fx.app.map! });

test('MapCache: LRU order, byte bound, oversized entries, invalidation during a load', async () => {
  const c = new MapCache<{ cost: number; v: string }>(100);
  const load = (v: string, cost: number) => async () => ({ v, cost });
  await c.getOrLoad('t\u0000a', load('a', 40));
  await c.getOrLoad('t\u0000b', load('b', 40));
  await c.getOrLoad('t\u0000a', load('a2', 40)); // hit: a becomes the youngest
  await c.getOrLoad('u\u0000c', load('c', 40)); // over budget: evicts b, the oldest
  assert.equal((await c.getOrLoad('t\u0000a', load('x', 1)))!.v, 'a');
  assert.equal((await c.getOrLoad('t\u0000b', load('b2', 40)))!.v, 'b2'); // reloaded
  assert.ok(c.bytes <= 100);
  await c.getOrLoad('t\u0000huge', load('huge', 101));
  assert.equal((await c.getOrLoad('t\u0000huge', load('huge2', 101)))!.v, 'huge2'); // never stored

  let release!: () => void;
  const slow = c.getOrLoad('u\u0000slow', () => new Promise((r) => (release = () => r({ v: 'stale', cost: 1 }))));
  await new Promise((r) => setImmediate(r));
  c.invalidateTree('u');
  release();
  assert.equal((await slow)!.v, 'stale'); // the waiting caller still gets its answer…
  assert.equal((await c.getOrLoad('u\u0000slow', load('fresh', 1)))!.v, 'fresh'); // …but it was not cached
  assert.equal((await c.getOrLoad('u\u0000c', load('c2', 1)))!.v, 'c2'); // invalidated
  assert.equal((await c.getOrLoad('t\u0000a', load('a3', 1)))!.v, 'a'); // other tree untouched

  const failing = await c
    .getOrLoad('t\u0000err', () => {
      throw new Error('sync throw');
    })
    .catch((e: Error) => e.message);
  assert.equal(failing, 'sync throw');
  assert.equal((await c.getOrLoad('t\u0000err', load('ok', 1)))!.v, 'ok'); // errors are not cached
});

test('cached until invalidateTree; then the new map at the same path is used', async () => {
  const r = new StackResolver();
  const tree = appTree('t1');
  const first = await r.resolve(tree, { stack });
  assert.ok(first.frames[0]!.resolved);
  assert.match(first.frames[0]!.source!, /validate\.ts$/);
  await r.resolve(tree, { stack });
  assert.equal(r.stats().parses, 1);
  assert.ok(r.stats().hits >= 1);
  assert.equal(tree.reads.filter((p) => p === 'static/js/app.js.map').length, 1);

  // Replace the sourcemap in place (a re-upload with the same tree id).
  const other = generatedFor(fx.other.map!, 'src/other.ts', sourceLine('src/other.ts', 'throw'));
  tree.files.set('static/js/app.js.map', Buffer.from(fx.other.map!));
  const probe = `    at x (${fx.app.url}:${other.line}:${other.column})`;
  const stale = await r.resolve(tree, { stack: probe });
  assert.doesNotMatch(stale.frames[0]!.source ?? '', /other\.ts$/); // still the cached old map
  r.invalidateTree('t1');
  assert.equal(r.stats().entries, 0);
  const fresh = await r.resolve(tree, { stack: probe });
  assert.match(fresh.frames[0]!.source!, /other\.ts$/);
  assert.equal(r.stats().parses, 2);
  await r.close();
});

test('concurrent requests for a cold map parse it once', async () => {
  const r = new StackResolver();
  const tree = appTree('t2');
  const [a, b, c] = await Promise.all([r.resolve(tree, { stack }), r.resolve(tree, { stack }), r.resolve(tree, { stack })]);
  assert.deepEqual(a, b);
  assert.deepEqual(a, c);
  assert.equal(r.stats().parses, 1);
  assert.equal(tree.reads.filter((p) => p === 'static/js/app.js.map').length, 1);
  await r.close();
});

test('byte bound: a budget for one map keeps one map', async () => {
  // Only the bundle's frames: misses for other files (node internals) would be cached too, and
  // their order of arrival would decide which entry is evicted first.
  const stack = stackAll
    .split('\n')
    .filter((l) => !/^\s+at /.test(l) || l.includes(fx.app.url))
    .join('\n');
  const probe = new StackResolver();
  await probe.resolve(appTree('p'), { stack });
  const oneMap = probe.stats().bytes;
  await probe.close();

  const r = new StackResolver({ cacheBytes: Math.floor(oneMap * 1.5) });
  const t1 = appTree('a');
  const t2 = appTree('b');
  await r.resolve(t1, { stack });
  await r.resolve(t2, { stack }); // evicts tree a's map
  // One map kept (plus the small remembered locate decisions, a few hundred bytes each).
  assert.equal(r.stats().parses, 2);
  assert.ok(r.stats().bytes >= oneMap && r.stats().bytes < oneMap + 4096, `${r.stats().bytes} vs ${oneMap}`);
  await r.resolve(t1, { stack }); // parsed again
  assert.equal(r.stats().parses, 3);
  assert.ok(r.stats().bytes <= Math.floor(oneMap * 1.5));

  const tiny = new StackResolver({ cacheBytes: 10 }); // maps bigger than the budget are used, not kept
  const res = await tiny.resolve(appTree('c'), { stack });
  assert.ok(res.frames[0]!.resolved);
  assert.equal(tiny.stats().entries, 0);
  await Promise.all([r.close(), tiny.close()]);
});

test('worker parsing (threshold 0) gives results identical to inline parsing', async () => {
  const files = {
    'static/js/app.js.map': fx.app.map!,
    'static/inline/vendor.js': fx.inline.js,
    'static/js/broken.js.map': '{"version":3,',
  };
  const stacks = [
    stack,
    (await stackOf(fx.inline, 'runOther')).trim(),
    `    at x (${CDN}/static/js/broken.js:1:1)\n    at y (${fx.app.url}:99:1)`,
  ];
  const inline = new StackResolver({ workerThresholdBytes: Infinity });
  const worker = new StackResolver({ workerThresholdBytes: 0 });
  try {
    for (const s of stacks) {
      const [a, b] = await Promise.all([
        inline.resolve(new MemTree('w1', files), { stack: s }),
        worker.resolve(new MemTree('w2', files), { stack: s }),
      ]);
      assert.deepEqual(b, a);
    }
    assert.ok(worker.stats().parses >= 2);
    // The parses really ran in a worker thread.
    const pool = (worker as unknown as { pool: { slots: unknown[]; unavailable: Error | null } }).pool;
    assert.equal(pool.unavailable, null);
    assert.equal(pool.slots.length, 1);
    // close() stops the workers; the resolver still works afterwards (restarting them lazily).
    await worker.close();
    assert.equal(pool.slots.length, 0);
    const again = await worker.resolve(new MemTree('w3', files), { stack });
    assert.ok(again.frames[0]!.resolved);
  } finally {
    await Promise.all([inline.close(), worker.close()]);
  }
});

test('worker pool: a worker that cannot start → WorkerUnavailableError (callers parse inline); a crash mid-job rejects that job', async () => {
  const broken = new MapParserPool(1, () => new Worker('throw new Error("no loader here")', { eval: true }));
  await assert.rejects(
    broken.parse(Buffer.from('{}')),
    (e: unknown) => e instanceof WorkerUnavailableError && /no loader here/.test((e as Error).message),
  );
  assert.ok(broken.unavailable);
  await assert.rejects(broken.parse(Buffer.from('{}')), WorkerUnavailableError); // no retry storm
  await broken.close();

  const crashing = new MapParserPool(
    1,
    () =>
      new Worker(
        `const { parentPort } = require('node:worker_threads'); parentPort.postMessage({ ready: true }); parentPort.on('message', () => process.exit(3));`,
        { eval: true },
      ),
  );
  await assert.rejects(crashing.parse(Buffer.from('{}')), /exited with code 3/);
  assert.equal(crashing.unavailable, null);
  await crashing.close();
});
