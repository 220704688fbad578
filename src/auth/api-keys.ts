import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Catalog } from '../catalog/catalog.ts';

/**
 * API keys are stored as HMAC-SHA256(pepper, key). The pepper lives in the data dir, not the
 * database, so a leaked database alone cannot be brute-forced offline against short keys.
 */
export class ApiKeys {
  private constructor(private readonly catalog: Catalog, private readonly pepper: Buffer) {}

  static async open(catalog: Catalog, dataDir: string): Promise<ApiKeys> {
    const file = join(dataDir, 'pepper');
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
    const hash = Buffer.from(this.hash(key), 'hex');
    const found = await this.catalog.findApiKey(hash.toString('hex'));
    if (found === null) return null;
    const stored = Buffer.from(found.keyHash, 'hex');
    return stored.length === hash.length && timingSafeEqual(stored, hash) ? found.workspace : null;
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
