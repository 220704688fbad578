import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Catalog, SourceMapRecord, UploadTask } from '../../src/catalog/catalog.ts';

const T0 = 1_700_000_000_000;
const id = (workspace: string, appId = 'app', version = '1', env = 'prod') => ({ workspace, appId, version, env });
const task = (uploadId: string, workspace = 'w1', over: Partial<UploadTask> = {}): UploadTask => ({
  ...id(workspace), uploadId, needCover: false, createdAt: T0, expiresAt: T0 + 1000, ...over,
});
const sourcemap = (revisionId: string, over: Partial<SourceMapRecord> = {}): SourceMapRecord => ({
  ...id('w1'), revisionId, createdAt: T0, size: 10, sha256: 'ab', fileCount: 1, mapCount: 1, warnings: [], ...over,
});
const part = (chunkIndex: number, blobKey = `b${chunkIndex}`) => ({ chunkIndex, size: 5, md5: 'm', sha256: 's', uploadedAt: T0, blobKey });
const retire = (rev: string) => ({ prefix: `trees/${rev}/`, dueAt: T0 + 50, revisionId: rev });

/**
 * The behaviour every Catalog must have. A new implementation (PostgreSQL…) adds one test file
 * that calls this with a factory returning a fresh, empty catalog.
 */
export function catalogContract(name: string, create: () => Promise<Catalog>): void {
  test(`${name}: API keys by hash, counted, pruned by source`, async () => {
    const c = await create();
    assert.equal(await c.countApiKeys(), 0);
    await c.putApiKey({ keyHash: 'h1', workspace: 'w1', source: 'env', createdAt: T0 });
    await c.putApiKey({ keyHash: 'h2', workspace: 'w2', source: 'cli', createdAt: T0 });
    assert.deepEqual(await c.findApiKey('h1'), { keyHash: 'h1', workspace: 'w1' });
    assert.equal(await c.findApiKey('h3'), null);
    await c.pruneApiKeys('env', []);
    assert.equal(await c.findApiKey('h1'), null);
    assert.equal(await c.countApiKeys(), 1, 'keys of other sources stay');
    await c.close();
  });

  test(`${name}: API keys listed with their last use, touched, deleted`, async () => {
    const c = await create();
    await c.putApiKey({ keyHash: 'h2', workspace: 'w2', source: 'cli', createdAt: T0 + 1 });
    await c.putApiKey({ keyHash: 'h1', workspace: 'w1', source: 'env', createdAt: T0 });
    assert.deepEqual(await c.listApiKeys(), [
      { keyHash: 'h1', workspace: 'w1', source: 'env', createdAt: T0, lastUsedAt: null },
      { keyHash: 'h2', workspace: 'w2', source: 'cli', createdAt: T0 + 1, lastUsedAt: null },
    ]);
    await c.touchApiKey('h2', T0 + 50);
    await c.touchApiKey('h2', T0 + 20); // a late, older touch never moves it back
    await c.touchApiKey('nope', T0);
    assert.equal((await c.listApiKeys())[1]!.lastUsedAt, T0 + 50);
    assert.equal(await c.deleteApiKey('h1'), true);
    assert.equal(await c.deleteApiKey('h1'), false);
    assert.equal(await c.findApiKey('h1'), null);
    assert.deepEqual((await c.listApiKeys()).map((k) => k.keyHash), ['h2']);
    await c.close();
  });

  test(`${name}: upload tasks are scoped by workspace and expire`, async () => {
    const c = await create();
    await c.createUpload(task('u1'));
    await c.createUpload(task('u2', 'w1', { expiresAt: T0 + 10 }));
    assert.equal((await c.getUpload('w1', 'u1', T0))?.appId, 'app');
    assert.equal(await c.getUpload('w2', 'u1', T0), null, 'other workspace');
    assert.equal(await c.getUpload('w1', 'u2', T0 + 10), null, 'expired');
    assert.equal(await c.countOpenUploads(id('w1'), T0), 2);
    assert.equal(await c.countOpenUploads(id('w1'), T0 + 20), 1);
    assert.equal(await c.countOpenUploads(id('w2'), T0), 0);
    const expired = await c.expireUploads(T0 + 20, (u) => ({ prefix: `uploads/${u}/`, dueAt: T0 + 20 }));
    assert.deepEqual(expired, ['u2']);
    assert.deepEqual(await c.dueGarbage(T0 + 20, 10), [{ prefix: 'uploads/u2/', dueAt: T0 + 20 }]);
    await c.close();
  });

  test(`${name}: parts upsert, report the blob they replaced, list ascending, refuse ended tasks`, async () => {
    const c = await create();
    await c.createUpload(task('u1'));
    assert.deepEqual(await c.putPart('w1', 'u1', part(2), T0), { ok: true });
    assert.deepEqual(await c.putPart('w1', 'u1', part(0), T0), { ok: true });
    assert.deepEqual(await c.putPart('w1', 'u1', part(2, 'b2-new'), T0), { ok: true, replacedBlobKey: 'b2' });
    assert.deepEqual(await c.putPart('w1', 'u1', part(10), T0), { ok: true });
    assert.deepEqual((await c.listParts('w1', 'u1')).map((p) => [p.chunkIndex, p.blobKey]), [[0, 'b0'], [2, 'b2-new'], [10, 'b10']]);
    assert.deepEqual(await c.listParts('w2', 'u1'), [], 'other workspace sees no parts');
    const asJson = await c.listPartsJson('w1', 'u1');
    assert.deepEqual(JSON.parse(asJson.chunkIndexs.toString()), [0, 2, 10], 'numeric order');
    assert.deepEqual(JSON.parse(asJson.parts.toString()), (await c.listParts('w1', 'u1')).map(({ blobKey: _, ...p }) => p));
    const otherWorkspace = await c.listPartsJson('w2', 'u1');
    assert.deepEqual([otherWorkspace.chunkIndexs.toString(), otherWorkspace.parts.toString()], ['[]', '[]']);
    assert.deepEqual(await c.putPart('w2', 'u1', part(3), T0), { ok: false });
    assert.deepEqual(await c.putPart('w1', 'u1', part(3), T0 + 1000), { ok: false }, 'expired');
    assert.equal((await c.usage('w1')).uploadBytes, 15);
    assert.equal(await c.deleteUpload('w2', 'u1', { prefix: 'uploads/u1/', dueAt: T0 }), false);
    assert.equal(await c.deleteUpload('w1', 'u1', { prefix: 'uploads/u1/', dueAt: T0 }), true);
    assert.deepEqual(await c.listParts('w1', 'u1'), []);
    assert.deepEqual((await c.dueGarbage(T0, 10)).map((g) => g.prefix), ['uploads/u1/']);
    assert.equal(await c.deleteUpload('w1', 'u1', { prefix: 'uploads/u1/', dueAt: T0 }), false);
    await c.close();
  });

  test(`${name}: publish creates, refuses to overwrite without replace, replaces and retires with replace`, async () => {
    const c = await create();
    await c.enqueueGarbage({ prefix: 'trees/r1/', dueAt: T0 + 999, revisionId: 'r1' });
    const first = await c.publishSourceMap({
      sourcemap: sourcemap('r1'), files: [{ path: 'b.map', size: 4, sha256: 'x' }, { path: 'a.js', size: 6, sha256: 'y' }],
      replace: false, stagingPrefix: 'trees/r1/', retire,
    });
    assert.deepEqual(first, { ok: true, replaced: null });
    assert.deepEqual(await c.dueGarbage(T0 + 10_000, 10), [], 'publishing cancels the staging entry');
    assert.deepEqual((await c.listFiles('r1')).map((f) => f.path), ['a.js', 'b.map']);
    assert.deepEqual(await c.getFile('r1', 'a.js'), { path: 'a.js', size: 6, sha256: 'y' });

    const refused = await c.publishSourceMap({ sourcemap: sourcemap('r2'), files: [], replace: false, stagingPrefix: 'trees/r2/', retire });
    assert.deepEqual(refused, { ok: false, reason: 'exists' });

    await c.createUpload(task('u9'));
    await c.putPart('w1', 'u9', part(0), T0);
    const replaced = await c.publishSourceMap({
      sourcemap: sourcemap('r3', { createdAt: T0 + 5, warnings: ['w'] }), files: [{ path: 'c.map', size: 1, sha256: 'z' }],
      replace: true, stagingPrefix: 'trees/r3/', retire, consumeUploadId: 'u9', consumeGarbage: { prefix: 'uploads/u9/', dueAt: T0 },
    });
    assert.ok(replaced.ok && replaced.replaced?.revisionId === 'r1');
    const now = await c.getSourceMap(id('w1'));
    assert.equal(now?.revisionId, 'r3');
    assert.deepEqual(now?.warnings, ['w']);
    assert.equal(await c.getUpload('w1', 'u9', T0), null, 'the upload is consumed');
    assert.deepEqual((await c.dueGarbage(T0 + 100, 10)).map((g) => g.prefix).sort(), ['trees/r1/', 'uploads/u9/']);
    assert.equal((await c.listFiles('r1')).length, 2, 'the old revision stays readable until collected');
    await c.removeGarbage('trees/r1/');
    assert.deepEqual(await c.listFiles('r1'), [], 'collecting a tree forgets its files');

    const gone = await c.publishSourceMap({
      sourcemap: sourcemap('r4'), files: [], replace: true, stagingPrefix: 'trees/r4/', retire, consumeUploadId: 'u9',
    });
    assert.deepEqual(gone, { ok: false, reason: 'upload-gone' });
    assert.equal((await c.getSourceMap(id('w1')))?.revisionId, 'r3', 'a refused publish changes nothing');
    await c.close();
  });

  test(`${name}: list newest first, scoped; delete queues the tree; upsertFile updates totals`, async () => {
    const c = await create();
    for (const [rev, version, at] of [['ra', 'a', T0], ['rb', 'b', T0 + 2], ['rc', 'c', T0 + 1]] as const) {
      await c.publishSourceMap({ sourcemap: sourcemap(rev, { version, createdAt: at }), files: [], replace: false, stagingPrefix: `trees/${rev}/`, retire });
    }
    await c.publishSourceMap({ sourcemap: sourcemap('rw2', { workspace: 'w2' }), files: [], replace: false, stagingPrefix: 'trees/rw2/', retire });
    const list = async (workspace: string, appId: string) => JSON.parse((await c.listSourceMapsJson(workspace, appId, '{"organization":"o"}')).toString());
    assert.deepEqual((await list('w1', 'app')).map((s: { version: string }) => s.version), ['b', 'c', 'a']);
    assert.deepEqual((await list('w1', 'app'))[0], {
      declaration: { organization: 'o' }, appId: 'app', version: 'b', env: 'prod', createAt: Math.floor((T0 + 2) / 1000),
      size: 10, fileCount: 1, mapCount: 1, sha256: 'ab', warnings: [],
    });
    assert.equal((await list('w2', 'app')).length, 1);
    assert.deepEqual(await list('w1', 'other'), []);

    const ident = id('w1', 'app', 'a');
    assert.equal(await c.upsertFile(ident, 'ra', { path: 'x.map', size: 3, sha256: 'h' }, true), true);
    assert.equal(await c.upsertFile(ident, 'ra', { path: 'x.map', size: 7, sha256: 'h2' }, true), true);
    assert.equal(await c.upsertFile(ident, 'ra', { path: 'y.js', size: 1, sha256: 'h3' }, false), true);
    assert.equal(await c.upsertFile(ident, 'rb', { path: 'z', size: 1, sha256: 'h' }, false), false, 'not the live revision');
    const sm = await c.getSourceMap(ident);
    assert.deepEqual([sm?.size, sm?.fileCount, sm?.mapCount], [8, 2, 2]);
    const listed = (await list('w1', 'app')).find((s: { version: string }) => s.version === 'a');
    assert.deepEqual([listed.size, listed.fileCount, listed.mapCount], [8, 2, 2], 'the listing follows file uploads');
    assert.equal((await c.usage('w1')).storedBytes, 8 + 10 + 10);

    const removed = await c.deleteSourceMap(ident, (rev) => ({ prefix: `trees/${rev}/`, dueAt: T0, revisionId: rev }));
    assert.equal(removed?.revisionId, 'ra');
    assert.equal(await c.getSourceMap(ident), null);
    assert.equal(await c.deleteSourceMap(ident, retire), null);
    assert.equal(await c.deleteSourceMap(id('w2', 'app', 'b'), retire), null, 'other workspace');
    assert.deepEqual((await c.dueGarbage(T0, 10)).map((g) => g.prefix), ['trees/ra/']);
    await c.close();
  });

  test(`${name}: listVersion changes with every write to the app's list, and only then`, async () => {
    const c = await create();
    const versions: number[] = [await c.listVersion('w1', 'app')];
    const changed = async (what: string) => {
      const v = await c.listVersion('w1', 'app');
      assert.ok(!versions.includes(v), `${what} changes the version`);
      versions.push(v);
    };
    await c.publishSourceMap({ sourcemap: sourcemap('r1'), files: [], replace: false, stagingPrefix: 'trees/r1/', retire });
    await changed('publish');
    assert.deepEqual(await c.publishSourceMap({ sourcemap: sourcemap('r2'), files: [], replace: false, stagingPrefix: 'trees/r2/', retire }), { ok: false, reason: 'exists' });
    assert.equal(await c.listVersion('w1', 'app'), versions.at(-1), 'a refused publish changes nothing');
    await c.publishSourceMap({ sourcemap: sourcemap('r3'), files: [], replace: true, stagingPrefix: 'trees/r3/', retire });
    await changed('replace');
    assert.equal(await c.upsertFile(id('w1'), 'r3', { path: 'a.js', size: 1, sha256: 'h' }, false), true);
    await changed('upsertFile');
    await c.publishSourceMap({ sourcemap: sourcemap('o1', { appId: 'other' }), files: [], replace: false, stagingPrefix: 'trees/o1/', retire });
    await c.publishSourceMap({ sourcemap: sourcemap('x1', { workspace: 'w2' }), files: [], replace: false, stagingPrefix: 'trees/x1/', retire });
    assert.equal(await c.listVersion('w1', 'app'), versions.at(-1), 'other apps and workspaces leave it alone');
    await c.createUpload(task('u1'));
    await c.putPart('w1', 'u1', part(0), T0);
    assert.equal(await c.listVersion('w1', 'app'), versions.at(-1), 'uploads in progress leave it alone');
    assert.notEqual(await c.deleteSourceMap(id('w1'), retire), null);
    await changed('delete');
    await c.close();
  });

  test(`${name}: list breaks createdAt ties by version then env, descending, and keeps any text intact`, async () => {
    const c = await create();
    const odd = ['a"quote', 'back\\slash', 'tab\there', 'ünïcødé ✓', 'nl\nline', 'ctl\u0001', ''];
    let n = 0;
    for (const version of odd) {
      for (const env of ['', 'prod']) {
        const rev = `r${n++}`;
        await c.publishSourceMap({
          sourcemap: sourcemap(rev, { version, env, warnings: [`w "${version}"`] }), files: [], replace: false, stagingPrefix: `trees/${rev}/`, retire,
        });
      }
    }
    await c.publishSourceMap({ sourcemap: sourcemap('newest', { version: '0', createdAt: T0 + 5000 }), files: [], replace: false, stagingPrefix: 'trees/newest/', retire });
    const listed = JSON.parse((await c.listSourceMapsJson('w1', 'app', '{}')).toString()) as Array<{ version: string; env: string; warnings: string[] }>;
    // Descending by UTF-8 bytes (SQLite's BINARY collation; PostgreSQL needs COLLATE "C" for the same).
    const cmp = (a: string, b: string) => (a < b ? 1 : a > b ? -1 : 0);
    const expected = odd.flatMap((version) => [['', version], ['prod', version]])
      .sort(([ea, va], [eb, vb]) => cmp(Buffer.from(va).toString('latin1'), Buffer.from(vb).toString('latin1')) || cmp(ea, eb))
      .map(([env, version]) => ({ version, env }));
    assert.deepEqual(listed.map(({ version, env }) => ({ version, env })), [{ version: '0', env: 'prod' }, ...expected]);
    assert.deepEqual(listed.find((s) => s.version === 'tab\there')?.warnings, ['w "tab\there"']);
    await c.close();
  });

  test(`${name}: garbage is due by time, limited, and an earlier due time wins`, async () => {
    const c = await create();
    await c.enqueueGarbage({ prefix: 'x/', dueAt: T0 + 10 });
    await c.enqueueGarbage({ prefix: 'x/', dueAt: T0 + 5 });
    await c.enqueueGarbage({ prefix: 'y/', dueAt: T0 + 20 });
    assert.deepEqual(await c.dueGarbage(T0 + 5, 10), [{ prefix: 'x/', dueAt: T0 + 5 }]);
    assert.equal((await c.dueGarbage(T0 + 100, 1)).length, 1);
    await c.removeGarbage('x/');
    assert.deepEqual((await c.dueGarbage(T0 + 100, 10)).map((g) => g.prefix), ['y/']);
    await c.close();
  });
}
