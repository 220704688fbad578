import { resolve } from 'node:path';
import { parseS3Url, type S3Location } from './storage/s3/s3-url.ts';

/** Everything the server can be told from the environment (see README "Configuration"). */
export interface Config {
  port: number;
  host: string;
  dataDir: string;
  /** MAPVAULT_BLOB_URL: blobs in S3 (shared by several nodes); null keeps them under the data dir. */
  blobs: S3Location | null;
  /**
   * MAPVAULT_BLOB_CACHE_BYTES: with blobs in S3, lookup indexes and upload parts kept on this
   * node's disk (in its scratch dir) up to this many bytes, so a cold parse_stack and a merge read
   * them locally; 0: none.
   */
  blobCacheBytes: number;
  /** Keys given in MAPVAULT_API_KEYS: key → workspace. */
  apiKeys: Map<string, string>;
  /** Unfinished upload tasks expire after this many milliseconds. */
  uploadTtlMs: number;
  /** How often the expiry sweep runs. */
  sweepIntervalMs: number;
  /** Replaced trees are deleted this long after the swap, so in-flight readers finish. */
  retiredGraceMs: number;
  maxPartBytes: number;
  maxParts: number;
  maxJsonBytes: number;
  maxFileContentBytes: number;
  archive: { maxTotalBytes: number; maxEntries: number; maxRatio: number };
  /** Requests per minute per API key; 0 disables the limit. */
  rateLimitPerMinute: number;
  /** Per-workspace quotas in bytes; 0 = unlimited. */
  quotaUploadBytes: number;
  quotaStoredBytes: number;
  symbolicate: {
    cacheBytes: number;
    maxStackBytes: number;
    maxFrames: number;
    maxMapBytes: number;
    /** Android: loaded mapping indexes (symbolicate/java/java-resolver.ts), bytes. */
    javaCacheBytes: number;
    /** Cold map loads, all requests together (docs/RELIABILITY.md, "Resolver"). */
    parseBudgetBytes: number;
    maxColdParses: number;
    parseQueueMs: number;
    parserHeapMb: number;
    parseTimeoutMs: number;
  };
  /** Merges running at once; more wait up to mergeQueueMs for a slot, then get 503 with Retry-After. */
  maxMerges: number;
  mergeQueueMs: number;
  /** A running merge's lease on its task; renewed while it runs, so one that died frees the task this long after. */
  mergeLeaseMs: number;
  /** HTTP: whole-request deadline, idle time allowed while a body is arriving, open connections. */
  requestTimeoutMs: number;
  bodyIdleTimeoutMs: number;
  maxConnections: number;
  /** `list` answers kept in memory (validated against the catalog on every request); 0 disables. */
  listCacheBytes: number;
  /** The built web console; null = build/console beside the sources (what `npm install` builds). */
  consoleDir: string | null;
  logLevel: string;
  /** After SIGTERM/SIGINT, in-flight requests get this long before their connections are cut. */
  shutdownTimeoutMs: number;
  /** postgres://… to share one catalog between nodes; unset: SQLite in the data dir. */
  catalogUrl?: string;
  /** The API-key pepper, the same on every node (MAPVAULT_KEY_PEPPER); unset: see ApiKeys.open. */
  keyPepper?: string;
  /** How long a merge, delete or file write waits for another one of the same sourcemap. */
  lockTimeoutMs: number;
}

/** A configuration value that cannot be used; the message names the variable and says what is expected. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** pino's levels (LOG_LEVEL). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** What a workspace name may be (keys, MAPVAULT_API_KEYS). */
export const WORKSPACE_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

const MiB = 1024 * 1024;

/**
 * A configuration or service problem found at start: `mapvault serve` prints its message as one
 * line (which names the variable) and exits 1, instead of a stack trace.
 */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

