import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Agent, request } from 'node:http';
import { startServer, uploadZip, KEY_A, type TestServer } from '../helpers/server.ts';
import { zipEntries } from '../helpers/fixtures.ts';

// A real grace period: readers that resolved a file's row must still find its bytes.
let s: TestServer;
before(async () => (s = await startServer({ MAPVAULT_RETIRED_GRACE: '10m' })));
after(() => s.close());

const SMALL = 'small';
const BIG = 'B'.repeat(400_000);

/** GET on one keep-alive socket; resolves with the status, the Content-Length sent, and the bytes that arrived. */
function getOn(agent: Agent, path: string): Promise<{ status: number; length: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(`${s.api}${path}`, { agent, headers: { 'DF-API-KEY': KEY_A } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, length: Number(res.headers['content-length']), body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

test('GET /file during upload_file_content overwrites: Content-Length always matches the body, keep-alive never corrupted', async () => {
  const id = { appId: 'overwrite', version: '1' };
  const path = '/file?appId=overwrite&version=1&path=static/app.js';
  assert.equal((await s.post('/upload_file_content', { ...id, filename: 'static/app.js', content: SMALL })).status, 200);

  let writing = true;
  const writer = (async () => {
    for (let i = 0; writing; i++) {
      const r = await s.post('/upload_file_content', { ...id, filename: 'static/app.js', content: i % 2 ? SMALL : BIG });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
  })();
  // Three keep-alive connections, each reading back to back: a wrong Content-Length desynchronizes
  // the socket, so the next response would fail to parse or start with file bytes.
  const readers = [1, 2, 3].map(async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 150; i++) {
        const r = await getOn(agent, path);
        assert.equal(r.status, 200);
        assert.equal(r.body.length, r.length, 'Content-Length is the size of the bytes sent');
        assert.ok([SMALL, BIG].includes(r.body.toString()), 'a whole version of the file');
      }
    } finally {
      agent.destroy();
    }
  });
  try {
    await Promise.all(readers);
  } finally {
    writing = false;
    await writer;
  }
  const tree = await s.post('/file_tree', id);
  const file = await s.get(path);
  assert.equal(tree.body.content.files[0].size, Buffer.byteLength(file.body));
  assert.equal(tree.body.content.files[0].sha256, createHash('sha256').update(file.body).digest('hex'));
});

test('upload_file_content whose path collides with the tree answers 422 Archive.DuplicatePath and changes nothing', async () => {
  const id = { appId: 'collide', version: '1' };
  const map = '{"version":3,"sources":[],"names":[],"mappings":""}';
  assert.equal((await uploadZip(s, await zipEntries({ 'static/app.js.map': map }), id)).status, 200);
  const before = (await s.post('/file_tree', id)).body.content;
  for (const filename of ['static', 'static/app.js.map/x', './static/app.js.map/x/y']) {
    const r = await s.post('/upload_file_content', { ...id, filename, content: 'x' });
    assert.equal(r.status, 422, `${filename}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.errorCode, 'Archive.DuplicatePath');
    assert.match(r.body.message, /static\/app\.js\.map|static/);
  }
  // The reverse: a file first, then a path under it.
  assert.equal((await s.post('/upload_file_content', { ...id, filename: 'lib/a.js', content: 'a' })).status, 200);
  const under = await s.post('/upload_file_content', { ...id, filename: 'lib/a.js/b.js', content: 'b' });
  assert.equal(under.body.errorCode, 'Archive.DuplicatePath');
  const after = (await s.post('/file_tree', id)).body.content;
  assert.deepEqual(
    after.files.map((f: { path: string }) => f.path),
    [...before.files.map((f: { path: string }) => f.path), 'lib/a.js'].sort(),
  );
  const reserved = await s.post('/upload_file_content', { ...id, filename: '.mapvault-files/x/y.js', content: 'x' });
  assert.equal(reserved.status, 422);
  assert.equal(reserved.body.errorCode, 'Archive.UnsafePath');
});

test('a merged file overwritten alone keeps serving whole versions, and the replaced blobs are collected after the grace', async () => {
  const id = { appId: 'regrace', version: '1' };
  assert.equal((await uploadZip(s, await zipEntries({ 'a.js': 'merged' }), id)).status, 200);
  const rev = (await s.mv.catalog.getSourceMap({ workspace: 'workspace-a', ...id, env: '' }))!.revisionId;
  for (const content of ['one', 'two'])
    assert.equal((await s.post('/upload_file_content', { ...id, filename: 'a.js', content })).status, 200);
  assert.equal((await s.get('/file?appId=regrace&version=1&path=a.js')).body, 'two');
  const keys = async () => {
    const out: string[] = [];
    for await (const b of s.mv.blobs.list(`trees/${rev}/`))
      out.push(b.key.slice(`trees/${rev}/`.length).replace(/\.mapvault-files\/\w+\//, '*/'));
    return out.sort();
  };
  // The merged a.js is in the tree's archive (its upload's part), which stays with the tree.
  const archive = async () => {
    const out: string[] = [];
    for await (const b of s.mv.blobs.list(`uploads/${rev.split('-')[0]}/`)) out.push(b.key);
    return out.length;
  };
  assert.deepEqual([await keys(), await archive()], [['*/a.js', '*/a.js'], 1], 'the old bytes stay for readers in flight');
  await s.mv.sweeper.sweep(Date.now() + 11 * 60_000);
  assert.deepEqual([await keys(), await archive()], [['*/a.js'], 1], 'after the grace only the live file (and the archive) is left');
  assert.equal((await s.get('/file?appId=regrace&version=1&path=a.js')).body, 'two');
});
