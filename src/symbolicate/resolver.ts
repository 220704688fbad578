/**
 * StackResolver: stack text (or a frame batch) + a stored tree → rewritten stack and per-frame
 * results (API.md §8). Parsing lines: frames.ts; choosing maps: locate.ts; parsed maps:
 * sourcemap.ts, cached in map-cache.ts, parsed off the main thread above a size threshold.
 */
import { parseFrameLine, renderV8Frame } from './frames.ts';
import type { ParsedFrame } from './frames.ts';
import { DEFAULT_STACK_LIMITS, checkStackLimits } from './limits.ts';
import type { StackLimits } from './limits.ts';
import { findSourceMappingURL, resolveMapRef, suffixMatch, urlPath } from './locate.ts';
import { DEFAULT_CACHE_BYTES, MapCache, cacheKey } from './map-cache.ts';
import { InvalidSourceMapError, SourceMapIndex, packSourceMap } from './sourcemap.ts';
import { MapParserPool, WorkerUnavailableError } from './worker-pool.ts';
import { loadFunctionNames, originalFunctionFields } from './names/frame-names.ts';
import type { FunctionNames } from './names/frame-names.ts';
import type { FrameResult, ResolveInput, ResolveResult, TreeSource } from './types.ts';

export interface StackResolverOptions {
  /** Byte budget of the parsed-map LRU. Default 256 MiB. */
  cacheBytes?: number;
  /** Source lines before/after the frame's line in `context`. Default 5. */
  contextLines?: number;
  /** Frames resolved per request; later lines pass through (`truncated: true`). Default 1000. */
  maxFrames?: number;
  /** Max stack size; larger → ApiError 'Stack.TooLarge'. Default 1 MiB. */
  maxStackBytes?: number;
  /** Maps of at least this many bytes are parsed in a worker thread. Default 2 MiB. */
  workerThresholdBytes?: number;
  /** Worker threads for parsing. Default: 1 on ≤ 2 cores, else 2. */
  workers?: number;
}

export const DEFAULT_WORKER_THRESHOLD_BYTES = 2 * 1024 * 1024;

/** A cache entry: the parsed map and how to name it in details. */
interface CachedMap {
  index: SourceMapIndex;
  /** The map's tree path, or `<js path> (inline sourceMappingURL)`. */
  label: string;
  cost: number;
  /** Function ranges of the generated script, for `originalFunction`. */
  functions: FunctionNames;
}

/** Why no map was found; shared with concurrent requests, never cached. */
interface Missing {
  missing: string;
  cost: 0;
  transient: true;
}

type Located = CachedMap | Missing;

const missing = (why: string): Missing => ({ missing: why, cost: 0, transient: true });

/** Per-request memo: misses and the file listing live only this long. */
interface Scope {
  tree: TreeSource;
  located: Map<string, Promise<Located>>;
  files?: Promise<string[]>;
}

export class StackResolver {
  readonly limits: StackLimits;
  private readonly contextLines: number;
  private readonly workerThreshold: number;
  private readonly cache: MapCache<Located>;
  private readonly pool: MapParserPool;
  private parses = 0;

  constructor(opts: StackResolverOptions = {}) {
    this.limits = {
      maxStackBytes: opts.maxStackBytes ?? DEFAULT_STACK_LIMITS.maxStackBytes,
      maxFrames: opts.maxFrames ?? DEFAULT_STACK_LIMITS.maxFrames,
    };
    this.contextLines = opts.contextLines ?? 5;
    this.workerThreshold = opts.workerThresholdBytes ?? DEFAULT_WORKER_THRESHOLD_BYTES;
    this.cache = new MapCache(opts.cacheBytes ?? DEFAULT_CACHE_BYTES);
    this.pool = new MapParserPool(opts.workers);
  }

