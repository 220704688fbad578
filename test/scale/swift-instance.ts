import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SCRIPT = new URL('../../scripts/services/swift.sh', import.meta.url).pathname;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function run(args: string[], env: Record<string, string>): Promise<string> {
  const child = spawn('bash', [SCRIPT, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (err += c));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0) throw new Error(`swift.sh ${args.join(' ')} exited with ${code}:\n${err}`);
  return out;
}

/**
 * A Swift of its own (own data dir and ports, started by the project's script), for tests that
 * stop and restart the S3 server without disturbing the shared one other suites use.
 */
export async function startPrivateSwift(): Promise<{
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  remove(): Promise<void>;
}> {
  const root = await mkdtemp(join(tmpdir(), 'mapvault-swift-'));
  const env = {
    MAPVAULT_SWIFT_ROOT: root,
    MAPVAULT_SWIFT_PORT: String(await freePort()),
    MAPVAULT_SWIFT_ACCOUNT_PORT: String(await freePort()),
    MAPVAULT_SWIFT_CONTAINER_PORT: String(await freePort()),
    MAPVAULT_SWIFT_OBJECT_PORT: String(await freePort()),
    MAPVAULT_SWIFT_MEMCACHE_PORT: String(await freePort()),
  };
  const exports = await run(['start'], env);
  const url = /MAPVAULT_TEST_S3_URL='([^']+)'/.exec(exports)?.[1];
  if (!url) throw new Error(`swift.sh printed no URL:\n${exports}`);
  return {
    url,
    stop: async () => void (await run(['stop'], env)),
    start: async () => void (await run(['start'], env)),
    remove: async () => {
      await run(['clean'], env);
      await rm(root, { recursive: true, force: true });
    },
  };
}
