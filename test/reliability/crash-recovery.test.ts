import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { mkdtemp, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';
import { KEY_A } from '../helpers/server.ts';
import { zipEntries } from '../helpers/fixtures.ts';
import { SqliteCatalog } from '../../src/catalog/sqlite-catalog.ts';

async function post(s: ServerProcess, path: string, body: unknown) {
  const res = await fetch(s.api + path, { method: 'POST', headers: { 'DF-API-KEY': KEY_A, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
}

async function sendPart(s: ServerProcess, uploadId: string, index: number, data: Buffer) {
  const form = new FormData();
  form.append('uploadId', uploadId);
  form.append('chunkIndex', String(index));
  form.append('files', new Blob([new Uint8Array(data)]), `chunk_${String(index).padStart(6, '0')}`);
  const res = await fetch(`${s.api}/upload_part`, { method: 'POST', headers: { 'DF-API-KEY': KEY_A }, body: form });
  return { status: res.status, body: (await res.json()) as any };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

const list = (dir: string) => readdir(dir).catch(() => [] as string[]);

test('kill -9 while a part is being received: after restart the part is absent and re-sending it works', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mapvault-crash-part-'));
  let s = await spawnServer(dataDir);
  const uploadId = (await post(s, '/multipart_upload_init', { appId: 'crash', version: 'p' })).body.content.uploadId;

  // A part upload that sends half its bytes and then stalls, as a dying client would.
  const boundary = 'mapvaultboundary';
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="uploadId"\r\n\r\n${uploadId}\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="chunkIndex"\r\n\r\n0\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="chunk_000000"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const req = request(`${s.api}/upload_part`, {
    method: 'POST', headers: { 'DF-API-KEY': KEY_A, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(head.length + 4_000_000 + 50) },
  });
  req.on('error', () => {});
  req.write(head);
  req.write(randomBytes(2_000_000));
  // Each server process has its own scratch dir under tmp/.
  const scratchFiles = async () => (await list(join(dataDir, 'tmp'))).flatMap((d) => [join(dataDir, 'tmp', d)]);
  const deadScratch = await waitFor('the part to start landing in scratch', async () => {
    for (const d of await scratchFiles()) for (const f of await list(d)) if ((await stat(join(d, f))).size > 0) return d;
    return undefined;
  });
  await s.kill9();
  req.destroy();

  s = await spawnServer(dataDir);
  try {
    assert.ok(!(await scratchFiles()).includes(deadScratch), 'the dead process\'s scratch is wiped at startup');
    for (const d of await scratchFiles()) assert.deepEqual(await list(d), [], 'only the new process\'s empty scratch dir is left');
    const parts = await post(s, '/part_list', { uploadId });
    assert.equal(parts.status, 200);
    assert.deepEqual(parts.body.content.chunkIndexs, []);
    const zip = await zipEntries({ 'a.js.map': '{"version":3,"sources":[],"names":[],"mappings":""}' });
    assert.equal((await sendPart(s, uploadId, 0, zip)).status, 200);
    assert.deepEqual((await post(s, '/part_list', { uploadId })).body.content.chunkIndexs, [0]);
    assert.equal((await post(s, '/part_merge', { uploadId })).status, 200);
  } finally {
    await s.kill9();
  }
});

test('kill -9 in the middle of an overwriting merge: the old tree is whole, the task survives, the merge can be re-run', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mapvault-crash-merge-'));
  const id = { appId: 'crash', version: 'm', env: 'prod' };
  let s = await spawnServer(dataDir);
  const oldZip = await zipEntries({ 'static/js/old.js.map': '{"version":3,"sources":["old.ts"],"names":[],"mappings":""}' });
  const first = (await post(s, '/multipart_upload_init', id)).body.content.uploadId;
  await sendPart(s, first, 0, oldZip);
  assert.equal((await post(s, '/part_merge', { uploadId: first })).status, 200);
  const [oldRevision] = await list(join(dataDir, 'blobs', 'trees'));

  // Many files make extraction take long enough to be caught in the act.
  const entries: Record<string, Buffer> = {};
  for (let i = 0; i < 3000; i++) entries[`static/js/chunk-${i}.js`] = randomBytes(2048);
  const newZip = await zipEntries(entries, { compress: false });
  const uploadId = (await post(s, '/multipart_upload_init', { ...id, needCover: true })).body.content.uploadId;
  const MiB = 1024 * 1024;
  for (let i = 0; i * MiB < newZip.length; i++) assert.equal((await sendPart(s, uploadId, i, newZip.subarray(i * MiB, (i + 1) * MiB))).status, 200);

  const merging = post(s, '/part_merge', { uploadId }).catch(() => 'killed');
  await waitFor('the staging tree to be half written', async () => {
    for (const rev of await list(join(dataDir, 'blobs', 'trees'))) {
      if (rev === oldRevision) continue;
      const n = (await list(join(dataDir, 'blobs', 'trees', rev, 'static', 'js'))).length;
      if (n > 10 && n < 3000) return rev;
    }
    return undefined;
  });
  await s.kill9();
  assert.equal(await merging, 'killed', 'the merge did not get to answer');

  s = await spawnServer(dataDir, { MAPVAULT_RETIRED_GRACE: '0' });
  try {
    const tree = await post(s, '/file_tree', id);
    assert.deepEqual(tree.body.content.files.map((f: { path: string }) => f.path), ['static/js/old.js.map']);
    const file = await fetch(`${s.api}/file?appId=crash&version=m&env=prod&path=static/js/old.js.map`, { headers: { 'DF-API-KEY': KEY_A } });
    assert.equal(((await file.json()) as any).sources[0], 'old.ts');
    // Startup collects only due garbage (another node could be writing that prefix): the staging
    // tree is queued, due STAGING_TIMEOUT after the merge began, and collected then.
    const stagingRevision = (await list(join(dataDir, 'blobs', 'trees'))).find((r) => r !== oldRevision);
    const catalog = new SqliteCatalog(join(dataDir, 'mapvault.db'));
    const queued = await catalog.dueGarbage(Date.now() + 7 * 3_600_000, 1000);
    await catalog.close();
    assert.ok(queued.some((g) => g.prefix === `trees/${stagingRevision}/`), 'the staging tree is queued for collection');
    const parts = await post(s, '/part_list', { uploadId });
    assert.equal(parts.status, 200, 'the task survived');
    assert.equal(parts.body.content.chunkIndexs.length, Math.ceil(newZip.length / MiB));

    const merged = await post(s, '/part_merge', { uploadId });
    assert.equal(merged.status, 200, JSON.stringify(merged.body));
    assert.equal(merged.body.content.fileCount, 3000);

    // kill -9 right after the merge answered: the new tree is there after restart.
    await s.kill9();
    s = await spawnServer(dataDir, { MAPVAULT_RETIRED_GRACE: '0' });
    const after = await post(s, '/file_tree', id);
    assert.equal(after.body.content.files.length, 3000);
    assert.equal((await post(s, '/part_list', { uploadId })).status, 404, 'the task was consumed');
    const trees = await waitFor('the replaced tree to be collected', async () => {
      const t = await list(join(dataDir, 'blobs', 'trees'));
      return t.filter((r) => r !== stagingRevision).length === 1 ? t.filter((r) => r !== stagingRevision) : undefined;
    });
    assert.notEqual(trees[0], oldRevision);
  } finally {
    await s.kill9();
  }
});
