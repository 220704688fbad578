import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startServer, uploadPart, KEY_A, type TestServer } from '../helpers/server.ts';

let s: TestServer;
let uploadId: string;
before(async () => {
  s = await startServer();
  uploadId = (await s.post('/multipart_upload_init', { appId: 'val' })).body.content.uploadId;
});
after(() => s.close());

function assertError(r: { status: number; body: any }, status: number, errorCode: string, message?: RegExp) {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body.code, status);
  assert.equal(r.body.success, false);
  assert.equal(r.body.errorCode, errorCode);
  assert.match(r.body.traceId, /^TRACE-/);
  if (message) assert.match(r.body.message, message);
}

test('JSON bodies are validated by schema and the message names the field', async () => {
  assertError(await s.post('/multipart_upload_init', {}), 400, 'Param.Invalid', /appId/);
  assertError(await s.post('/multipart_upload_init', { appId: 'a', needCover: 'yes' }), 400, 'Param.Invalid', /needCover/);
  assertError(await s.post('/multipart_upload_init', { appId: 'a/b' }), 400, 'Param.Invalid', /appId/);
  assertError(await s.post('/multipart_upload_init', { appId: 'x'.repeat(129) }), 400, 'Param.Invalid', /appId/);
  assertError(await s.post('/multipart_upload_init', { appId: 'a', version: '..' }), 400, 'Param.Invalid', /version/);
  assertError(await s.post('/multipart_upload_init', { appId: 'a', version: '1/2' }), 400, 'Param.Invalid', /version/);
  assertError(await s.post('/multipart_upload_init', { appId: 'a', env: 'a\\b' }), 400, 'Param.Invalid', /env/);
  assertError(await s.post('/multipart_upload_init', { appId: 'a', env: 'nul\u0000' }), 400, 'Param.Invalid', /env/);
  assertError(await s.post('/multipart_upload_init', { appId: 7 }), 400, 'Param.Invalid', /appId/);
  assertError(await s.post('/part_merge', { uploadId: 'not-alnum!' }), 400, 'Param.Invalid', /uploadId/);
  assertError(await s.post('/part_merge', { uploadId, chunkIndexs: [0, -1] }), 400, 'Param.Invalid', /chunkIndexs/);
  assertError(await s.post('/upload_file_content', { appId: 'a', filename: 'x.js' }), 400, 'Param.Invalid', /content/);
  assertError(await s.get('/list'), 400, 'Param.Invalid', /appId/);
  // Empty version and env are legal and part of the identity.
  const ok = await s.post('/multipart_upload_init', { appId: 'a.b_c-d', version: '', env: '' });
  assert.equal(ok.status, 200);
});

