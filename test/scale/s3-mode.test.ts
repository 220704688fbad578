import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { startServer, uploadZip, type TestServer } from '../helpers/server.ts';
import { buildApp, zipDir, zipEntries } from '../helpers/fixtures.ts';
import { service } from '../helpers/services.ts';
import { S3BlobStore } from '../../src/storage/s3/s3-blob-store.ts';
import { parseS3Url } from '../../src/storage/s3/s3-url.ts';
import { s3UrlWithPrefix } from './cluster.ts';
import { treeArchiveSegmentPath } from '../../src/storage/blob-keys.ts';

const s3 = service('MAPVAULT_TEST_S3_URL', 'scripts/services/swift.sh');
const URL_JS = 'https://cdn.example.com/static/js/app.js';

/** Every answer that does not depend on time or ids, so two servers' answers can be compared. */
async function observe(s: TestServer, id: { appId: string; version: string; env: string }, stack: string) {
  const tree = await s.post('/file_tree', id);
  const files: Record<string, string> = {};
  for (const f of tree.body.content?.files ?? []) {
    const r = await fetch(`${s.api}/file?appId=${id.appId}&version=${id.version}&env=${id.env}&path=${encodeURIComponent(f.path)}`, {
      headers: { 'DF-API-KEY': 'test-key-workspace-a' },
    });
    files[f.path] = Buffer.from(await r.arrayBuffer()).toString('base64');
  }
  const parsed = await s.post('/parse_stack', { ...id, stack });
  const missing = await s.get(`/file?appId=${id.appId}&version=${id.version}&env=${id.env}&path=none.js`);
  return {
    tree: { status: tree.status, files: tree.body.content?.files?.map((f: any) => ({ path: f.path, size: f.size, sha256: f.sha256 })) },
    files,
    parseStack: { status: parsed.status, content: parsed.body.content },
    missing: { status: missing.status, errorCode: missing.body.errorCode },
  };
}

describe('S3 mode answers exactly as the filesystem mode', { skip: s3.skip }, () => {
  let fsServer: TestServer;
  let s3Server: TestServer;
  let prefix: string;
  let stack: string;
  let zip: Buffer;

  before(async () => {
    prefix = `s3-mode-${randomBytes(6).toString('hex')}/`;
    fsServer = await startServer();
    s3Server = await startServer({ MAPVAULT_BLOB_URL: s3UrlWithPrefix(s3.value, prefix) });
    const { dist } = await buildApp();
    const code = await readFile(join(dist, 'static/js/app.js'), 'utf8');
    const sandbox: any = {};
    sandbox.globalThis = sandbox;
    runInNewContext(code, sandbox, { filename: URL_JS });
    try {
      sandbox.__app.main([1, -2]);
    } catch (err) {
      stack = (err as Error).stack!;
    }
    // Many small files too, so the merge's concurrent writes are exercised.
    const extra: Record<string, string> = {};
    for (let i = 0; i < 300; i++) extra[`static/chunks/c${i}.js`] = `/* chunk ${i} */ ${'x'.repeat(i * 7)}`;
    extra['static/media/big.bin'] = randomBytes(3 * 1024 * 1024).toString('base64');
    zip = await zipDir(dist, extra);
  });
  after(async () => {
    await fsServer.close();
    await s3Server.close();
  });

  test('upload, file_tree, file, parse_stack, upload_file_content, replace and delete agree in both modes', async () => {
    const id = { appId: 'web', version: '1.0.0', env: 'prod' };
    for (const s of [fsServer, s3Server]) assert.equal((await uploadZip(s, zip, id, { partSize: 1024 * 1024 })).status, 200);
    const first = await observe(fsServer, id, stack);
    assert.equal(first.tree.files.length, 303);
    assert.equal(first.parseStack.status, 200);
    assert.ok(first.parseStack.content.frames.some((f: any) => f.resolved && /subtotal\.ts$/.test(f.source)));
    assert.deepEqual(await observe(s3Server, id, stack), first);

    // The blobs really are in the bucket, under the configured prefix.
    const store = await S3BlobStore.open({ ...parseS3Url(s3.value), prefix });
    // The archive is the uploaded parts themselves, kept where they were uploaded: nothing copied into the tree.
    const parts: string[] = [];
    for await (const o of store.list('uploads/')) parts.push(o.key);
    assert.equal(parts.length, Math.ceil(zip.length / (1024 * 1024)));
    for await (const o of store.list('trees/')) assert.ok(!o.key.includes(`/${treeArchiveSegmentPath(0).replace(/0+$/, '')}`), o.key);

    for (const s of [fsServer, s3Server]) {
      const r = await s.post('/upload_file_content', { ...id, filename: 'static/chunks/c1.js', content: 'replaced' });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal((await s.post('/upload_file_content', { ...id, filename: 'new/one.js', content: 'new' })).status, 200);
    }
    const edited = await observe(fsServer, id, stack);
    assert.equal(Buffer.from(edited.files['static/chunks/c1.js']!, 'base64').toString(), 'replaced');
    assert.deepEqual(await observe(s3Server, id, stack), edited);

    // Replace with another build: both answer from the new tree.
    const v2 = await zipEntries({
      'static/js/app.js.map': '{"version":3,"sources":["a.ts"],"names":[],"mappings":"AAAA"}',
      'static/js/app.js': 'x',
    });
    for (const s of [fsServer, s3Server]) assert.equal((await uploadZip(s, v2, { ...id, needCover: true })).status, 200);
    const replaced = await observe(fsServer, id, stack);
    assert.deepEqual(Object.keys(replaced.files), ['static/js/app.js', 'static/js/app.js.map']);
    assert.deepEqual(await observe(s3Server, id, stack), replaced);

    for (const s of [fsServer, s3Server]) assert.equal((await s.post('/delete', id)).status, 200);
    const deleted = await observe(fsServer, id, stack);
    assert.equal(deleted.tree.status, 404);
    assert.deepEqual(await observe(s3Server, id, stack), deleted);

    // Garbage (grace 0 in tests) is collected from the bucket: only nothing of this identity remains.
    await s3Server.mv.sweeper.kick();
    const left: string[] = [];
    for await (const o of store.list('trees/')) left.push(o.key);
    for await (const o of store.list('uploads/')) left.push(o.key);
    assert.deepEqual(left, []);
    store.close();
  });
});
