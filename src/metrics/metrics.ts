/**
 * The server's Prometheus metrics (GET /metrics). One registry per process: the services count
 * into it through the few helpers below, the HTTP layer through `registerRequestMetrics`.
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'mapvault_' });

const requests = new Histogram({
  name: 'mapvault_http_request_duration_seconds',
  help: 'HTTP requests by method, route pattern and status, with their latency',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  registers: [registry],
});
const uploadBytes = new Counter({
  name: 'mapvault_upload_bytes_total',
  help: 'Bytes of upload parts accepted',
  registers: [registry],
});
const merges = new Histogram({
  name: 'mapvault_merge_duration_seconds',
  help: 'Merges (part_merge and its aliases) by result, with their duration',
  labelNames: ['result'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
  registers: [registry],
});
const frames = new Counter({
  name: 'mapvault_parse_stack_frames_total',
  help: 'parse_stack frames, resolved or not; `reason` says why not',
  labelNames: ['resolved', 'reason'] as const,
  registers: [registry],
});
const storageErrors = new Counter({
  name: 'mapvault_storage_errors_total',
  help: 'Failed calls to the catalog or the blob store, by store and operation',
  labelNames: ['store', 'operation'] as const,
  registers: [registry],
});

/** What the map cache reports (StackResolver.stats()). */
export interface MapCacheStats {
  entries: number;
  bytes: number;
  parses: number;
  hits: number;
}
let mapCacheStats: () => MapCacheStats = () => ({ entries: 0, bytes: 0, parses: 0, hits: 0 });
new Gauge({
  name: 'mapvault_map_cache_bytes',
  help: 'Bytes of parsed sourcemaps in the cache',
  registers: [registry],
  collect() {
    this.set(mapCacheStats().bytes);
  },
});
new Gauge({
  name: 'mapvault_map_cache_entries',
  help: 'Parsed sourcemaps in the cache',
  registers: [registry],
  collect() {
    this.set(mapCacheStats().entries);
  },
});
new Counter({
  name: 'mapvault_map_cache_hits_total',
  help: 'Map lookups answered from the cache',
  registers: [registry],
  collect() {
    this.reset();
    this.inc(mapCacheStats().hits);
  },
});
new Counter({
  name: 'mapvault_map_cache_misses_total',
  help: 'Map lookups that had to load and parse the map',
  registers: [registry],
  collect() {
    this.reset();
    this.inc(mapCacheStats().parses);
  },
});

/** What the Java mapping-index cache reports (JavaResolver.stats()). */
export interface JavaCacheStats {
  entries: number;
  bytes: number;
  loads: number;
  hits: number;
  rebuilds: number;
}
let javaCacheStats: () => JavaCacheStats = () => ({ entries: 0, bytes: 0, loads: 0, hits: 0, rebuilds: 0 });
new Gauge({
  name: 'mapvault_java_index_cache_bytes',
  help: 'Bytes of Java mapping indexes in the cache (with their decoded-class memo caps)',
  registers: [registry],
  collect() {
    this.set(javaCacheStats().bytes);
  },
});
new Gauge({
  name: 'mapvault_java_index_cache_entries',
  help: 'Trees whose Java mapping index (or its absence) is cached',
  registers: [registry],
  collect() {
    this.set(javaCacheStats().entries);
  },
});
new Counter({
  name: 'mapvault_java_index_cache_hits_total',
  help: 'Java stacks answered with a cached mapping index',
  registers: [registry],
  collect() {
    this.reset();
    this.inc(javaCacheStats().hits);
  },
});
new Counter({
  name: 'mapvault_java_index_cache_misses_total',
  help: 'Java stacks that had to locate and load the mapping index',
  registers: [registry],
  collect() {
    this.reset();
    this.inc(javaCacheStats().loads);
  },
});
new Counter({
  name: 'mapvault_java_index_rebuilds_total',
  help: 'Mappings indexed at resolution time (stored index missing, damaged or stale)',
  registers: [registry],
  collect() {
    this.reset();
    this.inc(javaCacheStats().rebuilds);
  },
});
const javaFrames = new Counter({
  name: 'mapvault_java_frames_total',
  help: 'Java frames of parse_stack: resolved, ambiguous (alternatives) or unresolved; `reason` says why not',
  labelNames: ['result', 'reason'] as const,
  registers: [registry],
});

export const metrics = {
  /** Where the Java mapping-index cache's numbers come from (the running server's JavaResolver). */
  watchJavaCache(stats: () => JavaCacheStats): void {
    javaCacheStats = stats;
  },
  javaFrames(list: ReadonlyArray<{ resolved: boolean; alternatives?: unknown[]; reason?: string }>): void {
    for (const f of list) {
      const result = !f.resolved ? 'unresolved' : f.alternatives ? 'ambiguous' : 'resolved';
      javaFrames.inc({ result, reason: f.resolved ? '' : (f.reason ?? 'unknown') });
    }
  },
  /** Where the map cache's numbers come from (the running server's resolver). */
  watchMapCache(stats: () => MapCacheStats): void {
    mapCacheStats = stats;
  },
  uploadAccepted(bytes: number): void {
    uploadBytes.inc(bytes);
  },
  /** Runs a merge and records its duration and whether it succeeded. */
  async timeMerge<T>(merge: () => Promise<T>): Promise<T> {
    const end = merges.startTimer();
    try {
      const result = await merge();
      end({ result: 'ok' });
      return result;
    } catch (err) {
      end({ result: (err as { errorCode?: string }).errorCode ?? 'error' });
      throw err;
    }
  },
  framesResolved(list: ReadonlyArray<{ resolved: boolean; reason?: string }>): void {
    // One inc per distinct reason, not per frame: prom-client hashes the labels on every inc.
    const counts = new Map<string, number>(); // '' = resolved
    for (const f of list) {
      const reason = f.resolved ? '' : (f.reason ?? 'unknown');
      counts.set(reason, (counts.get(reason) ?? 0) + 1);
    }
    for (const [reason, n] of counts) frames.inc({ resolved: String(reason === ''), reason }, n);
  },
};

/** Counts rejected calls of every async method of `target` (a Catalog or a BlobStore), without changing them. */
export function countStorageErrors<T extends object>(target: T, store: 'catalog' | 'blobs'): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver) as unknown;
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      return function (this: unknown, ...args: unknown[]) {
        const result = (value as (...a: unknown[]) => unknown).apply(this === receiver ? obj : this, args);
        if (result instanceof Promise) {
          result.catch(() => storageErrors.inc({ store, operation: prop }));
        }
        return result;
      };
    },
  });
}

/** One observation per answered request, labelled with the route pattern (never the raw URL: bounded cardinality). */
export function registerRequestMetrics(app: FastifyInstance): void {
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    requests.observe({ method: req.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });
}

export async function metricsText(): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}
