import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { PgCatalog } from '../../src/catalog/postgres/pg-catalog.ts';
import { SCHEMA_VERSION } from '../../src/catalog/postgres/schema.ts';
import { service } from '../helpers/services.ts';
import { PgDatabases } from '../helpers/pg.ts';
import { catalogContract } from './catalog.contract.ts';
import { MIGRATED_SOURCEMAP, OLD_SOURCEMAP_VALUES } from './migration-rows.ts';

const svc = service('MAPVAULT_TEST_PG_URL', 'scripts/services/postgres.sh');

describe('PgCatalog', { skip: svc.skip }, () => {
  const dbs = new PgDatabases(svc.value);
  after(() => dbs.dropAll());

  catalogContract('PgCatalog', async () => PgCatalog.open(await dbs.create()));

  const sql = async (url: string, text: string, params: unknown[] = []) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return await client.query(text, params);
    } finally {
      await client.end();
    }
  };

  test('PgCatalog: a database at schema version 1 is upgraded in one step, rows intact', async () => {
    const url = await dbs.create();
    await (await PgCatalog.open(url, { schemaVersion: 1 })).close();
    assert.deepEqual((await sql(url, 'SELECT version FROM mapvault_schema')).rows, [{ version: 1 }]);
    await sql(url, `INSERT INTO sourcemaps VALUES ${OLD_SOURCEMAP_VALUES}`);
    await sql(url, `INSERT INTO uploads VALUES ('u1', 'w', 'app', '2.0', '', false, 1, 9000000000000000)`);
    await sql(url, `INSERT INTO parts VALUES ('u1', 0, 6, 'm0', 's0', 8, 'k0')`);

    // Two nodes of the new release start at once: one migrates, the other waits and finds it done.
    const [c, other] = await Promise.all([PgCatalog.open(url), PgCatalog.open(url)]);
    await other.close();
    assert.deepEqual((await sql(url, 'SELECT version FROM mapvault_schema')).rows, [{ version: SCHEMA_VERSION }]);
    assert.deepEqual(await c.listSourceMaps('w', 'app'), {
      stamp: '0',
      rows: [MIGRATED_SOURCEMAP],
    });
    assert.deepEqual(
      (await c.listParts('w', 'u1')).map((p) => p.blobKey),
      ['k0'],
    );
    const written = await c.upsertFile({
      identity: { workspace: 'w', appId: 'app', version: '1.0', env: 'prod' },
      revisionId: 'r1',
      file: { path: 'a.js', size: 1, sha256: 'h' },
      isMap: false,
      stagingPrefix: 's/',
      retire: () => ({ prefix: 'g', dueAt: 0 }),
    });
    assert.deepEqual(written, { ok: true });
    assert.equal(
      (await c.getSourceMap({ workspace: 'w', appId: 'app', version: '1.0', env: 'prod' }))?.treeVersion,
      1,
      'the new column works',
    );
    assert.equal(await c.ensureSetting('s', 'v'), 'v', 'the new table works');
    await c.close();
  });

  test('PgCatalog: a database at schema version 4 gets the debug ID index, rows intact', async () => {
    const url = await dbs.create();
    await (await PgCatalog.open(url, { schemaVersion: 4 })).close();
    await sql(url, `INSERT INTO sourcemaps VALUES ('w', 'app', '1.0', 'prod', 'r1', 1700000000500, 42, 'ab', 3, 2, '[]', 0)`);
    await sql(url, `INSERT INTO files VALUES ('r1', 'a.js.map', 4, 'h')`);
    const c = await PgCatalog.open(url);
    assert.deepEqual((await sql(url, 'SELECT version FROM mapvault_schema')).rows, [{ version: SCHEMA_VERSION }]);
    assert.deepEqual(await c.listFiles('r1'), [{ path: 'a.js.map', size: 4, sha256: 'h' }]);
    const ident = { workspace: 'w', appId: 'app', version: '1.0', env: 'prod' };
    const debugId = '12345678-1234-4234-8234-123456789abc';
    const written = await c.upsertFile({
      identity: ident,
      revisionId: 'r1',
      file: { path: 'a.js', size: 1, sha256: 'j', debugId },
      isMap: false,
      stagingPrefix: 'trees/r1/.mapvault-files/s/',
      retire: (f) => ({ prefix: f.path, dueAt: 0 }),
    });
    assert.deepEqual(written, { ok: true });
    assert.deepEqual(
      (await c.findDebugId('w', debugId, 5)).map((h) => [h.sourcemap.revisionId, h.path]),
      [['r1', 'a.js']],
    );
    await c.close();
  });

  test('PgCatalog: a failed upgrade leaves the database at its old version', async () => {
    const url = await dbs.create();
    await (await PgCatalog.open(url, { schemaVersion: 1 })).close();
    // A table in the way of migration 2 makes it fail half way.
    await sql(url, 'CREATE TABLE settings (x int)');
    await assert.rejects(PgCatalog.open(url), /settings/);
    assert.deepEqual((await sql(url, 'SELECT version FROM mapvault_schema')).rows, [{ version: 1 }]);
    assert.equal(
      (await sql(url, "SELECT 1 FROM information_schema.columns WHERE table_name = 'sourcemaps' AND column_name = 'tree_version'"))
        .rowCount,
      0,
      'the first statement of the failed migration was rolled back too',
    );
  });

  test('PgCatalog: refuses a database written by a newer mapvault, and changes nothing in it', async () => {
    const url = await dbs.create();
    await (await PgCatalog.open(url)).close();
    await sql(url, 'UPDATE mapvault_schema SET version = 99');
    await assert.rejects(PgCatalog.open(url), /schema version 99; this mapvault knows up to \d+: upgrade mapvault/);
    assert.deepEqual((await sql(url, 'SELECT version FROM mapvault_schema')).rows, [{ version: 99 }]);
  });

  test('PgCatalog: list order is byte order even when the database collation is not C', async () => {
    const url = await dbs.create();
    const c = await PgCatalog.open(url);
    const retire = (rev: string) => [{ prefix: `trees/${rev}/`, dueAt: 0, revisionId: rev }];
    for (const [rev, version] of [
      ['r1', 'B'],
      ['r2', 'a'],
      ['r3', 'ä'],
      ['r4', 'Z'],
    ] as const) {
      await c.publishSourceMap({
        sourcemap: {
          workspace: 'w',
          appId: 'app',
          version,
          env: '',
          revisionId: rev,
          createdAt: 1,
          size: 0,
          sha256: '',
          fileCount: 0,
          mapCount: 0,
          warnings: [],
        },
        files: [],
        replace: false,
        stagingPrefix: `trees/${rev}/`,
        retire,
      });
    }
    const listing = await c.listSourceMaps('w', 'app');
    assert.ok(listing !== 'unchanged');
    assert.deepEqual(
      listing.rows.map((r) => r.version),
      ['ä', 'a', 'Z', 'B'],
      'descending UTF-8 bytes, whatever the default collation',
    );
    await c.close();
  });

  test('PgCatalog: statements prepared on a connection keep answering after another node changed the table under them', async () => {
    const url = await dbs.create();
    const c = await PgCatalog.open(url, { maxConnections: 1 });
    const ident = { workspace: 'w', appId: 'app', version: '1', env: 'prod' };
    assert.equal(await c.getSourceMap(ident), null, 'prepared on the one connection');
    // What a newer node's migration might do: a column more, so `SELECT *` no longer fits the plan.
    await sql(url, 'ALTER TABLE sourcemaps ADD COLUMN added_later TEXT');
    await c.publishSourceMap({
      sourcemap: { ...ident, revisionId: 'r1', createdAt: 1, size: 1, sha256: 'h', fileCount: 0, mapCount: 0, warnings: [] },
      files: [],
      replace: false,
      stagingPrefix: 'trees/r1/',
      retire: () => [],
    });
    assert.equal((await c.getSourceMap(ident))?.revisionId, 'r1');
    assert.equal((await c.getSourceMap(ident))?.revisionId, 'r1');
    await c.close();
  });
});