  /**
   * Resolves `input.stack` (or `input.frames`, rendered V8-style) against `tree`
   * (null = nothing stored: every frame is NoSourceMap). Throws ApiError for invalid or
   * oversized input; TreeSource I/O errors propagate.
   */
  async resolve(tree: TreeSource | null, input: ResolveInput): Promise<ResolveResult> {
    checkStackLimits(input, this.limits);
    const parsed: { at: number; frame: ParsedFrame }[] = [];
    let lines: string[];
    let truncated = false;
    if (input.stack !== undefined) {
      lines = input.stack.split('\n'); // a trailing '\r' stays on its line, so CRLF survives the join
      for (let i = 0; i < lines.length; i++) {
        const body = lines[i]!.endsWith('\r') ? lines[i]!.slice(0, -1) : lines[i]!;
        const frame = parseFrameLine(body);
        if (!frame) continue;
        if (parsed.length === this.limits.maxFrames) {
          truncated = true;
          break;
        }
        parsed.push({ at: i, frame });
      }
    } else {
      const frames = input.frames!;
      lines = [];
      frames.forEach((f, i) => {
        const frame = renderV8Frame(f.url, f.line, f.column, f.functionName);
        lines.push(frame.raw);
        if (i < this.limits.maxFrames) parsed.push({ at: i, frame });
      });
      truncated = frames.length > this.limits.maxFrames;
    }

    const scope: Scope | null = tree ? { tree, located: new Map() } : null;
    const results = await Promise.all(parsed.map(({ frame }) => this.resolveFrame(scope, frame)));
    results.forEach((r, k) => {
      if (!r.resolved) return; // unresolved lines are kept byte-for-byte
      const { at, frame } = parsed[k]!;
      const [s, e] = frame.span!;
      const cr = lines[at]!.endsWith('\r') ? '\r' : '';
      lines[at] = `${frame.raw.slice(0, s)}${r.source}:${r.originalLine}:${r.originalColumn}${frame.raw.slice(e)}${cr}`;
    });
    const out: ResolveResult = { stack: lines.join('\n'), frames: results };
    if (truncated) out.truncated = true;
    return out;
  }

  /** Starts the parser workers ahead of the first big map (see MapParserPool.prestart). */
  prestartWorkers(): void {
    this.pool.prestart();
  }

  /** Drops every cached map of this tree (call when a sourcemap is replaced or deleted). */
  invalidateTree(treeId: string): void {
    this.cache.invalidateTree(treeId);
  }

  /** Stops the parser workers and empties the cache. The resolver stays usable. */
  async close(): Promise<void> {
    await this.pool.close();
    this.cache.clear();
  }

  stats(): { entries: number; bytes: number; parses: number; hits: number } {
    return { entries: this.cache.size, bytes: this.cache.bytes, parses: this.parses, hits: this.cache.hits };
  }

  private async resolveFrame(scope: Scope | null, f: ParsedFrame): Promise<FrameResult> {
    const base: FrameResult = {
      raw: f.raw,
      functionName: f.functionName,
      url: f.url,
      line: f.line,
      column: f.column,
      resolved: false,
      source: null,
      originalLine: null,
      originalColumn: null,
      name: null,
    };
    if (!f.span) return { ...base, reason: 'BadFrame', detail: 'the frame has no url:line:column location' };
    const path = urlPath(f.url!);
    if (path === null) return { ...base, reason: 'NoSourceMap', detail: `no file path in URL ${f.url}` };
    if (!scope) {
      return { ...base, reason: 'NoSourceMap', detail: `no sourcemap is stored for this app/version/env (looked for ${path}.map)` };
    }
    let located = scope.located.get(path);
    if (!located) scope.located.set(path, (located = this.locate(scope, path)));
    const loc = await located;
    if ('missing' in loc) return { ...base, reason: 'NoSourceMap', detail: loc.missing };

    const { index, label } = loc;
    const m = index.lookup(f.line!, f.column!);
    const source = m ? index.source(m.sourceIndex) : null;
    if (!m || source === null) {
      const detail =
        f.line! > index.lineCount
          ? `${label} maps ${index.lineCount} generated line(s); line ${f.line} is past the end`
          : `${label} has no mapping for line ${f.line}, column ${f.column}`;
      return { ...base, reason: 'NoMapping', detail };
    }
    const context = index.context(m.sourceIndex, m.line, this.contextLines);
    return {
      ...base,
      resolved: true,
      source,
      originalLine: m.line,
      originalColumn: m.column,
      name: index.name(m.nameIndex),
      ...(context ? { context } : {}),
      ...originalFunctionFields(loc.functions, f.line!, f.column!),
    };
  }

