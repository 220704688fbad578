/** `mapvault list`, `files` and `delete`: the stored sourcemaps of an app. */
import type { Command } from 'commander';
import {
  action,
  addConnectionOptions,
  formatBytes,
  identity,
  log,
  makeClient,
  requireConnection,
  withEnv,
  type ConnectionOptions,
} from './common.ts';

interface ManageOptions extends ConnectionOptions {
  json?: boolean;
}

interface Listed {
  appId: string;
  version: string;
  env: string;
  createAt: number;
  size?: number;
  fileCount?: number;
  mapCount?: number;
}
interface Tree {
  files: { path: string; size: number }[];
}

export function registerManage(program: Command): void {
  const list = program.command('list').description("list an app's stored sourcemaps, newest first");
  addConnectionOptions(list, { identity: false }).option('--json', "print the server's answer as JSON", false);
  withEnv(list).action(
    action(async (o: ManageOptions) => {
      const conn = requireConnection(o);
      const rows = await call(conn, o, (c) => c.call<Listed[]>('/list', { method: 'GET', query: { appId: conn.appId } }));
      if (o.json) return log(JSON.stringify(rows, null, 2));
      if (rows.length === 0) return log(`no sourcemaps for appId "${conn.appId}"`);
      table(
        ['VERSION', 'ENV', 'CREATED (UTC)', 'FILES', 'MAPS', 'SIZE'],
        rows.map((r) => [
          r.version || '""',
          r.env || '""',
          new Date(r.createAt * 1000).toISOString().slice(0, 19).replace('T', ' '),
          String(r.fileCount ?? ''),
          String(r.mapCount ?? ''),
          r.size === undefined ? '' : formatBytes(r.size),
        ]),
      );
    }),
  );

  const files = program.command('files').description('list the files of one stored sourcemap (file_tree)');
  addConnectionOptions(files).option('--json', "print the server's answer as JSON", false);
  withEnv(files).action(
    action(async (o: ManageOptions) => {
      const conn = requireConnection(o);
      const tree = await call(conn, o, (c) => c.call<Tree>('/file_tree', { json: body(conn) }));
      if (o.json) return log(JSON.stringify(tree, null, 2));
      table(
        ['PATH', 'SIZE'],
        tree.files.map((f) => [f.path, formatBytes(f.size)]),
      );
    }),
  );

  const del = program.command('delete').description('delete one stored sourcemap (appId + version + env)');
  addConnectionOptions(del);
  withEnv(del).action(
    action(async (o: ManageOptions) => {
      const conn = requireConnection(o);
      await call(conn, o, (c) => c.call('/delete', { json: body(conn) }));
      log(`deleted the sourcemap of ${identity(conn)}`);
    }),
  );
}

async function call<T>(
  conn: ReturnType<typeof requireConnection>,
  o: ManageOptions,
  fn: (c: ReturnType<typeof makeClient>) => Promise<{ content: T }>,
): Promise<T> {
  const client = makeClient(conn, o.retries);
  try {
    return (await fn(client)).content;
  } finally {
    await client.close();
  }
}

/** version/env are sent even when empty: "" is part of the identity. */
const body = (c: { appId: string; version: string; env: string }) => ({ appId: c.appId, version: c.version, env: c.env });

function table(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  for (const r of [head, ...rows]) log(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  '));
}
