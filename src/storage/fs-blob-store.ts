import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { assertRange, assertValidKey, type BlobStore } from './blob-store.ts';
import { writeStreamToFile } from './write-file.ts';

/** fsync of a file or a directory (a directory opened read-only can be fsynced on Linux and macOS). */
async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

const isAbsent = (err: unknown): boolean => ['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '');

/**
 * BlobStore on a local directory. Atomicity comes from writing to `<root>/.tmp/` (same
 * filesystem) and renaming into place. Durability: the file is fsynced before the rename and its
 * directory (and any directory the put created) after it, so when `put`/`putFile` resolve the
 * object survives a power loss, and the catalog transaction that publishes it can follow.
 */
export class FsBlobStore implements BlobStore {
  private readonly tmpDir: string;

  private constructor(private readonly root: string) {
    this.tmpDir = join(root, '.tmp');
  }

  /** Opens the store, removing temp files left behind by a crash. */
  static async open(root: string): Promise<FsBlobStore> {
    const store = new FsBlobStore(root);
    await rm(store.tmpDir, { recursive: true, force: true });
    await mkdir(store.tmpDir, { recursive: true });
    return store;
  }

  private path(key: string): string {
    assertValidKey(key);
    return join(this.root, ...key.split('/'));
  }

  private tempPath(): string {
    return join(this.tmpDir, randomBytes(12).toString('hex'));
  }

  async put(key: string, body: Readable, opts: { maxBytes?: number } = {}) {
    const target = this.path(key);
    const tmp = this.tempPath();
    const written = await writeStreamToFile(body, tmp, { ...opts, md5: false, sync: true });
    await this.moveIntoPlace(tmp, target);
    return { size: written.size, sha256: written.sha256 };
  }

  async putFile(key: string, localPath: string): Promise<void> {
    try {
      await syncPath(localPath);
    } catch (err) {
      await rm(localPath, { force: true });
      throw err;
    }
    await this.moveIntoPlace(localPath, this.path(key));
  }

  async localFile(key: string): Promise<string | null> {
    return (await this.stat(key)) ? this.path(key) : null;
  }

  private async moveIntoPlace(from: string, target: string): Promise<void> {
    try {
      const created = await mkdir(dirname(target), { recursive: true });
      await rename(from, target);
      // The new entry, and the entries of the directories mkdir just made, down from the first one's parent.
      for (let dir = dirname(target); ; dir = dirname(dir)) {
        await syncPath(dir);
        if (created === undefined || dir === dirname(created) || dir === this.root) break;
      }
    } catch (err) {
      await rm(from, { force: true });
      throw err;
    }
  }

  async get(key: string): Promise<Readable | null> {
    return this.read(key);
  }

  async getRange(key: string, start: number, endInclusive: number): Promise<Readable | null> {
    assertRange(start, endInclusive);
    return this.read(key, { start, end: endInclusive });
  }

  private async read(key: string, range?: { start: number; end: number }): Promise<Readable | null> {
    // Open eagerly so "absent" is an answer, not a stream error later; the open handle also keeps
    // reading a replaced or collected object safe until the reader is done.
    let handle;
    try {
      handle = await open(this.path(key), 'r');
    } catch (err) {
      if (isAbsent(err)) return null;
      throw err;
    }
    if (!(await handle.stat()).isFile()) {
      await handle.close();
      return null;
    }
    return handle.createReadStream(range);
  }

  async stat(key: string) {
    try {
      const s = await stat(this.path(key));
      return s.isFile() ? { size: s.size } : null;
    } catch (err) {
      if (isAbsent(err)) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async deletePrefix(prefix: string): Promise<void> {
    assertValidKey(prefix, { prefix: true });
    await rm(join(this.root, ...prefix.slice(0, -1).split('/')), { recursive: true, force: true });
  }

  async *list(prefix: string): AsyncIterable<{ key: string; size: number }> {
    assertValidKey(prefix, { prefix: true });
    const base = join(this.root, ...prefix.slice(0, -1).split('/'));
    const files: Array<{ key: string; size: number }> = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const e of entries) {
        const p = join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.isFile()) files.push({ key: prefix + relative(base, p).split(sep).join('/'), size: (await stat(p)).size });
      }
    };
    await walk(base);
    files.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    yield* files;
  }
}
