import { resolve } from 'node:path';
import { parseS3Url, type S3Location } from './storage/s3/s3-url.ts';

/** Everything the server can be told from the environment (see README "Configuration"). */
export interface Config {
  port: number;
  host: string;
  dataDir: string;
  /** MAPVAULT_BLOB_URL: blobs in S3 (shared by several nodes); null keeps them under the data dir. */
  blobs: S3Location | null;
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
    cacheBytes: number; maxStackBytes: number; maxFrames: number; maxMapBytes: number;
    /** Cold map loads, all requests together (docs/RELIABILITY.md, "Resolver"). */
    parseBudgetBytes: number; maxColdParses: number; parseQueueMs: number; parserHeapMb: number; parseTimeoutMs: number;
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
  /** postgres://… to share one catalog between nodes; unset: SQLite in the data dir. */
  catalogUrl?: string;
  /** The API-key pepper, the same on every node (MAPVAULT_KEY_PEPPER); unset: see ApiKeys.open. */
  keyPepper?: string;
  /** How long a merge, delete or file write waits for another one of the same sourcemap. */
  lockTimeoutMs: number;
}

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
  if (!m) throw new Error(`${name}: cannot parse duration "${text}" (examples: 24h, 30m, 90s, 500ms)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms'];
  return Math.round(Number(m[1]) * unit);
}

/** Parses sizes like `10MiB`, `2GiB`, `500MB`, `1024` (bytes). */
export function parseBytes(text: string, name: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib|tb|tib)?$/i.exec(text.trim());
  if (!m) throw new Error(`${name}: cannot parse size "${text}" (examples: 10MiB, 2GiB, 1048576)`);
  const units: Record<string, number> = {
    b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: MiB, gb: 1e9, gib: 1024 * MiB, tb: 1e12, tib: 1024 * 1024 * MiB,
  };
  return Math.round(Number(m[1]) * units[(m[2] ?? 'b').toLowerCase()]!);
}

function parseInteger(text: string, name: string): number {
  if (!/^\d+$/.test(text.trim())) throw new Error(`${name}: expected a non-negative integer, got "${text}"`);
  return Number(text);
}

/** `key1=workspace1,key2=workspace2` */
export function parseApiKeys(text: string): Map<string, string> {
  const keys = new Map<string, string>();
  for (const pair of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = pair.lastIndexOf('=');
    if (eq <= 0 || eq === pair.length - 1) {
      throw new Error('MAPVAULT_API_KEYS: expected "key=workspace" pairs separated by commas');
    }
    keys.set(pair.slice(0, eq), pair.slice(eq + 1));
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

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const get = <T>(name: string, parse: (v: string, n: string) => T, fallback: T): T => {
    const v = env[name];
    return v === undefined || v === '' ? fallback : parse(v, name);
  };
  return {
    port: get('PORT', parseInteger, 8800),
    host: get('HOST', (v) => v, '127.0.0.1'),
    dataDir: resolve(get('MAPVAULT_DATA_DIR', (v) => v, './data')),
    blobs: get('MAPVAULT_BLOB_URL', parseBlobUrl, null),
    apiKeys: get('MAPVAULT_API_KEYS', parseApiKeys, new Map()),
    uploadTtlMs: get('MAPVAULT_UPLOAD_TTL', parseDuration, 24 * 3_600_000),
    sweepIntervalMs: get('MAPVAULT_SWEEP_INTERVAL', parseDuration, 60_000),
    retiredGraceMs: get('MAPVAULT_RETIRED_GRACE', parseDuration, 60_000),
    maxPartBytes: 10 * MiB,
    maxParts: 10_000,
    maxJsonBytes: get('MAPVAULT_MAX_JSON_BYTES', parseBytes, 16 * MiB),
    maxFileContentBytes: 10 * MiB,
    archive: {
      maxTotalBytes: get('MAPVAULT_ARCHIVE_MAX_BYTES', parseBytes, 2 * 1024 * MiB),
      maxEntries: get('MAPVAULT_ARCHIVE_MAX_ENTRIES', parseInteger, 100_000),
      maxRatio: get('MAPVAULT_ARCHIVE_MAX_RATIO', parseInteger, 200),
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
      maxStackBytes: get('MAPVAULT_MAX_STACK_BYTES', parseBytes, 1 * MiB),
      maxFrames: get('MAPVAULT_MAX_FRAMES', parseInteger, 1000),
      // A map bigger than the whole cache could never be kept; refusing it also bounds memory.
      maxMapBytes: get('MAPVAULT_MAX_MAP_BYTES', parseBytes, 256 * MiB),
      parseBudgetBytes: get('MAPVAULT_PARSE_BUDGET_BYTES', parseBytes, 64 * MiB),
      maxColdParses: get('MAPVAULT_MAX_COLD_PARSES', parseInteger, 4),
      parseQueueMs: get('MAPVAULT_PARSE_QUEUE', parseDuration, 2000),
      parserHeapMb: Math.ceil(get('MAPVAULT_PARSER_HEAP', parseBytes, 1024 * MiB) / MiB),
      parseTimeoutMs: get('MAPVAULT_PARSE_TIMEOUT', parseDuration, 60_000),
    },
    consoleDir: get('MAPVAULT_CONSOLE_DIR', (v) => resolve(v), null),
    logLevel: get('LOG_LEVEL', (v) => v, 'info'),
    catalogUrl: get('MAPVAULT_CATALOG_URL', (v) => v, undefined),
    keyPepper: get('MAPVAULT_KEY_PEPPER', (v, n) => {
      if (!/^[0-9a-fA-F]{64}$/.test(v) && v.length < 32) throw new Error(`${n}: at least 32 characters (or 64 hex digits)`);
      return v;
    }, undefined),
    lockTimeoutMs: get('MAPVAULT_LOCK_TIMEOUT', parseDuration, 30_000),
  };
}
