/**
 * A hostile mapping through the real API: multi-MB lines, a class with tens of thousands of lines
 * under one member name, a deep inline chain, non-UTF-8 bytes. The merge warns about each, and
 * /healthz keeps answering within the budget while the merge and the first lookups run.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, uploadZip, type TestServer } from '../helpers/server.ts';
import { zipEntries } from '../helpers/fixtures.ts';

/** Event-loop stalls above this fail the test (the machine is shared: generous, yet far below a blocked loop). */
const HEALTH_BUDGET_MS = 500;
let s: TestServer;
before(async () => {
  s = await startServer();
});
after(() => s.close());

async function whileWatchingHealth<T>(work: () => Promise<T>): Promise<{ result: T; worst: number }> {
  let worst = 0;
  let done = false;
  const watcher = (async () => {
    while (!done) {
      const t = performance.now();
      const r = await fetch(`${s.url}/healthz`);
      await r.arrayBuffer();
      assert.equal(r.status, 200);
      worst = Math.max(worst, performance.now() - t);
      await new Promise((res) => setTimeout(res, 10));
    }
  })();
  try {
    return { result: await work(), worst };
  } finally {
    done = true;
    await watcher;
  }
}

test('a hostile mapping is merged with warnings while /healthz answers within budget, and still resolves', async () => {
  const parts: Buffer[] = [Buffer.from('com.example.Big -> a:\n')];
  const group: string[] = [];
  for (let i = 0; i < 30_000; i++) group.push(`    ${i + 1}:${i + 1}:void method${i}(int):${i + 7} -> a`);
  parts.push(Buffer.from(`${group.join('\n')}\n`));
  parts.push(Buffer.from(`    1:1:void long${'x'.repeat(3 * 1024 * 1024)}() -> b\n`));
  const chain: string[] = [];
  for (let i = 0; i < 3000; i++) chain.push(`    9:9:void inlined${i}():${i + 1} -> c`);
  parts.push(Buffer.from(`${chain.join('\n')}\n`));
  parts.push(
    Buffer.concat([
      Buffer.from('com.example.Other -> b:\n    1:1:void caf'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('() -> a\n    2:2:void fine():40 -> b\n'),
    ]),
  );
  const zip = await zipEntries({ 'mapping.txt': Buffer.concat(parts) });
  const id = { appId: 'hostile', version: '1', env: 'prod' };

  const { result: merged, worst: duringMerge } = await whileWatchingHealth(() => uploadZip(s, zip, id, { partSize: 4 * 1024 * 1024 }));
  assert.equal(merged.status, 200, JSON.stringify(merged.body));
  const warnings: string[] = merged.body.content.warnings;
  assert.ok(
    warnings.some((w) => /method name a of a has more than 20000 mapping lines/.test(w)),
    warnings.join('\n'),
  );
  assert.ok(warnings.some((w) => /longer than 65536 bytes and was skipped/.test(w)));
  assert.ok(warnings.some((w) => /inline chain deeper than 512 frames was cut/.test(w)));
  assert.ok(warnings.some((w) => /not valid UTF-8/.test(w)));
  const mergeWorsts = [duringMerge];

  const stack = 'java.lang.IllegalStateException: x\n\tat a.a(SourceFile:19999)\n\tat a.c(SourceFile:9)\n\tat b.b(SourceFile:2)';
  // Three merges and the first lookup of each copy: a stall of ours would show in every one, while a
  // scheduling hiccup of this shared machine does not repeat, so the best of the three is judged.
  for (const version of ['2', '3']) {
    const { result, worst } = await whileWatchingHealth(() => uploadZip(s, zip, { ...id, version }, { partSize: 4 * 1024 * 1024 }));
    assert.equal(result.status, 200);
    mergeWorsts.push(worst);
  }
  assert.ok(
    Math.min(...mergeWorsts) < HEALTH_BUDGET_MS,
    `/healthz took ${mergeWorsts.map((w) => w.toFixed(0)).join(', ')} ms during the merges`,
  );
  const worsts: number[] = [];
  for (const version of ['1', '2', '3']) {
    const { result: r, worst } = await whileWatchingHealth(() => s.post('/parse_stack', { ...id, version, stack }));
    assert.equal(r.status, 200);
    const frames = r.body.content.frames;
    assert.deepEqual(frames[0].chain, [{ class: 'com.example.Big', method: 'method19998', line: 20005, sourceFile: 'Big.java' }]);
    assert.equal(frames[1].chain.length, 512);
    assert.equal(frames[2].chain[0].line, 40);
    worsts.push(worst);
  }
  assert.ok(
    Math.min(...worsts) < HEALTH_BUDGET_MS,
    `/healthz took ${worsts.map((w) => w.toFixed(0)).join(', ')} ms during the first lookups`,
  );
});
