import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, uploadZip } from '../helpers/server.ts';
import { buildApp, zipDir } from '../helpers/fixtures.ts';
import { VERSION } from '../../src/version.ts';
import { countStorageErrors, metricsText } from '../../src/metrics/metrics.ts';
import { sample } from '../helpers/metrics.ts';

test('/metrics: requests by route and status, upload bytes, merges, frames by reason, map cache', async () => {
  const s = await startServer();
  try {
    const before = await (await fetch(`${s.url}/metrics`)).text();
    const { dist } = await buildApp();
    const zip = await zipDir(dist);
    const merged = await uploadZip(s, zip, { appId: 'm', version: '1', env: 'prod' });
    assert.equal(merged.status, 200);
    const frames = [
      { url: 'https://cdn.example.com/static/js/app.js', line: 1, column: 10 },
      { url: 'https://cdn.example.com/nope.js', line: 1, column: 1 },
    ];
    const parsed = await s.post('/parse_stack', { appId: 'm', version: '1', env: 'prod', frames });
    assert.equal(parsed.status, 200);
    await s.post('/parse_stack', { appId: 'm', version: '1', env: 'prod', frames });
    await s.post('/part_merge', { uploadId: 'nosuchupload' });

    const res = await fetch(`${s.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const after = await res.text();
    const delta = (name: string, labels: Record<string, string> = {}) => sample(after, name, labels) - sample(before, name, labels);

    assert.equal(
      delta('mapvault_http_request_duration_seconds_count', { method: 'POST', route: '/api/v1/rum_sourcemap/part_merge', status: '200' }),
      1,
    );
    assert.equal(
      delta('mapvault_http_request_duration_seconds_count', { method: 'POST', route: '/api/v1/rum_sourcemap/part_merge', status: '404' }),
      1,
    );
    assert.ok(delta('mapvault_http_request_duration_seconds_bucket', { route: '/api/v1/rum_sourcemap/parse_stack', le: '+Inf' }) === 2);
    assert.equal(delta('mapvault_upload_bytes_total'), zip.length);
    assert.equal(delta('mapvault_merge_duration_seconds_count', { result: 'ok' }), 1);
    assert.equal(delta('mapvault_merge_duration_seconds_count', { result: 'Upload.NotFound' }), 1);
    const resolved = parsed.body.content.frames.filter((f: { resolved: boolean }) => f.resolved).length;
    assert.equal(delta('mapvault_parse_stack_frames_total', { resolved: 'true' }), resolved * 2);
    assert.equal(delta('mapvault_parse_stack_frames_total', { resolved: 'false', reason: 'NoSourceMap' }), 2);
    assert.ok(sample(after, 'mapvault_map_cache_bytes') > 0, 'the parsed map is in the cache');
    assert.ok(delta('mapvault_map_cache_hits_total') >= 1);
    assert.ok(delta('mapvault_map_cache_misses_total') >= 1);
    assert.ok(sample(after, 'mapvault_process_resident_memory_bytes') > 0);
  } finally {
    await s.close();
  }
});

test('storage failures are counted by store and operation, and still reach the caller', async () => {
  const failing = countStorageErrors(
    {
      async stat(): Promise<null> {
        throw new Error('disk on fire');
      },
      async get(): Promise<null> {
        return null;
      },
    },
    'blobs',
  );
  const before = sample((await metricsText()).body, 'mapvault_storage_errors_total', { store: 'blobs', operation: 'stat' });
  await assert.rejects(failing.stat(), /disk on fire/);
  assert.equal(await failing.get(), null);
  const after = (await metricsText()).body;
  assert.equal(sample(after, 'mapvault_storage_errors_total', { store: 'blobs', operation: 'stat' }) - before, 1);
  assert.equal(sample(after, 'mapvault_storage_errors_total', { store: 'blobs', operation: 'get' }), 0);
});

test('/healthz reports the version and each store; 503 when the catalog does not answer; /livez stays 200', async () => {
  const s = await startServer();
  try {
    const ok = await s.get(`${s.url}/healthz`, null);
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body.content, { status: 'ok', version: VERSION, checks: { catalog: 'ok', blobStore: 'ok' } });
    await s.mv.catalog.close();
    const down = await s.get(`${s.url}/healthz`, null);
    assert.equal(down.status, 503);
    assert.equal(down.body.errorCode, 'Server.Unavailable');
    assert.equal(down.body.content.status, 'unavailable');
    assert.notEqual(down.body.content.checks.catalog, 'ok');
    assert.equal(down.body.content.checks.blobStore, 'ok');
    const live = await s.get(`${s.url}/livez`, null);
    assert.equal(live.status, 200);
    assert.equal(live.body.content.status, 'ok');
  } finally {
    await s.mv.app.close();
  }
});
