/**
 * StackResolver: stack text (or a frame batch) + a stored tree → rewritten stack and per-frame
 * results (API.md §8). Parsing lines: frames.ts; choosing maps: locate.ts; parsed maps:
 * sourcemap.ts, cached in map-cache.ts, parsed off the main thread above a size threshold.
 */
import { parseFrameLine, renderV8Frame } from './frames.ts';
import type { ParsedFrame } from './frames.ts';
import { DEFAULT_STACK_LIMITS, checkStackLimits } from './limits.ts';
import type { StackLimits } from './limits.ts';
import { SuffixIndex, findSourceMappingURL, resolveMapRef, urlPath } from './locate.ts';
import { ParseAdmission } from './admission.ts';
import { DEFAULT_CACHE_BYTES, MapCache, cacheKey } from './map-cache.ts';
import { InvalidSourceMapError } from './sourcemap.ts';
import { makeIndexFile } from './index/make.ts';
import { IndexFormatError, type IndexedMap, indexMapSha256, readIndex } from './index/reader.ts';
import { MapParserPool, WorkerUnavailableError } from './worker-pool.ts';
import type { DebugIdFinder, FrameMatch, FrameResult, ResolveInput, ResolveResult, TreeSource } from './types.ts';
import { DebugIdsByUrl } from './debug-id.ts';
import { ANONYMOUS, MODULE_SCOPE } from './names/index.ts';
import { nameFromCallSite } from './names/frame-names.ts';
import type { OriginalFunctionFields, UnnamedFunction } from './names/frame-names.ts';
import { at, defined } from '../util/invariant.ts';

export interface StackResolverOptions {
  /** Byte budget of the parsed-map LRU. Default 256 MiB. */
  cacheBytes?: number;
  /** Source lines before/after the frame's line in `context`. Default 5. */
  contextLines?: number;
  /** Frames resolved per request; later lines pass through (`truncated: true`). Default 1000. */
  maxFrames?: number;
  /** Max stack size; larger → ApiError 'Stack.TooLarge'. Default 1 MiB. */
  maxStackBytes?: number;
  /** Maps of at least this many bytes are parsed in a worker thread. Default 64 KiB. */
  workerThresholdBytes?: number;
  /** Worker threads for parsing. Default: 1 on ≤ 2 cores, else 2. */
  workers?: number;
  /** Bytes of maps and scripts read and parsed at once, all requests together. Default 64 MiB. */
  parseBudgetBytes?: number;
  /** Cold parses at once. Default 4. */
  maxColdParses?: number;
  /** How long a cold load waits for room before 503 Server.Busy. Default 2 s. */
  parseQueueMs?: number;
  /** Heap (MiB) and deadline (ms) of each parser worker. */
  parserHeapMb?: number;
  parseTimeoutMs?: number;
}

/**
 * 64 KiB: JSON.parse of the worst 64 KiB (deeply nested arrays, ~350 ns/byte on a loaded core)
 * stays near 20 ms on the serving thread; anything bigger goes to a worker with resourceLimits.
 */
export const DEFAULT_WORKER_THRESHOLD_BYTES = 64 * 1024;
const MiB = 1024 * 1024;
/** Frames being located at once within one request. */
const LOCATE_CONCURRENCY = 8;

/** A cache entry: the parsed map and how to name it in details. */
interface CachedMap {
  /** The map's lookup index, with the enclosing-function ranges of its generated script. */
  index: IndexedMap;
  /** The map's tree path, or `<js path> (inline sourceMappingURL)`. */
  label: string;
  cost: number;
}

/**
 * The `originalFunction*` fields of a frame (API.md) from the ranges stored in the index, or, when
 * they give no original name, what is known so far: the call site decides (nameFromCallSite).
 */
function originalFunctionFields(index: IndexedMap, line: number, column: number): OriginalFunctionFields | UnnamedFunction {
  const meta = index.functionMeta ?? { source: 'script-missing' as const };
  if (meta.source !== 'scopes' && meta.source !== 'script') {
    return {
      name: null,
      source: meta.source === 'script-unparsable' ? meta.source : 'script-missing',
      ...(meta.problem ? { problem: meta.problem } : {}),
    };
  }
  const fn = index.enclosingFunction(line, column);
  if (fn && (fn.provisional || fn.name === ANONYMOUS)) return { name: fn.name, from: meta.source };
  return { originalFunction: fn?.name ?? MODULE_SCOPE, originalFunctionSource: meta.source };
}

