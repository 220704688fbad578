/** Public types of the stack resolver (API.md §8). */
import type { OriginalFunctionSource } from './names/frame-names.ts';
import type { SourceContext } from './sourcemap.ts';

/** One stored sourcemap tree (the files of one appId/version/env). */
export interface TreeSource {
  /** Stable id of this immutable-ish tree revision, used as cache namespace. */
  id: string;
  listFiles(): Promise<string[]>;
  /** Size and SHA-256 (hex) of a stored file, null if absent (the catalog's answer: no blob is read). */
  fileInfo(path: string): Promise<{ size: number; sha256: string } | null>;
  /** null if absent. */
  readFile(path: string): Promise<Buffer | null>;
  /** The stored lookup index of a map (index/layout.ts), null if none. Optional: without it, maps are parsed. */
  readIndex?(mapPath: string): Promise<Uint8Array | null>;
  /** Stores a (re)built lookup index beside its map. Optional. */
  writeIndex?(mapPath: string, index: Uint8Array): Promise<void>;
}

export interface FrameInput {
  url: string;
  line: number;
  column: number;
  functionName?: string;
}

/** Exactly one of `stack` and `frames`. */
export interface ResolveInput {
  stack?: string;
  frames?: FrameInput[];
  /**
   * Script URL → debug ID (lower-case UUID) as the browser SDK reported them: a frame whose URL
   * (exactly, else by its path) has one is resolved through it first (DebugIdFinder).
   */
  debugIds?: Record<string, string>;
}

/** A stored file carrying a debug ID, in the tree it belongs to (any version of any app of the workspace). */
export interface DebugIdLocation {
  tree: TreeSource;
  /** The file's tree path: a map, or a script whose map is found by the path rules in its tree. */
  path: string;
  identity: { appId: string; version: string; env: string };
}

/** The workspace's debug-ID index (Catalog.findDebugId), newest trees first. */
export interface DebugIdFinder {
  find(debugId: string): Promise<DebugIdLocation[]>;
}

export type UnresolvedReason = 'NoSourceMap' | 'NoMapping' | 'BadFrame';

/**
 * How a frame's map was found (API.md §8): `by` says which rule found it (null: none did), `map`
 * is the map's tree path (or the script, for an inline map). When nothing was found, `tried`
 * lists what was looked for and `closest` the stored files that come nearest (same file-name stem,
 * longest common path suffix first), so "uploaded but not applied" is answered by the API.
 */
export interface FrameMatch {
  by: 'debugId' | 'path' | 'sourceMappingURL' | 'suffix' | null;
  map: string | null;
  /** The frame's debug ID, when the request gave its script one (used or not). */
  debugId?: string;
  /** With `by: "debugId"`: the stored sourcemap (app, version, env) the map was found in. */
  from?: { appId: string; version: string; env: string };
  tried?: string[];
  closest?: string[];
}

export interface FrameResult {
  /** The frame's line as received (without its line terminator). */
  raw: string;
  functionName: string | null;
  url: string | null;
  /** 1-based, as browsers print them. */
  line: number | null;
  column: number | null;
  resolved: boolean;
  /** `sourceRoot` + `sources[i]`, as the map says. */
  source: string | null;
  /** 1-based. */
  originalLine: number | null;
  /** 1-based. */
  originalColumn: number | null;
  name: string | null;
  /**
   * False for third-party code: the original source is on the map's `ignoreList` (or
   * `x_google_ignoreList`) or under `node_modules` (for unresolved frames: the URL is).
   */
  inApp: boolean;
  match: FrameMatch;
  context?: SourceContext;
  /**
   * Resolved frames: the original name of the function the frame is in (`Cart.subtotal`,
   * `new Cart`, `get Cart.total`, `<anonymous>`), `<module>` for top-level code; null when it
   * cannot be known (see originalFunctionSource/Detail). names/ computes it.
   */
  originalFunction?: string | null;
  originalFunctionSource?: OriginalFunctionSource;
  originalFunctionDetail?: string;
  reason?: UnresolvedReason;
  /** Human-readable explanation of `reason` (e.g. which map paths were looked for). */
  detail?: string;
}

export interface ResolveResult {
  stack: string;
  frames: FrameResult[];
  /** Present (true) when more frames than `maxFrames` were given; the rest passed through as-is. */
  truncated?: true;
}
