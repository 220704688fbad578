import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile, access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, uploadZip } from '../helpers/server.ts';
import { zipEntries } from '../helpers/fixtures.ts';
import { SqliteCatalog } from '../../src/catalog/sqlite-catalog.ts';

// Two servers on one data dir stand in for two nodes sharing a catalog and a blob store: what one
// node keeps or cleans up must never be wrong for the other. (The same on PostgreSQL + S3 is in
// the multi-node suite.)

const map = (source: string) => JSON.stringify({ version: 3, sources: [source], names: [], mappings: 'AAAA' });
const STACK = 'Error: boom\n    at f (https://cdn.example.com/static/js/app.js:1:1)';
const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

test('a parsed map kept by one node is not served after another node rewrites that map (upload_file_content)', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mapvault-nodes-'));
  const a = await startServer({}, { dataDir });
  const b = await startServer({}, { dataDir });
  try {
    const id = { appId: 'cache', version: '1', env: 'prod' };
    const zip = await zipEntries({ 'static/js/app.js': 'f()', 'static/js/app.js.map': map('src/first.ts') });
    assert.equal((await uploadZip(a, zip, id)).status, 200);
    const source = async () => {
      const r = await b.post('/parse_stack', { ...id, stack: STACK });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.content.frames[0].source;
    };
    assert.equal(await source(), 'src/first.ts');
    assert.equal(await source(), 'src/first.ts', "answered from b's cache");
    const put = await a.post('/upload_file_content', { ...id, filename: 'static/js/app.js.map', content: map('src/second.ts') });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(await source(), 'src/second.ts', "b sees a's write at once");
  } finally {
    await Promise.all([a.close(), b.close()]);
    await rm(dataDir, { recursive: true, force: true });
  }
});

test("a node starting collects only due garbage: another node's staging tree and a retired tree in its grace stay", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mapvault-nodes-'));
  const a = await startServer({ MAPVAULT_RETIRED_GRACE: '1h' }, { dataDir });
  try {
    const id = { appId: 'grace', version: '1', env: '' };
    const zip = (text: string) => zipEntries({ 'static/js/app.js': text });
    assert.equal((await uploadZip(a, await zip('one'), id)).status, 200);
    // The tree's archive is its upload's parts.
    const [retired] = await readdir(join(dataDir, 'blobs', 'uploads'));
    assert.equal((await uploadZip(a, await zip('two'), { ...id, needCover: true })).status, 200);
    // A merge in progress on node a: its staging prefix is queued (due later) and half written.
    const catalog = new SqliteCatalog(join(dataDir, 'mapvault.db'));
    await catalog.enqueueGarbage({ prefix: 'trees/staging-of-a/', dueAt: Date.now() + 3_600_000, revisionId: 'staging-of-a' });
    await catalog.close();
    await mkdir(join(dataDir, 'blobs', 'trees', 'staging-of-a'), { recursive: true });
    await writeFile(join(dataDir, 'blobs', 'trees', 'staging-of-a', 'half.js'), 'x');

    const b = await startServer({}, { dataDir });
    await b.close();
    assert.ok(await exists(join(dataDir, 'blobs', 'trees', 'staging-of-a', 'half.js')), 'the staging tree of a merge in progress stays');
    assert.ok(await exists(join(dataDir, 'blobs', 'uploads', retired!)), 'the retired tree stays for readers still on it');
  } finally {
    await a.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test("a node starting leaves a live node's scratch files alone", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mapvault-nodes-'));
  const a = await startServer({}, { dataDir });
  try {
    // What a's scratch holds while it receives a part or verifies a merged zip.
    const [own] = await readdir(join(dataDir, 'tmp'));
    assert.ok(own, 'a works in a scratch dir of its own');
    const inFlight = join(dataDir, 'tmp', own, 'receiving.part');
    await writeFile(inFlight, 'half a part');
    const b = await startServer({}, { dataDir });
    await b.close();
    assert.ok(await exists(inFlight), "a's part in progress is still there");
  } finally {
    await a.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
