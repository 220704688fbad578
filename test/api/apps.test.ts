import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, uploadZip, KEY_A, KEY_B } from '../helpers/server.ts';
import { zipEntries } from '../helpers/fixtures.ts';

const MAP = JSON.stringify({ version: 3, sources: ['a.ts'], names: [], mappings: 'AAAA' });

test("GET /apps: the workspace's apps with counts, stored bytes and newest upload; other workspaces stay apart", async () => {
  const s = await startServer();
  try {
    const empty = await s.get('/apps');
    assert.equal(empty.status, 200);
    assert.deepEqual(empty.body.content, []);
    s.clock.now = 1_800_000_000_000;
    const zip = await zipEntries({ 'static/js/a.js.map': MAP });
    for (const [appId, version] of [
      ['shop', '1'],
      ['shop', '2'],
      ['admin', '1'],
    ] as const) {
      assert.equal((await uploadZip(s, zip, { appId, version, env: 'prod' })).status, 200);
      s.clock.now += 5000;
    }
    await uploadZip(s, zip, { appId: 'other', version: '1' }, { key: KEY_B });
    await s.post('/multipart_upload_init', { appId: 'pending', version: '1' });

    const r = await s.get('/apps');
    assert.equal(r.status, 200);
    assert.equal(r.body.success, true);
    const size = Buffer.byteLength(MAP);
    assert.deepEqual(r.body.content, [
      { appId: 'admin', sourcemapCount: 1, size, latestCreateAt: 1_800_000_010 },
      { appId: 'shop', sourcemapCount: 2, size: 2 * size, latestCreateAt: 1_800_000_005 },
    ]);
    assert.deepEqual(
      (await s.get('/apps', KEY_B)).body.content.map((a: { appId: string }) => a.appId),
      ['other'],
    );

    await s.post('/delete', { appId: 'admin', version: '1', env: 'prod' });
    assert.deepEqual(
      (await s.get('/apps')).body.content.map((a: { appId: string }) => a.appId),
      ['shop'],
    );
  } finally {
    await s.close();
  }
});

test("GET /whoami: the key's workspace, its usage and the limits a client checks before sending", async () => {
  const s = await startServer({ MAPVAULT_QUOTA_STORED_BYTES: '1MiB', MAPVAULT_MAX_STACK_BYTES: '64KiB' });
  try {
    assert.equal((await uploadZip(s, await zipEntries({ 'a.js.map': MAP }), { appId: 'shop' })).status, 200);
    const r = await s.get('/whoami');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.content, {
      workspace: 'workspace-a',
      declaration: { organization: 'workspace-a' },
      usage: { storedBytes: Buffer.byteLength(MAP), uploadBytes: 0 },
      limits: {
        maxPartBytes: 10 * 1024 * 1024,
        maxParts: 10_000,
        archiveMaxBytes: 2 * 1024 ** 3,
        archiveMaxEntries: 100_000,
        maxStackBytes: 64 * 1024,
        maxFrames: 1000,
        quotaUploadBytes: 0,
        quotaStoredBytes: 1024 * 1024,
      },
    });
    assert.equal((await s.get('/whoami', KEY_B)).body.content.workspace, 'workspace-b');
    const wrong = await s.get('/whoami', 'not-a-key');
    assert.equal(wrong.status, 403);
    assert.equal(wrong.body.errorCode, 'ft.InvalidAPIKey');
    assert.equal(JSON.stringify(wrong.body).includes(KEY_A), false);
  } finally {
    await s.close();
  }
});
