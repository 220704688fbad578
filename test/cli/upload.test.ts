import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, writeFile } from 'node:fs/promises';
import vm from 'node:vm';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, KEY_A, type TestServer } from '../helpers/server.ts';
import { buildApp, zipDir } from '../helpers/fixtures.ts';
import { closedPort, runCli } from './helpers.ts';

let s: TestServer;
let app: { root: string; dist: string };
let stateDir: string;
before(async () => {
  [s, app, stateDir] = await Promise.all([startServer(), buildApp(), mkdtemp(join(tmpdir(), 'mapvault-state-'))]);
});
after(() => s.close());

const api = (appId: string, key = KEY_A) => ['--endpoint', s.url, '--api-key', key, '--app-id', appId];
// Most uploads here leave version or env empty on purpose (the identity rules are what they test).
const conn = (appId: string, key = KEY_A) => [...api(appId, key), '--state-dir', stateDir, '--allow-empty-version'];
const paths = async (id: { appId: string; version?: string; env?: string }) =>
  (await s.post('/file_tree', id)).body.content.files.map((f: { path: string }) => f.path);
/** The error the built app throws (run in a vm), its frames at the script's URL. */
async function appStack(): Promise<string> {
  const file = join(app.dist, 'static/js/app.js');
  const sandbox: { __app?: { main(items: number[]): number } } = {};
  vm.runInNewContext(await readFile(file, 'utf8'), sandbox, { filename: file });
  try {
    sandbox.__app!.main([1, -2]);
  } catch (err) {
    return (err as Error).stack!.split(file).join('https://cdn.example.com/static/js/app.js');
  }
  throw new Error('the app did not throw');
}
const oneLine = (stderr: string) => {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one stderr line, got:\n${stderr}`);
  return lines[0]!;
};

test('uploads an esbuild build directory: paths match the script URLs, each map with its script, summary printed', async () => {
  const r = await runCli(['upload', app.dist, ...conn('shop'), '--version', '1.0.0', '--env', 'prod']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /added 1 generated script of the maps \(--no-scripts leaves them out\)/);
  assert.match(r.stdout, /packed 2 files \(1 sourcemap,/);
  assert.match(r.stdout, /merged: appId "shop" version "1\.0\.0" env "prod"/);
  assert.match(r.stdout, /files: +2\n/);
  assert.match(r.stdout, /maps: +1\n/);
  assert.match(r.stdout, /size: +\d+(\.\d)? (B|KiB) zip, sha256 [0-9a-f]{64}/);
  assert.match(r.stdout, /warnings: +0\n/);
  assert.deepEqual(await paths({ appId: 'shop', version: '1.0.0', env: 'prod' }), ['static/js/app.js', 'static/js/app.js.map']);
  // The script was merged with its map: the server names the enclosing functions.
  const stack = await s.post('/parse_stack', { appId: 'shop', version: '1.0.0', env: 'prod', stack: await appStack() });
  const frames = stack.body.content.frames.filter((f: { resolved: boolean }) => f.resolved);
  assert.ok(frames.length >= 2, JSON.stringify(stack.body));
  for (const f of frames) assert.equal(f.originalFunctionSource, 'script', JSON.stringify(f));
});

test('--no-scripts (or MAPVAULT_SCRIPTS=0) uploads the maps alone, and the printed merge summary says names are lost', async () => {
  const r = await runCli(['upload', app.dist, ...conn('mapsonly'), '--version', '1', '--no-scripts']);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /generated script of the maps/);
  assert.match(r.stdout, /packed 1 file \(1 sourcemap,/);
  assert.match(
    r.stdout,
    /warnings: +1\n +- static\/js\/app\.js\.map: its generated script static\/js\/app\.js is not in the upload, so original function names \(originalFunction\) cannot be recovered/,
  );
  assert.deepEqual(await paths({ appId: 'mapsonly', version: '1' }), ['static/js/app.js.map']);
  const env = await runCli(['upload', app.dist, ...conn('mapsonly'), '--version', '2'], { env: { MAPVAULT_SCRIPTS: '0' } });
  assert.equal(env.code, 0, env.stderr);
  assert.deepEqual(await paths({ appId: 'mapsonly', version: '2' }), ['static/js/app.js.map']);
});

test('configured from DF_* variables; --include adds scripts; --strip-prefix maps dist/ to the URL root', async () => {
  const r = await runCli(
    ['upload', app.root, '--include', '**/*.map', '--include', 'static/**/*.js', '--strip-prefix', 'dist', '--state-dir', stateDir],
    {
      env: {
        DF_OPENAPI_ENDPOINT: s.url,
        DF_API_KEY: KEY_A,
        DF_APP_ID: 'envapp',
        DF_VERSION: '2',
        DF_ENV: 'staging',
        MAPVAULT_CONCURRENCY: '2',
      },
    },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /packed 2 files \(1 sourcemap,/);
  assert.deepEqual(await paths({ appId: 'envapp', version: '2', env: 'staging' }), ['static/js/app.js', 'static/js/app.js.map']);
  // A flag beats the environment.
  const flag = await runCli(['upload', app.dist, '--app-id', 'flagapp', '--state-dir', stateDir, '--allow-empty-version'], {
    env: { MAPVAULT_ENDPOINT: s.url, DF_API_KEY: KEY_A, DF_APP_ID: 'envapp', DF_VERSION: '3' },
  });
  assert.equal(flag.code, 0, flag.stderr);
  assert.match(flag.stdout, /merged: appId "flagapp" version "3" env ""/);
});

test('an existing version fails without --need-cover, then --need-cover replaces it', async () => {
  const id = { appId: 'cover', version: '1' };
  assert.equal((await runCli(['upload', app.dist, ...conn('cover'), '--version', '1'])).code, 0);
  const again = await runCli(['upload', app.dist, ...conn('cover'), '--version', '1']);
  assert.equal(again.code, 1);
  assert.match(
    oneLine(again.stderr),
    /^mapvault: a sourcemap for appId "cover" version "1" env "" already exists \(SourceMap\.AlreadyExists\); pass --need-cover/,
  );

  const other = await buildApp({ variant: 'v2' });
  const cover = await runCli([
    'upload',
    other.root,
    ...conn('cover'),
    '--version',
    '1',
    '--need-cover',
    '--strip-prefix',
    'dist/',
    '--include',
    '**/*.{js,map}',
  ]);
  assert.equal(cover.code, 0, cover.stderr);
  assert.deepEqual(await paths(id), ['static/js/app.js', 'static/js/app.js.map']);
});

test("a bad key: one line with the server's errorCode and message, non-zero exit", async () => {
  const r = await runCli(['upload', app.dist, ...conn('shop', 'not-a-key'), '--version', '9']);
  assert.notEqual(r.code, 0);
  const line = oneLine(r.stderr);
  assert.match(line, /multipart_upload_init: HTTP 403 ft\.InvalidAPIKey: \S.* \(TRACE-[0-9A-F-]+\)/);
});

test('a missing directory, an unreachable endpoint, missing options: one line each', async () => {
  const missing = await runCli(['upload', join(app.root, 'nope'), ...conn('shop')]);
  assert.equal(missing.code, 1);
  assert.match(oneLine(missing.stderr), /nope: no such directory or file$/);

  const port = await closedPort();
  const down = await runCli([
    'upload',
    app.dist,
    '--endpoint',
    `http://127.0.0.1:${port}`,
    '--api-key',
    KEY_A,
    '--app-id',
    'x',
    '--retries',
    '0',
    '--state-dir',
    stateDir,
    '--allow-empty-version',
  ]);
  assert.equal(down.code, 1);
  assert.match(oneLine(down.stderr), new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port} \\(.*ECONNREFUSED.*\\) — check --endpoint`));

  const noKey = await runCli(['list', '--endpoint', s.url, '--app-id', 'x']);
  assert.equal(noKey.code, 1);
  assert.match(oneLine(noKey.stderr), /missing --api-key \(or set MAPVAULT_API_KEY or DF_API_KEY\)/);

  const empty = await mkdtemp(join(tmpdir(), 'mapvault-empty-'));
  const none = await runCli(['upload', empty, ...conn('shop')]);
  assert.equal(none.code, 1);
  assert.match(oneLine(none.stderr), /no files in .* match --include \*\*\/\*\.map/);
});

test('warns before uploading about broken maps and scripts whose map is left out; the merge reports them too', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mapvault-warn-'));
  await mkdir(join(dir, 'js'));
  await writeFile(join(dir, 'js/ok.js'), 'var a=1;\n//# sourceMappingURL=ok.js.map');
  await writeFile(join(dir, 'js/ok.js.map'), '{"version":3,"sources":["a.ts"],"names":[],"mappings":"AAAA"}');
  await writeFile(join(dir, 'js/broken.js.map'), '{"version":3,');
  await writeFile(join(dir, 'js/lost.js'), 'var b=2;\n//# sourceMappingURL=maps/lost.js.map\n');
  const r = await runCli(['upload', dir, ...conn('warn')]);
  assert.equal(r.code, 0, r.stderr);
  const warnings = r.stderr.trim().split('\n');
  assert.equal(warnings.length, 2, r.stderr);
  assert.match(warnings[0]!, /^mapvault: warning: js\/broken\.js\.map: not valid JSON/);
  assert.match(
    warnings[1]!,
    /^mapvault: warning: js\/lost\.js: its sourceMappingURL maps\/lost\.js\.map \(js\/maps\/lost\.js\.map\) is not in the upload/,
  );
  // (ok.js went up with its map, so the merge has no "generated script missing" warning for it.)
  assert.match(r.stdout, /warnings: +1\n +- js\/broken\.js\.map: not valid JSON/);
});

test('uploads a ready zip as it is', async () => {
  const zipPath = join(await mkdtemp(join(tmpdir(), 'mapvault-zip-')), 'shop-prod-7.zip');
  await writeFile(zipPath, await zipDir(app.dist));
  const r = await runCli(['upload', zipPath, ...conn('zipped'), '--version', '7', '--checksum', 'md5']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /zip .*shop-prod-7\.zip: 2 files \(1 sourcemap\)/);
  assert.deepEqual(await paths({ appId: 'zipped', version: '7' }), ['static/js/app.js', 'static/js/app.js.map']);
});

test('list, files and delete', async () => {
  assert.equal((await runCli(['upload', app.dist, ...conn('manage'), '--version', '1', '--env', 'prod'])).code, 0);
  const list = await runCli(['list', ...api('manage')]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^VERSION +ENV +CREATED \(UTC\) +FILES +MAPS +SIZE\n1 +prod +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +2 +1 +\S+ KiB\n$/);
  const json = JSON.parse((await runCli(['list', ...api('manage'), '--json'])).stdout);
  assert.equal(json[0].version, '1');

  const files = await runCli(['files', ...api('manage'), '--version', '1', '--env', 'prod']);
  assert.equal(files.code, 0, files.stderr);
  assert.match(files.stdout, /^PATH +SIZE\nstatic\/js\/app\.js +\d+ B\nstatic\/js\/app\.js\.map +\S+ KiB\n$/);

  const del = await runCli(['delete', ...api('manage'), '--version', '1', '--env', 'prod']);
  assert.equal(del.code, 0, del.stderr);
  assert.match(del.stdout, /deleted the sourcemap of appId "manage" version "1" env "prod"/);
  const gone = await runCli(['files', ...api('manage'), '--version', '1', '--env', 'prod']);
  assert.equal(gone.code, 1);
  assert.match(oneLine(gone.stderr), /file_tree: HTTP 404 SourceMap\.NotFound/);
});
