import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Catalog, FileRecord, FileWrite, SourceMapListing, SourceMapRecord, UploadTask } from '../../src/catalog/catalog.ts';

const T0 = 1_700_000_000_000;
const id = (workspace: string, appId = 'app', version = '1', env = 'prod') => ({ workspace, appId, version, env });
const task = (uploadId: string, workspace = 'w1', over: Partial<UploadTask> = {}): UploadTask => ({
  ...id(workspace),
  uploadId,
  needCover: false,
  createdAt: T0,
  expiresAt: T0 + 1000,
  ...over,
});
const sourcemap = (revisionId: string, over: Partial<SourceMapRecord> = {}): SourceMapRecord => ({
  ...id('w1'),
  revisionId,
  createdAt: T0,
  size: 10,
  sha256: 'ab',
  fileCount: 1,
  mapCount: 1,
  warnings: [],
  treeVersion: 0,
  ...over,
});
const part = (chunkIndex: number, blobKey = `b${chunkIndex}`) => ({ chunkIndex, size: 5, md5: 'm', sha256: 's', uploadedAt: T0, blobKey });
const retire = (rev: string) => [{ prefix: `trees/${rev}/`, dueAt: T0 + 50, revisionId: rev }];
const write = (
  identity: ReturnType<typeof id>,
  revisionId: string,
  file: FileRecord,
  isMap = false,
  over: Partial<FileWrite> = {},
): FileWrite => ({
  identity,
  revisionId,
  file,
  isMap,
  stagingPrefix: `trees/${revisionId}/.mapvault-files/s/`,
  retire: (old) => ({ prefix: old.blobKey ?? `trees/${revisionId}/${old.path}`, dueAt: T0 + 50 }),
  ...over,
});
const rowsOf = (listing: SourceMapListing | 'unchanged') => {
  assert.notEqual(listing, 'unchanged');
  return (listing as SourceMapListing).rows;
};
const stampOf = (listing: SourceMapListing | 'unchanged') => {
  assert.notEqual(listing, 'unchanged');
  return (listing as SourceMapListing).stamp;
};

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
    assert.deepEqual(
      (await c.listApiKeys()).map((k) => k.keyHash),
      ['h2'],
    );
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
    assert.deepEqual(
      (await c.listParts('w1', 'u1')).map((p) => [p.chunkIndex, p.blobKey]),
      [
        [0, 'b0'],
        [2, 'b2-new'],
        [10, 'b10'],
      ],
    );
    assert.deepEqual(await c.listParts('w2', 'u1'), [], 'other workspace sees no parts');
    assert.deepEqual((await c.listParts('w1', 'u1'))[1], { ...part(2, 'b2-new') }, 'every field round-trips');
    assert.deepEqual(await c.putPart('w2', 'u1', part(3), T0), { ok: false, reason: 'gone' });
    assert.deepEqual(await c.putPart('w1', 'u1', part(3), T0 + 1000), { ok: false, reason: 'gone' }, 'expired');
    assert.equal((await c.usage('w1')).uploadBytes, 15);
    assert.equal(await c.deleteUpload('w2', 'u1', { prefix: 'uploads/u1/', dueAt: T0 }), false);
    assert.equal(await c.deleteUpload('w1', 'u1', { prefix: 'uploads/u1/', dueAt: T0 }), true);
    assert.deepEqual(await c.listParts('w1', 'u1'), []);
    assert.deepEqual(
      (await c.dueGarbage(T0, 10)).map((g) => g.prefix),
      ['uploads/u1/'],
    );
    assert.equal(await c.deleteUpload('w1', 'u1', { prefix: 'uploads/u1/', dueAt: T0 }), false);
    await c.close();
  });

  test(`${name}: publish creates, refuses to overwrite without replace, replaces and retires with replace`, async () => {
    const c = await create();
    await c.enqueueGarbage({ prefix: 'trees/r1/', dueAt: T0 + 999, revisionId: 'r1' });
    const first = await c.publishSourceMap({
      sourcemap: sourcemap('r1'),
      files: [
        { path: 'b.map', size: 4, sha256: 'x' },
        { path: 'a.js', size: 6, sha256: 'y' },
      ],
      replace: false,
      stagingPrefix: 'trees/r1/',
      retire,
    });
    assert.deepEqual(first, { ok: true, replaced: null });
    assert.deepEqual(await c.dueGarbage(T0 + 10_000, 10), [], 'publishing cancels the staging entry');
    assert.deepEqual(
      (await c.listFiles('r1')).map((f) => f.path),
      ['a.js', 'b.map'],
    );
    assert.deepEqual(await c.getFile('r1', 'a.js'), { path: 'a.js', size: 6, sha256: 'y' });

    const refused = await c.publishSourceMap({ sourcemap: sourcemap('r2'), files: [], replace: false, stagingPrefix: 'trees/r2/', retire });
    assert.deepEqual(refused, { ok: false, reason: 'exists' });

    await c.createUpload(task('u9'));
    await c.putPart('w1', 'u9', part(0), T0);
    const replaced = await c.publishSourceMap({
      sourcemap: sourcemap('r3', { createdAt: T0 + 5, warnings: ['w'] }),
      files: [{ path: 'c.map', size: 1, sha256: 'z' }],
      replace: true,
      stagingPrefix: 'trees/r3/',
      retire,
      consumeUploadId: 'u9',
      consumeGarbage: { prefix: 'uploads/u9/', dueAt: T0 },
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
      sourcemap: sourcemap('r4'),
      files: [],
      replace: true,
      stagingPrefix: 'trees/r4/',
      retire,
      consumeUploadId: 'u9',
    });
    assert.deepEqual(gone, { ok: false, reason: 'upload-gone' });
    assert.equal((await c.getSourceMap(id('w1')))?.revisionId, 'r3', 'a refused publish changes nothing');
    await c.close();
  });

  test(`${name}: a publish that keeps its task's parts fails once one was sent again, and retires everything its retire names`, async () => {
    const c = await create();
    // A tree and what else it holds (its upload's parts), as retiredTree names them.
    const treeAndParts = (dueAt: number) => (old: string) => [
      { prefix: `trees/${old}/`, dueAt, revisionId: old },
      { prefix: `uploads/of-${old}/`, dueAt },
    ];
    await c.createUpload(task('u1'));
    await c.putPart('w1', 'u1', part(0, 'uploads/u1/0-a'), T0);
    await c.putPart('w1', 'u1', part(1, 'uploads/u1/1-a'), T0);
    // Part 1 sent again (after a merge's lease ran out): the bytes the merge read are gone.
    assert.deepEqual(await c.putPart('w1', 'u1', part(1, 'uploads/u1/1-b'), T0), { ok: true, replacedBlobKey: 'uploads/u1/1-a' });
    const publish = (rev: string, uploadId: string, keepParts: string[]) =>
      c.publishSourceMap({
        sourcemap: sourcemap(rev),
        files: [{ path: 'a.js', size: 1, sha256: 'z' }],
        replace: true,
        stagingPrefix: `trees/${rev}/`,
        retire: treeAndParts(T0 + 7),
        consumeUploadId: uploadId,
        keepParts,
      });
    assert.deepEqual(await publish('r1', 'u1', ['uploads/u1/0-a', 'uploads/u1/1-a']), { ok: false, reason: 'upload-gone' });
    assert.equal(await c.getSourceMap(id('w1')), null, 'nothing published');
    assert.notEqual(await c.getUpload('w1', 'u1', T0), null, 'the task stays, to be merged again');
    assert.ok((await publish('r1', 'u1', ['uploads/u1/0-a', 'uploads/u1/1-b'])).ok);
    assert.equal(await c.getUpload('w1', 'u1', T0), null, 'the task is consumed');
    assert.deepEqual(await c.dueGarbage(T0 + 100, 10), [], 'its parts are kept for the tree');

    await c.createUpload(task('u2'));
    await c.putPart('w1', 'u2', part(0, 'uploads/u2/0-a'), T0);
    assert.ok((await publish('r2', 'u2', ['uploads/u2/0-a'])).ok);
    assert.deepEqual((await c.dueGarbage(T0 + 100, 10)).map((g) => g.prefix).sort(), ['trees/r1/', 'uploads/of-r1/']);
    const deleted = await c.deleteSourceMap(id('w1'), treeAndParts(T0 + 8));
    assert.equal(deleted?.revisionId, 'r2');
    assert.deepEqual((await c.dueGarbage(T0 + 100, 10)).map((g) => g.prefix).sort(), [
      'trees/r1/',
      'trees/r2/',
      'uploads/of-r1/',
      'uploads/of-r2/',
    ]);
    await c.close();
  });

  test(`${name}: debug IDs are found per workspace in live trees only, newest first, and leave with their revision`, async () => {
    const c = await create();
    const A = '0a0a0a0a-0000-4000-8000-00000000000a';
    const B = '0b0b0b0b-0000-4000-8000-00000000000b';
    const files = [
      { path: 'js/app.js', size: 1, sha256: 's', debugId: A },
      { path: 'js/app.js.map', size: 2, sha256: 'm', debugId: A },
      { path: 'js/plain.js', size: 3, sha256: 'p' },
    ];
    await c.publishSourceMap({ sourcemap: sourcemap('r1', { version: '1' }), files, replace: false, stagingPrefix: 'trees/r1/', retire });
    await c.publishSourceMap({
      sourcemap: sourcemap('r2', { version: '2', createdAt: T0 + 9 }),
      files: [{ path: 'other/dir/app.js.map', size: 2, sha256: 'm', debugId: A }],
      replace: false,
      stagingPrefix: 'trees/r2/',
      retire,
    });
    await c.publishSourceMap({
      sourcemap: sourcemap('x1', { workspace: 'w2' }),
      files: [{ path: 'b.js.map', size: 1, sha256: 'q', debugId: B }],
      replace: false,
      stagingPrefix: 'trees/x1/',
      retire,
    });

    assert.deepEqual(await c.listFiles('r1'), files, "listFiles carries each file's debug ID, none when it has none");
    assert.deepEqual(await c.getFile('r1', 'js/app.js.map'), files[1]);
    assert.deepEqual(await c.getFile('r1', 'js/plain.js'), files[2]);
    const hits = await c.findDebugId('w1', A, 10);
    assert.deepEqual(
      hits.map((h) => h.sourcemap.revisionId),
      ['r2', 'r1', 'r1'],
      'newest sourcemap first',
    );
    assert.deepEqual(
      hits
        .slice(1)
        .map((h) => h.path)
        .sort(),
      ['js/app.js', 'js/app.js.map'],
    );
    assert.deepEqual(hits[0]!.sourcemap, sourcemap('r2', { version: '2', createdAt: T0 + 9 }), 'the whole sourcemap row comes back');
    assert.equal((await c.findDebugId('w1', A, 1)).length, 1, 'limited');
    assert.deepEqual(await c.findDebugId('w1', B, 10), [], "another workspace's debug ID is not found");
    assert.deepEqual(
      (await c.findDebugId('w2', B, 10)).map((h) => h.path),
      ['b.js.map'],
    );

    // Single-file writes add, replace and remove a path's debug ID.
    const v1 = id('w1', 'app', '1');
    assert.deepEqual(await c.upsertFile(write(v1, 'r1', { path: 'js/extra.js.map', size: 1, sha256: 'e', debugId: B }, true)), {
      ok: true,
    });
    assert.deepEqual(
      (await c.findDebugId('w1', B, 10)).map((h) => h.path),
      ['js/extra.js.map'],
    );
    assert.deepEqual(await c.upsertFile(write(v1, 'r1', { path: 'js/app.js', size: 1, sha256: 's2' })), { ok: true });
    assert.deepEqual(
      (await c.findDebugId('w1', A, 10)).map((h) => h.path),
      ['other/dir/app.js.map', 'js/app.js.map'],
      'rewritten without an ID: its entry is gone',
    );
    assert.deepEqual(await c.getFile('r1', 'js/app.js'), { path: 'js/app.js', size: 1, sha256: 's2' });

    // Replacing a revision drops its entries in the same step; the new one's are there.
    await c.publishSourceMap({
      sourcemap: sourcemap('r3', { version: '1', createdAt: T0 + 1 }),
      files: [{ path: 'n.js.map', size: 1, sha256: 'n', debugId: B }],
      replace: true,
      stagingPrefix: 'trees/r3/',
      retire,
    });
    assert.deepEqual(
      (await c.findDebugId('w1', A, 10)).map((h) => h.sourcemap.revisionId),
      ['r2'],
    );
    assert.deepEqual(
      (await c.findDebugId('w1', B, 10)).map((h) => [h.sourcemap.revisionId, h.path]),
      [['r3', 'n.js.map']],
    );
    // Deleting drops them too.
    assert.notEqual(await c.deleteSourceMap(id('w1', 'app', '2'), retire), null);
    assert.deepEqual(await c.findDebugId('w1', A, 10), []);
    // Collecting a tree forgets every row of it.
    await c.removeGarbage('trees/r1/');
    assert.deepEqual(await c.listFiles('r1'), []);
    await c.close();
  });

  test(`${name}: list newest first, scoped; delete queues the tree; upsertFile updates totals`, async () => {
    const c = await create();
    for (const [rev, version, at] of [
      ['ra', 'a', T0],
      ['rb', 'b', T0 + 2],
      ['rc', 'c', T0 + 1],
    ] as const) {
      await c.publishSourceMap({
        sourcemap: sourcemap(rev, { version, createdAt: at }),
        files: [],
        replace: false,
        stagingPrefix: `trees/${rev}/`,
        retire,
      });
    }
    await c.publishSourceMap({
      sourcemap: sourcemap('rw2', { workspace: 'w2' }),
      files: [],
      replace: false,
      stagingPrefix: 'trees/rw2/',
      retire,
    });
    const list = async (workspace: string, appId: string) => rowsOf(await c.listSourceMaps(workspace, appId));
    assert.deepEqual(
      (await list('w1', 'app')).map((s) => s.version),
      ['b', 'c', 'a'],
    );
    assert.deepEqual((await list('w1', 'app'))[0], sourcemap('rb', { version: 'b', createdAt: T0 + 2 }), 'every field round-trips');
    assert.equal((await list('w2', 'app')).length, 1);
    assert.deepEqual(await list('w1', 'other'), []);

    const ident = id('w1', 'app', 'a');
    assert.deepEqual(await c.upsertFile(write(ident, 'ra', { path: 'x.map', size: 3, sha256: 'h' }, true)), { ok: true });
    assert.deepEqual(await c.upsertFile(write(ident, 'ra', { path: 'x.map', size: 7, sha256: 'h2' }, true)), { ok: true });
    assert.deepEqual(await c.upsertFile(write(ident, 'ra', { path: 'y.js', size: 1, sha256: 'h3' })), { ok: true });
    // A replaced file whose bytes have no object of their own (in the tree's archive): nothing queued.
    assert.deepEqual(await c.upsertFile(write(ident, 'ra', { path: 'y.js', size: 1, sha256: 'h4' }, false, { retire: () => null })), {
      ok: true,
    });
    assert.deepEqual(
      (await c.dueGarbage(T0 + 50, 10)).map((g) => g.prefix),
      ['trees/ra/x.map'],
      'only the replaced x.map is queued',
    );
    assert.deepEqual(
      await c.upsertFile(write(ident, 'rb', { path: 'z', size: 1, sha256: 'h' })),
      { ok: false, reason: 'replaced' },
      'not the live revision',
    );
    const sm = await c.getSourceMap(ident);
    assert.deepEqual([sm?.size, sm?.fileCount, sm?.mapCount], [8, 2, 2]);
    assert.equal(sm?.treeVersion, 4, 'every single-file write counts');
    const listed = (await list('w1', 'app')).find((s) => s.version === 'a')!;
    assert.deepEqual(
      [listed.size, listed.fileCount, listed.mapCount, listed.treeVersion],
      [8, 2, 2, 4],
      'the listing follows file uploads',
    );
    assert.equal((await c.usage('w1')).storedBytes, 8 + 10 + 10);

    const removed = await c.deleteSourceMap(ident, (rev) => [{ prefix: `trees/${rev}/`, dueAt: T0, revisionId: rev }]);
    assert.equal(removed?.revisionId, 'ra');
    assert.equal(await c.getSourceMap(ident), null);
    assert.equal(await c.deleteSourceMap(ident, retire), null);
    assert.equal(await c.deleteSourceMap(id('w2', 'app', 'b'), retire), null, 'other workspace');
    assert.deepEqual(
      (await c.dueGarbage(T0, 10)).map((g) => g.prefix),
      ['trees/ra/'],
    );
    await c.close();
  });

  test(`${name}: the listing's stamp changes with every write to the app's sourcemaps, and only then`, async () => {
    const c = await create();
    const stamps: string[] = [stampOf(await c.listSourceMaps('w1', 'app'))];
    const changed = async (what: string) => {
      const listing = await c.listSourceMaps('w1', 'app', stamps.at(-1));
      assert.notEqual(listing, 'unchanged', `${what} changes the stamp`);
      assert.ok(!stamps.includes(stampOf(listing)), `${what} gives a new stamp`);
      stamps.push(stampOf(listing));
    };
    const unchanged = async (what: string) => assert.equal(await c.listSourceMaps('w1', 'app', stamps.at(-1)), 'unchanged', what);
    await unchanged('nothing written');
    await c.publishSourceMap({ sourcemap: sourcemap('r1'), files: [], replace: false, stagingPrefix: 'trees/r1/', retire });
    await changed('publish');
    assert.deepEqual(
      await c.publishSourceMap({ sourcemap: sourcemap('r2'), files: [], replace: false, stagingPrefix: 'trees/r2/', retire }),
      { ok: false, reason: 'exists' },
    );
    await unchanged('a refused publish changes nothing');
    await c.publishSourceMap({
      sourcemap: sourcemap('r3', { treeVersion: 7 }),
      files: [],
      replace: true,
      stagingPrefix: 'trees/r3/',
      retire,
    });
    await changed('replace');
    assert.equal((await c.getSourceMap(id('w1')))?.treeVersion, 0, 'a published revision starts at treeVersion 0');
    assert.deepEqual(await c.upsertFile(write(id('w1'), 'r3', { path: 'a.js', size: 1, sha256: 'h' })), { ok: true });
    await changed('upsertFile');
    await c.publishSourceMap({
      sourcemap: sourcemap('o1', { appId: 'other' }),
      files: [],
      replace: false,
      stagingPrefix: 'trees/o1/',
      retire,
    });
    await c.publishSourceMap({
      sourcemap: sourcemap('x1', { workspace: 'w2' }),
      files: [],
      replace: false,
      stagingPrefix: 'trees/x1/',
      retire,
    });
    await unchanged('other apps and workspaces leave it alone');
    await c.createUpload(task('u1'));
    await c.putPart('w1', 'u1', part(0), T0);
    await unchanged('uploads in progress leave it alone');
    assert.notEqual(await c.deleteSourceMap(id('w1'), retire), null);
    await changed('delete');
    assert.deepEqual(rowsOf(await c.listSourceMaps('w1', 'app', 'not a stamp')), [], 'a stale stamp gets the listing');
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
          sourcemap: sourcemap(rev, { version, env, warnings: [`w "${version}"`] }),
          files: [],
          replace: false,
          stagingPrefix: `trees/${rev}/`,
          retire,
        });
      }
    }
    await c.publishSourceMap({
      sourcemap: sourcemap('newest', { version: '0', createdAt: T0 + 5000 }),
      files: [],
      replace: false,
      stagingPrefix: 'trees/newest/',
      retire,
    });
    const listed = rowsOf(await c.listSourceMaps('w1', 'app'));
    // Descending by UTF-8 bytes (SQLite's BINARY collation; PostgreSQL needs COLLATE "C" for the same).
    const cmp = (a: string, b: string) => (a < b ? 1 : a > b ? -1 : 0);
    const expected = odd
      .flatMap(
        (version) =>
          [
            ['', version],
            ['prod', version],
          ] as const,
      )
      .sort(([ea, va], [eb, vb]) => cmp(Buffer.from(va).toString('latin1'), Buffer.from(vb).toString('latin1')) || cmp(ea, eb))
      .map(([env, version]) => ({ version, env }));
    assert.deepEqual(
      listed.map(({ version, env }) => ({ version, env })),
      [{ version: '0', env: 'prod' }, ...expected],
    );
    assert.deepEqual(listed.find((s) => s.version === 'tab\there')?.warnings, ['w "tab\there"']);
    await c.close();
  });

  test(`${name}: a task being merged refuses parts and a second merge until the merge ends or its lease runs out`, async () => {
    const c = await create();
    await c.createUpload(task('u1'));
    assert.deepEqual(await c.putPart('w1', 'u1', part(0), T0), { ok: true });
    assert.equal(await c.beginMerge('w2', 'u1', T0, T0 + 100), 'gone', 'other workspace');
    assert.equal(await c.beginMerge('w1', 'nope', T0, T0 + 100), 'gone');
    assert.equal(await c.beginMerge('w1', 'u1', T0, T0 + 100), 'ok');
    assert.equal(await c.beginMerge('w1', 'u1', T0 + 1, T0 + 200), 'busy');
    assert.deepEqual(await c.putPart('w1', 'u1', part(0, 'b0-new'), T0 + 1), { ok: false, reason: 'merging' });
    assert.deepEqual(
      (await c.listParts('w1', 'u1')).map((p) => p.blobKey),
      ['b0'],
      'the refused part changed nothing',
    );
    await c.endMerge('w1', 'u1');
    assert.deepEqual(await c.putPart('w1', 'u1', part(1), T0 + 2), { ok: true }, 'a failed merge gives the task back');
    assert.equal(await c.beginMerge('w1', 'u1', T0 + 3, T0 + 100), 'ok');
    assert.deepEqual(await c.putPart('w1', 'u1', part(2), T0 + 100), { ok: true }, 'the lease has run out');
    assert.equal(await c.beginMerge('w1', 'u1', T0 + 101, T0 + 200), 'ok');
    await c.renewLeases('w1', 'u1', 'res', T0 + 900);
    assert.deepEqual(await c.putPart('w1', 'u1', part(3), T0 + 500), { ok: false, reason: 'merging' }, 'a renewed lease holds');
    await c.releaseLeases(T0 + 900);
    assert.deepEqual(await c.putPart('w1', 'u1', part(3), T0 + 600), { ok: true }, 'released once ended');
    await c.close();
  });

  test(`${name}: putPart enforces the upload quota in its transaction, counting a re-sent part once`, async () => {
    const c = await create();
    await c.createUpload(task('u1'));
    await c.createUpload(task('u2'));
    await c.createUpload(task('x1', 'w2'));
    assert.deepEqual(await c.putPart('w1', 'u1', part(0), T0, 12), { ok: true });
    assert.deepEqual(await c.putPart('w1', 'u2', part(0), T0, 12), { ok: true });
    assert.deepEqual(await c.putPart('w1', 'u2', part(1), T0, 12), { ok: false, reason: 'quota' }, '15 > 12');
    assert.deepEqual(
      await c.putPart('w1', 'u2', part(0, 'again'), T0, 12),
      { ok: true, replacedBlobKey: 'b0' },
      'replacing a part frees its bytes',
    );
    assert.deepEqual(await c.putPart('w2', 'x1', part(0), T0, 12), { ok: true }, 'other workspaces have their own');
    assert.deepEqual(await c.putPart('w1', 'u2', part(1), T0, 0), { ok: true }, '0 = no quota');
    await c.close();
  });

  test(`${name}: stored reservations are atomic, credited, consumed by publish/upsertFile, released, and expire`, async () => {
    const c = await create();
    const r = (reservationId: string, bytes: number, over = {}) => ({
      workspace: 'w1',
      reservationId,
      bytes,
      limit: 100,
      credit: 0,
      now: T0,
      expiresAt: T0 + 1000,
      ...over,
    });
    assert.equal(await c.reserveStored(r('a', 60)), true);
    assert.equal(await c.reserveStored(r('b', 50)), false, '60 + 50 > 100');
    assert.equal(await c.reserveStored(r('b', 40)), true);
    assert.equal(await c.reserveStored(r('a', 1)), false, 'growing a reservation counts what it holds');
    assert.equal(await c.reserveStored(r('x', 100, { workspace: 'w2' })), true, 'other workspaces have their own');
    assert.equal(await c.reserveStored(r('c', 10, { now: T0 + 1000, expiresAt: T0 + 2000 })), true, 'expired reservations stop counting');
    await c.releaseReservation('c');
    await c.releaseReservation('b');
    // Publishing consumes the reservation: the stored bytes now count instead.
    await c.publishSourceMap({
      sourcemap: sourcemap('r1', { size: 60 }),
      files: [],
      replace: false,
      stagingPrefix: 'trees/r1/',
      retire,
      reservationId: 'a',
    });
    assert.equal(await c.reserveStored(r('d', 41)), false, '60 stored + 41 > 100');
    assert.equal(await c.reserveStored(r('d', 80, { credit: 60 })), true, 'a write replacing the 60 stored bytes is credited them');
    await c.releaseReservation('d');
    assert.equal(await c.reserveStored(r('e', 40)), true);
    assert.deepEqual(await c.upsertFile(write(id('w1'), 'r1', { path: 'f.js', size: 40, sha256: 'h' }, false, { reservationId: 'e' })), {
      ok: true,
    });
    // The tree now holds just f.js (40 bytes: upsertFile recomputes the totals) and the reservation is gone.
    assert.equal(await c.reserveStored(r('f', 61)), false);
    assert.equal(await c.reserveStored(r('f', 60)), true, "the file's reservation was consumed, not counted twice");
    assert.equal(await c.reserveStored(r('g', 1, { expiresAt: T0 + 10 })), false, 'still over');
    await c.renewLeases('w1', 'none', 'f', T0 + 5);
    assert.equal(await c.reserveStored(r('g', 60, { now: T0 + 6 })), true, 'a reservation whose lease was cut short stops counting');
    await c.close();
  });

  test(`${name}: upsertFile points the row at a new blob key, retires the old one, cancels its staging entry, refuses file/directory clashes`, async () => {
    const c = await create();
    await c.publishSourceMap({
      sourcemap: sourcemap('r1', { size: 10, fileCount: 1 }),
      files: [{ path: 'static/app.js.map', size: 10, sha256: 'm' }],
      replace: false,
      stagingPrefix: 'trees/r1/',
      retire,
    });
    const ident = id('w1');
    await c.enqueueGarbage({ prefix: 'trees/r1/.mapvault-files/k1/', dueAt: T0 + 999 });
    const first = write(
      ident,
      'r1',
      { path: 'static/app.js.map', size: 4, sha256: 'n', blobKey: 'trees/r1/.mapvault-files/k1/static/app.js.map' },
      true,
      { stagingPrefix: 'trees/r1/.mapvault-files/k1/' },
    );
    assert.deepEqual(await c.upsertFile(first), { ok: true });
    assert.deepEqual(await c.getFile('r1', 'static/app.js.map'), first.file);
    assert.deepEqual(
      await c.dueGarbage(T0 + 10_000, 10),
      [{ prefix: 'trees/r1/static/app.js.map', dueAt: T0 + 50 }],
      'the merged blob is retired (after the grace), the staging entry cancelled',
    );
    const second = write(
      ident,
      'r1',
      { path: 'static/app.js.map', size: 5, sha256: 'o', blobKey: 'trees/r1/.mapvault-files/k2/static/app.js.map' },
      true,
    );
    assert.deepEqual(await c.upsertFile(second), { ok: true });
    assert.ok(
      (await c.dueGarbage(T0 + 10_000, 10)).some((g) => g.prefix === first.file.blobKey),
      'a replaced single file is retired too',
    );
    const sm = await c.getSourceMap(ident);
    assert.deepEqual([sm?.size, sm?.fileCount, sm?.mapCount], [5, 1, 1]);
    assert.deepEqual(await c.upsertFile(write(ident, 'r1', { path: 'static', size: 1, sha256: 'x' })), {
      ok: false,
      reason: 'path-conflict',
      path: 'static/app.js.map',
    });
    assert.deepEqual(await c.upsertFile(write(ident, 'r1', { path: 'static/app.js.map/x', size: 1, sha256: 'x' })), {
      ok: false,
      reason: 'path-conflict',
      path: 'static/app.js.map',
    });
    assert.deepEqual(
      await c.upsertFile(write(ident, 'r1', { path: 'static/app', size: 1, sha256: 'x' })),
      { ok: true },
      'a sibling with a common prefix is fine',
    );
    assert.deepEqual(await c.upsertFile(write(ident, 'r1', { path: 'static.js', size: 1, sha256: 'x' })), { ok: true });
    assert.deepEqual(
      (await c.listFiles('r1')).map((f) => f.path),
      ['static.js', 'static/app', 'static/app.js.map'],
    );
    await c.close();
  });

  test(`${name}: listApps sums each app's sourcemaps, scoped by workspace, ordered by appId bytes`, async () => {
    const c = await create();
    assert.deepEqual(await c.listApps('w1'), []);
    const publish = (rev: string, over: Partial<SourceMapRecord>) =>
      c.publishSourceMap({ sourcemap: sourcemap(rev, over), files: [], replace: false, stagingPrefix: `trees/${rev}/`, retire });
    await publish('r1', { appId: 'shop', version: '1', size: 100, createdAt: T0 });
    await publish('r2', { appId: 'shop', version: '2', size: 50, createdAt: T0 + 9 });
    await publish('r3', { appId: 'shop', version: '2', env: '', size: 1, createdAt: T0 + 3 });
    await publish('r4', { appId: 'Admin', size: 7, createdAt: T0 + 1 });
    await publish('r5', { appId: 'a.b-c_d', size: 2, createdAt: T0 + 2 });
    await publish('r6', { appId: 'shop', workspace: 'w2', size: 1000 });
    await c.createUpload(task('u1', 'w1', { appId: 'pending-only' }));
    assert.deepEqual(
      await c.listApps('w1'),
      [
        { appId: 'Admin', sourcemapCount: 1, size: 7, latestCreatedAt: T0 + 1 },
        { appId: 'a.b-c_d', sourcemapCount: 1, size: 2, latestCreatedAt: T0 + 2 },
        { appId: 'shop', sourcemapCount: 3, size: 151, latestCreatedAt: T0 + 9 },
      ],
      'uppercase sorts before lowercase; an app with only an unfinished upload is not listed',
    );
    assert.deepEqual(
      (await c.listApps('w2')).map((a) => [a.appId, a.size]),
      [['shop', 1000]],
    );
    await c.deleteSourceMap(id('w1', 'Admin'), retire);
    assert.deepEqual(
      (await c.listApps('w1')).map((a) => a.appId),
      ['a.b-c_d', 'shop'],
      'an app whose last sourcemap is deleted disappears',
    );
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
    assert.deepEqual(
      (await c.dueGarbage(T0 + 100, 10)).map((g) => g.prefix),
      ['y/'],
    );
    await c.close();
  });

  // Races a READ COMMITTED implementation that checks and then writes would lose. Each runs many
  // rounds so the two calls really overlap on a server with a connection pool.
  const ROUNDS = 15;

  test(`${name}: two publishes of a new identity at once: exactly one wins, the other gets exists`, async () => {
    const c = await create();
    for (let i = 0; i < ROUNDS; i++) {
      const version = `race-${i}`;
      const publish = (rev: string) =>
        c.publishSourceMap({
          sourcemap: sourcemap(rev, { version }),
          files: [{ path: `${rev}.map`, size: 1, sha256: 'h' }],
          replace: false,
          stagingPrefix: `trees/${rev}/`,
          retire,
        });
      const results = await Promise.all([publish(`a${i}`), publish(`b${i}`)]);
      const winners = results.filter((r) => r.ok);
      assert.equal(winners.length, 1, `round ${i}: ${JSON.stringify(results)}`);
      assert.deepEqual(
        results.find((r) => !r.ok),
        { ok: false, reason: 'exists' },
      );
      const stored = await c.getSourceMap(id('w1', 'app', version));
      const winner = results[0]!.ok ? `a${i}` : `b${i}`;
      const loser = winner.startsWith('a') ? `b${i}` : `a${i}`;
      assert.equal(stored?.revisionId, winner);
      assert.deepEqual(await c.listFiles(loser), [], 'the loser wrote nothing');
    }
    await c.close();
  });

  test(`${name}: two replaces of one identity at once: both apply in turn, every replaced revision is queued`, async () => {
    const c = await create();
    for (let i = 0; i < ROUNDS; i++) {
      const version = `replace-${i}`;
      const publish = (rev: string, replace: boolean) =>
        c.publishSourceMap({
          sourcemap: sourcemap(rev, { version }),
          files: [],
          replace,
          stagingPrefix: `trees/${rev}/`,
          retire,
        });
      assert.ok((await publish(`o${i}`, false)).ok);
      const results = await Promise.all([publish(`a${i}`, true), publish(`b${i}`, true)]);
      assert.ok(
        results.every((r) => r.ok),
        JSON.stringify(results),
      );
      const replaced = results.map((r) => (r.ok ? r.replaced?.revisionId : undefined)).sort();
      const final = (await c.getSourceMap(id('w1', 'app', version)))!.revisionId;
      // One replaced the original, the other replaced the first: a chain, nothing replaced twice.
      assert.deepEqual(replaced, [`o${i}`, final === `a${i}` ? `b${i}` : `a${i}`].sort(), `round ${i}`);
    }
    const queued = new Set((await c.dueGarbage(T0 + 100, 10_000)).map((g) => g.prefix));
    for (let i = 0; i < ROUNDS; i++) {
      const final = (await c.getSourceMap(id('w1', 'app', `replace-${i}`)))!.revisionId;
      for (const rev of [`o${i}`, `a${i}`, `b${i}`]) assert.equal(queued.has(`trees/${rev}/`), rev !== final, `round ${i}: ${rev}`);
    }
    await c.close();
  });

  test(`${name}: a part racing a cancel or an expiry never outlives its task`, async () => {
    const c = await create();
    for (let i = 0; i < ROUNDS; i++) {
      const uploadId = `race${i}`;
      await c.createUpload(task(uploadId));
      await c.putPart('w1', uploadId, part(0), T0);
      const end =
        i % 2 === 0
          ? c.deleteUpload('w1', uploadId, { prefix: `uploads/${uploadId}/`, dueAt: T0 }).then((deleted) => assert.equal(deleted, true))
          : c.expireUploads(T0 + 1000, (u) => ({ prefix: `uploads/${u}/`, dueAt: T0 })).then((ids) => assert.deepEqual(ids, [uploadId]));
      const [put] = await Promise.all([c.putPart('w1', uploadId, part(1), T0), end]);
      assert.equal(typeof put.ok, 'boolean', 'refused or accepted, never an error');
      assert.deepEqual(await c.listParts('w1', uploadId), [], `round ${i}: no part outlives the task`);
      assert.equal(await c.getUpload('w1', uploadId, T0), null);
    }
    assert.equal((await c.usage('w1')).uploadBytes, 0);
    const queued = (await c.dueGarbage(T0, 10_000)).map((g) => g.prefix);
    for (let i = 0; i < ROUNDS; i++)
      assert.ok(queued.includes(`uploads/race${i}/`), 'the task prefix, with whatever part landed, is queued');
    await c.close();
  });

  test(`${name}: two merges of one task at once: one publishes, the other finds the task gone`, async () => {
    const c = await create();
    for (let i = 0; i < ROUNDS; i++) {
      const uploadId = `merge${i}`;
      const version = `merge-${i}`;
      await c.createUpload(task(uploadId, 'w1', { version, needCover: true }));
      await c.putPart('w1', uploadId, part(0), T0);
      const merge = (rev: string) =>
        c.publishSourceMap({
          sourcemap: sourcemap(rev, { version }),
          files: [{ path: 'a.js', size: 1, sha256: rev }],
          replace: true,
          stagingPrefix: `trees/${rev}/`,
          retire,
          consumeUploadId: uploadId,
          consumeGarbage: { prefix: `uploads/${uploadId}/`, dueAt: T0 },
        });
      const results = await Promise.all([merge(`a${i}`), merge(`b${i}`)]);
      assert.equal(results.filter((r) => r.ok).length, 1, `round ${i}: ${JSON.stringify(results)}`);
      assert.deepEqual(
        results.find((r) => !r.ok),
        { ok: false, reason: 'upload-gone' },
      );
      const winner = results[0]!.ok ? `a${i}` : `b${i}`;
      assert.equal((await c.getSourceMap(id('w1', 'app', version)))?.revisionId, winner);
      assert.deepEqual(
        (await c.listFiles(winner)).map((f) => f.sha256),
        [winner],
      );
    }
    await c.close();
  });

  test(`${name}: settings: the first value stored wins, also when two nodes store at once`, async () => {
    const c = await create();
    const values = await Promise.all([c.ensureSetting('pepper', 'one'), c.ensureSetting('pepper', 'two')]);
    assert.equal(values[0], values[1]);
    assert.equal(await c.ensureSetting('pepper', 'three'), values[0]);
    assert.equal(await c.ensureSetting('other', 'x'), 'x');
    await c.close();
  });
}
