import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ApiKeyRecord, Catalog } from '../catalog/catalog.ts';

/** How a key is named in `keys list/revoke/rotate`: the start of its stored hash (the key itself is never stored). */
export const KEY_ID_LENGTH = 12;
/** A key's last use is written at most this often per key, so authentication stays a read. */
const TOUCH_EVERY_MS = 60_000;
/** Keys whose HMAC is remembered (ApiKeys.digests). */
const MAX_CACHED_DIGESTS = 1000;

export interface KeyInfo extends Omit<ApiKeyRecord, 'keyHash'> {
  id: string;
}

/** A key command that cannot be done as asked (unknown or ambiguous id, an env-configured key). */
export class KeyCommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyCommandError';
  }
}

/**
 * API keys are stored as HMAC-SHA256(pepper, key). Every node must use the same pepper, or a key
 * made on one is refused by the others. Where it comes from, first match wins:
 * 1. MAPVAULT_KEY_PEPPER (a secret in each node's environment): the database alone then never
 *    holds it, so a leaked database cannot be brute-forced offline against short keys. 64 hex
 *    digits are the 32 bytes they spell, the format of a data dir's `pepper` file, so
 *    `MAPVAULT_KEY_PEPPER=$(xxd -p -c 64 data/pepper)` keeps an existing data dir's keys working.
 * 2. A shared catalog (PostgreSQL) without that secret: a random pepper stored in the catalog
 *    once (Catalog.ensureSetting), read by every node.
 * 3. One node (SQLite): `<data>/pepper`, created on first start, as before.
 */
export class ApiKeys {
  /** keyHash → when its last use was written. */
  private readonly touched = new Map<string, number>();
  /**
   * Key → its HMAC, for keys the catalog knew when last seen. The HMAC is a pure function of the
   * key and the pepper, so this only saves recomputing it; the catalog is still asked on every
   * request, so a revoked or rotated key stops working at once, on every node.
   */
  private readonly digests = new Map<string, { hex: string; bytes: Buffer }>();

  private constructor(
    private readonly catalog: Catalog,
    private readonly pepper: Buffer,
  ) {}

  static async open(catalog: Catalog, opts: { dataDir: string; secret?: string; sharedCatalog: boolean }): Promise<ApiKeys> {
    if (opts.secret) {
      const pepper = /^[0-9a-fA-F]{64}$/.test(opts.secret) ? Buffer.from(opts.secret, 'hex') : Buffer.from(opts.secret, 'utf8');
      return new ApiKeys(catalog, pepper);
    }
    if (opts.sharedCatalog) {
      return new ApiKeys(catalog, Buffer.from(await catalog.ensureSetting('api-key-pepper', randomBytes(32).toString('hex')), 'hex'));
    }
    const file = join(opts.dataDir, 'pepper');
    let pepper: Buffer;
    try {
      pepper = await readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      pepper = randomBytes(32);
      // 'wx' so two processes starting at once cannot overwrite each other's pepper.
      await writeFile(file, pepper, { flag: 'wx', mode: 0o600 }).catch(async (e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
        pepper = await readFile(file);
      });
    }
    return new ApiKeys(catalog, pepper);
  }

  hash(key: string): string {
    return createHmac('sha256', this.pepper).update(key, 'utf8').digest('hex');
  }

  /**
   * The workspace of `key`, or null. The index lookup compares keyed digests an attacker cannot
   * predict (the pepper is secret), so its timing says nothing about the key; the stored digest is
   * then compared with `timingSafeEqual`.
   */
  async workspaceOf(key: string): Promise<string | null> {
    if (key.length === 0 || key.length > 512) return null;
    let digest = this.digests.get(key);
    if (digest === undefined) {
      const hex = this.hash(key);
      digest = { hex, bytes: Buffer.from(hex, 'hex') };
    }
    const found = await this.catalog.findApiKey(digest.hex);
    if (found === null) return null;
    const stored = Buffer.from(found.keyHash, 'hex');
    if (stored.length !== digest.bytes.length || !timingSafeEqual(stored, digest.bytes)) return null;
    if (!this.digests.has(key)) {
      if (this.digests.size >= MAX_CACHED_DIGESTS) this.digests.clear(); // bounded, whatever the number of keys
      this.digests.set(key, digest);
    }
    this.noteUse(found.keyHash);
    return found.workspace;
  }

  private noteUse(keyHash: string, now = Date.now()): void {
    if (now - (this.touched.get(keyHash) ?? 0) < TOUCH_EVERY_MS) return;
    if (this.touched.size > 10_000) this.touched.clear();
    this.touched.set(keyHash, now);
    // Best effort: a failed write of the last-use time must not fail the request.
    this.catalog.touchApiKey(keyHash, now).catch(() => {});
  }

  /** Every key, named by id (the start of its hash). */
  async list(): Promise<KeyInfo[]> {
    return (await this.catalog.listApiKeys()).map(({ keyHash, ...rest }) => ({ id: keyHash.slice(0, KEY_ID_LENGTH), ...rest }));
  }

  /** Deletes the key named `id` (a prefix of at least 6 characters of its id); returns it. */
  async revoke(id: string): Promise<KeyInfo> {
    const { record, info } = await this.find(id);
    await this.catalog.deleteApiKey(record.keyHash);
    return info;
  }

  /** Replaces the key named `id` by a new key of the same workspace: the new key works before the old one stops. */
  async rotate(id: string, now = Date.now()): Promise<{ key: string; old: KeyInfo }> {
    const { record, info } = await this.find(id);
    const key = await this.create(record.workspace, 'cli', now);
    await this.catalog.deleteApiKey(record.keyHash);
    return { key, old: info };
  }

  private async find(id: string): Promise<{ record: ApiKeyRecord; info: KeyInfo }> {
    if (!/^[0-9a-f]{6,64}$/.test(id)) throw new KeyCommandError(`"${id}" is not a key id (the ID column of \`mapvault keys list\`)`);
    const matches = (await this.catalog.listApiKeys()).filter((k) => k.keyHash.startsWith(id));
    const [record, ...others] = matches;
    if (record === undefined) throw new KeyCommandError(`no key has id ${id}`);
    if (others.length > 0) throw new KeyCommandError(`${matches.length} keys have ids starting with ${id}; give more characters`);
    if (record.source === 'env') {
      throw new KeyCommandError(`key ${id} comes from MAPVAULT_API_KEYS: remove it there and restart the server`);
    }
    const { keyHash, ...rest } = record;
    return { record, info: { id: keyHash.slice(0, KEY_ID_LENGTH), ...rest } };
  }

  /** Creates a new random key for `workspace`; the plain key is returned once and never stored. */
  async create(workspace: string, source = 'cli', now = Date.now()): Promise<string> {
    const key = `mv_${randomBytes(24).toString('base64url')}`;
    await this.catalog.putApiKey({ keyHash: this.hash(key), workspace, source, createdAt: now });
    return key;
  }

  /** Makes the database's env-sourced keys equal to MAPVAULT_API_KEYS. */
  async syncConfigured(keys: Map<string, string>, now = Date.now()): Promise<void> {
    const hashes: string[] = [];
    for (const [key, workspace] of keys) {
      const keyHash = this.hash(key);
      hashes.push(keyHash);
      await this.catalog.putApiKey({ keyHash, workspace, source: 'env', createdAt: now });
    }
    await this.catalog.pruneApiKeys('env', hashes);
  }
}
