import { mkdtemp, readFile } from 'node:fs/promises';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteCatalog } from '../../src/catalog/sqlite-catalog.ts';
import { catalogContract } from './catalog.contract.ts';
import { MIGRATED_SOURCEMAP, OLD_SOURCEMAP_VALUES } from './migration-rows.ts';

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
  v0.prepare(`INSERT INTO sourcemaps VALUES ${OLD_SOURCEMAP_VALUES}`).run();
  v0.prepare(`INSERT INTO uploads VALUES ('u1', 'w', 'app', '2.0', '', 0, 1, 9e15)`).run();
  v0.prepare(`INSERT INTO parts VALUES ('u1', 1, 5, 'm1', 's1', 7, 'k1'), ('u1', 0, 6, 'm0', 's0', 8, 'k0')`).run();
  v0.prepare(`INSERT INTO api_keys VALUES ('h', 'w', 'cli', 3)`).run();
  v0.close();

  const c = new SqliteCatalog(file);
  assert.deepEqual(await c.listSourceMaps('w', 'app'), {
    stamp: '0',
    rows: [MIGRATED_SOURCEMAP],
  });
  assert.equal((await c.getSourceMap({ workspace: 'w', appId: 'app', version: '1.0', env: 'prod' }))?.revisionId, 'r1');
  assert.deepEqual(await c.listParts('w', 'u1'), [
    { chunkIndex: 0, size: 6, md5: 'm0', sha256: 's0', uploadedAt: 8, blobKey: 'k0' },
    { chunkIndex: 1, size: 5, md5: 'm1', sha256: 's1', uploadedAt: 7, blobKey: 'k1' },
  ]);
  assert.deepEqual(await c.listApiKeys(), [{ keyHash: 'h', workspace: 'w', source: 'cli', createdAt: 3, lastUsedAt: null }]);
  assert.deepEqual(
    await c.putPart('w', 'u1', { chunkIndex: 2, size: 1, md5: 'm', sha256: 's', uploadedAt: 9, blobKey: 'k2' }, 2),
    { ok: true },
    'the foreign key to uploads still holds',
  );
  await c.close();

  const check = new Database(file, { readonly: true });
  assert.equal(check.pragma('user_version', { simple: true }), 5);
  assert.deepEqual(check.prepare("SELECT name FROM sqlite_master WHERE name LIKE '%_v0' OR name = 'sourcemaps_newest'").all(), []);
  check.close();
  const again = new SqliteCatalog(file);
  const listing = await again.listSourceMaps('w', 'app');
  assert.equal(listing !== 'unchanged' && listing.rows.length, 1, 'opening a migrated file again changes nothing');
  const file1 = { path: 'x.js', size: 1, sha256: 'h', blobKey: 'trees/r1/.mapvault-files/k/x.js' };
  const written = await again.upsertFile({
    identity: { workspace: 'w', appId: 'app', version: '1.0', env: 'prod' },
    revisionId: 'r1',
    file: file1,
    isMap: false,
    stagingPrefix: 's/',
    retire: () => ({ prefix: 'g', dueAt: 0 }),
  });
  assert.deepEqual(written, { ok: true }, 'v2 → v3 added files.blob_key');
  assert.deepEqual(await again.getFile('r1', 'x.js'), file1);
  assert.equal(await again.beginMerge('w', 'u1', 2, 10), 'ok', 'v2 → v3 added uploads.merging_until');
  await again.close();
});

test('SqliteCatalog: refuses a catalog file written by a newer mapvault', async () => {
  const file = join(await mkdtemp(join(tmpdir(), 'mapvault-cat-')), 'c.db');
  const future = new Database(file);
  future.pragma('user_version = 99');
  future.close();
  assert.throws(() => new SqliteCatalog(file), /schema version 99.*upgrade mapvault/);
});

test('SqliteCatalog: a catalog file of schema v1 is upgraded in one step: tree_version and settings added, the JSON columns dropped', async () => {
  const file = join(await mkdtemp(join(tmpdir(), 'mapvault-cat-')), 'c.db');
  const v1 = new Database(file);
  v1.exec(await readFile(new URL('./fixtures/schema-v1.sql', import.meta.url), 'utf8'));
  v1.prepare(`INSERT INTO sourcemaps (workspace, app_id, version, env, revision_id, created_at, size, sha256, file_count, map_count, warnings)
              VALUES ${OLD_SOURCEMAP_VALUES}`).run();
  v1.prepare(`INSERT INTO list_versions VALUES ('w', 'app', 4)`).run();
  v1.close();

  const c = new SqliteCatalog(file);
  const ident = { workspace: 'w', appId: 'app', version: '1.0', env: 'prod' };
  assert.deepEqual(await c.listSourceMaps('w', 'app', 'x'), {
    stamp: '4',
    rows: [MIGRATED_SOURCEMAP],
  });
  const written = await c.upsertFile({
    identity: ident,
    revisionId: 'r1',
    file: { path: 'a.js', size: 1, sha256: 'h' },
    isMap: false,
    stagingPrefix: 's/',
    retire: () => ({ prefix: 'g', dueAt: 0 }),
  });
  assert.deepEqual(written, { ok: true });
  assert.equal((await c.getSourceMap(ident))?.treeVersion, 1);
  assert.equal(await c.ensureSetting('s', 'v'), 'v');
  await c.close();
  const check = new Database(file, { readonly: true });
  assert.equal(check.pragma('user_version', { simple: true }), 5);
  assert.deepEqual(
    check
      .prepare(
        "SELECT name FROM pragma_table_xinfo('sourcemaps') WHERE name LIKE 'list_entry%' UNION ALL SELECT name FROM pragma_table_xinfo('parts') WHERE name LIKE 'list_entry%'",
      )
      .all(),
    [],
  );
  check.close();
});

test('SqliteCatalog: a catalog file of schema v4 gets the debug ID index, rows intact', async () => {
  const file = join(await mkdtemp(join(tmpdir(), 'mapvault-cat-')), 'c.db');
  const ident = { workspace: 'w', appId: 'app', version: '1.0', env: 'prod' };
  const sm = { ...ident, revisionId: 'r1', createdAt: 1, size: 1, sha256: 'ab', fileCount: 1, mapCount: 1, warnings: [] };
  const a = new SqliteCatalog(file);
  await a.publishSourceMap({
    sourcemap: sm,
    files: [{ path: 'a.js.map', size: 1, sha256: 'h' }],
    replace: false,
    stagingPrefix: 'trees/r1/',
    retire: (r) => [{ prefix: r, dueAt: 0 }],
  });
  await a.close();
  const v4 = new Database(file); // what schema v4 was: no debug_ids
  v4.exec('DROP TABLE debug_ids; PRAGMA user_version = 4;');
  v4.close();

  const c = new SqliteCatalog(file);
  assert.deepEqual(await c.listFiles('r1'), [{ path: 'a.js.map', size: 1, sha256: 'h' }]);
  const id = '12345678-1234-4234-8234-123456789abc';
  const written = await c.upsertFile({
    identity: ident,
    revisionId: 'r1',
    file: { path: 'a.js', size: 1, sha256: 'j', debugId: id },
    isMap: false,
    stagingPrefix: 'trees/r1/.mapvault-files/s/',
    retire: (f) => ({ prefix: f.path, dueAt: 0 }),
  });
  assert.deepEqual(written, { ok: true });
  assert.deepEqual(
    (await c.findDebugId('w', id, 5)).map((h) => h.path),
    ['a.js'],
  );
  await c.close();
  const check = new Database(file, { readonly: true });
  assert.equal(check.pragma('user_version', { simple: true }), 5);
  check.close();
});
