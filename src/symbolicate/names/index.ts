/**
 * Original function names (issue #12 §1): the function-like scopes of a generated script, each
 * with the original name of the function a developer reads in source, as FunctionRange[].
 *
 * Two ways, best first:
 * 1. the map's ECMA-426 `scopes` (ecma-scopes.ts), when present: exact, inlining included, and
 *    no script needed;
 * 2. scope analysis of the minified script (scope-names.ts, acorn), each scope's identifiers
 *    mapped to their original spelling through the map's `names` (map-names.ts).
 * Module/top-level code has no range: callers report it as MODULE_SCOPE.
 */
import { decodeScopes } from './ecma-scopes.ts';
import { sortRanges } from './enclosing.ts';
import type { FunctionRange } from './function-ranges.ts';
import { originalFunctionHeader, resolveName } from './map-names.ts';
import type { GeneratedMappings } from './map-names.ts';
import { collectScopes } from './scope-names.ts';

export { enclosingFunction, sortRanges } from './enclosing.ts';
export type { FunctionRange } from './function-ranges.ts';
export type { GeneratedMappings, MappedSegment } from './map-names.ts';
export { decodeScopes } from './ecma-scopes.ts';

/** What a frame in top-level (module or script) code is in. */
export const MODULE_SCOPE = '<module>';
/** A function no syntax names (a callback, an IIFE). */
export const ANONYMOUS = '<anonymous>';

export type FunctionRangesFrom = 'scopes' | 'script';

export type FunctionRangesResult =
  | { ranges: FunctionRange[]; from: FunctionRangesFrom; problem?: undefined }
  | { ranges: null; from: null; problem: string };

/**
 * Ranges from a parsed map's `scopes` (plain or index map), or null when it has none (or none
 * that name a function). An unreadable `scopes` gives null too: the script analysis still works.
 */
export function rangesFromScopes(map: unknown): FunctionRange[] | null {
  const all: FunctionRange[] = [];
  const visit = (m: unknown, offset: { line: number; column: number }, depth: number): void => {
    if (!m || typeof m !== 'object' || depth > 2) return;
    const o = m as Record<string, unknown>;
    if (Array.isArray(o.sections)) {
      for (const s of o.sections as Record<string, unknown>[]) {
        const off = (s?.offset ?? {}) as Record<string, unknown>;
        const line = typeof off.line === 'number' ? off.line : 0;
        const column = typeof off.column === 'number' ? off.column : 0;
        visit(s?.map, { line: offset.line + line, column: line === 0 ? offset.column + column : column }, depth + 1);
      }
      return;
    }
    if (typeof o.scopes !== 'string' || o.scopes === '') return;
    const decoded = decodeScopes(o.scopes, Array.isArray(o.names) ? o.names : [], offset);
    if (decoded.ranges) all.push(...decoded.ranges);
  };
  visit(map, { line: 0, column: 0 }, 0);
  return all.length > 0 ? sortRanges(all) : null;
}

/**
 * Ranges from the minified script's text, names mapped through `mappings`. A script acorn cannot
 * parse gives a problem instead (never a throw). Linear in the script's length.
 */
export function rangesFromScript(script: string, mappings: GeneratedMappings): FunctionRangesResult {
  const parsed = collectScopes(script);
  if (!parsed.scopes) return { ranges: null, from: null, problem: parsed.problem };
  const { declared } = parsed;
  const ranges = parsed.scopes.map((s): FunctionRange => {
    const range = { startLine: s.start.line, startColumn: s.start.column, endLine: s.end.line, endColumn: s.end.column };
    const header = s.header && originalFunctionHeader(mappings, s.header);
    if (header) return { ...range, name: header };
    const { name, unmappedHead } = resolveName(s.name, mappings);
    // Only a name the script binds can have been minified; a global (`globalThis`) is original.
    return unmappedHead !== null && declared.has(unmappedHead) ? { ...range, name, provisional: true } : { ...range, name };
  });
  return { ranges: sortRanges(ranges), from: 'script' };
}

/**
 * The function ranges of one generated script: from the map's `scopes` when it has them
 * (`map` = the parsed map JSON, or null when it is known to have none), else from `script`
 * (null = not available).
 */
export function computeFunctionRanges(input: { map: unknown; script: string | null; mappings: GeneratedMappings }): FunctionRangesResult {
  const fromScopes = input.map === null ? null : rangesFromScopes(input.map);
  if (fromScopes) return { ranges: fromScopes, from: 'scopes' };
  if (input.script === null) return { ranges: null, from: null, problem: 'the generated script is not stored' };
  return rangesFromScript(input.script, input.mappings);
}

/** Bytes a range list holds (for cache budgets): numbers, object overhead, the name. */
export function rangesCost(ranges: readonly FunctionRange[] | null): number {
  if (!ranges) return 0;
  let bytes = 0;
  for (const r of ranges) bytes += 96 + 2 * r.name.length;
  return bytes;
}
