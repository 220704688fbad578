import type { Readable } from 'node:stream';

/**
 * Where bytes live: upload parts and the files of sourcemap trees. Keys are
 * `/`-separated relative paths (`uploads/<id>/000001`, `trees/<revision>/static/js/app.js.map`).
 *
 * Modelled on object storage so an S3-compatible implementation fits unchanged:
 * writes are whole-object and atomic (a reader sees the old object or the new one, never a part),
 * there is no rename of prefixes, and listing is by prefix. Every implementation must pass
 * `test/storage/blob-store.contract.ts`.
 */
export interface BlobStore {
  /** Streams `body` to `key`; visible only once complete. Replaces an existing object atomically. */
  put(key: string, body: Readable, opts?: { maxBytes?: number }): Promise<{ size: number; sha256: string }>;
  /** Moves a finished local file (written by the caller, e.g. under the scratch dir) to `key`, atomically. */
  putFile(key: string, localPath: string): Promise<void>;
  /** Streams an object, or null when absent. */
  get(key: string): Promise<Readable | null>;
  /**
   * Streams bytes `start`..`endInclusive` of an object (a ranged GET on S3), or null when absent.
   * The range must lie within the object; callers that read a zip entry know its bounds.
   */
  getRange(key: string, start: number, endInclusive: number): Promise<Readable | null>;
  stat(key: string): Promise<{ size: number } | null>;
  /**
   * A local file holding the object's bytes, for readers that need random access (a zip's central
   * directory is at its end): the store's own file when it keeps objects as files (read it, never
   * change it), else a download to `downloadTo`, which the caller removes. Null when absent.
   */
  localFile(key: string, downloadTo: string): Promise<string | null>;
  /** Idempotent. */
  delete(key: string): Promise<void>;
  /** Deletes every object whose key starts with `prefix` (which must end in `/`). Idempotent. */
  deletePrefix(prefix: string): Promise<void>;
  /** Lists objects under `prefix` (ending in `/`), sorted by key. */
  list(prefix: string): AsyncIterable<{ key: string; size: number }>;
}

const SEGMENT = /^[^/\\\0]+$/;

/** Keys are built by our own code from validated parts; this guards the invariant anyway. */
export function assertValidKey(key: string, { prefix = false } = {}): void {
  const body = prefix ? key.replace(/\/$/, '') : key;
  if (prefix && !key.endsWith('/')) throw new Error(`blob prefix must end with "/": ${key}`);
  const ok = body.length > 0 && body.split('/').every((s) => SEGMENT.test(s) && s !== '.' && s !== '..');
  if (!ok) throw new Error(`invalid blob key: ${JSON.stringify(key)}`);
}

/** A byte range of `getRange`: whole numbers, not empty, not reversed. */
export function assertRange(start: number, endInclusive: number): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(endInclusive) || start < 0 || endInclusive < start) {
    throw new Error(`invalid blob range ${start}..${endInclusive}`);
  }
}
