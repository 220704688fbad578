import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { assertRange, type BlobStore } from './blob-store.ts';
import { writeStreamToFile } from './write-file.ts';

interface Entry {
  file: string;
  size: number;
}

/**
 * A BlobStore that keeps a node-local copy of the objects under `cacheable` keys, so a remote store
 * (S3) is asked once per node instead of once per use: the lookup indexes, read whole by every cold
 * `parse_stack`, and the uploaded parts, which a merge reads whole and whose ranges are the merged
 * tree's files. Writes go through (the copy is taken from the bytes this node stores); whole reads
 * (`get`, `localFile`) fill it. Least recently used copies are dropped past `maxBytes`.
 *
 * What it can serve is what the store held at some point: another node may have rewritten the key
 * since. It is meant for objects whose readers check what they read (a lookup index records the
 * sha256 of its map and of the script its names came from, and a stale one is rebuilt and written
 * again, which refreshes this copy). A fill that overlaps a write or delete on this node is not
 * kept. The directory is this process's own (under its scratch dir), so nothing survives a restart.
 */
export class LocalReadCache implements BlobStore {
  /** Key → its local copy, least recently used first (Map order). */
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  /** Counts this node's writes and deletes of cacheable keys: a fill that saw it change is dropped. */
  private writes = 0;

  private constructor(
    private readonly inner: BlobStore,
    private readonly dir: string,
    private readonly maxBytes: number,
    private readonly cacheable: (key: string) => boolean,
  ) {}

  static async open(inner: BlobStore, dir: string, maxBytes: number, cacheable: (key: string) => boolean): Promise<LocalReadCache> {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    return new LocalReadCache(inner, dir, maxBytes, cacheable);
  }

  private tempPath(): string {
    return join(this.dir, `${randomBytes(12).toString('hex')}.tmp`);
  }

  private async keep(key: string, file: string, size: number): Promise<void> {
    if (size > this.maxBytes) {
      await this.forget(key);
      return rm(file, { force: true });
    }
    // A concurrent keep of the same key may land between the awaits: set only when none is left.
    while (this.entries.has(key)) await this.forget(key);
    this.entries.set(key, { file, size });
    this.bytes += size;
    for (const [oldest] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      await this.forget(oldest);
    }
  }

  private async forget(key: string): Promise<void> {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.bytes -= entry.size;
    // A reader that opened it keeps its bytes; the name goes.
    await rm(entry.file, { force: true });
  }

  /**
   * `use` of the local copy's file (opening or linking it, so the caller keeps the bytes whatever
   * happens to the copy next), which marks it as just used; null when there is no copy, or it is gone.
   */
  private async useCopy<T>(key: string, use: (file: string) => Promise<T>): Promise<T | null> {
    const entry = this.entries.get(key);
    if (!entry) return null;
    try {
      const used = await use(entry.file);
      this.entries.delete(key);
      this.entries.set(key, entry);
      return used;
    } catch {
      if (this.entries.get(key) === entry) await this.forget(key);
      return null;
    }
  }

  /** The local copy opened for reading; null when there is none. */
  private openCopy(key: string) {
    return this.useCopy(key, (file) => open(file, 'r'));
  }

  async put(key: string, body: Readable, opts: { maxBytes?: number } = {}) {
    if (!this.cacheable(key)) return this.inner.put(key, body, opts);
    this.writes++;
    const tmp = this.tempPath();
    const written = await writeStreamToFile(body, tmp, { maxBytes: opts.maxBytes, md5: false });
    const copy = this.tempPath();
    await link(tmp, copy);
    await this.storeAndKeep(key, tmp, copy, written.size);
    return { size: written.size, sha256: written.sha256 };
  }

  async putFile(key: string, localPath: string): Promise<void> {
    if (!this.cacheable(key)) return this.inner.putFile(key, localPath);
    this.writes++;
    const copy = this.tempPath();
    await link(localPath, copy);
    await this.storeAndKeep(key, localPath, copy, (await stat(copy)).size);
  }

  private async storeAndKeep(key: string, localPath: string, copy: string, size: number): Promise<void> {
    try {
      await this.inner.putFile(key, localPath);
    } catch (err) {
      // The store may or may not hold the new bytes now: keep neither version here.
      await this.forget(key);
      await rm(copy, { force: true });
      throw err;
    }
    await this.keep(key, copy, size);
  }

  async get(key: string): Promise<Readable | null> {
    if (!this.cacheable(key)) return this.inner.get(key);
    const hit = await this.openCopy(key);
    if (hit) return hit.createReadStream();
    const writesBefore = this.writes;
    const body = await this.inner.get(key);
    if (!body) return null;
    const tmp = this.tempPath();
    const { size } = await writeStreamToFile(body, tmp, { md5: false, sha256: false });
    const handle = await open(tmp, 'r');
    if (this.writes === writesBefore) await this.keep(key, tmp, size);
    else await rm(tmp, { force: true }); // the open handle still reads it
    return handle.createReadStream();
  }

  async getRange(key: string, start: number, endInclusive: number): Promise<Readable | null> {
    assertRange(start, endInclusive);
    const hit = this.cacheable(key) ? await this.openCopy(key) : null;
    if (!hit) return this.inner.getRange(key, start, endInclusive);
    return hit.createReadStream({ start, end: endInclusive });
  }

  async stat(key: string) {
    const entry = this.cacheable(key) ? this.entries.get(key) : undefined;
    return entry ? { size: entry.size } : this.inner.stat(key);
  }

  /** A hit is hard-linked to `downloadTo`: the caller owns that name even if the copy is dropped meanwhile. */
  async localFile(key: string, downloadTo: string): Promise<string | null> {
    if (!this.cacheable(key)) return this.inner.localFile(key, downloadTo);
    if (await this.useCopy(key, (file) => link(file, downloadTo).then(() => true))) return downloadTo;
    const writesBefore = this.writes;
    const path = await this.inner.localFile(key, downloadTo);
    if (path === null || this.writes !== writesBefore) return path;
    const copy = this.tempPath();
    await link(path, copy);
    await this.keep(key, copy, (await stat(copy)).size);
    return path;
  }

  async delete(key: string): Promise<void> {
    if (this.cacheable(key)) {
      this.writes++;
      await this.forget(key);
    }
    await this.inner.delete(key);
  }

  async deletePrefix(prefix: string): Promise<void> {
    this.writes++;
    for (const key of [...this.entries.keys()]) if (key.startsWith(prefix)) await this.forget(key);
    await this.inner.deletePrefix(prefix);
  }

  list(prefix: string): AsyncIterable<{ key: string; size: number }> {
    return this.inner.list(prefix);
  }
}
