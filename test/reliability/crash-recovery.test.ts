import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { mkdtemp, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';
import { KEY_A } from '../helpers/server.ts';
import { zipEntries } from '../helpers/fixtures.ts';
import { SqliteCatalog } from '../../src/catalog/sqlite-catalog.ts';
import Database from 'better-sqlite3';

async function post(s: ServerProcess, path: string, body: unknown) {
  const res = await fetch(s.api + path, {
    method: 'POST',
    headers: { 'DF-API-KEY': KEY_A, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
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
    method: 'POST',
    headers: {
      'DF-API-KEY': KEY_A,
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': String(head.length + 4_000_000 + 50),
    },
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
    assert.ok(!(await scratchFiles()).includes(deadScratch), "the dead process's scratch is wiped at startup");
    for (const d of await scratchFiles()) assert.deepEqual(await list(d), [], "only the new process's empty scratch dir is left");
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
  // The killed merge's lease on its task ends this long after its last renewal.
  const lease = { MAPVAULT_MERGE_LEASE: '1s' };
  let s = await spawnServer(dataDir, lease);
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
  for (let i = 0; i * MiB < newZip.length; i++)
    assert.equal((await sendPart(s, uploadId, i, newZip.subarray(i * MiB, (i + 1) * MiB))).status, 200);

  const merging = post(s, '/part_merge', { uploadId }).catch(() => 'killed');
  // The merge queues its staging tree right before it stores anything, then checks the 3 000
  // entries: caught in the act once the entry is there.
  const stagingRevision = await waitFor('the merge to queue its staging tree', async () => {
    const db = new Database(join(dataDir, 'mapvault.db'), { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare("SELECT revision_id FROM garbage WHERE prefix LIKE 'trees/%' AND revision_id IS NOT NULL").all() as Array<{
        revision_id: string;
      }>;
      return rows.map((r) => r.revision_id).find((rev) => rev !== oldRevision);
    } finally {
      db.close();
    }
  });
  await s.kill9();
  assert.equal(await merging, 'killed', 'the merge did not get to answer');

  s = await spawnServer(dataDir, { MAPVAULT_RETIRED_GRACE: '0' });
  try {
    const tree = await post(s, '/file_tree', id);
    assert.deepEqual(
      tree.body.content.files.map((f: { path: string }) => f.path),
      ['static/js/old.js.map'],
    );
    const file = await fetch(`${s.api}/file?appId=crash&version=m&env=prod&path=static/js/old.js.map`, {
      headers: { 'DF-API-KEY': KEY_A },
    });
    assert.equal(((await file.json()) as any).sources[0], 'old.ts');
    // Startup collects only due garbage (another node could be writing that prefix): the staging
    // tree is queued, due STAGING_TIMEOUT after the merge began, and collected then.
    const catalog = new SqliteCatalog(join(dataDir, 'mapvault.db'));
    const queued = await catalog.dueGarbage(Date.now() + 7 * 3_600_000, 1000);
    await catalog.close();
    assert.ok(
      queued.some((g) => g.prefix === `trees/${stagingRevision}/`),
      'the staging tree is queued for collection',
    );
    const parts = await post(s, '/part_list', { uploadId });
    assert.equal(parts.status, 200, 'the task survived');
    assert.equal(parts.body.content.chunkIndexs.length, Math.ceil(newZip.length / MiB));

    // The killed merge's lease on the task ends within MAPVAULT_MERGE_LEASE; until then: 409 Merge.InProgress.
    const merged = await waitFor("the killed merge's lease to end", async () => {
      const r = await post(s, '/part_merge', { uploadId });
      return r.status === 409 && r.body.errorCode === 'Merge.InProgress' ? undefined : r;
    });
    assert.equal(merged.status, 200, JSON.stringify(merged.body));
    assert.equal(merged.body.content.fileCount, 3000);

    // kill -9 right after the merge answered: the new tree is there after restart.
    await s.kill9();
    s = await spawnServer(dataDir, { MAPVAULT_RETIRED_GRACE: '0' });
    const after = await post(s, '/file_tree', id);
    assert.equal(after.body.content.files.length, 3000);
    assert.equal((await post(s, '/part_list', { uploadId })).status, 404, 'the task was consumed');
    // The replaced tree goes (its prefix and its upload's parts); the new tree's parts stay.
    await waitFor('the replaced tree to be collected', async () => {
      const trees = await list(join(dataDir, 'blobs', 'trees'));
      const uploads = await list(join(dataDir, 'blobs', 'uploads'));
      return !trees.includes(oldRevision!) && !uploads.includes(first) ? true : undefined;
    });
    assert.deepEqual(await list(join(dataDir, 'blobs', 'uploads')), [uploadId]);
    assert.equal((await post(s, '/file_tree', id)).body.content.files.length, 3000);
  } finally {
    await s.kill9();
  }
});

test('kill -9 during upload_file_content overwrites: after restart the row and the bytes agree, and no blob is left unaccounted for', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mapvault-crash-file-'));
  const id = { appId: 'crash', version: 'f' };
  const contents = ['small', 'B'.repeat(400_000), 'C'.repeat(150_000)];
  const sha = (t: string) => createHash('sha256').update(t).digest('hex');
  let s = await spawnServer(dataDir);
  try {
    assert.equal((await post(s, '/upload_file_content', { ...id, filename: 'static/app.js', content: contents[0] })).status, 200);
    // Each round: overwrites in flight from several clients, a kill -9 at a varying moment, then a restart.
    for (let round = 0; round < 5; round++) {
      let stop = false;
      const writers = [0, 1, 2, 3].map(async (w) => {
        for (let i = w; !stop; i++) {
          await post(s, '/upload_file_content', { ...id, filename: 'static/app.js', content: contents[i % contents.length] }).catch(
            () => (stop = true),
          );
        }
      });
      await sleep(150 + round * 70);
      await s.kill9();
      stop = true;
      await Promise.all(writers);
      s = await spawnServer(dataDir);
      const tree = await post(s, '/file_tree', id);
      assert.equal(tree.status, 200);
      const [row] = tree.body.content.files;
      const res = await fetch(`${s.api}/file?appId=crash&version=f&path=static/app.js`, { headers: { 'DF-API-KEY': KEY_A } });
      const body = await res.text();
      assert.equal(Number(res.headers.get('content-length')), Buffer.byteLength(body));
      assert.ok(contents.includes(body), `round ${round}: a whole version of the file`);
      assert.deepEqual([row.size, row.sha256], [Buffer.byteLength(body), sha(body)], `round ${round}: the row describes the bytes`);
      // Every single-file blob but the live one (staging of killed writes, replaced ones) is queued as garbage.
      const [rev] = await list(join(dataDir, 'blobs', 'trees'));
      const catalog = new SqliteCatalog(join(dataDir, 'mapvault.db'));
      const live = (await catalog.getFile(rev!, 'static/app.js'))?.blobKey ?? '';
      const queued = new Set((await catalog.dueGarbage(Number.MAX_SAFE_INTEGER, 100_000)).map((g) => g.prefix));
      await catalog.close();
      for (const dir of await list(join(dataDir, 'blobs', 'trees', rev!, '.mapvault-files'))) {
        if (/^archive\.\d{6}$/.test(dir)) continue; // a segment of the merged archive, which goes with the tree
        const prefix = `trees/${rev}/.mapvault-files/${dir}/`;
        assert.ok(live.startsWith(prefix) || queued.has(prefix), `round ${round}: ${prefix} is neither live nor queued`);
      }
    }
  } finally {
    await s.kill9();
  }
});

test('a second server on the same data dir is refused up front and touches nothing', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mapvault-twice-'));
  const first = await spawnServer(dataDir);
  try {
    // Work in progress of the first server: a part arriving in scratch.
    await writeFile(join(dataDir, 'tmp', 'in-flight.part'), 'half a part');
    await assert.rejects(spawnServer(dataDir, { MAPVAULT_API_KEYS: 'other-key=somewhere' }), /another mapvault server is using/);
    assert.ok((await list(join(dataDir, 'tmp'))).includes('in-flight.part'), 'no startup recovery ran (it removes loose scratch files)');
    const init = await post(first, '/multipart_upload_init', { appId: 'twice' });
    assert.equal(init.status, 200, "the first server's keys were not re-synced away");
  } finally {
    await first.kill9();
  }
  // kill -9 leaves no stale lock: the next server starts.
  const next = await spawnServer(dataDir);
  await next.kill9();
});
