/**
 * What the resolver needs to give each frame its `originalFunction` (docs/API.md): the function
 * ranges of a loaded map's generated script, computed once when the map is loaded and cached with
 * it, and the per-frame lookup.
 *
 * Interim home: the lookup index (index/, issue #12 §4) will compute the ranges at merge time and
 * store them; until then they are computed here, on the first load of a map.
 */
import type { SourceMapIndex } from '../sourcemap.ts';
import { ANONYMOUS, computeFunctionRanges, enclosingFunction, MODULE_SCOPE, rangesCost } from './index.ts';
import type { FunctionRangesFrom, GeneratedMappings } from './index.ts';
import type { FunctionRange } from './function-ranges.ts';

/**
 * Where a frame's `originalFunction` comes from: the map's ECMA-426 `scopes`, scope analysis of
 * the stored generated script, the caller's call site, the minified name, or why there is none
 * (then `originalFunction` is null).
 */
export type OriginalFunctionSource = FunctionRangesFrom | 'caller' | 'minified' | 'script-missing' | 'script-unparsable';

/** The `originalFunction*` fields of a resolved frame (docs/API.md). */
export interface OriginalFunctionFields {
  originalFunction: string | null;
  originalFunctionSource: OriginalFunctionSource;
  originalFunctionDetail?: string;
}

/**
 * What the map alone says of a frame's enclosing function when the stack may say more: a provisional
 * name (FunctionRange.provisional), an anonymous function, or no ranges at all (no usable script).
 */
export type UnnamedFunction =
  | { name: string; from: FunctionRangesFrom }
  | { name: null; source: 'script-missing' | 'script-unparsable'; problem?: string };

/**
 * The fallback for a frame whose enclosing function has no known original name, as Sentry does:
 * the `names` entry at the caller's call site (`callerName`: the callee identifier the caller
 * wrote, e.g. `handler` of `obj.handler()`), else the minified name (the provisional one, or the
 * function name the stack printed). A truly anonymous function stays `<anonymous>`, the answer
 * the naming rules give (docs/API.md): the name it was called by (often `map`, `then`, `call`)
 * is not its name, so it only goes into the detail.
 */
export function nameFromCallSite(unnamed: UnnamedFunction, callerName: string | null, printedName: string | null): OriginalFunctionFields {
  if (unnamed.name === ANONYMOUS) {
    return {
      originalFunction: ANONYMOUS,
      originalFunctionSource: unnamed.from,
      ...(callerName ? { originalFunctionDetail: `an anonymous function, called as ${callerName}` } : {}),
    };
  }
  const why =
    unnamed.name === null
      ? (unnamed.problem ??
        (unnamed.source === 'script-missing' ? 'the generated script is not stored' : 'the generated script does not parse'))
      : `the map does not name the minified identifier of ${unnamed.name}`;
  if (callerName)
    return {
      originalFunction: callerName,
      originalFunctionSource: 'caller',
      originalFunctionDetail: `${why}: named after the caller's call site`,
    };
  if (unnamed.name !== null)
    return {
      originalFunction: unnamed.name,
      originalFunctionSource: 'minified',
      originalFunctionDetail: `${why}, and the caller's call site names none`,
    };
  if (printedName)
    return {
      originalFunction: printedName,
      originalFunctionSource: 'minified',
      originalFunctionDetail: `${why}: the minified name the stack printed`,
    };
  return {
    originalFunction: null,
    originalFunctionSource: unnamed.source,
    ...(unnamed.problem ? { originalFunctionDetail: unnamed.problem } : {}),
  };
}

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
      return {
        generatedColumn: m.generatedColumn - 1,
        sourceIndex: m.sourceIndex,
        line: m.line - 1,
        column: m.column - 1,
        name: index.name(m.nameIndex),
      };
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
      map = JSON.parse(
        Buffer.from(mapBytes.buffer, mapBytes.byteOffset, mapBytes.byteLength)
          .toString('utf8')
          .replace(/^\uFEFF?(\)\]\}'[^\n]*\n)?/, ''),
      );
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

/**
 * The `originalFunction*` fields of a frame resolved at 1-based generated (`line`, `column`), from
 * the ranges alone (before any call-site fallback); `provisional` as FunctionRange says.
 */
export function originalFunctionFields(
  names: FunctionNames,
  line: number,
  column: number,
): OriginalFunctionFields & { provisional: boolean } {
  if (!names.ranges) {
    return { originalFunction: null, originalFunctionSource: names.source, originalFunctionDetail: names.problem, provisional: false };
  }
  const range = enclosingFunction(names.ranges, line - 1, Math.max(0, column - 1));
  return {
    originalFunction: range ? range.name : MODULE_SCOPE,
    originalFunctionSource: names.source,
    provisional: range?.provisional ?? false,
  };
}
