import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, KEY_A, type TestServer } from '../helpers/server.ts';
import { buildApp } from '../helpers/fixtures.ts';
import { projectPath } from '../../src/cli/symbolicate.ts';
import { VERSION } from '../../src/version.ts';
import { closedPort, runCli } from './helpers.ts';

let s: TestServer;
let dist: string;
before(async () => {
  s = await startServer();
  ({ dist } = await buildApp());
});
after(() => s.close());

const conn = (appId: string) => ['--endpoint', s.url, '--api-key', KEY_A, '--app-id', appId];
const stateDir = async () => ['--state-dir', await mkdtemp(join(tmpdir(), 'mapvault-state-'))];

test('--version prints the version; the CLI sends it in its User-Agent', async () => {
  const v = await runCli(['--version']);
  assert.equal(v.code, 0);
  assert.equal(v.stdout, `${VERSION}\n`);
  const agents: string[] = [];
  const server = http.createServer((req, res) => {
    agents.push(req.headers['user-agent'] ?? '');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code: 200, content: [], errorCode: '', message: '', success: true, traceId: 't' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const r = await runCli([
      'list',
      '--endpoint',
      `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      '--api-key',
      'k',
      '--app-id',
      'a',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(agents, [`mapvault-cli/${VERSION}`]);
  } finally {
    server.close();
  }
});

test('usage errors are one line with a pointer to --help, exit 1', async () => {
  for (const args of [['upload'], ['upload', 'x', '--bogus'], ['uplod'], ['keys', 'create'], ['upload', 'x', '--concurrency', '99']]) {
    const r = await runCli(args);
    assert.equal(r.code, 1, args.join(' '));
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^mapvault: .+ \(see --help\)\n$/, `${args.join(' ')}: ${r.stderr}`);
  }
});

test('upload refuses an empty version or env unless --allow-empty-version', async () => {
  const noVersion = await runCli(['upload', dist, ...conn('strict'), '--env', 'prod', ...(await stateDir())]);
  assert.equal(noVersion.code, 1);
  assert.match(noVersion.stderr, /^mapvault: missing --version \(or MAPVAULT_VERSION \/ DF_VERSION\): .*--allow-empty-version/);
  // A mistyped variable name in CI: DF_VERSON is not DF_VERSION.
  const typo = await runCli(['upload', dist, ...(await stateDir())], {
    env: { DF_OPENAPI_ENDPOINT: s.url, DF_API_KEY: KEY_A, DF_APP_ID: 'strict', DF_VERSON: '1.0.0', DF_ENV: 'prod' },
  });
  assert.equal(typo.code, 1);
  assert.match(typo.stderr, /missing --version/);
  const noEnv = await runCli(['upload', dist, ...conn('strict'), '--version', '1', ...(await stateDir())]);
  assert.match(noEnv.stderr, /^mapvault: missing --env \(or MAPVAULT_ENV \/ DF_ENV\)/);
  assert.deepEqual((await s.get('/list?appId=strict')).body.content, [], 'nothing was uploaded');

  const allowed = await runCli(['upload', dist, ...conn('strict'), '--allow-empty-version', ...(await stateDir())]);
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.match(allowed.stdout, /merged: appId "strict" version "" env ""/);
});

test('symbolicate marks unresolved frames with their reason and exits 2 when none resolved (--strict: any)', async () => {
  const up = await runCli(['upload', dist, ...conn('sym'), '--version', '1', '--env', 'prod', ...(await stateDir())]);
  assert.equal(up.code, 0, up.stderr);
  const good = '    at u (https://cdn.example.com/static/js/app.js:1:222)';
  const bad = '    at x (https://cdn.example.com/assets/x.js:1:5)';
  const stack = `Error: boom\n${good}\n${bad}\n`;

  const mixed = await runCli(['symbolicate', ...conn('sym'), '--version', '1', '--env', 'prod', '--no-context'], { input: stack });
  assert.equal(mixed.code, 0, mixed.stderr);
  const lines = mixed.stdout.split('\n');
  assert.match(lines[1]!, /^ {4}at u \(src\/cart\/subtotal\.ts:\d+:\d+\)$/, 'a project path, not ../../../src');
  assert.match(lines[2]!, /^ {4}at x \(https:\/\/cdn\.example\.com\/assets\/x\.js:1:5\) {2}# not resolved: .*assets\/x\.js\.map/);

  const strict = await runCli(['symbolicate', ...conn('sym'), '--version', '1', '--env', 'prod', '--strict'], { input: stack });
  assert.equal(strict.code, 2);
  assert.equal(strict.stderr, 'mapvault: 1 of 2 frames did not resolve (--strict)\n');

  const unknown = await runCli(['symbolicate', ...conn('sym'), '--version', '9.9.9', '--env', 'prod'], { input: stack });
  assert.equal(unknown.code, 2, 'an unknown version is not a green job');
  assert.match(unknown.stdout, /# not resolved/);
  assert.equal(
    unknown.stderr,
    'mapvault: none of the 2 frames resolved for appId "sym" version "9.9.9" env "prod"; see the "not resolved" reasons\n',
  );

  const json = await runCli(['symbolicate', ...conn('sym'), '--version', '1', '--env', 'prod', '--json'], { input: stack });
  assert.equal(json.code, 0);
  const top = (JSON.parse(json.stdout) as { frames: Array<{ source: string; path?: string }> }).frames[0]!;
  assert.match(top.source, /^(\.\.\/)+src\/cart\/subtotal\.ts$/, 'the raw source is kept');
  assert.equal(top.path, 'src/cart/subtotal.ts');

  const none = await runCli(['symbolicate', ...conn('sym'), '--version', '1', '--env', 'prod'], { input: 'just words\n' });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^mapvault: no stack frames found in the input/);
});

test('project paths: webpack://, ./ and map-relative ../ prefixes are removed; URLs and absolute paths kept', () => {
  const cases: Array<[string, string]> = [
    ['webpack://shop/./src/cart/price.ts', 'src/cart/price.ts'],
    ['webpack:///src/a.ts', 'src/a.ts'],
    ['webpack:///./src/a.ts', 'src/a.ts'],
    ['../../src/cart/price.ts', 'src/cart/price.ts'],
    ['./src/a.ts', 'src/a.ts'],
    ['src/./lib/../a.ts', 'src/a.ts'],
    ['webpack://shop/node_modules/react/index.js', 'node_modules/react/index.js'],
    ['https://cdn.example.com/src/a.ts', 'https://cdn.example.com/src/a.ts'],
    ['file:///home/me/app/src/a.ts', 'file:///home/me/app/src/a.ts'],
    ['/abs/a.ts', '/abs/a.ts'],
    ['..', '..'],
  ];
  for (const [input, expected] of cases) assert.equal(projectPath(input), expected, input);
});

test('an endpoint where nothing listens fails at once in one line, without retries', async () => {
  const port = await closedPort();
  const r = await runCli(['list', '--endpoint', `http://127.0.0.1:${port}`, '--api-key', 'k', '--app-id', 'a', '--retries', '5']);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    `mapvault: cannot reach http://127.0.0.1:${port} (connect ECONNREFUSED 127.0.0.1:${port}) — check --endpoint / DF_OPENAPI_ENDPOINT\n`,
  );
  assert.doesNotMatch(r.stderr, /retry/);
});
