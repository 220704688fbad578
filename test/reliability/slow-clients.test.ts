import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, uploadZip, KEY_A, type TestServer } from '../helpers/server.ts';
import { zipEntries } from '../helpers/fixtures.ts';
import { API_PREFIX } from '../../src/server.ts';

let s: TestServer;
before(async () => (s = await startServer({ MAPVAULT_BODY_IDLE_TIMEOUT: '300ms', MAPVAULT_MAX_CONNECTIONS: '40' })));
after(() => s.close());

/** A raw connection that sends the head of a request announcing a big body, then `sent` bytes of it, and stalls. */
async function stalledUpload(
  opts: { key?: string; sent?: number; server?: TestServer } = {},
): Promise<{ socket: Socket; closed: Promise<string> }> {
  const socket = connect(Number(new URL((opts.server ?? s).url).port), '127.0.0.1');
  let received = '';
  socket.on('data', (c) => (received += c));
  socket.on('error', () => {});
  const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(received)));
  await once(socket, 'connect');
  socket.write(
    `POST ${API_PREFIX}/upload_part HTTP/1.1\r\nHost: x\r\n${opts.key ? `DF-API-KEY: ${opts.key}\r\n` : ''}` +
      'Content-Type: multipart/form-data; boundary=bb\r\nContent-Length: 10000000\r\n\r\n',
  );
  socket.write(Buffer.alloc(opts.sent ?? 100, 0x61));
  return { socket, closed };
}

async function healthz(): Promise<number> {
  return (await fetch(`${s.url}/healthz`)).status;
}

test('a body that stops arriving is cut after the idle timeout, and the server keeps answering meanwhile', {
  timeout: 60_000,
}, async () => {
  const stalled = await Promise.all([...Array(20).keys()].map(() => stalledUpload({ key: KEY_A })));
  assert.equal(await healthz(), 200, 'answers while 20 uploads are stalled');
  // Without the idle timeout these sockets stay open for ever: this await would never end.
  await Promise.all(stalled.map((c) => c.closed));
  assert.equal(await healthz(), 200);
  assert.deepEqual((await s.mv.catalog.usage('workspace-a')).uploadBytes, 0);
});

test('an unauthenticated upload is refused with 403 before its body is read, and its connection closed', { timeout: 60_000 }, async () => {
  const { closed } = await stalledUpload({ sent: 0 });
  const answer = await closed;
  assert.match(answer, /^HTTP\/1\.1 403/);
  assert.match(answer, /connection: close/i);
  assert.match(answer, /ft\.InvalidAPIKey/);
});

test('connections beyond MAPVAULT_MAX_CONNECTIONS are refused, and service resumes once stalled ones are cut', {
  timeout: 60_000,
}, async () => {
  const capped = await startServer({ MAPVAULT_BODY_IDLE_TIMEOUT: '1s', MAPVAULT_MAX_CONNECTIONS: '10' });
  try {
    const stalled: Array<{ closed: Promise<string> }> = [];
    for (let i = 0; i < 15; i++) stalled.push(await stalledUpload({ key: KEY_A, server: capped }));
    const open = await new Promise<number>((resolve, reject) =>
      capped.mv.app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
    );
    assert.ok(open <= 10, `${open} connections are open; the cap is 10`);
    await Promise.all(stalled.map((c) => c.closed));
    assert.equal((await fetch(`${capped.url}/healthz`)).status, 200);
  } finally {
    await capped.close();
  }
});

test('an answer the client stops reading is cut after the idle timeout (the file descriptor is not held for ever)', {
  timeout: 60_000,
}, async () => {
  // The file is stored by a first server with a lenient idle timeout (a loaded machine can stall an
  // upload's body for longer than 500 ms), then served by a second one on the same data dir.
  const dataDir = await mkdtemp(join(tmpdir(), 'mapvault-slowread-'));
  const id = { appId: 'slowread', version: '1' };
  const writer = await startServer({}, { dataDir });
  try {
    // Bigger than what loopback socket buffers can absorb, so the server is left with bytes to send.
    const zip = await zipEntries({ 'big.js': randomBytes(48 * 1024 * 1024) }, { compress: false });
    assert.equal((await uploadZip(writer, zip, id, { partSize: 10 * 1024 * 1024 })).status, 200);
  } finally {
    await writer.close();
  }
  const own = await startServer({ MAPVAULT_BODY_IDLE_TIMEOUT: '500ms' }, { dataDir });
  try {
    const connections = () =>
      new Promise<number>((resolve, reject) => own.mv.app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    // The uploads' idle keep-alive connections stay open meanwhile: count ours on top of them.
    const before = await connections();
    const socket = connect(Number(new URL(own.url).port), '127.0.0.1');
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write(`GET ${API_PREFIX}/file?appId=slowread&version=1&path=big.js HTTP/1.1\r\nHost: x\r\nDF-API-KEY: ${KEY_A}\r\n\r\n`);
    // Read one chunk to see the answer started, then stop reading. (A paused client never sees the
    // server's close: the FIN waits behind the unsent bytes. The server's own count shows it.)
    await once(socket, 'data');
    socket.pause();
    assert.equal(await connections(), before + 1);
    while ((await connections()) > before) await sleep(50);
    socket.destroy();
    assert.equal((await fetch(`${own.url}/healthz`)).status, 200);
  } finally {
    await own.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('a body trickled just fast enough to dodge the idle timeout is cut at MAPVAULT_REQUEST_TIMEOUT, with the envelope', {
  timeout: 60_000,
}, async () => {
  const own = await startServer({ MAPVAULT_BODY_IDLE_TIMEOUT: '2s', MAPVAULT_REQUEST_TIMEOUT: '1500ms' });
  let trickling = true;
  try {
    const { socket, closed } = await stalledUpload({ key: KEY_A, server: own });
    // One byte every 100 ms: never idle for 2 s, so only the whole-request timeout can end it.
    void (async () => {
      while (trickling && !socket.destroyed) {
        socket.write('a');
        await sleep(100);
      }
    })();
    assert.equal((await fetch(`${own.url}/healthz`)).status, 200, 'answers while the body trickles');
    // Without the request timeout the client trickles for ever: this await would never end.
    const answer = await closed;
    assert.match(answer, /^HTTP\/1\.1 408 /);
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
    assert.equal(body.success, false);
    assert.equal(body.errorCode, 'Request.Timeout');
    assert.match(String(body.message), /MAPVAULT_REQUEST_TIMEOUT/);
    assert.equal((await fetch(`${own.url}/healthz`)).status, 200);
    assert.equal((await own.mv.catalog.usage('workspace-a')).uploadBytes, 0, 'nothing of the cut request was kept');
  } finally {
    trickling = false;
    await own.close();
  }
});

test('unparsable HTTP gets a 400 envelope and the connection is closed', { timeout: 60_000 }, async () => {
  const socket = connect(Number(new URL(s.url).port), '127.0.0.1');
  let received = '';
  socket.on('data', (c) => (received += c));
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write('GET / HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n');
  await once(socket, 'close');
  assert.match(received, /^HTTP\/1\.1 400 /);
  const body = JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
  assert.equal(body.success, false);
  assert.equal(body.errorCode, 'Param.Invalid');
  assert.equal(await healthz(), 200);
});