test('bodies that are not JSON, or of the wrong type, or too large', async () => {
  const raw = async (body: string, contentType: string) => {
    const res = await fetch(`${s.api}/multipart_upload_init`, {
      method: 'POST',
      headers: { 'DF-API-KEY': KEY_A, 'content-type': contentType },
      body,
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  assertError(await raw('{"appId": ', 'application/json'), 400, 'Param.Invalid');
  assertError(await raw('', 'application/json'), 400, 'Param.Invalid');
  assertError(await raw('appId=x', 'text/plain'), 415, 'Request.UnsupportedMediaType');
  assertError(await raw(JSON.stringify({ appId: 'a', pad: 'x'.repeat(17 * 1024 * 1024) }), 'application/json'), 413, 'Request.TooLarge');
  const notMultipart = await fetch(`${s.api}/upload_part`, {
    method: 'POST',
    headers: { 'DF-API-KEY': KEY_A, 'content-type': 'application/json' },
    body: '{}',
  });
  assertError({ status: notMultipart.status, body: await notMultipart.json() }, 415, 'Request.UnsupportedMediaType');
});

test('keys: missing or unknown key is 403 ft.InvalidAPIKey', async () => {
  assertError(await s.post('/multipart_upload_init', { appId: 'a' }, null), 403, 'ft.InvalidAPIKey', /missing/);
  assertError(await s.post('/multipart_upload_init', { appId: 'a' }, 'nope'), 403, 'ft.InvalidAPIKey');
  assertError(await s.get('/list?appId=a', 'nope'), 403, 'ft.InvalidAPIKey');
  const health = await s.get(`${s.url}/healthz`, null);
  assert.equal(health.status, 200);
});

test('part fields: chunkIndex must be a decimal integer in 0..9999', async () => {
  const data = Buffer.from('part');
  for (const bad of ['-1', '1.5', 'abc', '', '0x10', '1e3']) {
    assertError(await uploadPart(s, uploadId, bad, data), 400, 'Param.Invalid', /chunkIndex/);
  }
  assertError(await uploadPart(s, uploadId, 10_000, data), 400, 'Part.TooMany');
  assertError(await uploadPart(s, uploadId, '99999999999999999999', data), 400, 'Param.Invalid', /chunkIndex/);
  assertError(await uploadPart(s, 'bad id', 0, data), 400, 'Param.Invalid', /uploadId/);
  assertError(await uploadPart(s, 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 0, data), 404, 'Upload.NotFound');
  assertError(await uploadPart(s, uploadId, 0, Buffer.alloc(0)), 400, 'Part.Empty');
  const list = await s.post('/part_list', { uploadId });
  assert.deepEqual(list.body.content.chunkIndexs, []);
});

test('part checksums: verified when sent; a mismatch discards the part', async () => {
  const data = Buffer.from('checked part');
  const md5 = createHash('md5').update(data).digest('hex');
  const sha = createHash('sha256').update(data).digest('hex');
  assert.equal((await uploadPart(s, uploadId, 3, data, { md5 })).status, 200);
  assert.equal((await uploadPart(s, uploadId, 4, data, { sha256: sha.toUpperCase() })).status, 200);
  assertError(await uploadPart(s, uploadId, 5, data, { md5: '0'.repeat(32) }), 400, 'Part.ChecksumMismatch', /md5/);
  assertError(await uploadPart(s, uploadId, 5, data, { sha256: '0'.repeat(64) }), 400, 'Part.ChecksumMismatch', /sha256/);
  assertError(await uploadPart(s, uploadId, 5, data, { md5: 'xyz' }), 400, 'Param.Invalid', /md5/);
  const list = await s.post('/part_list', { uploadId });
  assert.deepEqual(list.body.content.chunkIndexs, [3, 4]);
});

test('a part over 10 MiB is refused with 413 and leaves nothing', async () => {
  const big = Buffer.alloc(10 * 1024 * 1024 + 1, 1);
  const r = await uploadPart(s, uploadId, 7, big).catch((err: Error) => ({ status: -1, body: { err: err.message } }));
  assertError(r, 413, 'Part.TooLarge');
  const exact = await uploadPart(s, uploadId, 8, Buffer.alloc(10 * 1024 * 1024, 2));
  assert.equal(exact.status, 200);
  const list = await s.post('/part_list', { uploadId });
  assert.ok(!list.body.content.chunkIndexs.includes(7));
  assert.ok(list.body.content.chunkIndexs.includes(8));
});

test('malformed multipart bodies answer 400 Param.Invalid with a clear message, never 500', async () => {
  const send = async (contentType: string, body: Buffer | string) => {
    const res = await fetch(`${s.api}/upload_part`, {
      method: 'POST',
      headers: { 'DF-API-KEY': KEY_A, 'content-type': contentType },
      body: typeof body === 'string' ? body : new Uint8Array(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const field = (b: string, name: string, value: string) => `--${b}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  const fileHead = (b: string) =>
    `--${b}\r\nContent-Disposition: form-data; name="files"; filename="chunk_000000"\r\nContent-Type: application/octet-stream\r\n\r\n`;
  const whole = `${field('bb', 'uploadId', uploadId)}${field('bb', 'chunkIndex', '0')}${fileHead('bb')}data\r\n--bb--\r\n`;
  const cases: Array<[string, string, Buffer | string, RegExp]> = [
    ['no boundary', 'multipart/form-data', whole, /multipart|boundary/i],
    ['empty boundary', 'multipart/form-data; boundary=', whole, /multipart|boundary/i],
    [
      'body cut before the closing boundary',
      'multipart/form-data; boundary=bb',
      `${field('bb', 'uploadId', uploadId)}${field('bb', 'chunkIndex', '0')}${fileHead('bb')}da`,
      /multipart|end|closing/i,
    ],
    [
      'garbage',
      'multipart/form-data; boundary=bb',
      Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0d, 0x0a, 0x2d, 0x2d, 0x62]),
      /multipart|end|closing/i,
    ],
    ['a part without headers', 'multipart/form-data; boundary=bb', '--bb\r\n\r\nvalue\r\n--bb--\r\n', /multipart|uploadId|files/i],
    [
      'a malformed part header',
      'multipart/form-data; boundary=bb',
      `--bb\r\nContent-Disposition form-data name=x\r\n\r\nv\r\n--bb--\r\n`,
      /multipart|uploadId|files/i,
    ],
  ];
  for (const [what, type, body, message] of cases) {
    const r = await send(type, body);
    assert.equal(r.status, 400, `${what}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.errorCode, 'Param.Invalid', what);
    assert.match(r.body.message, message, what);
  }
  assert.deepEqual((await s.post('/part_list', { uploadId })).body.content.chunkIndexs.filter((i: number) => i === 0).length <= 1, true);
  const scratch = await import('node:fs/promises').then((f) => f.readdir(`${s.dataDir}/tmp`, { recursive: true, withFileTypes: true }));
  assert.deepEqual(
    scratch.filter((e) => e.isFile()).map((e) => e.name),
    [],
    'nothing left in scratch',
  );
});