/**
 * Adds the `originalFunction*` fields to a resolved frame, in this order, after its other fields.
 * Plain stores, not Object.assign, which took ~2.5 µs a frame on the warm path (docs/BENCHMARKS.md, 3b).
 */
function setOriginalFunction(result: FrameResult, fields: OriginalFunctionFields): FrameResult {
  result.originalFunction = fields.originalFunction;
  result.originalFunctionSource = fields.originalFunctionSource;
  if (fields.originalFunctionDetail !== undefined) result.originalFunctionDetail = fields.originalFunctionDetail;
  return result;
}

/**
 * The caller of frame `k`: the next frame outward that has a location (native frames such as
 * `Array.map (<anonymous>)` have none and are skipped, as Sentry skips frames it cannot process).
 */
function callerOf(frames: readonly ParsedFrame[], results: readonly FrameResult[], k: number): FrameResult | null {
  for (let j = k + 1; j < results.length; j++) if (at(frames, j).span) return at(results, j);
  return null;
}

/** Why no map was found or why it is unusable: remembered for the revision, like hits. */
interface Missing {
  missing: string;
  cost: number;
  /** What was looked for, and the stored files that come closest (when no map was found). */
  tried?: string[];
  closest?: string[];
}

const missing = (why: string, tried?: string[], closest?: string[]): Missing => ({
  missing: why,
  cost: 256 + why.length * 2 + JSON.stringify([tried, closest]).length * 2,
  ...(tried ? { tried } : {}),
  ...(closest ? { closest } : {}),
});

/** Paths under node_modules are third-party code. */
const NODE_MODULES = /(^|[/\\])node_modules[/\\]/;

/** How the map of one script path is found, remembered per revision (misses included). */
type Decision = { map: string; how: MatchKind; cost: number; script?: string } | { inline: string; how: MatchKind; cost: number } | Missing;

type MatchKind = NonNullable<FrameMatch['by']>;

/** What the per-revision cache holds. */
type Entry = CachedMap | Missing | Decision | { suffix: SuffixIndex; cost: number };

type Located =
  | (CachedMap & { how: MatchKind; mapPath: string; from?: FrameMatch['from'] })
  | (Missing & { how?: MatchKind; mapPath?: string });

/** Stored files looked at per debug ID (the newest trees first): one usable map ends the search. */
const DEBUG_ID_CANDIDATES = 8;

/**
 * Per-request memo: each distinct script path, and each distinct debug ID, is located once per
 * request. `tree` is null when nothing is stored for the requested identity (debug IDs may still
 * find maps of other versions).
 */
interface Scope {
  tree: TreeSource | null;
  located: Map<string, Promise<Located>>;
  /** Frame URL → urlPath(URL): a stack's frames mostly share a few URLs. */
  paths: Map<string, string | null>;
  debugIds: DebugIdsByUrl | null;
  finder: DebugIdFinder | null;
}

export class StackResolver {
  readonly limits: StackLimits;
  readonly admission: ParseAdmission;
  private readonly contextLines: number;
  private readonly workerThreshold: number;
  private readonly cache: MapCache<Entry>;
  private readonly pool: MapParserPool;
  private parses = 0;
  private indexReads = 0;
  /** When the current slice of synchronous work began, and the shared yield (see breathe). */
  private sliceStart = performance.now();
  private pause: Promise<void> | null = null;

