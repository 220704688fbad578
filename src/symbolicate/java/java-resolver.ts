/**
 * Java stacks against a stored tree: finds the tree's `mapping.txt`, loads the lookup index built
 * at merge time (stored beside it, see mappingIndexKey), falls back to indexing the mapping itself
 * when that index is missing, damaged or older than the file (a later single-file upload), and keeps
 * loaded indexes in a byte-bounded LRU.
 */
import { ByteLru } from '../../util/byte-lru.ts';
import { buildMappingIndexAsync } from './index-build-async.ts';
import { InvalidJavaIndexError, JavaMappingIndex } from './index-reader.ts';
import { isMappingPath } from './mapping-file.ts';
import { retraceJava, type JavaRetraceResult, type MappingSource } from './retrace.ts';

/** The tree as this module reads it (StoredTree satisfies it). */
export interface JavaTreeSource {
  id: string;
  listFiles(): Promise<string[]>;
  readFile(path: string): Promise<Buffer | null>;
  /** The sha256 (hex) of a stored file, null if absent. */
  fileSha256?(path: string): Promise<string | null>;
  /** The lookup index stored beside a file at merge time, null if none. */
  readMappingIndex?(path: string): Promise<Buffer | null>;
}

const DEFAULT_CACHE_BYTES = 128 * 1024 * 1024;

type Loaded = { index: JavaMappingIndex; label: string } | { missing: string };

export class JavaResolver {
  private readonly cache: ByteLru<{ index: JavaMappingIndex; sha: string | null }>;
  private readonly inflight = new Map<string, Promise<Loaded>>();
  /** How often a mapping had to be indexed at resolution time (no usable stored index). */
  rebuilds = 0;

  constructor(cacheBytes = DEFAULT_CACHE_BYTES) {
    this.cache = new ByteLru(cacheBytes);
  }

  async resolve(tree: JavaTreeSource | null, stack: string, maxFrames: number): Promise<JavaRetraceResult> {
    const mapping: MappingSource = tree ? await this.mapping(tree) : { missing: 'no mapping is stored for this app/version/env' };
    return retraceJava(stack, mapping, maxFrames);
  }

  private async mapping(tree: JavaTreeSource): Promise<Loaded> {
    const files = await tree.listFiles();
    const path = chooseMapping(files);
    if (!path) return { missing: 'the stored files hold no mapping.txt' };
    const key = `${tree.id}\u0000${path}`;
    const sha = tree.fileSha256 ? await tree.fileSha256(path) : null;
    const hit = this.cache.get(key);
    if (hit && hit.sha === sha) return { index: hit.index, label: path };
    let p = this.inflight.get(key);
    if (!p) {
      p = this.load(tree, path, sha).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    const loaded = await p;
    if ('index' in loaded) this.cache.set(key, { index: loaded.index, sha }, loaded.index.cost);
    return loaded;
  }

  private async load(tree: JavaTreeSource, path: string, sha: string | null): Promise<Loaded> {
    const stored = tree.readMappingIndex ? await tree.readMappingIndex(path) : null;
    if (stored) {
      try {
        const index = new JavaMappingIndex(stored);
        if (sha === null || index.mappingSha256 === sha) return { index, label: path };
      } catch (e) {
        if (!(e instanceof InvalidJavaIndexError)) throw e;
      }
    }
    const bytes = await tree.readFile(path);
    if (!bytes) return { missing: `${path} is not stored` };
    this.rebuilds++;
    const built = await buildMappingIndexAsync(bytes);
    if (!built.index) return { missing: `${path} is not a ProGuard/R8 mapping: ${built.notMapping}` };
    return { index: new JavaMappingIndex(built.index), label: path };
  }
}

/** `mapping.txt` nearest the root (Guance's layout puts it under `<appId>-<env>-<version>/`). */
export function chooseMapping(files: readonly string[]): string | null {
  let best: string | null = null;
  for (const f of files) {
    if (!isMappingPath(f)) continue;
    const depth = f.split('/').length;
    const bestDepth = best === null ? Infinity : best.split('/').length;
    if (depth < bestDepth || (depth === bestDepth && f < best!)) best = f;
  }
  return best;
}
