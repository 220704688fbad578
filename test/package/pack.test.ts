/**
 * The packages as users get them: `npm pack` tarballs installed into empty directories.
 * better-sqlite3's native build is the one step taken from this clone (it compiles for minutes
 * where no prebuilt binary can be downloaded); MAPVAULT_TEST_FULL_INSTALL=1 (CI) runs it for real.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startServer, KEY_A, type TestServer } from '../helpers/server.ts';
import { buildApp } from '../helpers/fixtures.ts';
import { cleanEnv } from '../cli/helpers.ts';
import { VERSION } from '../../src/version.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const fullInstall = process.env.MAPVAULT_TEST_FULL_INSTALL === '1';

let work: string;
let tarballs: { server: string; cli: string };
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'mapvault-pack-'));
  // dist/ is already built by the test runner; packing must not rebuild it concurrently with other tests.
  const pack = async (args: string[]) =>
    JSON.parse(
      (await run(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', work, ...args], { cwd: ROOT })).stdout,
    ) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const [server] = await pack([]);
  const [cli] = await pack(['-w', 'packages/cli']);
  for (const p of [server!, cli!]) {
    assert.ok(p.files.some((f) => f.path === 'bin/mapvault'));
    assert.ok(
      p.files.every((f) => !f.path.startsWith('src/') && !f.path.endsWith('.ts') && !f.path.endsWith('.js.map')),
      'only compiled JS is shipped',
    );
  }
  tarballs = { server: join(work, server!.filename), cli: join(work, cli!.filename) };
});
after(() => rm(work, { recursive: true, force: true }));

async function emptyProject(name: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir);
  await writeFile(join(dir, 'package.json'), '{"private": true}\n');
  return dir;
}

const install = (dir: string, tarball: string, extra: string[] = []) =>
  run(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', ...extra, tarball], {
    cwd: dir,
    env: cleanEnv(),
    maxBuffer: 16 << 20,
  });

test('the CLI-only package installs without any native or server dependency and uploads', { timeout: 300_000 }, async () => {
  const dir = await emptyProject('ci-job');
  await install(dir, tarballs.cli);
  const installed = await readdir(join(dir, 'node_modules'));
  for (const heavy of ['better-sqlite3', 'fastify', 'tsx', 'typescript', 'esbuild', 'prom-client']) {
    assert.ok(!installed.includes(heavy), `${heavy} is not installed with the CLI`);
  }
  const bin = join(dir, 'node_modules/.bin/mapvault');
  assert.equal((await run(bin, ['--version'])).stdout, `${VERSION}\n`);

  let s: TestServer | undefined;
  try {
    s = await startServer();
    const { dist } = await buildApp();
    const r = await run(
      bin,
      ['upload', dist, '--endpoint', s.url, '--api-key', KEY_A, '--app-id', 'packed', '--version', '1', '--env', 'prod', '--no-progress'],
      {
        env: cleanEnv({ XDG_CACHE_HOME: join(dir, 'cache') }),
      },
    );
    assert.match(r.stdout, /merged: appId "packed" version "1" env "prod"/);
    const served = await run(bin, ['serve']).then(
      () => 'ran',
      (e: { stderr: string }) => e.stderr,
    );
    assert.match(served, /unknown command 'serve'/, 'the CLI package has no server');
  } finally {
    await s?.close();
  }
});

test('the server tarball installs into an empty directory and `mapvault serve` runs there', {
  timeout: fullInstall ? 1_200_000 : 300_000,
}, async () => {
  const dir = await emptyProject('server');
  await install(dir, tarballs.server, fullInstall ? [] : ['--ignore-scripts']);
  const installed = await readdir(join(dir, 'node_modules'));
  for (const devOnly of ['tsx', 'typescript', 'esbuild', 'c8', '@biomejs'])
    assert.ok(!installed.includes(devOnly), `${devOnly} is not a runtime dependency`);
  if (!fullInstall) {
    const addon = 'better-sqlite3/build/Release/better_sqlite3.node';
    await mkdir(join(dir, 'node_modules', addon, '..'), { recursive: true });
    await copyFile(join(ROOT, 'node_modules', addon), join(dir, 'node_modules', addon));
  }

  const child = spawn(join(dir, 'node_modules/.bin/mapvault'), ['serve'], {
    cwd: dir,
    env: cleanEnv({ PORT: '0', LOG_LEVEL: 'warn' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const closed = once(child, 'close');
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', () => {
        const m = /mapvault listening on (\S+) \(version ([^,]+), data in (\S+)\)/.exec(stderr);
        if (m) {
          assert.equal(m[2], VERSION);
          assert.equal(m[3], join(dir, 'data'), 'embedded defaults: ./data of the working directory');
          resolve(m[1]!);
        }
      });
      closed.then(() => reject(new Error(`exited:\n${stderr}`)), reject);
    });
    const health = (await (await fetch(`${url}/healthz`)).json()) as { content: { status: string; version: string } };
    assert.deepEqual([health.content.status, health.content.version], ['ok', VERSION]);
    assert.ok(existsSync(join(dir, 'data', 'mapvault.db')));
  } finally {
    child.kill('SIGTERM');
    await closed;
  }
  assert.match(stderr, /mapvault: stopped\n/);
});
