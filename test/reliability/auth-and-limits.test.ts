import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, uploadPart, uploadZip, KEY_A, KEY_B } from '../helpers/server.ts';
import { zipEntries } from '../helpers/fixtures.ts';

test('every route except health, the operator routes (metrics, API document) and the console page refuses missing, wrong and empty keys with 403 ft.InvalidAPIKey', async () => {
  const s = await startServer();
  try {
    const api = s.mv.routes.filter((r) => !r.public);
    assert.ok(api.length >= 16, `routes: ${api.map((r) => r.url)}`);
    // The web console's page and assets hold no data: every call the page makes carries the key.
    assert.deepEqual(
      s.mv.routes
        .filter((r) => r.public)
        .map((r) => r.url)
        .sort(),
      ['/', '/console', '/console/', '/console/:file', '/healthz', '/livez', '/metrics', '/openapi.json'],
    );
    for (const route of api) {
      for (const key of [undefined, 'wrong-key', '']) {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (key !== undefined) headers['DF-API-KEY'] = key;
        const res = await fetch(s.url + route.url, { method: route.method, headers, body: route.method === 'POST' ? '{}' : undefined });
        const body = (await res.json()) as any;
        assert.equal(res.status, 403, `${route.method} ${route.url} with key ${JSON.stringify(key)}`);
        assert.equal(body.errorCode, 'ft.InvalidAPIKey');
      }
    }
  } finally {
    await s.close();
  }
});

test('per-key rate limit: the N+1th request in a minute gets 429 with Retry-After; other keys are unaffected', async () => {
  const s = await startServer({ MAPVAULT_RATE_LIMIT: '3' });
  try {
    s.clock.now = 1_800_000_000_000;
    for (let i = 0; i < 3; i++) assert.equal((await s.get('/list?appId=a')).status, 200);
    const limited = await s.get('/list?appId=a');
    assert.equal(limited.status, 429);
    assert.equal(limited.body.errorCode, 'Request.RateLimited');
    assert.equal(limited.headers.get('retry-after'), '60');
    assert.equal((await s.get('/list?appId=a', KEY_B)).status, 200);
    s.clock.now += 60_000;
    assert.equal((await s.get('/list?appId=a')).status, 200, 'a new minute, a new budget');
  } finally {
    await s.close();
  }
});

test('workspace quotas: pending part bytes and stored bytes beyond the quota get 413 Quota.Exceeded', async () => {
  const s = await startServer({ MAPVAULT_QUOTA_UPLOAD_BYTES: '5000', MAPVAULT_QUOTA_STORED_BYTES: '3000' });
  try {
    const uploadId = (await s.post('/multipart_upload_init', { appId: 'q' })).body.content.uploadId;
    assert.equal((await uploadPart(s, uploadId, 0, Buffer.alloc(3000, 1))).status, 200);
    const over = await uploadPart(s, uploadId, 1, Buffer.alloc(3000, 1));
    assert.equal(over.status, 413);
    assert.equal(over.body.errorCode, 'Quota.Exceeded');
    const otherWorkspace = (await s.post('/multipart_upload_init', { appId: 'q' }, KEY_B)).body.content.uploadId;
    assert.equal((await uploadPart(s, otherWorkspace, 0, Buffer.alloc(3000, 1), {}, KEY_B)).status, 200, 'quotas are per workspace');
    await s.post('/upload_cancel', { uploadId });

    const map = (n: number) => JSON.stringify({ version: 3, sources: [], names: [], mappings: '', pad: 'x'.repeat(n) });
    assert.equal(
      (await uploadZip(s, await zipEntries({ 'a.map': map(1500) }, { compress: false }), { appId: 'q', version: '1' })).status,
      200,
    );
    const second = await uploadZip(s, await zipEntries({ 'b.map': map(1800) }, { compress: false }), { appId: 'q', version: '2' });
    assert.equal(second.status, 413);
    assert.equal(second.body.errorCode, 'Quota.Exceeded');
    // Replacing a sourcemap counts only the difference.
    const replace = await uploadZip(s, await zipEntries({ 'a.map': map(2500) }, { compress: false }), {
      appId: 'q',
      version: '1',
      needCover: true,
    });
    assert.equal(replace.status, 200, JSON.stringify(replace.body));
    const file = await s.post('/upload_file_content', { appId: 'q', version: '3', filename: 'c.map', content: map(1000) });
    assert.equal(file.status, 413);
    assert.equal((await s.get('/list?appId=q', KEY_B)).body.content.length, 0);
    assert.equal((await s.get('/list?appId=q', KEY_A)).body.content.length, 1);
  } finally {
    await s.close();
  }
});
