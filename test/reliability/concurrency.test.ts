import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, uploadPart, KEY_A, type TestServer } from '../helpers/server.ts';
import { zipEntries } from '../helpers/fixtures.ts';

let s: TestServer;
before(async () => (s = await startServer()));
after(() => s.close());

const MAP = (name: string) => JSON.stringify({ version: 3, file: name, sources: [`${name}.ts`], names: [], mappings: 'AAAA' });

async function openTask(identity: object, zip: Buffer) {
  const uploadId = (await s.post('/multipart_upload_init', identity)).body.content.uploadId as string;
  assert.equal((await uploadPart(s, uploadId, 0, zip)).status, 200);
  return uploadId;
}

test('two merges of the same new identity at once: exactly one wins, the other gets a clean 409', async () => {
  const id = { appId: 'race', version: '1' };
  const a = await openTask(id, await zipEntries({ 'a.js.map': MAP('a') }));
  const b = await openTask(id, await zipEntries({ 'b.js.map': MAP('b') }));
  const results = await Promise.all([s.post('/part_merge', { uploadId: a }), s.post('/part_merge', { uploadId: b })]);
  const statuses = results.map((r) => r.status).sort();
  assert.deepEqual(statuses, [200, 409]);
  const loser = results.find((r) => r.status === 409)!;
  assert.equal(loser.body.errorCode, 'SourceMap.AlreadyExists');
  const winner = results[0]!.status === 200 ? 'a' : 'b';
  const tree = await s.post('/file_tree', id);
  assert.deepEqual(
    tree.body.content.files.map((f: { path: string }) => f.path),
    [`${winner}.js.map`],
  );
});

test('the same task merged twice at once: one 200, one 404', async () => {
  const uploadId = await openTask({ appId: 'race', version: '2' }, await zipEntries({ 'a.js.map': MAP('a') }));
  const statuses = (await Promise.all([1, 2].map(() => s.post('/part_merge', { uploadId })))).map((r) => [r.status, r.body.errorCode]);
  assert.deepEqual(statuses.sort(), [
    [200, ''],
    [404, 'Upload.NotFound'],
  ]);
});

