/**
 * Java stacks against a stored tree: finds the tree's `mapping.txt`, loads the lookup index built
 * at merge time (stored beside it, see mappingIndexKey), falls back to indexing the mapping itself
 * when that index is missing, damaged or older than the file (its sha256 differs: a later
 * single-file upload), and keeps what it found per tree in a byte-bounded LRU.
 *
 * The cache key is the tree id (revision and tree version), which every change to the tree's files
 * replaces, so a warm request costs one catalog read (the tree) and the retrace itself: no file
 * listing, no sha256 lookup, no index read. Misses ("no mapping.txt", "not a mapping") are kept
 * too, so a tree without a usable mapping is not listed again on every request. invalidateTree
 * drops a retired tree's entry (and forgets its in-flight load) as the JavaScript map cache does.
 */
import { ByteLru } from '../../util/byte-lru.ts';
import { InvalidSourceMapError } from '../sourcemap.ts';
import { buildMappingIndexAsync } from './index-build-async.ts';
import { InvalidJavaIndexError, JavaMappingIndex } from './index-reader.ts';
import { isMappingPath } from './mapping-file.ts';
import { retraceJava, type JavaRetraceResult, type MappingSource } from './retrace.ts';

/** The tree as this module reads it (StoredTree satisfies it). */
export interface JavaTreeSource {
  /** Changes whenever the tree's files change (StoredTree: revision id and tree version). */
  id: string;
  listFiles(): Promise<string[]>;
  readFile(path: string): Promise<Buffer | null>;
  /** The sha256 (hex) of a stored file, null if absent. */
  fileSha256?(path: string): Promise<string | null>;
  /** The lookup index stored beside a file at merge time, null if none. */
  readMappingIndex?(path: string): Promise<Buffer | null>;
}

/** MAPVAULT_JAVA_CACHE_BYTES' default. */
export const DEFAULT_JAVA_CACHE_BYTES = 128 * 1024 * 1024;

type Loaded = { index: JavaMappingIndex; label: string; cost: number } | { missing: string; cost: number };

const missing = (why: string): Loaded => ({ missing: why, cost: 256 + why.length * 2 });

export class JavaResolver {
  private readonly cache: ByteLru<Loaded>;
  private readonly inflight = new Map<string, Promise<Loaded>>();
  /** Trees whose mapping was located and loaded (the cold path). */
  private loads = 0;
  private hits = 0;
  /** How often a mapping had to be indexed at resolution time (no usable stored index). */
  private rebuilds = 0;

  constructor(cacheBytes = DEFAULT_JAVA_CACHE_BYTES) {
    this.cache = new ByteLru(cacheBytes);
  }

  async resolve(tree: JavaTreeSource | null, stack: string, maxFrames: number): Promise<JavaRetraceResult> {
    const mapping: MappingSource = tree ? await this.mapping(tree) : { missing: 'no mapping is stored for this app/version/env' };
    return retraceJava(stack, mapping, maxFrames);
  }

  /** Drops what is cached for this tree (call when it is replaced, deleted or edited). */
  invalidateTree(treeId: string): void {
    this.cache.delete(treeId);
    this.inflight.delete(treeId);
  }

  stats(): { entries: number; bytes: number; maxBytes: number; loads: number; hits: number; rebuilds: number } {
    return {
      entries: this.cache.size,
      bytes: this.cache.bytes,
      maxBytes: this.cache.maxBytes,
      loads: this.loads,
      hits: this.hits,
      rebuilds: this.rebuilds,
    };
  }

  private async mapping(tree: JavaTreeSource): Promise<MappingSource> {
    const key = tree.id;
    const hit = this.cache.get(key);
    if (hit) {
      this.hits++;
      return hit;
    }
    let p = this.inflight.get(key);
    if (!p) {
      const started: Promise<Loaded> = this.load(tree)
        .then((loaded) => {
          // Not stored when the tree was retired while it loaded (invalidateTree forgot it).
          if (this.inflight.get(key) === started) this.cache.set(key, loaded, loaded.cost);
          return loaded;
        })
        .finally(() => {
          if (this.inflight.get(key) === started) this.inflight.delete(key);
        });
      p = started;
      this.inflight.set(key, p);
    }
    return p;
  }

  private async load(tree: JavaTreeSource): Promise<Loaded> {
    this.loads++;
    try {
      return await this.loadFrom(tree);
    } catch (e) {
      // A stored mapping (or its index) over MAPVAULT_MAX_MAP_BYTES: the frames say so, unresolved.
      if (e instanceof InvalidSourceMapError) return missing(e.message);
      throw e;
    }
  }

  private async loadFrom(tree: JavaTreeSource): Promise<Loaded> {
    const path = chooseMapping(await tree.listFiles());
    if (!path) return missing('the stored files hold no mapping.txt');
    const sha = tree.fileSha256 ? await tree.fileSha256(path) : null;
    const stored = tree.readMappingIndex ? await tree.readMappingIndex(path) : null;
    if (stored) {
      try {
        const index = new JavaMappingIndex(stored);
        // The staleness check: an index built from other bytes than the file's is rebuilt.
        if (sha === null || index.mappingSha256 === sha) return { index, label: path, cost: index.cost };
      } catch (e) {
        if (!(e instanceof InvalidJavaIndexError)) throw e;
      }
    }
    const bytes = await tree.readFile(path);
    if (!bytes) return missing(`${path} is not stored`);
    this.rebuilds++;
    const built = await buildMappingIndexAsync(bytes);
    if (!built.index) return missing(`${path} is not a ProGuard/R8 mapping: ${built.notMapping}`);
    const index = new JavaMappingIndex(built.index);
    return { index, label: path, cost: index.cost };
  }
}

/** `mapping.txt` nearest the root (Guance's layout puts it under `<appId>-<env>-<version>/`). */
export function chooseMapping(files: readonly string[]): string | null {
  let best: string | null = null;
  for (const f of files) {
    if (!isMappingPath(f)) continue;
    const depth = f.split('/').length;
    const bestDepth = best === null ? Infinity : best.split('/').length;
    if (best === null || depth < bestDepth || (depth === bestDepth && f < best)) best = f;
  }
  return best;
}