  /**
   * Finds the map for a URL path: `<path>.map`, else the stored `<path>`'s sourceMappingURL,
   * else the tree's `.map` with the longest common path suffix. The first map that exists
   * decides: if it is unusable (bad JSON…), the frame is NoSourceMap with that reason.
   */
  private async locate(scope: Scope, path: string): Promise<Located> {
    const { tree } = scope;
    const exact = `${path}.map`;
    const tried = [exact];
    try {
      const direct = await this.loadMap(tree, exact);
      if (direct) return direct;

      // Cached under the script's key too, so warm requests skip re-reading the script. When the
      // comment names a separate .map, both keys hold the same map and each is charged its full
      // cost: conservative (the byte budget is never exceeded), and such layouts are rare.
      const viaJs = await this.cache.getOrLoad(cacheKey(tree.id, `${path}\u0000js`), async () => {
        const js = await tree.readFile(path);
        if (!js) return missing(`a sourceMappingURL comment in ${path} (not stored)`);
        const ref = findSourceMappingURL(js.toString('utf8'));
        if (!ref) return missing(`a sourceMappingURL comment in ${path} (none found)`);
        const target = resolveMapRef(path, ref);
        if (!target) return missing(`the sourceMappingURL of ${path} (${ref.slice(0, 200)}, unusable)`);
        if (target.kind === 'inline') {
          const label = `${path} (inline sourceMappingURL)`;
          const index = await this.parseBytes(target.bytes).catch((e: Error) => {
            throw new InvalidSourceMapError(`${label}: ${e.message}`);
          });
          const functions = await loadFunctionNames(target.bytes, index, async () => js);
          return { index, label, cost: index.cost + functions.cost, functions };
        }
        const note = missing(`${target.path} (named by the sourceMappingURL of ${path})`);
        return target.path === exact ? note : ((await this.loadMap(tree, target.path, path)) ?? note);
      });
      if (viaJs && !('missing' in viaJs)) return viaJs;
      tried.push(viaJs?.missing ?? `a sourceMappingURL comment in ${path}`);

      scope.files ??= tree.listFiles();
      const files = await scope.files;
      const candidate = suffixMatch(exact, files.filter((f) => f !== exact));
      tried.push(`a .map file whose path ends with ${exact.slice(exact.lastIndexOf('/') + 1)}`);
      if (candidate) {
        const bySuffix = await this.loadMap(tree, candidate);
        if (bySuffix) return bySuffix;
      }
    } catch (e) {
      if (e instanceof InvalidSourceMapError) return missing(e.message);
      throw e;
    }
    return missing(`no sourcemap found for ${path}: looked for ${tried.join(', then ')}`);
  }

  /** The parsed map at a tree path (cached), null if absent; InvalidSourceMapError if unusable. */
  private async loadMap(tree: TreeSource, path: string, scriptPath = path.replace(/\.map$/, '')): Promise<CachedMap | null> {
    const found = await this.cache.getOrLoad(cacheKey(tree.id, path), async () => {
      const bytes = await tree.readFile(path);
      if (!bytes) return null;
      const index = await this.parseBytes(bytes).catch((e: Error) => {
        throw new InvalidSourceMapError(`${path} is not a usable sourcemap: ${e.message}`);
      });
      const functions = await loadFunctionNames(bytes, index, () => (scriptPath === path ? Promise.resolve(null) : tree.readFile(scriptPath)));
      return { index, label: path, cost: index.cost + functions.cost, functions };
    });
    return found && !('missing' in found) ? found : null;
  }

  private async parseBytes(bytes: Uint8Array): Promise<SourceMapIndex> {
    this.parses++;
    if (bytes.byteLength >= this.workerThreshold && !this.pool.unavailable) {
      try {
        return new SourceMapIndex(await this.pool.parse(bytes));
      } catch (e) {
        if (!(e instanceof WorkerUnavailableError)) throw e;
        // Workers cannot start in this process: parse inline rather than fail.
      }
    }
    return new SourceMapIndex(packSourceMap(bytes));
  }
}
