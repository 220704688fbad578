import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';
import { KEY_A } from '../helpers/server.ts';
import { zipEntries } from '../helpers/fixtures.ts';
import { service } from '../helpers/services.ts';
import { startPrivateSwift } from './swift-instance.ts';

const BIN = new URL('../../bin/mapvault', import.meta.url).pathname;
const s3 = service('MAPVAULT_TEST_S3_URL', 'scripts/services/swift.sh');

/** Runs `mapvault serve` expecting it to refuse to start; returns its exit code and stderr. */
async function serveFails(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const proc = spawn(process.execPath, [BIN, 'serve'], {
    env: { ...process.env, PORT: '0', MAPVAULT_DATA_DIR: await mkdtemp(join(tmpdir(), 'mapvault-test-')), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (c) => (stderr += c));
  proc.stdout.resume();
  const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
  return { code, stderr };
}

/** The one line mapvault printed (Node's own warnings, e.g. the AWS SDK's about Node 20, are not ours). */
function ourLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('mapvault'));
}

test('a malformed MAPVAULT_BLOB_URL stops the start with one line naming it, exit 1', async () => {
  for (const [url, cause] of [
    ['http://bucket/x', /scheme must be s3/],
    ['s3://Bad_Bucket', /not a valid bucket name/],
    ['s3://bucket?endpoint=ftp://x', /must be http/],
    ['s3://bucket?endpont=http://127.0.0.1:1', /unknown parameter "endpont"/],
  ] as const) {
    const r = await serveFails({ MAPVAULT_BLOB_URL: url });
    assert.equal(r.code, 1, r.stderr);
    const lines = ourLines(r.stderr);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^mapvault: MAPVAULT_BLOB_URL: /);
    assert.match(lines[0]!, cause);
    assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  }
});

test('an unreachable S3 endpoint stops the start with one line naming the variable and the cause, exit 1', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as { port: number }).port;
  await new Promise((resolve) => closed.close(resolve));
  const r = await serveFails({
    MAPVAULT_BLOB_URL: `s3://bucket?endpoint=http://127.0.0.1:${port}`,
    AWS_ACCESS_KEY_ID: 'x',
    AWS_SECRET_ACCESS_KEY: 'y',
  });
  assert.equal(r.code, 1, r.stderr);
  const lines = ourLines(r.stderr);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(
    lines[0]!,
    new RegExp(`^mapvault: MAPVAULT_BLOB_URL: cannot use bucket "bucket" at http://127.0.0.1:${port}: unreachable \\(.*ECONNREFUSED`),
  );
  assert.doesNotMatch(r.stderr, /^\s+at /m);
});

