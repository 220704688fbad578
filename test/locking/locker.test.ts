import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { LockTimeoutError, withLock, type Locker } from '../../src/locking/locker.ts';
import { MemoryLocker } from '../../src/locking/memory-locker.ts';
import { PgAdvisoryLocker } from '../../src/locking/pg-advisory-locker.ts';
import { service } from '../helpers/services.ts';

/**
 * The behaviour every Locker must have. `two()` gives two lockers that must exclude each other:
 * the same object for the in-process one, two nodes (separate pools) for PostgreSQL.
 */
function lockerContract(name: string, two: () => Promise<[Locker, Locker, () => Promise<void>]>) {
  test(`${name}: one holder per key; a waiter gets the lock when it is released`, async () => {
    const [a, b, done] = await two();
    const held = await a.lock('k', { timeoutMs: 1000 });
    const order: string[] = [];
    const waiting = b.lock('k', { timeoutMs: 5000 }).then((l) => {
      order.push('b got it');
      return l;
    });
    const other = await b.lock('other', { timeoutMs: 1000 });
    await other.unlock();
    order.push('a releases');
    await held.unlock();
    await (await waiting).unlock();
    assert.deepEqual(order, ['a releases', 'b got it']);
    await done();
  });

  test(`${name}: a lock not free within the timeout rejects with LockTimeoutError, and leaves the holder alone`, async () => {
    const [a, b, done] = await two();
    const held = await a.lock('k', { timeoutMs: 1000 });
    await assert.rejects(b.lock('k', { timeoutMs: 50 }), (e: unknown) => e instanceof LockTimeoutError && e.key === 'k');
    await held.unlock();
    await (await b.lock('k', { timeoutMs: 1000 })).unlock();
    await done();
  });

  test(`${name}: an abort stops the wait at once, also before it starts`, async () => {
    const [a, b, done] = await two();
    const held = await a.lock('k', { timeoutMs: 1000 });
    const controller = new AbortController();
    const waiting = b.lock('k', { timeoutMs: 60_000, signal: controller.signal });
    controller.abort(new Error('client went away'));
    await assert.rejects(waiting, /client went away/);
    await assert.rejects(b.lock('free', { timeoutMs: 1000, signal: AbortSignal.abort(new Error('already')) }), /already/);
    await held.unlock();
    await (await b.lock('k', { timeoutMs: 1000 })).unlock();
    await done();
  });

  test(`${name}: withLock releases when the work throws; unlock is idempotent`, async () => {
    const [a, b, done] = await two();
    await assert.rejects(
      withLock(a, 'k', { timeoutMs: 1000 }, async () => {
        throw new Error('work failed');
      }),
      /work failed/,
    );
    const l = await b.lock('k', { timeoutMs: 1000 });
    await l.unlock();
    await l.unlock();
    await (await a.lock('k', { timeoutMs: 1000 })).unlock();
    await done();
  });
}

lockerContract('MemoryLocker', async () => {
  const l = new MemoryLocker();
  return [l, l, async () => {}];
});

const svc = service('MAPVAULT_TEST_PG_URL', 'scripts/services/postgres.sh');
describe('PgAdvisoryLocker', { skip: svc.skip }, () => {
  const pools: pg.Pool[] = [];
  after(() => Promise.all(pools.map((p) => p.end())));
  lockerContract('PgAdvisoryLocker', async () => {
    const [p1, p2] = [new pg.Pool({ connectionString: svc.value, max: 3 }), new pg.Pool({ connectionString: svc.value, max: 3 })];
    return [
      new PgAdvisoryLocker(p1),
      new PgAdvisoryLocker(p2),
      async () => {
        await p1.end();
        await p2.end();
      },
    ];
  });

  test('PgAdvisoryLocker: a node that dies releases its locks with its session', async () => {
    const client = new pg.Client({ connectionString: svc.value });
    client.on('error', () => {});
    await client.connect();
    await client.query("SELECT pg_advisory_lock(hashtextextended('dies', 0))");
    const pool = new pg.Pool({ connectionString: svc.value, max: 2 });
    pools.push(pool);
    const locker = new PgAdvisoryLocker(pool);
    await assert.rejects(locker.lock('dies', { timeoutMs: 50 }), LockTimeoutError);
    const waiting = locker.lock('dies', { timeoutMs: 10_000 });
    // The holder's connection ends without unlocking, as a kill -9 would end it.
    (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    await (await waiting).unlock();
  });

  test('PgAdvisoryLocker: the held connection dying (backend terminated) does not end the process; unlock still settles', async () => {
    const pool = new pg.Pool({ connectionString: svc.value, max: 2 });
    pool.on('error', () => {});
    pools.push(pool);
    const locker = new PgAdvisoryLocker(pool);
    const held = await locker.lock('terminated', { timeoutMs: 1000 });
    const admin = new pg.Client({ connectionString: svc.value });
    await admin.connect();
    // Ends every other session holding that advisory lock, as a PostgreSQL restart would.
    await admin.query(`SELECT pg_terminate_backend(l.pid) FROM pg_locks l
      WHERE l.locktype = 'advisory' AND l.pid <> pg_backend_pid()
        AND l.objid = (hashtextextended('terminated', 0) & 4294967295)::bigint::oid`);
    await admin.end();
    await new Promise((r) => setTimeout(r, 200)); // the 'error' event arrives; without a listener the process would exit here
    await held.unlock();
    // The lock went with the session: another holder gets it at once.
    await (await locker.lock('terminated', { timeoutMs: 1000 })).unlock();
  });
});
