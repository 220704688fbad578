import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startServer, KEY_A, type TestServer } from '../helpers/server.ts';
import { buildApp, zipDir } from '../helpers/fixtures.ts';

const run = promisify(execFile);
let s: TestServer;
before(async () => (s = await startServer()));
after(() => s.close());

/**
 * What the public Guance upload scripts do, byte for byte: a JSON init, `split` into 1 MB chunk
 * files named chunk_000000…, each sent by curl -F with fields uploadId, chunkIndex, then files,
 * then part_merge, and cancel probing its three paths in order.
 */
const SCRIPT = `
set -eu
cd "$WORK"
init=$(curl -sS -X POST "$DF_OPENAPI_ENDPOINT/api/v1/rum_sourcemap/multipart_upload_init" \\
  -H 'Content-Type: application/json' -H "DF-API-KEY: $DF_API_KEY" \\
  --data-raw "{\\"needCover\\": true, \\"appId\\": \\"$DF_APP_ID\\", \\"version\\": \\"$DF_VERSION\\", \\"env\\": \\"$DF_ENV\\"}")
upload_id=$(printf '%s' "$init" | sed -n 's/.*"uploadId":"\\([A-Za-z0-9]*\\)".*/\\1/p')
[ -n "$upload_id" ] || { echo "init failed: $init" >&2; exit 1; }
split -b 1000000 -d -a 6 "$ZIP" chunk_
i=0
for chunk in chunk_*; do
  curl -sS -f -X POST "$DF_OPENAPI_ENDPOINT/api/v1/rum_sourcemap/upload_part" -H "DF-API-KEY: $DF_API_KEY" \\
    -F "uploadId=$upload_id" -F "chunkIndex=$i" -F "files=@$chunk" > /dev/null
  i=$((i + 1))
done
curl -sS -f -X POST "$DF_OPENAPI_ENDPOINT/api/v1/rum_sourcemap/part_merge" -H 'Content-Type: application/json' \\
  -H "DF-API-KEY: $DF_API_KEY" --data-raw "{\\"uploadId\\": \\"$upload_id\\"}"
`;

test('the public shell upload script (curl -F, 1 MB chunk_NNNNNN parts) works unchanged', async () => {
  const work = await mkdtemp(join(tmpdir(), 'mapvault-compat-'));
  const { dist } = await buildApp();
  const zip = await zipDir(dist, { 'static/media/blob.bin': randomBytes(2_300_000) });
  const zipPath = join(work, 'shop-prod-1.2.3.zip');
  await writeFile(zipPath, zip);
  const { stdout } = await run('sh', ['-c', SCRIPT], {
    env: {
      ...process.env,
      WORK: work,
      ZIP: zipPath,
      DF_OPENAPI_ENDPOINT: s.url,
      DF_API_KEY: KEY_A,
      DF_APP_ID: 'shop',
      DF_VERSION: '1.2.3',
      DF_ENV: 'prod',
    },
  });
  assert.deepEqual((await readdir(work)).filter((f) => f.startsWith('chunk_')).sort(), ['chunk_000000', 'chunk_000001', 'chunk_000002']);
  const merged = JSON.parse(stdout);
  assert.equal(merged.success, true);
  assert.equal(merged.content.sha256, createHash('sha256').update(zip).digest('hex'));
  const tree = await s.post('/file_tree', { appId: 'shop', version: '1.2.3', env: 'prod' });
  assert.ok(tree.body.content.files.some((f: { path: string }) => f.path === 'static/js/app.js.map'));
});

test('cancel probing: the first of the three paths answers 2xx with success true', async () => {
  const init = await s.post('/multipart_upload_init', { appId: 'probe' });
  const { stdout } = await run('curl', [
    '-sS',
    '-X',
    'POST',
    `${s.api}/upload_cancel`,
    '-H',
    'Content-Type: application/json',
    '-H',
    `DF-API-KEY: ${KEY_A}`,
    '--data-raw',
    JSON.stringify({ uploadId: init.body.content.uploadId }),
    '-w',
    '\n%{http_code}',
  ]);
  const [body, status] = stdout.split('\n');
  assert.equal(status, '200');
  assert.equal(JSON.parse(body!).success, true);
});

test('unknown paths answer a 404 envelope, so probing clients move on', async () => {
  for (const path of ['/no_such_thing', '/part_merge/extra']) {
    const r = await s.post(path, { uploadId: 'x' });
    assert.equal(r.status, 404);
    assert.equal(r.body.success, false);
    assert.equal(r.body.errorCode, 'Route.NotFound');
    assert.match(r.body.traceId, /^TRACE-/);
  }
  const wrongMethod = await s.get('/part_merge');
  assert.equal(wrongMethod.status, 404);
});

test('fields after the file are accepted (field order does not matter)', async () => {
  const init = await s.post('/multipart_upload_init', { appId: 'order' });
  const uploadId = init.body.content.uploadId;
  const form = new FormData();
  form.append('files', new Blob([new Uint8Array(Buffer.from('hello part'))]), 'chunk_000000');
  form.append('chunkIndex', '0');
  form.append('uploadId', uploadId);
  const res = await fetch(`${s.api}/upload_part`, { method: 'POST', headers: { 'DF-API-KEY': KEY_A }, body: form });
  const body = (await res.json()) as any;
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.content.chunkIndex, '0');
  assert.equal(body.content.size, 10);
});
