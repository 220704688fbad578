/**
 * `mapvault serve` as a process: configuration checked before anything is touched, every start-up
 * failure as one line and exit 1, and a bounded graceful shutdown on SIGTERM/SIGINT.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { CatalogConfigError } from './catalog/open-catalog.ts';
import { ConfigError, StartupError as ConfigStartupError, loadConfig, type Config } from './config.ts';
import { lockDataDir } from './storage/data-dir-lock.ts';
import { createMapvault } from './server.ts';
import { VERSION } from './version.ts';

/** A start-up failure whose message is meant for the operator as it is. */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

/** Creates the data dir if needed and proves it writable, or says which variable to fix. */
export async function prepareDataDir(dataDir: string): Promise<void> {
  const where = `MAPVAULT_DATA_DIR=${dataDir}`;
  try {
    await mkdir(dataDir, { recursive: true });
  } catch (err) {
    throw new StartupError(`${where}: cannot create the data directory (${describeErrno(err)})`);
  }
  const probe = join(dataDir, `.write-probe-${process.pid}`);
  try {
    await writeFile(probe, '');
    await rm(probe, { force: true });
  } catch (err) {
    throw new StartupError(`${where}: the data directory is not writable (${describeErrno(err)})`);
  }
}

/** What a listen error means, naming PORT and HOST. */
function listenMessage(err: unknown, config: Config): string {
  const code = (err as NodeJS.ErrnoException).code;
  const at = `PORT=${config.port} HOST=${config.host}`;
  switch (code) {
    case 'EADDRINUSE':
      return `${at}: the port is already in use (another mapvault or another program listens there)`;
    case 'EACCES':
      return `${at}: permission denied (ports below 1024 need privileges)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
    case 'EAI_NONAME':
      return `HOST=${config.host}: unknown host`;
    case 'EADDRNOTAVAIL':
      return `HOST=${config.host}: not an address of this machine`;
    default:
      return `${at}: cannot listen (${describeErrno(err)})`;
  }
}

/**
 * Binds and releases the configured address before storage is opened, so a second server on a
 * busy port, or a typo in HOST, fails without touching the data dir. (The real listen reports the
 * same errors the same way, for the rare race.)
 */
async function probeListen(config: Config): Promise<void> {
  if (config.port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err) => reject(new StartupError(listenMessage(err, config))));
    server.listen(config.port, config.host, () => server.close(() => resolve()));
  });
}

const describeErrno = (err: unknown): string => {
  const e = err as NodeJS.ErrnoException;
  return e.code ? `${e.code}${e.syscall ? ` on ${e.syscall}` : ''}` : e.message;
};

/** The one line a start-up failure prints (after `mapvault: `). */
export function startupMessage(err: unknown): string {
  if (err instanceof ConfigError || err instanceof StartupError || err instanceof CatalogConfigError || err instanceof ConfigStartupError) {
    return err.message;
  }
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'SQLITE_CANTOPEN' || e?.code === 'SQLITE_READONLY')
    return `the catalog in MAPVAULT_DATA_DIR cannot be opened (${e.code})`;
  return e?.message ?? String(err);
}

/** How long after the shutdown deadline the process exits even if closing storage hangs. */
const EXIT_GRACE_MS = 5000;

export async function serve(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const fail = (err: unknown): never => {
    process.stderr.write(`mapvault: ${startupMessage(err).replace(/\s*\n\s*/g, ' ')}\n`);
    process.exit(1);
  };
  let config: Config;
  try {
    config = loadConfig(env);
    await probeListen(config);
    await prepareDataDir(config.dataDir);
    // Before anything else: a second server on this directory must not recover or sync keys under the first.
    lockDataDir(config.dataDir);
  } catch (err) {
    return fail(err);
  }
  const mv = await createMapvault(config).catch(fail);
  const url = await mv.listen().catch(async (err: unknown) => {
    await mv.close(0).catch(() => {});
    return fail(err instanceof Error && 'code' in err ? new StartupError(listenMessage(err, config)) : err);
  });
  // The map-parser worker is not started here but by the first map to index: idle, it held 10–13 MiB
  // of RSS that a server receiving no maps never uses (docs/BENCHMARKS.md, target 2).
  // Plain text on stderr, whatever LOG_LEVEL is: humans and supervisors look for this line.
  process.stderr.write(`mapvault listening on ${url} (version ${VERSION}, data in ${config.dataDir})\n`);
  process.stderr.write(`web console: ${url}/console/\n`);

  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) {
        process.stderr.write(`mapvault: ${signal} again: exiting now\n`);
        process.exit(1);
      }
      stopping = true;
      process.stderr.write(`mapvault: ${signal}: stopping; in-flight requests have ${config.shutdownTimeoutMs / 1000}s\n`);
      mv.app.log.info({ signal }, 'shutting down');
      setTimeout(() => {
        process.stderr.write('mapvault: shutdown did not finish in time: exiting\n');
        process.exit(1);
      }, config.shutdownTimeoutMs + EXIT_GRACE_MS).unref();
      mv.close(config.shutdownTimeoutMs).then(
        () => {
          process.stderr.write('mapvault: stopped\n');
          process.exit(0);
        },
        (err: unknown) => {
          process.stderr.write(`mapvault: error while stopping: ${(err as Error).message}\n`);
          process.exit(1);
        },
      );
    });
  }
}
