/** What every client command shares: options that fall back to the environment, errors, output. */
import { InvalidArgumentError, type Command, type Option } from 'commander';
import { VERSION } from '../version.ts';
import { ApiError, Client, NetworkError } from './client.ts';

/** The variables the public Guance upload scripts read; MAPVAULT_* equivalents take precedence. */
const GUANCE_ENV: Record<string, string> = {
  endpoint: 'DF_OPENAPI_ENDPOINT',
  apiKey: 'DF_API_KEY',
  appId: 'DF_APP_ID',
  version: 'DF_VERSION',
  env: 'DF_ENV',
};

/** A failure with a message meant for the user as-is. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

function envNames(option: Option): string[] {
  const key = option.attributeName();
  const own = `MAPVAULT_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
  return GUANCE_ENV[key] ? [own, GUANCE_ENV[key]] : [own];
}

/**
 * Lets every option of `cmd` come from the environment (flag > MAPVAULT_* > DF_* > default) and
 * names the variables in --help. Done by hand rather than with commander's Option.env() because
 * that takes one variable per option and treats any set value, even "0", as true for switches.
 */
export function withEnv(cmd: Command): Command {
  for (const o of cmd.options) o.description += ` [env: ${envNames(o).join(', ')}]`;
  cmd.hook('preAction', (_self, action) => {
    const seen = new Set<string>();
    for (const o of action.options) {
      const key = o.attributeName();
      if (seen.has(key)) continue;
      seen.add(key);
      const source = action.getOptionValueSource(key);
      if (source !== undefined && source !== 'default') continue;
      const name = envNames(o).find((n) => process.env[n]);
      const raw = name === undefined ? undefined : process.env[name];
      if (name === undefined || !raw) continue;
      let value: unknown;
      if (!o.required && !o.optional) {
        // A switch (or its --no- form): MAPVAULT_NEED_COVER=1 turns it on, MAPVAULT_CONTEXT=0 off.
        value = /^(1|true|yes|on)$/i.test(raw);
      } else if (o.variadic || Array.isArray(o.defaultValue)) {
        // Lists (e.g. --include) take whitespace-separated values.
        value = raw.split(/\s+/).filter(Boolean);
      } else {
        try {
          value = o.parseArg ? o.parseArg(raw, undefined) : raw;
        } catch (err) {
          // Hooks run outside the action's error handling: report like any other failure.
          process.stderr.write(`mapvault: ${name}: ${(err as Error).message}\n`);
          process.exit(1);
        }
      }
      action.setOptionValueWithSource(key, value, 'env');
    }
  });
  return cmd;
}

/** A commander argument parser for a bounded number (commander reports its InvalidArgumentError). */
export function numberIn(min: number, max: number, integer = true): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
      throw new InvalidArgumentError(`"${v}" is not ${integer ? 'an integer' : 'a number'} between ${min} and ${max}`);
    }
    return n;
  };
}

export interface ConnectionOptions {
  endpoint?: string;
  apiKey?: string;
  appId?: string;
  version?: string;
  env?: string;
  retries?: number;
}

export function addConnectionOptions(cmd: Command, opts: { identity?: boolean } = {}): Command {
  cmd
    .option('--endpoint <url>', 'API endpoint, e.g. https://openapi.guance.com or http://mapvault:8800')
    .option('--api-key <key>', 'API key (sent as DF-API-KEY)')
    .option('--app-id <id>', 'RUM application id');
  if (opts.identity !== false) {
    cmd.option('--version <version>', 'release version (empty if unset)').option('--env <env>', 'environment (empty if unset)');
  }
  return cmd.option('--retries <n>', 'retries on network errors, 5xx and 429', numberIn(0, 20), 5);
}

export interface Connection {
  endpoint: string;
  apiKey: string;
  appId: string;
  version: string;
  env: string;
}

export function requireConnection(o: ConnectionOptions): Connection {
  const need = (value: string | undefined, flag: string, vars: string) => {
    if (value) return value;
    throw new CliError(`missing ${flag} (or set ${vars})`);
  };
  return {
    endpoint: need(o.endpoint, '--endpoint', 'MAPVAULT_ENDPOINT or DF_OPENAPI_ENDPOINT'),
    apiKey: need(o.apiKey, '--api-key', 'MAPVAULT_API_KEY or DF_API_KEY'),
    appId: need(o.appId, '--app-id', 'MAPVAULT_APP_ID or DF_APP_ID'),
    version: o.version ?? '',
    env: o.env ?? '',
  };
}

export function makeClient(c: Connection, retries: number | undefined): Client {
  try {
    return new Client({
      endpoint: c.endpoint,
      apiKey: c.apiKey,
      retries,
      userAgent: `mapvault-cli/${VERSION}`,
      onRetry: ({ path, attempt, retries: max, delayMs, error }) =>
        warn(
          `${oneLine(error instanceof ApiError || error instanceof NetworkError ? error.message : String(error))}; retry ${attempt}/${max} of ${path.replace(/^\//, '')} in ${(delayMs / 1000).toFixed(1)}s`,
        ),
    });
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

/** The identity as people write it, for messages. */
export function identity(c: { appId: string; version: string; env: string }): string {
  return `appId "${c.appId}" version "${c.version}" env "${c.env}"`;
}

export const log = (msg: string): void => void process.stdout.write(`${msg}\n`);
export const warn = (msg: string): void => void process.stderr.write(`mapvault: warning: ${oneLine(msg)}\n`);
const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ').trim();

/** The one line a failure gets. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError && err.errorCode === 'ft.InvalidAPIKey') return `${err.message} — check --api-key / DF_API_KEY`;
  if (err instanceof NetworkError) return `${err.message} — check --endpoint / DF_OPENAPI_ENDPOINT`;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Wraps a command action: any failure becomes one `mapvault: …` line on stderr and a non-zero exit. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args) => {
    try {
      await fn(...args);
    } catch (err) {
      process.stderr.write(`mapvault: ${oneLine(describeError(err))}\n`);
      process.exitCode = err instanceof CliError ? err.exitCode : 1;
    }
  };
}

export const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}
