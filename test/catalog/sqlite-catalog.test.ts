import { mkdtemp, readFile } from 'node:fs/promises';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteCatalog } from '../../src/catalog/sqlite-catalog.ts';
import { catalogContract } from './catalog.contract.ts';

catalogContract('SqliteCatalog', async () => new SqliteCatalog(join(await mkdtemp(join(tmpdir(), 'mapvault-cat-')), 'c.db')));

test('SqliteCatalog: data survives reopening the file', async () => {
  const file = join(await mkdtemp(join(tmpdir(), 'mapvault-cat-')), 'c.db');
  const a = new SqliteCatalog(file);
  await a.putApiKey({ keyHash: 'h', workspace: 'w', source: 'cli', createdAt: 1 });
  await a.close();
  const b = new SqliteCatalog(file);
  assert.equal((await b.findApiKey('h'))?.workspace, 'w');
  await b.close();
});

test('SqliteCatalog: a catalog file of the first release (schema v0) is migrated in place, rows intact', async () => {
  const file = join(await mkdtemp(join(tmpdir(), 'mapvault-cat-')), 'c.db');
  const v0 = new Database(file);
  v0.exec(await readFile(new URL('./fixtures/schema-v0.sql', import.meta.url), 'utf8'));
  v0.prepare(`INSERT INTO sourcemaps VALUES ('w', 'app', '1.0', 'prod', 'r1', 1700000000500, 42, 'ab', 3, 2, '["bad map"]')`).run();
  v0.prepare(`INSERT INTO uploads VALUES ('u1', 'w', 'app', '2.0', '', 0, 1, 9e15)`).run();
  v0.prepare(`INSERT INTO parts VALUES ('u1', 1, 5, 'm1', 's1', 7, 'k1'), ('u1', 0, 6, 'm0', 's0', 8, 'k0')`).run();
  v0.prepare(`INSERT INTO api_keys VALUES ('h', 'w', 'cli', 3)`).run();
  v0.close();

  const c = new SqliteCatalog(file);
  assert.deepEqual(JSON.parse((await c.listSourceMapsJson('w', 'app', '{}')).toString()), [{
    declaration: {}, appId: 'app', version: '1.0', env: 'prod', createAt: 1700000000, size: 42, fileCount: 3, mapCount: 2, sha256: 'ab', warnings: ['bad map'],
  }]);
  assert.equal((await c.getSourceMap({ workspace: 'w', appId: 'app', version: '1.0', env: 'prod' }))?.revisionId, 'r1');
  const parts = await c.listPartsJson('w', 'u1');
  assert.deepEqual(JSON.parse(parts.parts.toString()), [
    { chunkIndex: 0, size: 6, md5: 'm0', sha256: 's0', uploadedAt: 8 }, { chunkIndex: 1, size: 5, md5: 'm1', sha256: 's1', uploadedAt: 7 },
  ]);
  assert.deepEqual(await c.listApiKeys(), [{ keyHash: 'h', workspace: 'w', source: 'cli', createdAt: 3, lastUsedAt: null }]);
  assert.deepEqual(await c.putPart('w', 'u1', { chunkIndex: 2, size: 1, md5: 'm', sha256: 's', uploadedAt: 9, blobKey: 'k2' }, 2), { ok: true }, 'the foreign key to uploads still holds');
  await c.close();

  const check = new Database(file, { readonly: true });
  assert.equal(check.pragma('user_version', { simple: true }), 2);
  assert.deepEqual(check.prepare("SELECT name FROM sqlite_master WHERE name LIKE '%_v0' OR name = 'sourcemaps_newest'").all(), []);
  check.close();
  const again = new SqliteCatalog(file);
  assert.equal(JSON.parse((await again.listSourceMapsJson('w', 'app', '{}')).toString()).length, 1, 'opening a migrated file again changes nothing');
  await again.close();
});

test('SqliteCatalog: refuses a catalog file written by a newer mapvault', async () => {
  const file = join(await mkdtemp(join(tmpdir(), 'mapvault-cat-')), 'c.db');
  const future = new Database(file);
  future.pragma('user_version = 99');
  future.close();
  assert.throws(() => new SqliteCatalog(file), /schema version 99.*upgrade mapvault/);
});
