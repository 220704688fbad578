import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KEY_A, KEY_B } from '../helpers/server.ts';
import { zipEntries } from '../helpers/fixtures.ts';
import { service } from '../helpers/services.ts';
import { loadConfig } from '../../src/config.ts';
import { PgCatalog } from '../../src/catalog/postgres/pg-catalog.ts';
import { createMapvault } from '../../src/server.ts';
import { call, sendPart, split, startCluster, type Cluster } from './cluster.ts';

const pg = service('MAPVAULT_TEST_PG_URL', 'scripts/services/postgres.sh');
const s3 = service('MAPVAULT_TEST_S3_URL', 'scripts/services/swift.sh');
const BIN = new URL('../../bin/mapvault', import.meta.url).pathname;

/** A sourcemap whose only mapping sends line 1 column 1 of `a.js` to line 1 of `source`. */
const mapFor = (source: string) =>
  JSON.stringify({ version: 3, sources: [source], sourcesContent: [`// ${source}\n`], names: [], mappings: 'AAAA' });
const STACK = 'Error: boom\n    at https://cdn.example.com/static/a.js:1:1';

async function treeOf(node: Cluster['nodes'][number], id: object) {
  const r = await call(node, 'POST', '/file_tree', id);
  return { status: r.status, files: (r.body?.content?.files ?? []).map((f: any) => `${f.path} ${f.size} ${f.sha256}`) };
}

async function resolvedSource(node: Cluster['nodes'][number], id: object): Promise<string | undefined> {
  const r = await call(node, 'POST', '/parse_stack', { ...id, stack: STACK });
  assert.equal(r.status, 200, r.text);
  const frame = r.body.content.frames[0];
  return frame.resolved ? frame.source : undefined;
}

/** Starts an upload on `node` and sends its parts round-robin to `partNodes`. */
async function uploadParts(
  init: Cluster['nodes'][number],
  partNodes: Cluster['nodes'],
  id: object,
  zip: Buffer,
  parts: number,
): Promise<string> {
  const r = await call(init, 'POST', '/multipart_upload_init', id);
  assert.equal(r.status, 200, r.text);
  const uploadId = r.body.content.uploadId as string;
  const pieces = split(zip, parts);
  await Promise.all(
    pieces.map(async (piece, i) => {
      const sent = await sendPart(partNodes[i % partNodes.length]!, uploadId, i, piece);
      assert.equal(sent.status, 200, sent.text);
    }),
  );
  return uploadId;
}

