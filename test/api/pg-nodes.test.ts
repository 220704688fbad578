import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { startServer, uploadPart, uploadZip } from '../helpers/server.ts';
import { zipEntries } from '../helpers/fixtures.ts';
import { service } from '../helpers/services.ts';
import { PgDatabases } from '../helpers/pg.ts';

const BIN = new URL('../../bin/mapvault', import.meta.url).pathname;
const SCRIPT = new URL('../../scripts/services/postgres.sh', import.meta.url).pathname;

/** `mapvault serve` as a real process that is expected to refuse to start: its exit code and stderr. */
async function serveFails(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mapvault-badcat-'));
  const proc = spawn(process.execPath, [BIN, 'serve'], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', MAPVAULT_DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr += c));
  const [code] = await once(proc, 'exit');
  await rm(dataDir, { recursive: true, force: true });
  return { code, stderr };
}

test('MAPVAULT_CATALOG_URL that is bad or unreachable at start: one line naming the variable and the cause, exit 1', async () => {
  const cases: Array<[string, RegExp]> = [
    ['not a url', /not a URL/],
    ['mysql://u:p@127.0.0.1/db', /unsupported scheme "mysql:"/],
    ['postgres://u:secret-password@127.0.0.1:1/db', /cannot use PostgreSQL at 127\.0\.0\.1:1\/db: ECONNREFUSED/],
  ];
  for (const [url, cause] of cases) {
    const r = await serveFails({ MAPVAULT_CATALOG_URL: url });
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^mapvault: MAPVAULT_CATALOG_URL: /);
    assert.match(lines[0]!, cause);
    assert.ok(!r.stderr.includes('secret-password'), 'the password is never printed');
  }
});

const svc = service('MAPVAULT_TEST_PG_URL', 'scripts/services/postgres.sh');

describe('nodes on one PostgreSQL catalog', { skip: svc.skip }, () => {
  const dbs = new PgDatabases(svc.value);
  after(() => dbs.dropAll());

  test('a key created on one node works on every node (one pepper, stored in the catalog or from MAPVAULT_KEY_PEPPER)', async () => {
    for (const env of [{}, { MAPVAULT_KEY_PEPPER: 'a shared secret of at least thirty-two characters' }] as Array<Record<string, string>>) {
      const url = await dbs.create();
      const a = await startServer({ MAPVAULT_CATALOG_URL: url, ...env });
      const b = await startServer({ MAPVAULT_CATALOG_URL: url, ...env });
      try {
        const key = await a.mv.keys.create('made-on-a');
        const r = await b.get('/list?appId=x', key);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.deepEqual(r.body.content, []);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    }
  });

  test('the MAPVAULT_KEY_PEPPER of a wrong value refuses the key: the pepper really is the secret', async () => {
    const url = await dbs.create();
    const a = await startServer({ MAPVAULT_CATALOG_URL: url, MAPVAULT_KEY_PEPPER: 'x'.repeat(40) });
    const b = await startServer({ MAPVAULT_CATALOG_URL: url, MAPVAULT_KEY_PEPPER: 'y'.repeat(40) });
    try {
      const key = await a.mv.keys.create('w');
      assert.equal((await a.get('/list?appId=x', key)).status, 200);
      assert.equal((await b.get('/list?appId=x', key)).status, 403);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test("a merge or delete that cannot get the identity's lock in time answers 409 Merge.InProgress", async () => {
    const url = await dbs.create();
    const s = await startServer({ MAPVAULT_CATALOG_URL: url, MAPVAULT_LOCK_TIMEOUT: '300ms' });
    // Another node holding the lock: a session of its own on the same database.
    const other = new pg.Client({ connectionString: url });
    await other.connect();
    try {
      const id = { appId: 'locked', version: '1', env: 'prod' };
      assert.equal((await uploadZip(s, await zipEntries({ 'a.js': 'one' }), id)).status, 200);
      const key = JSON.stringify(['workspace-a', id.appId, id.version, id.env]);
      await other.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [key]);

      const del = await s.post('/delete', id);
      assert.equal(del.status, 409, JSON.stringify(del.body));
      assert.equal(del.body.errorCode, 'Merge.InProgress');
      const uploadId = (await s.post('/multipart_upload_init', { ...id, needCover: true })).body.content.uploadId;
      assert.equal((await uploadPart(s, uploadId, 0, await zipEntries({ 'a.js': 'two' }))).status, 200);
      const merge = await s.post('/part_merge', { uploadId });
      assert.equal(merge.status, 409, JSON.stringify(merge.body));
      assert.equal(merge.body.errorCode, 'Merge.InProgress');
      assert.equal((await s.post('/file_tree', id)).status, 200, 'nothing changed');

      await other.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]);
      assert.equal((await s.post('/part_merge', { uploadId })).status, 200, 'the same task merges once the lock is free');
      assert.equal((await s.post('/delete', id)).status, 200);
    } finally {
      await other.end();
      await s.close();
    }
  });

  test('PostgreSQL stopped and restarted: 503 Catalog.Unavailable with Retry-After, nothing lost, then everything works again', async () => {
    // A private cluster, so stopping it disturbs no other suite.
    const dir = await mkdtemp(join(tmpdir(), 'mapvault-pg-outage-'));
    const env = { ...process.env, MAPVAULT_PG_DIR: dir, MAPVAULT_PG_PORT: String(56000 + Math.floor(Math.random() * 900)) };
    const run = (cmd: string) => promisify(execFile)(SCRIPT, [cmd], { env });
    const { stdout } = await run('start');
    const serverUrl = /MAPVAULT_TEST_PG_URL=(\S+)/.exec(stdout)![1]!;
    const s = await startServer({ MAPVAULT_CATALOG_URL: serverUrl });
    try {
      const id = { appId: 'outage', version: '1', env: 'prod' };
      assert.equal((await uploadZip(s, await zipEntries({ 'static/a.js': 'kept' }), id)).status, 200);
      const uploadId = (await s.post('/multipart_upload_init', { ...id, version: '2' })).body.content.uploadId;
      assert.equal((await uploadPart(s, uploadId, 0, await zipEntries({ 'static/b.js': 'later' }))).status, 200);

      await run('stop');
      for (const r of [await s.get('/list?appId=outage'), await s.post('/part_merge', { uploadId }), await s.post('/file_tree', id)]) {
        assert.equal(r.status, 503, JSON.stringify(r.body));
        assert.equal(r.body.errorCode, 'Catalog.Unavailable');
        assert.equal(r.body.success, false);
        assert.equal(r.headers.get('retry-after'), '5');
      }

      await run('start');
      const list = await s.get('/list?appId=outage');
      assert.equal(list.status, 200, JSON.stringify(list.body));
      assert.deepEqual(
        list.body.content.map((e: { version: string }) => e.version),
        ['1'],
        'nothing lost',
      );
      const file = await fetch(`${s.api}/file?appId=outage&version=1&env=prod&path=static/a.js`, {
        headers: { 'DF-API-KEY': 'test-key-workspace-a' },
      });
      assert.equal(await file.text(), 'kept');
      const merged = await s.post('/part_merge', { uploadId });
      assert.equal(merged.status, 200, JSON.stringify(merged.body));
      assert.deepEqual((await s.get('/list?appId=outage')).body.content.map((e: { version: string }) => e.version).sort(), ['1', '2']);
    } finally {
      await s.close();
      await run('stop');
      await rm(dir, { recursive: true, force: true });
    }
  });
});
