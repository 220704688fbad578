import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ParseAdmission } from '../../src/symbolicate/admission.ts';
import { ApiError } from '../../src/errors.ts';

const tick = () => new Promise((r) => setImmediate(r));

test('ParseAdmission: bytes and parse slots bound what runs at once; FIFO; oversized loads run alone', async () => {
  const a = new ParseAdmission({ budgetBytes: 100, maxConcurrent: 2, queueMs: 10_000 });
  const r1 = await a.acquire(60);
  const order: string[] = [];
  const p2 = a.acquire(60).then((r) => {
    order.push('60');
    return r;
  }); // does not fit next to r1
  const p3 = a.acquire(10).then((r) => {
    order.push('10');
    return r;
  }); // fits, but waits behind p2 (FIFO)
  await tick();
  assert.deepEqual(order, []);
  assert.deepEqual(a.stats(), { inUseBytes: 60, active: 1, waiting: 2, refused: 0 });
  r1();
  const [r2, r3] = await Promise.all([p2, p3]);
  assert.deepEqual(order, ['60', '10']);
  const r4p = a.acquire(1); // two parse slots are taken
  await tick();
  assert.equal(a.stats().waiting, 1);
  const inline = await a.acquire(1, false); // a small inline parse takes bytes, no slot
  inline();
  r2();
  (await r4p)();
  r3();
  const huge = await a.acquire(10_000); // clamped to the budget: runs alone
  assert.equal(a.stats().inUseBytes, 100);
  const small = a.acquire(1);
  await tick();
  assert.equal(a.stats().waiting, 1);
  huge();
  huge(); // releasing twice is harmless
  (await small)();
  assert.deepEqual(a.stats(), { inUseBytes: 0, active: 0, waiting: 0, refused: 0 });
});

test('ParseAdmission: a load that cannot get room within queueMs is refused with Server.Busy (503)', async () => {
  const a = new ParseAdmission({ budgetBytes: 100, maxConcurrent: 1, queueMs: 30, maxWaiting: 2 });
  const held = await a.acquire(100);
  const waiting = [a.acquire(5), a.acquire(5)];
  await assert.rejects(a.acquire(5), (e: unknown) => e instanceof ApiError && e.errorCode === 'Server.Busy' && e.status === 503); // queue full: at once
  for (const w of waiting) await assert.rejects(w, (e: unknown) => e instanceof ApiError && e.errorCode === 'Server.Busy');
  assert.equal(a.retryAfterSeconds, 1);
  assert.equal(a.stats().refused, 3);
  held();
  (await a.acquire(100))();
});
