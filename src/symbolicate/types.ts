/** Public types of the stack resolver (API.md §8). */
import type { OriginalFunctionSource } from './names/frame-names.ts';
import type { SourceContext } from './sourcemap.ts';

/** One stored sourcemap tree (the files of one appId/version/env). */
export interface TreeSource {
  /** Stable id of this immutable-ish tree revision, used as cache namespace. */
  id: string;
  listFiles(): Promise<string[]>;
  /** null if absent. */
  readFile(path: string): Promise<Buffer | null>;
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
}

export type UnresolvedReason = 'NoSourceMap' | 'NoMapping' | 'BadFrame';

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
