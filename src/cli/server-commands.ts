import type { Command } from 'commander';

/** The server stack (Fastify, SQLite…) is loaded only by these commands, so client commands start fast. */
const loadServer = async () => ({
  ...(await import('../config.ts')), ...(await import('../server.ts')), ...(await import('../storage/data-dir-lock.ts')),
});

/**
 * A bad setting or a service that cannot be used at start (catalog, blob store) ends the process
 * with its one-line reason naming the variable, not a stack trace.
 */
async function orExit<T>(start: () => Promise<T>): Promise<T> {
  const { CatalogConfigError } = await import('../catalog/open-catalog.ts');
  const { StartupError } = await import('../config.ts');
  try {
    return await start();
  } catch (err) {
    if (!(err instanceof CatalogConfigError) && !(err instanceof StartupError)) throw err;
    process.stderr.write(`mapvault: ${err.message}\n`);
    process.exit(1);
  }
}

/** `serve` and `keys create`: the commands that run on the server's own machine. */
export function registerServerCommands(program: Command): void {
  program
    .command('serve')
    .description('start the server (configuration from the environment; see README)')
    .action(async () => {
      const { loadConfig, createMapvault, lockDataDir } = await loadServer();
      const config = await orExit(async () => loadConfig());
      // Before anything else: a second server on this directory must not recover or sync keys under the first.
      lockDataDir(config.dataDir);
      const mv = await orExit(() => createMapvault(config));
      const url = await mv.listen();
      // Only here, not in createMapvault: test servers should not each start a parser thread.
      mv.resolver.prestartWorkers();
      // Plain text on stderr, whatever LOG_LEVEL is: humans and supervisors look for this line.
      process.stderr.write(`mapvault listening on ${url} (data in ${config.dataDir})\n`);
      process.stderr.write(`web console: ${url}/console/\n`);
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        process.once(signal, () => {
          mv.app.log.info(`${signal}: shutting down`);
          mv.close().then(() => process.exit(0), () => process.exit(1));
        });
      }
    });

  program
    .command('keys')
    .description('manage API keys')
    .command('create')
    .description('create an API key for a workspace; the key is printed once and only its hash is stored')
    .requiredOption('--workspace <name>', 'workspace the key belongs to')
    .action(async (opts: { workspace: string }) => {
      if (!/^[A-Za-z0-9_.-]{1,128}$/.test(opts.workspace)) {
        throw new Error('--workspace must be 1-128 characters [A-Za-z0-9_.-]');
      }
      const { loadConfig, createMapvault } = await loadServer();
      const config = await orExit(async () => loadConfig());
      const mv = await orExit(() => createMapvault(config, { logger: false, announce: () => {} }));
      try {
        const key = await mv.keys.create(opts.workspace);
        process.stdout.write(`${key}\n`);
        process.stderr.write(`created an API key for workspace "${opts.workspace}" in ${config.dataDir}; it is not shown again\n`);
      } finally {
        await mv.close();
      }
    });
}
