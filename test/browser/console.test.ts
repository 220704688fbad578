import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import type { BrowserContext, Page } from 'playwright-core';
import { service } from '../helpers/services.ts';
import { spawnServer } from '../helpers/process.ts';
import { KEY_A } from '../helpers/server.ts';
import { buildApp, zipDir } from '../helpers/fixtures.ts';
import { buildConsole } from '../helpers/console.ts';
import { assertAccessible, launchChromium, tabTo, watchConsole } from './browser.ts';

const chromiumPath = service('MAPVAULT_TEST_CHROMIUM', 'scripts/services/chromium.sh');
const SHOTS = new URL('../../docs/console/', import.meta.url).pathname;
const URL_JS = 'https://cdn.example.com/static/js/app.js';

/** A real server process with its own data dir, its log kept (to check the key is never in it). */
async function startProcess(env: Record<string, string> = {}) {
  const dataDir = await mkdtemp(join(tmpdir(), 'mapvault-console-data-'));
  const server = await spawnServer(dataDir, { MAPVAULT_CONSOLE_DIR: consoleDir, MAPVAULT_RETIRED_GRACE: '0', ...env });
  let log = '';
  server.proc.stdout!.on('data', (c: Buffer) => (log += c));
  server.proc.stderr!.on('data', (c: Buffer) => (log += c));
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(server.api + path, {
      method,
      headers: { 'DF-API-KEY': KEY_A, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    try {
      return { status: res.status, body: JSON.parse(text) };
    } catch {
      return { status: res.status, body: text };
    }
  };
  return {
    server,
    dataDir,
    api,
    log: () => log,
    async stop() {
      await server.kill9();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

let consoleDir: string;
before(() => {
  if (!chromiumPath.skip) consoleDir = buildConsole();
});
after(async () => {
  if (consoleDir) await rm(consoleDir, { recursive: true, force: true });
});

describe('web console in Chromium', { skip: chromiumPath.skip }, () => {
  let srv: Awaited<ReturnType<typeof startProcess>>;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let context: BrowserContext;
  let dist: string;
  let zip: Buffer;
  let zipPath: string;
  let realStack: string;
  const problems: string[] = [];

  before(async () => {
    srv = await startProcess();
    browser = await launchChromium(chromiumPath.value);
    context = browser.context;
    ({ dist } = await buildApp());
    // 2.5 MiB that does not compress, so the zip travels as 3 parts of 1 MiB.
    zip = await zipDir(dist, { 'static/media/noise.bin': randomBytes(2.5 * 1024 * 1024) });
    zipPath = join(dist, '..', 'shop-prod-1.0.0.zip');
    await import('node:fs/promises').then((fs) => fs.writeFile(zipPath, zip));
    // Run the real bundle and catch a real error, as a browser would report it.
    const sandbox: Record<string, unknown> = {};
    sandbox.globalThis = sandbox;
    runInNewContext(await readFile(join(dist, 'static/js/app.js'), 'utf8'), sandbox, { filename: URL_JS });
    try {
      (sandbox.__app as { main(items: number[]): number }).main([1, -2]);
    } catch (e) {
      // The app's frames (the test runner's own frames below them are not the app's).
      realStack = (e as Error)
        .stack!.split('\n')
        .filter((l) => !l.startsWith('    at ') || l.includes(URL_JS))
        .join('\n');
    }
    assert.ok(realStack.includes(URL_JS));
  });
  after(async () => {
    await browser?.close();
    await srv?.stop();
  });

  const open = async (hash = '') => {
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    problems.push(...watchConsole(page).splice(0)); // the array is live: keep a reference instead
    const live = watchConsole(page);
    page.on('close', () => problems.push(...live));
    await page.goto(`${srv.server.url}/console/${hash}`);
    return page;
  };
  const signIn = async (page: Page, key = KEY_A) => {
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
  };

  test("sign in: a wrong key gets the server's message; the right one shows the workspace; sign-out forgets the key", async () => {
    const page = await open();
    await assertAccessible(page, 'sign-in');
    await page.screenshot({ path: `${SHOTS}sign-in.png` });
    await signIn(page, 'not-a-key');
    await page.getByRole('alert').filter({ hasText: 'the DF-API-KEY is not valid' }).waitFor();
    assert.match(await page.getByRole('alert').innerText(), /ft\.InvalidAPIKey/);
    await signIn(page);
    assert.equal(await page.getByTestId('workspace').innerText(), 'workspace-a');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('mapvault.key')), KEY_A);
    // The key is in no URL, no markup, no log line.
    assert.equal(page.url().includes(KEY_A), false);
    assert.equal((await page.content()).includes(KEY_A), false);
    await page.reload();
    assert.equal(await page.getByTestId('workspace').innerText(), 'workspace-a', 'the tab keeps its session across a reload');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('mapvault.key')), null);
    assert.equal(srv.log().includes(KEY_A), false, 'the server log never shows the key');
    await page.close();
  });

  test('upload a real zip through the page: 3 parts, progress reaches 100 %, the merge summary matches the API', async () => {
    const page = await open('#/upload');
    await signIn(page);
    await page.getByRole('heading', { name: 'Upload sourcemaps' }).waitFor();
    await page.getByLabel('App ID', { exact: true }).fill('shop');
    await page.getByLabel('Version', { exact: true }).fill('1.0.0');
    await page.getByLabel('Env', { exact: true }).fill('prod');
    await page.getByLabel('Part size (MiB)').fill('1');
    await page.getByLabel('A .zip file').setInputFiles(zipPath);
    const parts: string[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/upload_part')) parts.push(r.url());
    });
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    const summary = page.getByRole('region', { name: /Uploaded shop 1\.0\.0 \(prod\)/ });
    await summary.waitFor();
    assert.equal(parts.length, 3);
    assert.equal(await page.locator('#upload-progress').evaluate((p: HTMLProgressElement) => p.value), 100);
    assert.match(await page.getByTestId('progress-text').innerText(), /^100 %/);
    const listed = (await srv.api('GET', '/list?appId=shop')).body.content[0];
    const text = await summary.innerText();
    assert.match(text, new RegExp(`Files\\s+${listed.fileCount}\\b`));
    assert.match(text, new RegExp(`Maps\\s+${listed.mapCount}\\b`));
    assert.ok(text.includes(listed.sha256), 'the archive hash shown is the stored one');
    assert.match(text, /No warnings/);
    await assertAccessible(page, 'upload summary');
    await page.screenshot({ path: `${SHOTS}upload.png`, fullPage: true });
    await page.close();
  });

  test('upload a folder: the page zips its maps (and .js when asked) in a worker, at their paths inside it', async () => {
    const page = await open('#/upload?app=shop&version=1.1.0&env=prod');
    await signIn(page);
    await page.getByLabel(/also include/).check();
    await page.getByLabel('A folder', { exact: true }).setInputFiles(dist);
    await page.getByText(/Chosen: dist/).waitFor();
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    await page.getByRole('region', { name: /Uploaded shop 1\.1\.0 \(prod\)/ }).waitFor();
    const tree = await srv.api('POST', '/file_tree', { appId: 'shop', version: '1.1.0', env: 'prod' });
    assert.deepEqual(
      tree.body.content.files.map((f: { path: string }) => f.path),
      ['static/js/app.js', 'static/js/app.js.map'],
    );
    const map = await srv.api('GET', '/file?appId=shop&version=1.1.0&env=prod&path=static/js/app.js.map');
    assert.deepEqual(map.body, JSON.parse(await readFile(join(dist, 'static/js/app.js.map'), 'utf8')), 'the map arrives byte-identical');
    await page.close();
  });

  test("browse: apps, versions (filtered), the file tree, a map's facts, a source with line numbers, a download", async () => {
    const page = await open();
    await signIn(page);
    const apps = (await srv.api('GET', '/apps')).body.content;
    const row = page.getByRole('row', { name: /shop/ });
    assert.match(await row.innerText(), new RegExp(`shop\\s+${apps[0].sourcemapCount}`));
    await assertAccessible(page, 'apps');
    await page.screenshot({ path: `${SHOTS}apps.png` });
    await page.getByRole('link', { name: 'shop' }).click();
    await page.getByRole('heading', { name: 'App shop' }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('table.versions tbody tr').length === 2);
    await page.getByLabel('Filter by version or env').fill('1.1');
    await page.waitForFunction(() => document.querySelectorAll('table.versions tbody tr').length === 1);
    assert.match(page.url(), /#\/app\?app=shop&q=1\.1$/, 'the filter is part of the shareable URL');
    await page.getByLabel('Filter by version or env').fill('');
    await page.waitForFunction(() => document.querySelectorAll('table.versions tbody tr').length === 2);
    await assertAccessible(page, 'versions');
    await page.screenshot({ path: `${SHOTS}versions.png` });

    await page.getByRole('link', { name: '1.1.0', exact: true }).click();
    await page.getByRole('heading', { name: 'Sourcemap shop 1.1.0 (prod)' }).waitFor();
    await page.getByText('static/').first().waitFor();
    assert.equal(await page.locator('li.file').count(), 2);
    assert.match(await page.locator('li.file', { hasText: 'app.js.map' }).innerText(), /sourcemap/);
    assert.match(
      await page
        .locator('li.file', { hasText: /app\.js\b(?!\.map)/ })
        .first()
        .innerText(),
      /script/,
    );
    // Folders collapse.
    await page.locator('summary', { hasText: 'js/' }).click();
    assert.equal(await page.locator('li.file').first().isVisible(), false);
    await page.locator('summary', { hasText: 'js/' }).click();
    await assertAccessible(page, 'sourcemap');
    await page.screenshot({ path: `${SHOTS}sourcemap.png` });

    const downloading = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Download static/js/app.js.map' }).click();
    const download = await downloading;
    assert.equal(download.suggestedFilename(), 'app.js.map');
    assert.deepEqual(await readFile((await download.path())!), await readFile(join(dist, 'static/js/app.js.map')));

    await page.getByRole('link', { name: 'app.js.map' }).click();
    const mapJson = JSON.parse(await readFile(join(dist, 'static/js/app.js.map'), 'utf8'));
    await page.getByRole('heading', { name: 'Sources' }).waitFor();
    assert.match(await page.locator('dl.facts').innerText(), /Debug ID\s+none/);
    assert.match(await page.locator('dl.facts').innerText(), /Sources content\s+yes, for every source/);
    assert.equal(await page.locator('ol.sources li').count(), mapJson.sources.length);
    const subtotal = mapJson.sources.findIndex((s: string) => s.endsWith('subtotal.ts'));
    await page.getByRole('link', { name: mapJson.sources[subtotal] }).click();
    const code = page.getByRole('region', { name: /subtotal\.ts, \d+ lines/ });
    await code.waitFor();
    assert.equal(await code.locator('pre.text').innerText(), mapJson.sourcesContent[subtotal].replace(/\n$/, '\n'));
    const lines = mapJson.sourcesContent[subtotal].split('\n').length;
    assert.equal((await code.locator('pre.gutter').innerText()).split('\n').length, lines);
    assert.match(page.url(), /#\/file\?app=shop&version=1\.1\.0&env=prod&path=static%2Fjs%2Fapp\.js\.map&source=\d+$/);
    await assertAccessible(page, 'source');
    await page.screenshot({ path: `${SHOTS}source.png` });
    await page.close();
  });

  test("resolve a real stack from a shared URL: the positions shown are the API's; toggles and reasons", async () => {
    const missing = '    at lost (https://cdn.example.com/static/js/missing.js:1:5)';
    const stack = `${realStack}\n${missing}`;
    const api = (await srv.api('POST', '/parse_stack', { appId: 'shop', version: '1.0.0', env: 'prod', stack })).body.content;
    const page = await open(`#/resolve?${new URLSearchParams({ app: 'shop', version: '1.0.0', env: 'prod', stack })}`);
    await signIn(page);
    await page.getByRole('heading', { name: 'Resolved stack' }).waitFor();
    assert.equal(
      await page.getByLabel('Stack (Chrome, Firefox, Safari or Guance SDK format)').inputValue(),
      stack,
      'the link carries the inputs',
    );
    const shown = await page.locator('li.frame .where').allInnerTexts();
    const expected = api.frames.map((f: any) =>
      f.resolved ? `${f.source}:${f.originalLine}:${f.originalColumn}` : `${f.url}:${f.line}:${f.column}`,
    );
    assert.deepEqual(shown, expected);
    assert.ok(api.frames.filter((f: any) => f.resolved).length >= 3);
    const top = page.locator('li.frame').first();
    assert.match(await top.locator('mark').innerText(), /throw new RangeError/);
    assert.match(await top.locator('mark').innerText(), new RegExp(`^${api.frames[0].originalLine}`));
    const lost = page.locator('li.frame.unresolved').last();
    assert.match(await lost.innerText(), /No usable sourcemap was found/);
    assert.ok((await lost.innerText()).includes('static/js/missing.js.map'), 'the detail names the path looked for');
    await assertAccessible(page, 'resolution');
    await page.screenshot({ path: `${SHOTS}resolve.png`, fullPage: true });

    await page.getByLabel('Minified positions').check();
    assert.deepEqual(
      await page.locator('li.frame .where').allInnerTexts(),
      api.frames.map((f: any) => `${f.url}:${f.line}:${f.column}`),
    );
    await page.getByLabel('Minified positions').uncheck();
    await page.getByLabel('Oldest call first').check();
    assert.deepEqual(await page.locator('li.frame .where').allInnerTexts(), expected.slice().reverse());
    await page.getByLabel('Oldest call first').uncheck();
    // node:vm frames (node:internal…) are not node_modules: all frames count as in-app here.
    await page.getByLabel('In-app frames only').check();
    assert.equal(await page.locator('li.frame').count(), api.frames.length);
    await page.close();
  });

  test('delete needs a confirmation that names the sourcemap', async () => {
    const page = await open('#/app?app=shop');
    await signIn(page);
    await page.getByRole('button', { name: 'Delete shop 1.1.0 (prod)' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete the sourcemap shop 1.1.0 (prod)?' });
    await dialog.waitFor();
    await assertAccessible(page, 'delete dialog');
    await dialog.getByRole('button', { name: 'Keep it' }).click();
    assert.equal((await srv.api('POST', '/file_tree', { appId: 'shop', version: '1.1.0', env: 'prod' })).status, 200, 'kept');
    await page.getByRole('button', { name: 'Delete shop 1.1.0 (prod)' }).click();
    await dialog.getByRole('button', { name: 'Delete shop 1.1.0 (prod)' }).click();
    await page.waitForFunction(() => document.querySelectorAll('table.versions tbody tr').length === 1);
    assert.equal((await srv.api('POST', '/file_tree', { appId: 'shop', version: '1.1.0', env: 'prod' })).status, 404);
    await page.close();
  });

  test('keyboard only: sign in, open an app and a version, open and dismiss the delete dialog, resolve a stack', async () => {
    const page = await open();
    // The key field takes focus once the page has started; typing before that would lose keystrokes.
    await page.waitForFunction(() => document.activeElement instanceof HTMLInputElement);
    await page.keyboard.type(KEY_A);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Apps' }).waitFor();
    await tabTo(page, 'shop');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'App shop' }).waitFor();
    await tabTo(page, /^1\.0\.0$/);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Sourcemap shop 1.0.0 (prod)' }).waitFor();
    await tabTo(page, 'Delete');
    await page.keyboard.press('Enter');
    await page.getByRole('dialog').waitFor();
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'hidden' });
    await tabTo(page, 'Resolve a stack with this sourcemap');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Resolve a stack' }).waitFor();
    await tabTo(page, 'Stack (');
    await page.keyboard.insertText(realStack);
    await tabTo(page, /^Resolve$/);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Resolved stack' }).waitFor();
    assert.ok((await page.locator('li.frame').count()) >= 3);
    await page.close();
  });

  test('an interrupted upload resumes after a reload: only the missing part is sent again', async () => {
    const page = await open('#/upload?app=shop&version=2.0.0&env=prod');
    await signIn(page);
    await page.getByLabel('Part size (MiB)').fill('1');
    await page.getByLabel('A .zip file').setInputFiles(zipPath);
    // Part 1 never gets through: every attempt is cut off, so the upload gives up after its retries.
    const isPart1 = (body: string | null) => body !== null && /name="chunkIndex"\r\n\r\n1\r\n/.test(body);
    let cut = 0;
    await page.route('**/upload_part', (route) => {
      if (!isPart1(route.request().postData())) return route.continue();
      cut++;
      return route.abort('connectionreset');
    });
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: /Part 2 of 3/ })
      .waitFor({ timeout: 30_000 });
    assert.equal(cut, 5, 'the part was tried 5 times');
    await page.unrouteAll();

    await page.reload();
    await page.getByText(/was interrupted/).waitFor();
    const sent: string[] = [];
    await page.route('**/upload_part', (route) => {
      sent.push(route.request().postData() ?? '');
      return route.continue();
    });
    await page.getByLabel('A .zip file').setInputFiles(zipPath);
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    const summary = page.getByRole('region', { name: /Uploaded shop 2\.0\.0 \(prod\)/ });
    await summary.waitFor();
    assert.equal(sent.length, 1, 'one part sent again');
    assert.ok(isPart1(sent[0]!), `it is part 1: ${JSON.stringify(sent[0]!.slice(0, 300))}`);
    assert.match(await summary.innerText(), /Resumed\s+2 parts were already on the server/);
    assert.equal(await page.evaluate(() => localStorage.getItem('mapvault.upload')), null, 'the resume record is gone after the merge');
    await page.close();
  });

  test('no console errors and no CSP violations on any page', () => {
    assert.deepEqual(
      problems.filter((p) => !/Failed to load resource: net::ERR_CONNECTION_RESET|status of 403/.test(p)),
      [],
    );
  });
});