  constructor(opts: StackResolverOptions = {}) {
    this.limits = {
      maxStackBytes: opts.maxStackBytes ?? DEFAULT_STACK_LIMITS.maxStackBytes,
      maxFrames: opts.maxFrames ?? DEFAULT_STACK_LIMITS.maxFrames,
    };
    this.contextLines = opts.contextLines ?? 5;
    this.workerThreshold = opts.workerThresholdBytes ?? DEFAULT_WORKER_THRESHOLD_BYTES;
    this.cache = new MapCache(opts.cacheBytes ?? DEFAULT_CACHE_BYTES);
    this.pool = new MapParserPool(opts.workers, undefined, {
      ...(opts.parserHeapMb ? { heapMb: opts.parserHeapMb } : {}),
      ...(opts.parseTimeoutMs ? { jobTimeoutMs: opts.parseTimeoutMs } : {}),
    });
    this.admission = new ParseAdmission({
      budgetBytes: opts.parseBudgetBytes ?? 64 * MiB,
      maxConcurrent: opts.maxColdParses ?? 4,
      queueMs: opts.parseQueueMs ?? 2000,
    });
  }

  /**
   * Resolves `input.stack` (or `input.frames`, rendered V8-style) against `tree`
   * (null = nothing stored: every frame is NoSourceMap). Throws ApiError for invalid or
   * oversized input; TreeSource I/O errors propagate.
   */
  async resolve(tree: TreeSource | null, input: ResolveInput, finder: DebugIdFinder | null = null): Promise<ResolveResult> {
    checkStackLimits(input, this.limits);
    const parsed: { at: number; frame: ParsedFrame }[] = [];
    let lines: string[];
    let truncated = false;
    if (input.stack !== undefined) {
      lines = input.stack.split('\n'); // a trailing '\r' stays on its line, so CRLF survives the join
      for (const [i, line] of lines.entries()) {
        const body = line.endsWith('\r') ? line.slice(0, -1) : line;
        const frame = parseFrameLine(body);
        if (!frame) continue;
        if (parsed.length === this.limits.maxFrames) {
          truncated = true;
          break;
        }
        parsed.push({ at: i, frame });
      }
    } else {
      const frames = defined(input.frames, 'input.frames (checkStackLimits requires stack or frames)');
      lines = [];
      frames.forEach((f, i) => {
        const frame = renderV8Frame(f.url, f.line, f.column, f.functionName);
        lines.push(frame.raw);
        if (i < this.limits.maxFrames) parsed.push({ at: i, frame });
      });
      truncated = frames.length > this.limits.maxFrames;
    }

    const debugIds = input.debugIds && Object.keys(input.debugIds).length > 0 ? new DebugIdsByUrl(input.debugIds) : null;
    const scope: Scope = { tree, located: new Map(), paths: new Map(), debugIds, finder: debugIds ? finder : null };
    // A few frames at a time, each yielding when the slice is used up (see breathe): 1 000
    // frames started at once would all run between two turns of the event loop.
    const results: FrameResult[] = new Array(parsed.length);
    /** Frames whose enclosing function the map cannot name: the caller's call site may (below). */
    const unnamed = new Map<number, UnnamedFunction>();
    let next = 0;
    const runner = async () => {
      while (next < parsed.length) {
        const k = next++;
        const r = await this.resolveFrame(scope, at(parsed, k).frame);
        if ('unnamed' in r) {
          unnamed.set(k, r.unnamed);
          results[k] = r.result;
        } else results[k] = r;
      }
    };
    await Promise.all(Array.from({ length: Math.min(LOCATE_CONCURRENCY, parsed.length) }, runner));
    const frames = parsed.map((p) => p.frame);
    for (const [k, fn] of unnamed) {
      const caller = callerOf(frames, results, k);
      const result = at(results, k);
      setOriginalFunction(result, nameFromCallSite(fn, caller?.resolved ? caller.name : null, result.functionName));
    }
    results.forEach((r, k) => {
      if (!r.resolved) return; // unresolved lines are kept byte-for-byte
      const { at: lineIndex, frame } = at(parsed, k);
      const [s, e] = defined(frame.span, 'the span of a resolved frame');
      const cr = at(lines, lineIndex).endsWith('\r') ? '\r' : '';
      lines[lineIndex] = `${frame.raw.slice(0, s)}${r.source}:${r.originalLine}:${r.originalColumn}${frame.raw.slice(e)}${cr}`;
    });
    const out: ResolveResult = { stack: lines.join('\n'), frames: results };
    if (truncated) out.truncated = true;
    return out;
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

  stats(): { entries: number; bytes: number; parses: number; indexReads: number; hits: number } {
    return { entries: this.cache.size, bytes: this.cache.bytes, parses: this.parses, indexReads: this.indexReads, hits: this.cache.hits };
  }

  /**
   * Catalog lookups (SQLite) are synchronous, so 1 000 frames resolved through already-settled
   * promises would run in one macrotask. Every frame and locate step calls this: once 5 ms of the
   * current slice are used, all callers wait for one shared setImmediate, so each turn of the
   * event loop gives resolution one slice, whatever the number of requests and runners.
   */
  private async breathe(): Promise<void> {
    if (performance.now() - this.sliceStart < 5) return;
    this.pause ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        this.pause = null;
        this.sliceStart = performance.now();
        resolve();
      }),
    );
    await this.pause;
  }

  private async resolveFrame(scope: Scope, f: ParsedFrame): Promise<FrameResult | { result: FrameResult; unnamed: UnnamedFunction }> {
    await this.breathe();
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
      inApp: !(f.url && NODE_MODULES.test(f.url)),
      match: { by: null, map: null },
    };
    // A frame has a span only with a url, line and column (frames.ts); all four are checked for the types.
    const { url, line, column } = f;
    if (!f.span || url === null || line === null || column === null)
      return { ...base, reason: 'BadFrame', detail: 'the frame has no url:line:column location' };
    let path = scope.paths.get(url);
    if (path === undefined) scope.paths.set(url, (path = urlPath(url)));
    const debugId = scope.debugIds?.get(url, path) ?? null;
    // A debug ID names the map whatever the version or path; when it finds none, the path rules decide.
    let viaId: Located | null = null;
    if (debugId !== null) {
      const key = `\u0000debugId\u0000${debugId}`;
      let found = scope.located.get(key);
      if (!found) scope.located.set(key, (found = this.locateByDebugId(scope.finder, debugId)));
      viaId = await found;
    }
    const idFields = debugId !== null ? { debugId } : {};
    let loc: Located;
    if (viaId && !('missing' in viaId)) loc = viaId;
    else if (path === null) {
      return {
        ...base,
        reason: 'NoSourceMap',
        detail: [viaId?.missing, `no file path in URL ${f.url}`].filter(Boolean).join('; '),
        match: { ...base.match, ...idFields },
      };
    } else if (!scope.tree) {
      const tried = [...(viaId?.tried ?? []), `${path}.map`];
      const detail = `${viaId ? `${viaId.missing}; ` : ''}no sourcemap is stored for this app/version/env (looked for ${path}.map)`;
      return { ...base, reason: 'NoSourceMap', detail, match: { by: null, map: null, ...idFields, tried, closest: [] } };
    } else {
      let located = scope.located.get(path);
      if (!located) scope.located.set(path, (located = this.locate(scope.tree, path)));
      loc = await located;
      if (viaId && 'missing' in loc) {
        loc = {
          ...loc,
          missing: `${viaId.missing}; ${loc.missing}`,
          ...(loc.tried ? { tried: [...(viaId.tried ?? []), ...loc.tried] } : {}),
        };
      }
    }
    const match: FrameMatch = {
      by: loc.how ?? null,
      map: loc.mapPath ?? null,
      ...idFields,
      ...('from' in loc && loc.from ? { from: loc.from } : {}),
    };
    if ('missing' in loc) {
      if (loc.tried) Object.assign(match, { tried: loc.tried, closest: loc.closest ?? [] });
      return { ...base, reason: 'NoSourceMap', detail: loc.missing, match };
    }

    const { index, label } = loc;
    const m = index.lookup(line, column);
    const source = m ? index.source(m.sourceIndex) : null;
    if (!m || source === null) {
      const detail =
        line > index.lineCount
          ? `${label} maps ${index.lineCount} generated line(s); line ${f.line} is past the end`
          : `${label} has no mapping for line ${f.line}, column ${f.column}`;
      return { ...base, reason: 'NoMapping', detail, match };
    }
    const context = index.context(m.sourceIndex, m.line, this.contextLines);
    // Spelled out in `base`'s key order (the answer's field order), not spread: this is the hot path.
    const result: FrameResult = {
      raw: base.raw,
      functionName: base.functionName,
      url: base.url,
      line: base.line,
      column: base.column,
      resolved: true,
      source,
      originalLine: m.line,
      originalColumn: m.column,
      name: index.name(m.nameIndex),
      inApp: !index.ignored(m.sourceIndex) && !NODE_MODULES.test(source),
      match,
    };
    if (context) result.context = context;
    const fn = originalFunctionFields(index, line, column);
    if ('originalFunction' in fn) return setOriginalFunction(result, fn);
    return { result, unnamed: fn };
  }

  /**
   * The map a debug ID names: among the stored files carrying it (newest trees first), a map is
   * loaded as it is; a script's map is found by the path rules in the script's own tree. The first
   * usable one wins. Missing (with what was tried) when none is stored or none is usable.
   */
  private async locateByDebugId(finder: DebugIdFinder | null, debugId: string): Promise<Located> {
    await this.breathe();
    const tried = [`debug ID ${debugId}`];
    const hits = finder ? (await finder.find(debugId)).slice(0, DEBUG_ID_CANDIDATES) : [];
    if (hits.length === 0) return missing(`no stored file carries debug ID ${debugId}`, tried);
    // Newest tree first (the finder's order); within a tree, a map carrying the ID before a script's map.
    const treeRank = new Map<string, number>();
    for (const h of hits) if (!treeRank.has(h.tree.id)) treeRank.set(h.tree.id, treeRank.size);
    const rank = (h: (typeof hits)[number]) => defined(treeRank.get(h.tree.id), "the rank of a hit's tree");
    hits.sort((a, b) => rank(a) - rank(b) || Number(b.path.endsWith('.map')) - Number(a.path.endsWith('.map')));
    const problems: string[] = [];
    for (const hit of hits) {
      const where = `${hit.path} (appId ${hit.identity.appId}, version ${hit.identity.version}, env ${hit.identity.env})`;
      if (hit.path.endsWith('.map')) {
        try {
          const loaded = await this.loadMap(hit.tree, hit.path);
          if (loaded && !('missing' in loaded)) return { ...loaded, how: 'debugId', mapPath: hit.path, from: hit.identity };
          problems.push(loaded ? loaded.missing : `${where} is no longer stored`);
        } catch (e) {
          if (!(e instanceof InvalidSourceMapError)) throw e;
          problems.push(e.message);
        }
      } else {
        const loc = await this.locate(hit.tree, hit.path);
        if (!('missing' in loc)) return { ...loc, how: 'debugId', from: hit.identity };
        problems.push(`the map of ${where}: ${loc.missing}`);
      }
    }
    return missing(`debug ID ${debugId} is carried by stored files, but none leads to a usable map: ${problems.join('; ')}`, tried);
  }

  /** The map for a URL path: the remembered decision for this revision, then the map it names. */
  private async locate(tree: TreeSource, path: string): Promise<Located> {
    try {
      const decision = (await this.cache.getOrLoad(cacheKey(tree.id, `${path}\u0000locate`), () => this.decide(tree, path))) as Decision;
      if ('missing' in decision) return decision;
      const loaded =
        'map' in decision ? await this.loadMap(tree, decision.map, decision.script) : await this.loadInline(tree, decision.inline, null);
      const mapPath = 'map' in decision ? decision.map : decision.inline;
      if (!loaded) return { ...missing(`${mapPath} is no longer stored`), how: decision.how, mapPath };
      return { ...loaded, how: decision.how, mapPath };
    } catch (e) {
      if (e instanceof InvalidSourceMapError) return missing(e.message);
      throw e;
    }
  }

  /**
   * Which map serves a URL path: `<path>.map`, else the stored `<path>`'s sourceMappingURL, else
   * the tree's `.map` with the longest common path suffix (SuffixIndex, built once per revision).
   * The first map that exists decides: if it is unusable (bad JSON…), the frame is NoSourceMap
   * with that reason. Only the catalog is asked whether files exist; the script is read (its tail
   * searched) at most once per revision.
   */
  private async decide(tree: TreeSource, path: string): Promise<Decision> {
    await this.breathe();
    const exact = `${path}.map`;
    const tried = [exact];
    if ((await tree.fileInfo(exact)) !== null) return { map: exact, how: 'path', cost: 128 + exact.length * 2 };

    const jsSize = (await tree.fileInfo(path))?.size ?? null;
    if (jsSize === null) tried.push(`a sourceMappingURL comment in ${path} (not stored)`);
    else {
      const via = await this.admission.run(jsSize, jsSize >= this.workerThreshold, async (): Promise<Decision | string> => {
        const js = await tree.readFile(path);
        if (!js) return `a sourceMappingURL comment in ${path} (not stored)`;
        const ref = findSourceMappingURL(js);
        if (!ref) return `a sourceMappingURL comment in ${path} (none found)`;
        const target = resolveMapRef(path, ref);
        if (!target) return `the sourceMappingURL of ${path} (${ref.slice(0, 200)}, unusable)`;
        if (target.kind === 'inline') {
          // Parsed now, with the bytes already held: cached under the script's own key.
          await this.loadInline(tree, path, { js, bytes: target.bytes });
          return { inline: path, how: 'sourceMappingURL', cost: 128 + path.length * 2 };
        }
        const note = `${target.path} (named by the sourceMappingURL of ${path})`;
        if (target.path === exact || (await tree.fileInfo(target.path)) === null) return note;
        return { map: target.path, script: path, how: 'sourceMappingURL', cost: 128 + (target.path.length + path.length) * 2 };
      });
      if (typeof via !== 'string') return via;
      tried.push(via);
    }

    await this.breathe();
    const suffix = (await this.cache.getOrLoad(cacheKey(tree.id, '\u0000suffix-index'), async () => {
      const index = new SuffixIndex(await tree.listFiles());
      return { suffix: index, cost: 256 + index.chars };
    })) as { suffix: SuffixIndex };
    const candidate = suffix.suffix.match(exact);
    tried.push(`a .map file whose path ends with ${exact.slice(exact.lastIndexOf('/') + 1)}`);
    if (candidate && candidate !== exact) return { map: candidate, how: 'suffix', cost: 128 + candidate.length * 2 };
    return missing(`no sourcemap found for ${path}: looked for ${tried.join(', then ')}`, tried, suffix.suffix.closest(path));
  }

  /**
   * The parsed map at a tree path (cached), null if absent; a Missing (remembered for the
   * revision) if unusable. Reading and parsing hold the map's bytes of the admission budget.
   */
  private async loadMap(tree: TreeSource, path: string, scriptPath = path.replace(/\.map$/, '')): Promise<CachedMap | Missing | null> {
    const found = await this.cache.getOrLoad(cacheKey(tree.id, path), async () => {
      await this.breathe();
      const info = await tree.fileInfo(path);
      if (info === null) return null;
      const { size, sha256 } = info;
      // The index read (a GET on S3) does not wait for the script's catalog row; both are checked after.
      const [script, stored] = await Promise.all([
        scriptPath === path ? null : tree.fileInfo(scriptPath),
        this.admission.run(size, false, () => this.storedIndex(tree, path, sha256)),
      ]);
      if (stored && this.indexNamesScript(stored, script?.sha256 ?? null)) {
        this.indexReads++;
        return { index: stored, label: path, cost: stored.cost };
      }
      // No usable index: rebuild it from the map and its generated script (for function names).
      const scriptSize = script?.size ?? 0;
      const weight = size + scriptSize;
      return this.admission.run(weight, weight >= this.workerThreshold, async () => {
        const bytes = await tree.readFile(path);
        if (!bytes) return null;
        const script = scriptSize > 0 ? await tree.readFile(scriptPath) : null;
        try {
          const file = await this.indexBytes(bytes, script, sha256);
          const index = readIndex(file);
          // Missing or from another format version: keep the rebuilt one for the next restart.
          await tree.writeIndex?.(path, file).catch(() => {});
          return { index, label: path, cost: index.cost };
        } catch (e) {
          if (e instanceof InvalidSourceMapError) return missing(`${path} is not a usable sourcemap: ${e.message}`);
          throw e;
        }
      });
    });
    return found as CachedMap | Missing | null;
  }

  /**
   * The map's stored lookup index (built at merge), or null when absent, torn or built from other
   * map bytes (the map was overwritten since). Its function names are checked by indexNamesScript.
   */
  private async storedIndex(tree: TreeSource, path: string, sha256: string): Promise<IndexedMap | null> {
    const file = await tree.readIndex?.(path);
    // Built from other bytes (the map was overwritten since): rebuilt by the caller.
    if (!file || indexMapSha256(file) !== sha256) return null;
    try {
      return readIndex(file);
    } catch (e) {
      if (e instanceof IndexFormatError) return null; // rebuilt from the map by the caller
      throw e;
    }
  }

  /**
   * Whether a stored index's function names fit the generated script stored now (`scriptSha256`,
   * null = none): not when they came from another script, e.g. one uploaded after its map
   * (upload_file_content). `scopes` name functions without the script.
   */
  private indexNamesScript(index: IndexedMap, scriptSha256: string | null): boolean {
    const meta = index.functionMeta;
    return meta?.source === 'scopes' || (meta?.script ?? null) === scriptSha256;
  }

  /**
   * The inline map of a script (cached under the script's key); `js` and `bytes` (the script and
   * its decoded map) when already in hand.
   */
  private async loadInline(
    tree: TreeSource,
    jsPath: string,
    inHand: { js: Buffer; bytes: Buffer } | null,
  ): Promise<CachedMap | Missing | null> {
    const label = `${jsPath} (inline sourceMappingURL)`;
    const parse = async (js: Buffer, data: Buffer): Promise<CachedMap | Missing> => {
      try {
        const index = readIndex(await this.indexBytes(data, js));
        return { index, label, cost: index.cost };
      } catch (e) {
        if (e instanceof InvalidSourceMapError) return missing(`${label}: ${e.message}`);
        throw e;
      }
    };
    const found = await this.cache.getOrLoad(cacheKey(tree.id, `${jsPath}\u0000js`), async () => {
      if (inHand) return parse(inHand.js, inHand.bytes); // the caller holds the admission for these bytes
      const size = (await tree.fileInfo(jsPath))?.size ?? null;
      if (size === null) return null;
      return this.admission.run(size, size >= this.workerThreshold, async () => {
        const js = await tree.readFile(jsPath);
        const ref = js && findSourceMappingURL(js);
        const target = ref ? resolveMapRef(jsPath, ref) : null;
        return js && target?.kind === 'inline' ? parse(js, target.bytes) : missing(`${label} is gone`);
      });
    });
    return found as CachedMap | Missing | null;
  }

  /**
   * Map bytes (and its generated script, for function names) → lookup index file
   * (index/make.ts), in a worker when either is at least the threshold.
   */
  private async indexBytes(bytes: Uint8Array, script: Uint8Array | null = null, sha256 = ''): Promise<Uint8Array> {
    this.parses++;
    if (bytes.byteLength + (script?.byteLength ?? 0) >= this.workerThreshold && !this.pool.unavailable) {
      try {
        return await this.pool.parse(bytes, script, sha256);
      } catch (e) {
        if (!(e instanceof WorkerUnavailableError)) throw e;
        // Workers cannot start in this process: parse inline rather than fail.
      }
    }
    return makeIndexFile(bytes, script, sha256);
  }

  /**
   * Builds the lookup index of a map at merge time (bounded like any cold parse: admission bytes
   * and slot, a worker with resourceLimits), waiting for room as long as `waitMs`. Throws
   * InvalidSourceMapError for maps that cannot be indexed.
   */
  async buildIndex(bytes: Uint8Array, sha256: string, script: Uint8Array | null = null, waitMs = 10 * 60_000): Promise<Uint8Array> {
    const weight = bytes.byteLength + (script?.byteLength ?? 0);
    return this.admission.run(weight, weight >= this.workerThreshold, () => this.indexBytes(bytes, script, sha256), waitMs);
  }
}