/** Parses durations like `24h`, `30m`, `15s`, `500ms` or plain milliseconds. */
export function parseDuration(text: string, name: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new ConfigError(`${name}: cannot parse duration "${text}" (examples: 24h, 30m, 90s, 500ms)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms'];
  const ms = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(ms)) throw new ConfigError(`${name}: duration "${text}" is too large`);
  return ms;
}

/** Parses sizes like `10MiB`, `2GiB`, `500MB`, `1024` (bytes). */
export function parseBytes(text: string, name: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib|tb|tib)?$/i.exec(text.trim());
  if (!m) throw new ConfigError(`${name}: cannot parse size "${text}" (examples: 10MiB, 2GiB, 1048576)`);
  const units: Record<string, number> = {
    b: 1,
    kb: 1e3,
    kib: 1024,
    mb: 1e6,
    mib: MiB,
    gb: 1e9,
    gib: 1024 * MiB,
    tb: 1e12,
    tib: 1024 * 1024 * MiB,
  };
  const unit = units[(m[2] ?? 'b').toLowerCase()];
  if (unit === undefined) throw new ConfigError(`${name}: unknown unit in size "${text}"`); // the regex admits only the units above
  const bytes = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw new ConfigError(`${name}: size "${text}" is too large`);
  return bytes;
}

function parseInteger(text: string, name: string): number {
  if (!/^\d+$/.test(text.trim())) throw new ConfigError(`${name}: expected a non-negative integer, got "${text}"`);
  return Number(text);
}

/** An integer in [min, max]; the message states the range. */
const integerIn =
  (min: number, max: number) =>
  (text: string, name: string): number => {
    const n = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
    if (!(n >= min && n <= max)) throw new ConfigError(`${name}: expected an integer from ${min} to ${max}, got "${text}"`);
    return n;
  };

/** Wraps a parser so zero (or less) is refused, for values where 0 would mean "never" or "nothing". */
const positive =
  (parse: (v: string, n: string) => number) =>
  (text: string, name: string): number => {
    const n = parse(text, name);
    if (n <= 0) throw new ConfigError(`${name}: must be more than 0, got "${text}"`);
    return n;
  };

/** A duration used as a timer: Node's timers take at most 2^31-1 ms (about 24 days). */
const timer = (text: string, name: string): number => {
  const ms = parseDuration(text, name);
  if (ms > 2 ** 31 - 1) throw new ConfigError(`${name}: at most 24 days, got "${text}"`);
  return ms;
};

const oneOf =
  <T extends string>(allowed: readonly T[]) =>
  (text: string, name: string): T => {
    if (!(allowed as readonly string[]).includes(text))
      throw new ConfigError(`${name}: expected one of ${allowed.join(', ')}, got "${text}"`);
    return text as T;
  };

/** `key1=workspace1,key2=workspace2` */
export function parseApiKeys(text: string): Map<string, string> {
  const keys = new Map<string, string>();
  for (const pair of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = pair.lastIndexOf('=');
    if (eq <= 0 || eq === pair.length - 1) {
      throw new ConfigError('MAPVAULT_API_KEYS: expected "key=workspace" pairs separated by commas');
    }
    const key = pair.slice(0, eq),
      workspace = pair.slice(eq + 1);
    // The item number, never the key: this message ends up in logs.
    const item = keys.size + 1;
    if (key.length > 512 || /[\s\x00-\x1f]/.test(key)) {
      throw new ConfigError(`MAPVAULT_API_KEYS: key ${item} must be at most 512 characters without spaces or control characters`);
    }
    if (!WORKSPACE_NAME.test(workspace)) {
      throw new ConfigError(`MAPVAULT_API_KEYS: workspace "${workspace}" (pair ${item}) must be 1-128 characters [A-Za-z0-9_.-]`);
    }
    if (keys.has(key)) throw new ConfigError(`MAPVAULT_API_KEYS: key ${item} is given twice`);
    keys.set(key, workspace);
  }
  return keys;
}

function parseBlobUrl(text: string, name: string): S3Location {
  try {
    return parseS3Url(text);
  } catch (err) {
    throw new StartupError(`${name}: ${(err as Error).message}`);
  }
}

/** Reads and checks the whole configuration; the first bad value throws a ConfigError naming its variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const get = <T>(name: string, parse: (v: string, n: string) => T, fallback: T): T => {
    const v = env[name];
    return v === undefined || v === '' ? fallback : parse(v, name);
  };
  return {
    port: get('PORT', integerIn(0, 65535), 8800),
    host: get(
      'HOST',
      (v, n) => {
        if (/[\s/]/.test(v)) throw new ConfigError(`${n}: "${v}" is not a host name or address`);
        return v;
      },
      '127.0.0.1',
    ),
    dataDir: resolve(get('MAPVAULT_DATA_DIR', (v) => v, './data')),
    blobs: get('MAPVAULT_BLOB_URL', parseBlobUrl, null),
    blobCacheBytes: get('MAPVAULT_BLOB_CACHE_BYTES', parseBytes, 512 * MiB),
    apiKeys: get('MAPVAULT_API_KEYS', parseApiKeys, new Map()),
    uploadTtlMs: get('MAPVAULT_UPLOAD_TTL', positive(parseDuration), 24 * 3_600_000),
    sweepIntervalMs: get('MAPVAULT_SWEEP_INTERVAL', positive(timer), 60_000),
    retiredGraceMs: get('MAPVAULT_RETIRED_GRACE', parseDuration, 60_000),
    maxPartBytes: 10 * MiB,
    maxParts: 10_000,
    maxJsonBytes: get('MAPVAULT_MAX_JSON_BYTES', positive(parseBytes), 16 * MiB),
    maxFileContentBytes: 10 * MiB,
    archive: {
      maxTotalBytes: get('MAPVAULT_ARCHIVE_MAX_BYTES', positive(parseBytes), 2 * 1024 * MiB),
      maxEntries: get('MAPVAULT_ARCHIVE_MAX_ENTRIES', positive(parseInteger), 100_000),
      maxRatio: get('MAPVAULT_ARCHIVE_MAX_RATIO', positive(parseInteger), 200),
    },
    rateLimitPerMinute: get('MAPVAULT_RATE_LIMIT', parseInteger, 0),
    quotaUploadBytes: get('MAPVAULT_QUOTA_UPLOAD_BYTES', parseBytes, 0),
    quotaStoredBytes: get('MAPVAULT_QUOTA_STORED_BYTES', parseBytes, 0),
    listCacheBytes: get('MAPVAULT_LIST_CACHE_BYTES', parseBytes, 32 * MiB),
    maxMerges: get('MAPVAULT_MAX_MERGES', parseInteger, 2),
    mergeQueueMs: get('MAPVAULT_MERGE_QUEUE_TIMEOUT', parseDuration, 30_000),
    mergeLeaseMs: get('MAPVAULT_MERGE_LEASE', parseDuration, 60_000),
    requestTimeoutMs: get('MAPVAULT_REQUEST_TIMEOUT', parseDuration, 15 * 60_000),
    bodyIdleTimeoutMs: get('MAPVAULT_BODY_IDLE_TIMEOUT', parseDuration, 30_000),
    maxConnections: get('MAPVAULT_MAX_CONNECTIONS', parseInteger, 1024),
    symbolicate: {
      cacheBytes: get('MAPVAULT_MAP_CACHE_BYTES', parseBytes, 256 * MiB),
      javaCacheBytes: get('MAPVAULT_JAVA_CACHE_BYTES', parseBytes, 128 * MiB),
      maxStackBytes: get('MAPVAULT_MAX_STACK_BYTES', positive(parseBytes), 1 * MiB),
      maxFrames: get('MAPVAULT_MAX_FRAMES', positive(parseInteger), 1000),
      // A map bigger than the whole cache could never be kept; refusing it also bounds memory.
      maxMapBytes: get('MAPVAULT_MAX_MAP_BYTES', positive(parseBytes), 256 * MiB),
      parseBudgetBytes: get('MAPVAULT_PARSE_BUDGET_BYTES', positive(parseBytes), 64 * MiB),
      maxColdParses: get('MAPVAULT_MAX_COLD_PARSES', positive(parseInteger), 4),
      parseQueueMs: get('MAPVAULT_PARSE_QUEUE', timer, 2000),
      parserHeapMb: Math.ceil(get('MAPVAULT_PARSER_HEAP', positive(parseBytes), 1024 * MiB) / MiB),
      parseTimeoutMs: get('MAPVAULT_PARSE_TIMEOUT', positive(timer), 60_000),
    },
    consoleDir: get('MAPVAULT_CONSOLE_DIR', (v) => resolve(v), null),
    logLevel: get('LOG_LEVEL', oneOf(LOG_LEVELS), 'info'),
    shutdownTimeoutMs: get('MAPVAULT_SHUTDOWN_TIMEOUT', timer, 10_000),
    catalogUrl: get('MAPVAULT_CATALOG_URL', (v) => v, undefined),
    keyPepper: get(
      'MAPVAULT_KEY_PEPPER',
      (v, n) => {
        if (!/^[0-9a-fA-F]{64}$/.test(v) && v.length < 32) throw new ConfigError(`${n}: at least 32 characters (or 64 hex digits)`);
        return v;
      },
      undefined,
    ),
    lockTimeoutMs: get('MAPVAULT_LOCK_TIMEOUT', positive(timer), 30_000),
  };
}