test('32 parts of one task uploaded 16 at a time, in shuffled order, merge into the exact archive', async () => {
  const entries: Record<string, Buffer> = {};
  for (let i = 0; i < 8; i++) entries[`static/js/c${i}.js`] = randomBytes(400_000);
  const zip = await zipEntries(entries, { compress: false });
  const partSize = Math.ceil(zip.length / 32);
  const uploadId = (await s.post('/multipart_upload_init', { appId: 'parallel' })).body.content.uploadId;
  const order = Array.from({ length: 32 }, (_, i) => i).sort(() => Math.random() - 0.5);
  for (let i = 0; i < order.length; i += 16) {
    const batch = order.slice(i, i + 16).map((n) => uploadPart(s, uploadId, n, zip.subarray(n * partSize, (n + 1) * partSize)));
    for (const r of await Promise.all(batch)) assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  assert.equal((await s.post('/part_list', { uploadId })).body.content.chunkIndexs.length, 32);
  const merged = await s.post('/part_merge', { uploadId });
  assert.equal(merged.status, 200, JSON.stringify(merged.body));
  assert.equal(merged.body.content.sha256, createHash('sha256').update(zip).digest('hex'));
  assert.equal(merged.body.content.fileCount, 8);
});

test('the same index re-sent concurrently: one of the bodies wins whole, and no orphan part blob remains', async () => {
  const uploadId = (await s.post('/multipart_upload_init', { appId: 'resend' })).body.content.uploadId;
  const bodies = Array.from({ length: 8 }, () => randomBytes(200_000));
  await Promise.all(bodies.map((b) => uploadPart(s, uploadId, 0, b)));
  const listed = (await s.post('/part_list', { uploadId })).body.content.parts;
  assert.equal(listed.length, 1);
  assert.ok(bodies.some((b) => createHash('sha256').update(b).digest('hex') === listed[0].sha256));
  assert.equal((await readdir(join(s.dataDir, 'blobs', 'uploads', uploadId))).length, 1);
});

test('init racing with merge: every init answer is consistent with the state it saw', async () => {
  const id = { appId: 'initrace', version: '1' };
  const uploadId = await openTask(id, await zipEntries({ 'a.js.map': MAP('a') }));
  const [merge, ...inits] = await Promise.all([
    s.post('/part_merge', { uploadId }),
    ...Array.from({ length: 8 }, () => s.post('/multipart_upload_init', id)),
  ]);
  assert.equal(merge!.status, 200);
  for (const init of inits) {
    assert.equal(init.status, 200);
    const c = init.body.content;
    assert.equal(c.uploadId === '', c.existsSameFile, 'uploadId is empty exactly when the sourcemap already existed');
  }
  const after = await s.post('/multipart_upload_init', id);
  assert.deepEqual([after.body.content.existsSameFile, after.body.content.uploadId], [true, '']);
});

// The task ends before the part has fully arrived, so the check before storing refuses it; the
// narrower window (ending while the bytes are being stored) is test/reliability/part-race.test.ts.
test('the expiry sweep running while a late part arrives: the part is refused and leaves no bytes', async () => {
  const t0 = Date.now();
  s.clock.now = t0;
  const uploadId = (await s.post('/multipart_upload_init', { appId: 'latepart' })).body.content.uploadId;
  const boundary = 'b0undary';
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="uploadId"\r\n\r\n${uploadId}\r\n--${boundary}\r\nContent-Disposition: form-data; name="chunkIndex"\r\n\r\n0\r\n--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="chunk_000000"\r\n\r\n`;
  const tail = `\r\n--${boundary}--\r\n`;
  const data = randomBytes(500_000);
  const response = new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = request(
      `${s.api}/upload_part`,
      { method: 'POST', headers: { 'DF-API-KEY': KEY_A, 'content-type': `multipart/form-data; boundary=${boundary}` } },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.write(head);
    req.write(data.subarray(0, 250_000));
    // The task expires and is swept while the part is mid-flight; then the rest arrives.
    setTimeout(async () => {
      s.clock.now = t0 + 25 * 3_600_000;
      await s.mv.sweeper.sweep(s.clock.now);
      req.end(Buffer.concat([data.subarray(250_000), Buffer.from(tail)]));
    }, 50);
  });
  const r = await response;
  s.clock.now = 0;
  assert.equal(r.status, 404);
  assert.equal(r.body.errorCode, 'Upload.NotFound');
  await sleep(20);
  assert.deepEqual(await readdir(join(s.dataDir, 'blobs', 'uploads')).then((d) => d.filter((x) => x === uploadId)), []);
});

test('an oversized part is cut off early: the server answers 413 long before the body ends', async () => {
  const uploadId = (await s.post('/multipart_upload_init', { appId: 'huge' })).body.content.uploadId;
  const boundary = 'hugeboundary';
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="uploadId"\r\n\r\n${uploadId}\r\n--${boundary}\r\nContent-Disposition: form-data; name="chunkIndex"\r\n\r\n0\r\n--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="chunk_000000"\r\n\r\n`;
  const total = 200 * 1024 * 1024;
  let sent = 0;
  const status = await new Promise<number>((resolve) => {
    const req = request(
      `${s.api}/upload_part`,
      {
        method: 'POST',
        headers: {
          'DF-API-KEY': KEY_A,
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': String(head.length + total),
        },
      },
      (res) => {
        resolve(res.statusCode!);
        res.resume();
      },
    );
    req.on('error', () => {});
    req.write(head);
    const chunk = Buffer.alloc(256 * 1024, 7);
    const pump = () => {
      while (sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
    };
    pump();
  });
  assert.equal(status, 413);
  assert.ok(sent < 100 * 1024 * 1024, `only ${sent} of ${total} bytes were sent before the answer`);
  assert.deepEqual((await s.post('/part_list', { uploadId })).body.content.chunkIndexs, []);
});