describe('three mapvault nodes on one PostgreSQL and one S3 (Swift)', { skip: pg.skip || s3.skip }, () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster(3, { pgUrl: pg.value, s3Url: s3.value }, { MAPVAULT_MERGE_LEASE: '3s' });
  });
  after(() => cluster?.close());

  test('parts sent to different nodes, merged on a third, resolved on another right after', async () => {
    const [a, b, c] = cluster.nodes as [(typeof cluster.nodes)[0], (typeof cluster.nodes)[0], (typeof cluster.nodes)[0]];
    const id = { appId: 'web', version: '1.0.0', env: 'prod' };
    const extra: Record<string, string> = {};
    for (let i = 0; i < 200; i++) extra[`static/chunk-${i}.js`] = randomBytes(400 + i).toString('base64');
    const zip = await zipEntries({ 'static/a.js.map': mapFor('src/one.ts'), 'static/a.js': 'boom()', ...extra });
    const uploadId = await uploadParts(a, [a, b, c], id, zip, 6);
    const listed = await call(b, 'POST', '/part_list', { uploadId });
    assert.deepEqual(listed.body.content.chunkIndexs, [0, 1, 2, 3, 4, 5], 'every node sees every part');
    const merged = await call(c, 'POST', '/part_merge', { uploadId });
    assert.equal(merged.status, 200, merged.text);

    assert.equal(await resolvedSource(a, id), 'src/one.ts');
    const file = await call(b, 'GET', '/file?appId=web&version=1.0.0&env=prod&path=static/chunk-7.js');
    assert.equal(file.text, extra['static/chunk-7.js']);
    const trees = await Promise.all(cluster.nodes.map((n) => treeOf(n, id)));
    assert.equal(trees[0]!.files.length, 202);
    for (const t of trees) assert.deepEqual(t, trees[0]);
  });

  test('a replace on A is what B answers at once (parse_stack and file); a delete on A is NotFound on B at once', async () => {
    const [a, b] = cluster.nodes as [(typeof cluster.nodes)[0], (typeof cluster.nodes)[0]];
    const id = { appId: 'replace', version: '2', env: 'prod' };
    assert.equal(
      (
        await call(a, 'POST', '/part_merge', {
          uploadId: await uploadParts(a, [a], id, await zipEntries({ 'static/a.js.map': mapFor('src/old.ts') }), 1),
        })
      ).status,
      200,
    );
    // B parses and keeps the old map in its cache.
    assert.equal(await resolvedSource(b, id), 'src/old.ts');
    assert.equal(await resolvedSource(b, id), 'src/old.ts');

    const replaced = await call(a, 'POST', '/part_merge', {
      uploadId: await uploadParts(a, [a], { ...id, needCover: true }, await zipEntries({ 'static/a.js.map': mapFor('src/new.ts') }), 1),
    });
    assert.equal(replaced.status, 200, replaced.text);
    assert.equal(await resolvedSource(b, id), 'src/new.ts', 'B must not answer from its cached old map');
    assert.equal((await call(b, 'GET', '/file?appId=replace&version=2&env=prod&path=static/a.js.map')).text, mapFor('src/new.ts'));

    // upload_file_content on B, then A's parse_stack sees it.
    assert.equal(await resolvedSource(a, id), 'src/new.ts');
    assert.equal(
      (await call(b, 'POST', '/upload_file_content', { ...id, filename: 'static/a.js.map', content: mapFor('src/edited.ts') })).status,
      200,
    );
    assert.equal(await resolvedSource(a, id), 'src/edited.ts');

    assert.equal((await call(a, 'POST', '/delete', id)).status, 200);
    const gone = await call(b, 'GET', '/file?appId=replace&version=2&env=prod&path=static/a.js.map');
    assert.equal(gone.status, 404);
    assert.equal(gone.body.errorCode, 'SourceMap.NotFound');
    assert.equal((await call(b, 'POST', '/file_tree', id)).status, 404);
    assert.equal(await resolvedSource(b, id), undefined, 'B resolves nothing from a deleted sourcemap');
    const list = await call(b, 'GET', '/list?appId=replace');
    assert.equal(JSON.stringify(list.body.content).includes('"2"'), false, list.text);
  });

  test('the same key works on every node, including one created by `mapvault keys create` on one of them; other workspaces stay invisible', async () => {
    const created = spawn(process.execPath, [BIN, 'keys', 'create', '--workspace', 'workspace-c'], {
      env: { ...process.env, ...cluster.env, MAPVAULT_DATA_DIR: await mkdtemp(join(tmpdir(), 'mapvault-keys-')) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    created.stdout.on('data', (c) => (out += c));
    created.stderr.resume();
    assert.equal(await new Promise((resolve) => created.once('exit', resolve)), 0);
    const keyC = out.trim();
    assert.ok(keyC.length > 20, out);

    const id = { appId: 'private', version: '1', env: 'prod' };
    const [a] = cluster.nodes;
    const uploadId = await uploadParts(a!, cluster.nodes, id, await zipEntries({ 'static/a.js.map': mapFor('src/private.ts') }), 3);
    for (const node of cluster.nodes) {
      for (const key of [KEY_A, KEY_B, keyC])
        assert.equal((await call(node, 'GET', '/list?appId=private', undefined, key)).status, 200, `key works on ${node.url}`);
      assert.equal((await call(node, 'GET', '/list?appId=private', undefined, 'not-a-key')).status, 403);
      const foreign = await call(node, 'POST', '/part_list', { uploadId }, KEY_B);
      assert.equal(foreign.status, 404);
      assert.equal(foreign.body.errorCode, 'Upload.NotFound');
      assert.equal((await call(node, 'POST', '/part_merge', { uploadId }, keyC)).status, 404);
    }
    assert.equal((await call(cluster.nodes[1]!, 'POST', '/part_merge', { uploadId })).status, 200);
    for (const node of cluster.nodes) {
      for (const key of [KEY_B, keyC]) {
        assert.equal((await call(node, 'POST', '/file_tree', id, key)).status, 404);
        assert.equal((await call(node, 'GET', '/file?appId=private&version=1&env=prod&path=static/a.js.map', undefined, key)).status, 404);
        assert.equal(JSON.stringify((await call(node, 'GET', '/list?appId=private', undefined, key)).body.content).includes('"1"'), false);
        const parsed = await call(node, 'POST', '/parse_stack', { ...id, stack: STACK }, key);
        assert.equal(parsed.body.content.frames[0].resolved, false);
      }
      assert.equal((await call(node, 'POST', '/file_tree', id)).status, 200);
    }
  });

  test('kill -9 of the node doing a merge: the old tree stays whole through the others, the task merges again, nothing is left once garbage is due', async () => {
    const [a, b, c] = cluster.nodes as [(typeof cluster.nodes)[0], (typeof cluster.nodes)[0], (typeof cluster.nodes)[0]];
    const id = { appId: 'crash', version: '9', env: 'prod' };
    const oldFiles = { 'static/a.js.map': mapFor('src/old.ts'), 'static/a.js': 'old()' };
    assert.equal(
      (await call(a, 'POST', '/part_merge', { uploadId: await uploadParts(a, [a], id, await zipEntries(oldFiles), 1) })).status,
      200,
    );
    const oldTree = await treeOf(b, id);

    // A replacement big enough that its merge is still working when the node dies (its ~25 MiB of
    // parts fetched and its 1 201 files checked).
    const newFiles: Record<string, string | Buffer> = {
      'static/a.js.map': mapFor('src/new.ts'),
      'static/big.bin': randomBytes(24 * 1024 * 1024),
    };
    for (let i = 0; i < 1200; i++) newFiles[`static/c/${i}.js`] = randomBytes(300).toString('hex');
    const uploadId = await uploadParts(a, [a, b], { ...id, needCover: true }, await zipEntries(newFiles), 4);
    const catalog = await PgCatalog.open(cluster.env.MAPVAULT_CATALOG_URL!);
    const staging = async () =>
      (await catalog.dueGarbage(Number.MAX_SAFE_INTEGER, 100_000)).filter((g) => g.prefix.startsWith('trees/')).map((g) => g.prefix);
    const before = new Set(await staging());

    const merging = call(c, 'POST', '/part_merge', { uploadId }).catch((err: Error) => err);
    // Wait until the merge has queued its staging tree (it does so right before its first write),
    // then kill the merging node.
    while ((await staging()).every((p) => before.has(p))) await sleep(20);
    await catalog.close();
    await c.kill9();
    assert.ok((await merging) instanceof Error, 'the merge never answered');

    for (const node of [a, b]) {
      assert.deepEqual(await treeOf(node, id), oldTree, 'the old tree is what every other node shows');
      for (const [path, text] of Object.entries(oldFiles)) {
        assert.equal((await call(node, 'GET', `/file?appId=crash&version=9&env=prod&path=${path}`)).text, text);
      }
      assert.equal(await resolvedSource(node, id), 'src/old.ts');
    }
    assert.deepEqual(
      (await call(b, 'POST', '/part_list', { uploadId })).body.content.chunkIndexs,
      [0, 1, 2, 3],
      'the task and its parts survive',
    );
    // The dead node's lease on the task (MAPVAULT_MERGE_LEASE, short here) lapses; until then the task answers 409.
    let again = await call(b, 'POST', '/part_merge', { uploadId });
    for (const until = Date.now() + 30_000; again.status === 409 && again.body.errorCode === 'Merge.InProgress' && Date.now() < until; ) {
      await sleep(250);
      again = await call(b, 'POST', '/part_merge', { uploadId });
    }
    assert.equal(again.status, 200, again.text);
    assert.equal(await resolvedSource(a, id), 'src/new.ts');
    const newTree = await treeOf(a, id);
    assert.equal(newTree.files.length, 1202);

    // Once every queued prefix is due (the dead merge's staging tree waits hours, since another node
    // could not tell it from a merge still running), a sweep leaves exactly the published trees.
    const dataDir = await mkdtemp(join(tmpdir(), 'mapvault-sweeper-'));
    const later = Date.now() + 7 * 3_600_000;
    const sweeper = await createMapvault(loadConfig({ ...cluster.env, MAPVAULT_DATA_DIR: dataDir }), {
      logger: false,
      now: () => later,
      announce: () => {},
    });
    try {
      await sweeper.sweeper.sweep(later);
      const published = new Set<string>();
      for (const ident of [{ appId: 'web', version: '1.0.0', env: 'prod' }, { appId: 'private', version: '1', env: 'prod' }, id]) {
        const sm = await sweeper.catalog.getSourceMap({ workspace: 'workspace-a', ...ident });
        assert.ok(sm, JSON.stringify(ident));
        published.add(sm.revisionId);
      }
      const revisions = new Map<string, number>();
      for await (const o of cluster.blobs.list('trees/')) {
        const rev = o.key.split('/')[1]!;
        revisions.set(rev, (revisions.get(rev) ?? 0) + 1);
      }
      assert.deepEqual([...revisions.keys()].sort(), [...published].sort(), 'only published trees remain');
      // The published trees' archives are their uploads' parts (the revision id names the upload): only those remain.
      const uploads = new Set<string>();
      for await (const o of cluster.blobs.list('uploads/')) uploads.add(o.key.split('/')[1]!);
      assert.deepEqual([...uploads].sort(), [...published].map((rev) => rev.split('-')[0]!).sort(), 'no other part is left behind');
      // The dead merge's staging tree went, not the parts the second merge's tree is made of.
      assert.equal(await resolvedSource(b, id), 'src/new.ts');
      assert.equal((await call(b, 'GET', '/file?appId=crash&version=9&env=prod&path=static/c/7.js')).text, newFiles['static/c/7.js']);
    } finally {
      await sweeper.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
