import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { startServer } from '../helpers/server.ts';
import { buildConsole } from '../helpers/console.ts';

test('the console is served without a key, with a strict CSP, only its built files, precompressed when accepted', async () => {
  const s = await startServer({ MAPVAULT_CONSOLE_DIR: buildConsole() });
  try {
    const root = await fetch(s.url + '/', { redirect: 'manual' });
    assert.equal(root.status, 302);
    assert.equal(root.headers.get('location'), '/console/');

    const page = await fetch(s.url + '/console/');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /^text\/html/);
    const csp = page.headers.get('content-security-policy')!;
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*|https?:/);
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    const html = await page.text();
    assert.match(html, /<script type="module" src="app.js"><\/script>/);
    assert.doesNotMatch(html, /<script>|<script type="module">|style=|https?:\/\//, 'no inline script or style, nothing external');

    const js = await fetch(s.url + '/console/app.js', { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type')!, /javascript/);
    assert.equal(js.headers.get('content-encoding'), 'gzip');
    // fetch decodes gzip itself; node:http shows the bytes as sent.
    const raw = await new Promise<Buffer>((resolve, reject) => {
      import('node:http').then(({ get }) =>
        get(s.url + '/console/app.js', { headers: { 'accept-encoding': 'gzip' } }, (res) => {
          const chunks: Buffer[] = [];
          res
            .on('data', (c: Buffer) => chunks.push(c))
            .on('end', () => resolve(Buffer.concat(chunks)))
            .on('error', reject);
        }).on('error', reject),
      );
    });
    assert.ok(raw.length < 150 * 1024, `first-load JS is ${raw.length} bytes gzip; the budget is 150 KB`);
    assert.ok(gunzipSync(raw).length > raw.length);

    for (const path of ['/console/app.js.gz', '/console/../package.json', '/console/nope.js', '/console/index.html']) {
      const r = await fetch(s.url + path);
      assert.equal(r.status, 404, path);
      assert.equal(((await r.json()) as { errorCode: string }).errorCode, 'Route.NotFound');
    }
    const worker = await fetch(s.url + '/console/zip-worker.js');
    assert.equal(worker.status, 200);
    assert.match(worker.headers.get('content-security-policy')!, /worker-src 'self'/);
  } finally {
    await s.close();
  }
});

test('without a build, the page says how to build it and the API still answers', async () => {
  const s = await startServer({ MAPVAULT_CONSOLE_DIR: '/nonexistent/mapvault-console' });
  try {
    const page = await fetch(s.url + '/console/');
    assert.equal(page.status, 503);
    assert.match(await page.text(), /npm install/);
    assert.equal((await fetch(s.url + '/console/app.js')).status, 404);
    assert.equal((await s.get('/apps')).status, 200);
  } finally {
    await s.close();
  }
});
