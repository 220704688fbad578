import type { Command } from 'commander';
import type { ApiKeys } from '../auth/api-keys.ts';
import type { Config } from '../config.ts';
import { CliError, action } from './common.ts';

/** The server stack (Fastify, SQLite…) is loaded only by these commands, so client commands start fast. */
const loadServer = async () => ({
  ...(await import('../config.ts')),
  ...(await import('../server.ts')),
  ...(await import('../startup.ts')),
});
/** The key store alone: no Fastify, no recovery, no env key sync. */
const loadKeyStore = async () => ({
  ...(await import('../config.ts')),
  ...(await import('../startup.ts')),
  ...(await import('../auth/api-keys.ts')),
  ...(await import('../catalog/open-catalog.ts')),
});

/** `serve` and `keys …`: the commands that run on the server's own machine. */
export function registerServerCommands(program: Command): void {
  program
    .command('serve')
    .description('start the server (configuration from the environment; see README)')
    .action(async () => {
      const { serve } = await loadServer();
      await serve();
    });

  const keys = program.command('keys').description("manage API keys (on the server's machine; works while it runs)");

  keys
    .command('create')
    .description('create an API key for a workspace; the key is printed once and only its hash is stored')
    .requiredOption('--workspace <name>', 'workspace the key belongs to')
    .action(
      action(async (opts: { workspace: string }) => {
        await withKeyStore(async ({ store, config, WORKSPACE_NAME }) => {
          if (!WORKSPACE_NAME.test(opts.workspace)) throw new CliError('--workspace must be 1-128 characters [A-Za-z0-9_.-]');
          const key = await store.create(opts.workspace, 'cli');
          process.stdout.write(`${key}\n`);
          process.stderr.write(`created an API key for workspace "${opts.workspace}" in ${config.dataDir}; it is not shown again\n`);
        });
      }),
    );

  keys
    .command('list')
    .description('list the API keys: id, workspace, source, created, last used (never the key itself)')
    .option('--json', 'print JSON', false)
    .action(
      action(async (opts: { json: boolean }) => {
        await withKeyStore(async ({ store }) => {
          const list = await store.list();
          if (opts.json) return void process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
          if (list.length === 0) return void process.stdout.write('no API keys (the server creates one on its first start)\n');
          const date = (ms: number | null) => (ms === null ? 'never' : new Date(ms).toISOString().slice(0, 19).replace('T', ' '));
          const head = ['ID', 'WORKSPACE', 'SOURCE', 'CREATED (UTC)', 'LAST USED (UTC)'];
          const rows = [head, ...list.map((k) => [k.id, k.workspace, k.source, date(k.createdAt), date(k.lastUsedAt)])];
          const widths = head.map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0)));
          for (const r of rows)
            process.stdout.write(`${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')}\n`);
        });
      }),
    );

  keys
    .command('revoke')
    .description('delete an API key (by the id `keys list` shows); it stops working at once')
    .argument('<id>', 'key id, or its first 6 or more characters')
    .action(
      action(async (id: string) => {
        await withKeyStore(async ({ store }) => {
          const k = await store.revoke(id);
          process.stderr.write(`revoked key ${k.id} of workspace "${k.workspace}"\n`);
        });
      }),
    );

  keys
    .command('rotate')
    .description('replace an API key by a new one of the same workspace: prints the new key once, then deletes the old')
    .argument('<id>', 'key id, or its first 6 or more characters')
    .action(
      action(async (id: string) => {
        await withKeyStore(async ({ store }) => {
          const { key, old } = await store.rotate(id);
          process.stdout.write(`${key}\n`);
          process.stderr.write(`key ${old.id} of workspace "${old.workspace}" replaced; the new key is not shown again\n`);
        });
      }),
    );
}

/** Opens the catalog and the pepper of the configured data dir, runs `fn`, closes. */
async function withKeyStore(fn: (o: { store: ApiKeys; config: Config; WORKSPACE_NAME: RegExp }) => Promise<void>): Promise<void> {
  const m = await loadKeyStore();
  let config: Config;
  try {
    config = m.loadConfig();
    await m.prepareDataDir(config.dataDir);
  } catch (err) {
    throw new CliError(m.startupMessage(err));
  }
  const { catalog, locker, shared } = await m.openCatalog(config).catch((err: unknown) => {
    throw new CliError(m.startupMessage(err));
  });
  try {
    const store = await m.ApiKeys.open(catalog, { dataDir: config.dataDir, secret: config.keyPepper, sharedCatalog: shared });
    await fn({ store, config, WORKSPACE_NAME: m.WORKSPACE_NAME }).catch((err: unknown) => {
      throw err instanceof m.KeyCommandError ? new CliError(err.message) : err;
    });
  } finally {
    await locker.close();
    await catalog.close();
  }
}
