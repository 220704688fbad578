/**
 * What the resolver needs to give each frame its `originalFunction` (docs/API.md): the function
 * ranges of a loaded map's generated script, computed once when the map is loaded and cached with
 * it, and the per-frame lookup.
 *
 * Interim home: the lookup index (index/, issue #12 §4) will compute the ranges at merge time and
 * store them; until then they are computed here, on the first load of a map.
 */
import type { SourceMapIndex } from '../sourcemap.ts';
import { computeFunctionRanges, enclosingFunction, MODULE_SCOPE, rangesCost } from './index.ts';
import type { FunctionRangesFrom, GeneratedMappings } from './index.ts';
import type { FunctionRange } from './function-ranges.ts';

/**
 * Where a frame's `originalFunction` comes from: the map's ECMA-426 `scopes`, scope analysis of
 * the stored generated script, or why there is none (then `originalFunction` is null).
 */
export type OriginalFunctionSource = FunctionRangesFrom | 'script-missing' | 'script-unparsable';

export interface FunctionNames {
  ranges: FunctionRange[] | null;
  source: OriginalFunctionSource;
  /** Why there are no ranges, for `originalFunctionDetail`. */
  problem?: string;
  cost: number;
}

/** A SourceMapIndex seen through the 0-based segment lookup name mapping uses. */
export function indexMappings(index: SourceMapIndex): GeneratedMappings {
  return {
    segmentAt(line, column) {
      const m = index.lookup(line + 1, column + 1);
      if (!m) return null;
      return { generatedColumn: m.generatedColumn - 1, sourceIndex: m.sourceIndex, line: m.line - 1, column: m.column - 1, name: index.name(m.nameIndex) };
    },
    originalLine(sourceIndex, line) {
      return index.context(sourceIndex, line + 1, 0)?.line ?? null;
    },
  };
}

/** `"scopes"` occurs in the map's bytes: only then is its JSON parsed a second time to read them. */
const SCOPES_KEY = Buffer.from('"scopes"');

/**
 * The function ranges for a map just loaded. `readScript` reads the generated script (null when
 * it is not stored). Never throws for bad input: a script acorn cannot parse is reported.
 */
export async function loadFunctionNames(
  mapBytes: Uint8Array,
  index: SourceMapIndex,
  readScript: () => Promise<Buffer | null>,
): Promise<FunctionNames> {
  let map: unknown = null;
  if (Buffer.from(mapBytes.buffer, mapBytes.byteOffset, mapBytes.byteLength).includes(SCOPES_KEY)) {
    try {
      map = JSON.parse(Buffer.from(mapBytes.buffer, mapBytes.byteOffset, mapBytes.byteLength).toString('utf8').replace(/^\uFEFF?(\)\]\}'[^\n]*\n)?/, ''));
    } catch {
      map = null; // the map parsed once already; a failure here only loses the scopes
    }
  }
  const script = await readScript();
  const result = computeFunctionRanges({ map, script: script?.toString('utf8') ?? null, mappings: indexMappings(index) });
  if (!result.ranges && !script) return { ranges: null, source: 'script-missing', problem: result.problem, cost: 0 };
  if (!result.ranges) return { ranges: null, source: 'script-unparsable', problem: result.problem, cost: 0 };
  return { ranges: result.ranges, source: result.from, cost: rangesCost(result.ranges) };
}

/** The `originalFunction*` fields of a frame resolved at 1-based generated (`line`, `column`). */
export function originalFunctionFields(
  names: FunctionNames,
  line: number,
  column: number,
): { originalFunction: string | null; originalFunctionSource: OriginalFunctionSource; originalFunctionDetail?: string } {
  if (!names.ranges) {
    return { originalFunction: null, originalFunctionSource: names.source, originalFunctionDetail: names.problem };
  }
  const range = enclosingFunction(names.ranges, line - 1, Math.max(0, column - 1));
  return { originalFunction: range ? range.name : MODULE_SCOPE, originalFunctionSource: names.source };
}