describe('with a real S3 server (Swift)', { skip: s3.skip }, () => {
  test('a bucket that does not exist, or wrong credentials, stop the start with one line', async () => {
    const endpoint = new URL(s3.value).searchParams.get('endpoint');
    const missing = await serveFails({ MAPVAULT_BLOB_URL: `s3://no-such-bucket-here?endpoint=${endpoint}` });
    assert.equal(missing.code, 1, missing.stderr);
    assert.deepEqual(ourLines(missing.stderr), [
      `mapvault: MAPVAULT_BLOB_URL: cannot use bucket "no-such-bucket-here" at ${endpoint}: the bucket does not exist`,
    ]);
    const denied = await serveFails({ MAPVAULT_BLOB_URL: s3.value, AWS_SECRET_ACCESS_KEY: 'wrong' });
    assert.equal(denied.code, 1, denied.stderr);
    assert.match(ourLines(denied.stderr).join('\n'), /^mapvault: MAPVAULT_BLOB_URL: cannot use bucket "[^"]+" at .*: access denied/);
  });

  describe('S3 stopped and restarted under a running server', () => {
    let swift: Awaited<ReturnType<typeof startPrivateSwift>>;
    let server: ServerProcess;
    before(async () => {
      swift = await startPrivateSwift();
      server = await spawnServer(await mkdtemp(join(tmpdir(), 'mapvault-test-')), { MAPVAULT_BLOB_URL: swift.url });
    });
    after(async () => {
      await server?.kill9();
      await swift?.remove();
    });

    const call = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
      const res = await fetch(server.api + path, {
        method,
        headers: { 'DF-API-KEY': KEY_A, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      return {
        status: res.status,
        retryAfter: res.headers.get('retry-after'),
        text,
        json: (() => {
          try {
            return JSON.parse(text);
          } catch {
            return null;
          }
        })(),
      };
    };
    const sendPart = async (uploadId: string, index: number, data: Buffer) => {
      const form = new FormData();
      form.append('uploadId', uploadId);
      form.append('chunkIndex', String(index));
      form.append('files', new Blob([new Uint8Array(data)]), `chunk_${index}`);
      const res = await fetch(`${server.api}/upload_part`, { method: 'POST', headers: { 'DF-API-KEY': KEY_A }, body: form });
      return { status: res.status, retryAfter: res.headers.get('retry-after'), json: (await res.json()) as any };
    };
    const upload = async (id: object, zip: Buffer) => {
      const init = await call('POST', '/multipart_upload_init', id);
      const uploadId = init.json.content.uploadId as string;
      return { uploadId, part: await sendPart(uploadId, 0, zip) };
    };
    const MAP =
      '{"version":3,"sources":["src/a.ts"],"sourcesContent":["export const a = 1;\\nthrow new Error(1);\\n"],"names":[],"mappings":"AAAA;AACA"}';
    const stack = 'Error: 1\n    at https://cdn.example.com/a.js:2:1';

    test('503 Storage.Unavailable with Retry-After while it is down; nothing lost; everything works once it is back', async () => {
      const id = { appId: 'outage', version: '1', env: 'prod' };
      const zip = await zipEntries({
        'a.js.map': MAP,
        'a.js': 'x;\nthrow new Error(1)',
        'b.js': 'x;\nthrow new Error(1)\n//# sourceMappingURL=a.js.map',
      });
      const first = await upload(id, zip);
      assert.equal(first.part.status, 200);
      assert.equal((await call('POST', '/part_merge', { uploadId: first.uploadId })).status, 200);
      const before = await call('GET', `/file?appId=outage&version=1&env=prod&path=a.js.map`);
      assert.equal(before.text, MAP);
      // A file written alone (its own object, never kept on the node), before the outage.
      assert.equal(
        (
          await call('POST', '/upload_file_content', {
            ...id,
            filename: 'alone.js',
            content: 'x;\nthrow new Error(1)\n//# sourceMappingURL=a.js.map',
          })
        ).status,
        200,
      );
      // A second task, with its part stored before the outage and merged during it.
      const second = await upload({ ...id, needCover: true }, await zipEntries({ 'a.js.map': MAP.replace('a.ts', 'b.ts') }));
      assert.equal(second.part.status, 200);

      await swift.stop();
      const unavailable = (r: { status: number; retryAfter: string | null; json: any }, what: string) => {
        assert.equal(r.status, 503, `${what}: ${JSON.stringify(r.json)}`);
        assert.equal(r.json.errorCode, 'Storage.Unavailable', what);
        assert.equal(r.json.success, false);
        assert.ok(Number(r.retryAfter) > 0, `${what}: Retry-After`);
      };
      unavailable(await call('GET', `/file?appId=outage&version=1&env=prod&path=alone.js`), 'file');
      // The archive's files are ranges of the parts this node received, which it keeps: still served.
      assert.equal((await call('GET', `/file?appId=outage&version=1&env=prod&path=a.js.map`)).text, MAP);
      // The map's lookup index, written through this node's local copy at merge, still resolves.
      const local = await call('POST', '/parse_stack', { ...id, stack });
      assert.equal(local.status, 200, `parse_stack from the node's copy of the index: ${local.text}`);
      assert.equal(local.json.content.frames[0].source, 'src/a.ts');
      // A frame that needs a file only the store holds (alone.js names a map) is not answered.
      const viaScript = await call('POST', '/parse_stack', { ...id, stack: 'Error: 1\n    at https://cdn.example.com/alone.js:2:1' });
      unavailable(viaScript, 'parse_stack needing a stored file');
      unavailable(await call('POST', '/part_merge', { uploadId: second.uploadId }), 'part_merge');
      const third = await call('POST', '/multipart_upload_init', { ...id, needCover: true });
      unavailable(await sendPart(third.json.content.uploadId, 0, zip), 'upload_part');
      unavailable(await call('POST', '/upload_file_content', { ...id, filename: 'c.js', content: 'c' }), 'upload_file_content');
      // What lives in the catalog alone still answers; readiness says the blob store is away, liveness does not.
      assert.equal((await call('POST', '/file_tree', id)).status, 200);
      const health = await fetch(`${server.url}/healthz`);
      assert.equal(health.status, 503);
      const checks = ((await health.json()) as { content: { checks: { catalog: string; blobStore: string } } }).content.checks;
      assert.equal(checks.catalog, 'ok');
      assert.notEqual(checks.blobStore, 'ok');
      assert.equal((await fetch(`${server.url}/livez`)).status, 200);

      await swift.start();
      const viaAlone = await call('POST', '/parse_stack', { ...id, stack: 'Error: 1\n    at https://cdn.example.com/alone.js:2:1' });
      assert.equal(viaAlone.json.content.frames[0].source, 'src/a.ts', 'answered once the store is back');
      // The old tree is whole, the task that failed to merge merges now, and new writes work.
      assert.equal((await call('GET', `/file?appId=outage&version=1&env=prod&path=a.js.map`)).text, MAP);
      const resolved = await call('POST', '/parse_stack', { ...id, stack });
      assert.equal(resolved.status, 200, resolved.text);
      assert.equal(resolved.json.content.frames[0].source, 'src/a.ts');
      assert.equal((await call('POST', '/part_merge', { uploadId: second.uploadId })).status, 200);
      assert.match((await call('GET', `/file?appId=outage&version=1&env=prod&path=a.js.map`)).text, /b\.ts/);
      assert.equal((await sendPart(third.json.content.uploadId, 0, zip)).status, 200);
      assert.equal((await call('POST', '/part_merge', { uploadId: third.json.content.uploadId })).status, 200);
      assert.equal((await call('GET', `/file?appId=outage&version=1&env=prod&path=a.js.map`)).text, MAP);
      assert.equal((await call('POST', '/upload_file_content', { ...id, filename: 'c.js', content: 'c' })).status, 200);
    });
  });
});