describe('web console: limits checked before sending, an unreachable server', { skip: chromiumPath.skip }, () => {
  let srv: Awaited<ReturnType<typeof startProcess>>;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  before(async () => {
    srv = await startProcess({ MAPVAULT_ARCHIVE_MAX_BYTES: '2KiB', MAPVAULT_MAX_STACK_BYTES: '1KiB' });
    browser = await launchChromium(chromiumPath.value);
  });
  after(async () => {
    await browser?.close();
    await srv?.stop();
  });

  test("a zip or a stack over the server's limits is refused with a clear message before any byte is sent", async () => {
    const page = await browser.context.newPage();
    page.setDefaultTimeout(15_000);
    await page.goto(`${srv.server.url}/console/#/upload?app=shop&version=1`);
    await page.getByLabel('API key').fill(KEY_A);
    await page.keyboard.press('Enter');
    const sent: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'POST') sent.push(r.url());
    });
    await page.getByLabel('A .zip file').setInputFiles({ name: 'big.zip', mimeType: 'application/zip', buffer: randomBytes(4096) });
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    assert.match(
      await page.getByRole('alert').innerText(),
      /The zip is 4\.0 KiB, more than the server unpacks from one archive \(2\.0 KiB, MAPVAULT_ARCHIVE_MAX_BYTES\)\. Nothing was sent\./,
    );
    await page.goto(`${srv.server.url}/console/#/resolve?app=shop`);
    await page.getByLabel(/^Stack/).fill('x'.repeat(2000));
    await page.getByRole('button', { name: 'Resolve' }).click();
    assert.match(await page.getByRole('alert').innerText(), /The stack is 2,000 bytes; the server accepts at most 1,024/);
    assert.deepEqual(sent, []);
    await page.close();
  });

  test('long version lists are paged; the server going away is reported as unreachable', async () => {
    // 120 versions through the API (upload_file_content creates each).
    for (let i = 0; i < 120; i += 12) {
      await Promise.all(
        Array.from({ length: 12 }, (_, j) =>
          srv.api('POST', '/upload_file_content', {
            appId: 'big',
            version: `v${String(i + j).padStart(3, '0')}`,
            env: 'prod',
            filename: 'a.js.map',
            content: '{"version":3,"sources":[],"mappings":""}',
          }),
        ),
      );
    }
    const page = await browser.context.newPage();
    page.setDefaultTimeout(15_000);
    await page.goto(`${srv.server.url}/console/#/app?app=big`);
    await page.getByLabel('API key').fill(KEY_A);
    await page.keyboard.press('Enter');
    await page.getByText('Page 1 of 3 (120 sourcemaps)').waitFor();
    assert.equal(await page.locator('table.versions tbody tr').count(), 50);
    await page.getByRole('button', { name: 'Last' }).click();
    await page.getByText('Page 3 of 3').waitFor();
    assert.equal(await page.locator('table.versions tbody tr').count(), 20);
    assert.match(page.url(), /page=2/);

    await srv.server.kill9();
    await page.getByRole('link', { name: 'Upload', exact: true }).click();
    await page.getByRole('link', { name: 'Apps', exact: true }).click();
    assert.match(
      await page.getByRole('alert').innerText(),
      /Cannot reach the mapvault server at http:\/\/127\.0\.0\.1:\d+\. Is it running\?/,
    );
    await page.close();
  });
});
