import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { Lock, Locker } from '../../src/locking/locker.ts';
import { MemoryLocker } from '../../src/locking/memory-locker.ts';
import { identityKey } from '../../src/locking/identity-lock.ts';
import { zipEntries } from '../helpers/fixtures.ts';
import { KEY_A, startServer, uploadPart, uploadZip, type TestServer } from '../helpers/server.ts';

/** The server's locker, with every acquisition it was asked for and how that ended. */
class WatchedLocker implements Locker {
  readonly inner = new MemoryLocker();
  readonly waits: Array<{ key: string; outcome: Promise<unknown> }> = [];
  lock(key: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<Lock> {
    const lock = this.inner.lock(key, opts);
    this.waits.push({
      key,
      outcome: lock.then(
        () => 'granted',
        (err: unknown) => err,
      ),
    });
    return lock;
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

let s: TestServer;
const locker = new WatchedLocker();
const identity = { appId: 'abandoned', version: '1' };
const key = identityKey({ workspace: 'workspace-a', ...identity, env: '' });

before(async () => {
  // Waits end when the client goes away; without that they would end by this timeout instead
  // (a LockTimeoutError, which the test reports as the failure).
  s = await startServer({ MAPVAULT_LOCK_TIMEOUT: '20s' }, { locker });
  assert.equal((await uploadZip(s, await zipEntries({ 'a.js': 'stored' }), identity)).status, 200);
});
after(() => s.close());

/** Sends a JSON POST and closes the connection once the server waits for the lock; resolves when it did. */
async function abandonWhileWaiting(path: string, body: unknown): Promise<unknown> {
  const waitsBefore = locker.waits.length;
  const payload = JSON.stringify(body);
  const req = request(`${s.api}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), 'DF-API-KEY': KEY_A },
  });
  req.on('error', () => {}); // the socket we destroy
  req.end(payload);
  while (locker.waits.length === waitsBefore) await new Promise((r) => setTimeout(r, 5));
  const wait = locker.waits[waitsBefore]!;
  assert.equal(wait.key, key);
  req.destroy();
  return wait.outcome;
}

test('merge, delete and upload_file_content stop waiting for the identity lock when the client goes away', async () => {
  const init = await s.post('/multipart_upload_init', { ...identity, needCover: true });
  const uploadId = init.body.content.uploadId as string;
  assert.equal((await uploadPart(s, uploadId, 0, await zipEntries({ 'a.js': 'merged' }))).status, 200);

  const held = await locker.inner.lock(key, { timeoutMs: 1000 });
  for (const [path, body] of [
    ['/delete', identity],
    ['/upload_file_content', { ...identity, filename: 'a.js', content: 'written' }],
    ['/part_merge', { uploadId }],
  ] as const) {
    const outcome = await abandonWhileWaiting(path, body);
    // Ended while the lock is still held by someone else: the wait was abandoned, not granted.
    assert.ok(outcome instanceof Error && /client went away/.test(outcome.message), `${path}: ${String(outcome)}`);
  }
  await held.unlock();

  // None of the abandoned requests ran once the lock was free: the stored tree and the task are as they were.
  assert.equal((await s.get('/file?appId=abandoned&version=1&path=a.js')).body, 'stored');
  const parts = await s.get(`/part_list?uploadId=${uploadId}`);
  assert.equal(parts.status, 200, JSON.stringify(parts.body));
  // A request that stays gets the lock at once.
  assert.equal((await s.post('/part_merge', { uploadId })).status, 200);
  assert.equal((await s.get('/file?appId=abandoned&version=1&path=a.js')).body, 'merged');
});
