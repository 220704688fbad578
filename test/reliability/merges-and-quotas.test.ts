import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, uploadPart, type TestServer } from '../helpers/server.ts';
import { zipEntries } from '../helpers/fixtures.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

async function openTask(s: TestServer, identity: object, zip: Buffer, partSize = MiB) {
  const uploadId = (await s.post('/multipart_upload_init', identity)).body.content.uploadId as string;
  for (let i = 0; i * partSize < zip.length; i++) {
    const r = await uploadPart(s, uploadId, i, zip.subarray(i * partSize, (i + 1) * partSize));
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  return uploadId;
}

/** A zip whose extraction takes long enough to be caught in the act: many small stored files. */
async function slowZip(files = 3000) {
  const entries: Record<string, Buffer> = {};
  for (let i = 0; i < files; i++) entries[`static/js/chunk-${i}.js`] = randomBytes(1024);
  return zipEntries(entries, { compress: false });
}

/**
 * Resolves once a merge is under way: it has queued its staging tree (right before it stores the
 * archive and checks its entries), other than the ones already queued.
 */
async function mergeWriting(s: TestServer, known: string[] = []) {
  for (;;) {
    const queued = await s.mv.catalog.dueGarbage(Number.MAX_SAFE_INTEGER, 100_000);
    const staging = queued.find((g) => g.revisionId !== undefined && g.prefix.startsWith('trees/') && !known.includes(g.revisionId));
    if (staging) return staging.revisionId!;
    await sleep(5);
  }
}

test('a part sent while its task is being merged gets 409 Merge.InProgress, and the merge uses what it listed', async () => {
  const s = await startServer();
  try {
    const uploadId = await openTask(s, { appId: 'inflight' }, await slowZip());
    const merging = s.post('/part_merge', { uploadId });
    await mergeWriting(s);
    const late = await uploadPart(s, uploadId, 99, Buffer.from('late bytes'));
    assert.equal(late.status, 409, JSON.stringify(late.body));
    assert.equal(late.body.errorCode, 'Merge.InProgress');
    const merged = await merging;
    assert.equal(merged.status, 200, JSON.stringify(merged.body));
    assert.equal(merged.body.content.fileCount, 3000);
    await s.mv.sweeper.kick();
    // What is left of the task is the parts its tree is made of, without the refused one.
    const listed = (await s.mv.catalog.getSourceMap({ workspace: 'workspace-a', appId: 'inflight', version: '', env: '' }))!;
    assert.deepEqual(await readdir(join(s.dataDir, 'blobs', 'uploads')), [uploadId]);
    assert.ok(listed.revisionId.startsWith(`${uploadId}-`));
    const kept = await readdir(join(s.dataDir, 'blobs', 'uploads', uploadId));
    assert.ok(kept.length > 0 && kept.every((k) => !k.startsWith('000099-')), `the refused part left no blob: ${kept.join(', ')}`);
  } finally {
    await s.close();
  }
});

test('a failed merge gives the task back: parts are accepted again', async () => {
  const s = await startServer();
  try {
    const uploadId = await openTask(s, { appId: 'retry' }, Buffer.from('not a zip at all'));
    assert.equal((await s.post('/part_merge', { uploadId })).status, 422);
    assert.equal((await uploadPart(s, uploadId, 0, await zipEntries({ 'a.js': 'x' }))).status, 200);
    assert.equal((await s.post('/part_merge', { uploadId })).status, 200);
  } finally {
    await s.close();
  }
});

test('8 concurrent merges under a 2 MiB stored quota store at most 2 MiB; the rest get 413 Quota.Exceeded', async () => {
  const s = await startServer({ MAPVAULT_QUOTA_STORED_BYTES: '2MiB', MAPVAULT_MAX_MERGES: '8' });
  try {
    const tasks = await Promise.all(
      [...Array(8).keys()].map(async (i) =>
        openTask(s, { appId: 'quota', version: String(i) }, await zipEntries({ 'a.js': randomBytes(900 * KiB) }, { compress: false })),
      ),
    );
    const results = await Promise.all(tasks.map((uploadId) => s.post('/part_merge', { uploadId })));
    const ok = results.filter((r) => r.status === 200).length;
    for (const r of results) if (r.status !== 200) assert.deepEqual([r.status, r.body.errorCode], [413, 'Quota.Exceeded']);
    assert.equal(ok, 2, '2 × 900 KiB fit, a third does not');
    assert.ok((await s.mv.catalog.usage('workspace-a')).storedBytes <= 2 * MiB);
  } finally {
    await s.close();
  }
});

test('concurrent parts under a 2 MiB upload quota: the pending bytes never exceed it', async () => {
  const s = await startServer({ MAPVAULT_QUOTA_UPLOAD_BYTES: '2MiB' });
  try {
    const ids = await Promise.all(
      [...Array(8).keys()].map(
        async (i) => (await s.post('/multipart_upload_init', { appId: 'upq', version: String(i) })).body.content.uploadId as string,
      ),
    );
    const results = await Promise.all(ids.map((id) => uploadPart(s, id, 0, randomBytes(600 * KiB))));
    for (const r of results) if (r.status !== 200) assert.deepEqual([r.status, r.body.errorCode], [413, 'Quota.Exceeded']);
    assert.equal(results.filter((r) => r.status === 200).length, 3, '3 × 600 KiB fit in 2 MiB, a fourth does not');
    assert.ok((await s.mv.catalog.usage('workspace-a')).uploadBytes <= 2 * MiB);
  } finally {
    await s.close();
  }
});

test('merges beyond MAPVAULT_MAX_MERGES wait in line, then get 503 Server.Busy with Retry-After', async () => {
  const s = await startServer({ MAPVAULT_MAX_MERGES: '1', MAPVAULT_MERGE_QUEUE_TIMEOUT: '100ms' });
  try {
    const first = await openTask(s, { appId: 'busy', version: '1' }, await slowZip());
    const second = await openTask(s, { appId: 'busy', version: '2' }, await zipEntries({ 'a.js': 'x' }));
    const merging = s.post('/part_merge', { uploadId: first });
    await mergeWriting(s);
    const refused = await s.post('/part_merge', { uploadId: second });
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.equal(refused.body.errorCode, 'Server.Busy');
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
    assert.equal((await merging).status, 200);
    assert.equal((await s.post('/part_merge', { uploadId: second })).status, 200, 'the refused task is intact and merges now');
  } finally {
    await s.close();
  }
});

test('a merge waiting in line within the queue timeout runs once a slot frees', async () => {
  const s = await startServer({ MAPVAULT_MAX_MERGES: '1', MAPVAULT_MERGE_QUEUE_TIMEOUT: '5m' });
  try {
    const ids = await Promise.all(
      [1, 2, 3].map(async (i) => openTask(s, { appId: 'line', version: String(i) }, await zipEntries({ 'a.js': `v${i}` }))),
    );
    const results = await Promise.all(ids.map((uploadId) => s.post('/part_merge', { uploadId })));
    assert.deepEqual(
      results.map((r) => r.status),
      [200, 200, 200],
    );
  } finally {
    await s.close();
  }
});

test('parts adding up to more than any archive within the limits are refused before being copied to scratch', async () => {
  const s = await startServer({ MAPVAULT_ARCHIVE_MAX_BYTES: '1MiB', MAPVAULT_ARCHIVE_MAX_ENTRIES: '10' });
  try {
    const uploadId = await openTask(s, { appId: 'huge' }, randomBytes(3 * MiB));
    const r = await s.post('/part_merge', { uploadId });
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.equal(r.body.errorCode, 'Archive.TooLarge');
    assert.match(r.body.message, /parts add up to 3145728 bytes/);
    assert.equal((await s.post('/part_list', { uploadId })).status, 200, 'the task stays, to be cancelled or fixed');
  } finally {
    await s.close();
  }
});
