/**
 * LRU of parsed maps, bounded by bytes, with in-flight sharing.
 *
 * - Cost of an entry = its `cost` (SourceMapIndex.cost: the exact bytes of its packed typed
 *   arrays, see sourcemap.ts — no need to guess from the JSON size). An entry bigger than the
 *   whole budget is returned but not kept.
 * - Keys are `${treeId}\u0000${path}`; invalidateTree(treeId) drops that tree's entries and
 *   forgets its in-flight loads, so a load that started before the invalidation is not stored.
 * - Concurrent getOrLoad calls for the same cold key share one promise (one parse).
 * - null and values marked `transient` are shared with concurrent callers but not stored. The
 *   resolver stores its misses ("no map here", "unusable map", with the reason) as ordinary
 *   entries, so a revision pays for each miss once, not on every request.
 */
import { ByteLru } from '../util/byte-lru.ts';

export const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024;

export interface Costed {
  readonly cost: number;
  readonly transient?: boolean;
}

export function cacheKey(treeId: string, path: string): string {
  return `${treeId}\u0000${path}`;
}

export class MapCache<V extends Costed> {
  private readonly lru: ByteLru<V>;
  private readonly inflight = new Map<string, Promise<V | null>>();
  hits = 0;

  constructor(readonly maxBytes: number = DEFAULT_CACHE_BYTES) {
    this.lru = new ByteLru(maxBytes);
  }

  get size(): number {
    return this.lru.size;
  }

  get bytes(): number {
    return this.lru.bytes;
  }

  getOrLoad(key: string, load: () => Promise<V | null>): Promise<V | null> {
    const hit = this.lru.get(key);
    if (hit) {
      this.hits++;
      return Promise.resolve(hit);
    }
    const pending = this.inflight.get(key);
    if (pending) {
      this.hits++;
      return pending;
    }
    let p!: Promise<V | null>; // assigned before the async body reaches its first check
    p = (async () => {
      try {
        // Start the load a microtask later so `p` is assigned even if `load` throws synchronously.
        const v = await Promise.resolve().then(load);
        if (v && !v.transient && this.inflight.get(key) === p) this.lru.set(key, v, v.cost);
        return v;
      } finally {
        if (this.inflight.get(key) === p) this.inflight.delete(key);
      }
    })();
    this.inflight.set(key, p);
    return p;
  }

  invalidateTree(treeId: string): void {
    const prefix = `${treeId}\u0000`;
    this.lru.deleteWhere((key) => key.startsWith(prefix));
    for (const key of this.inflight.keys()) if (key.startsWith(prefix)) this.inflight.delete(key);
  }

  clear(): void {
    this.lru.clear();
    this.inflight.clear();
  }
}
