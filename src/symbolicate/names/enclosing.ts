/**
 * The innermost function range containing a generated position. Ranges nest, so the innermost
 * one containing a position is the last range starting at or before it, or one of that range's
 * ancestors: a binary search, then a walk up a parent table built once per ranges array.
 */
import type { FunctionRange } from './function-ranges.ts';
import { at } from '../../util/invariant.ts';

const parentTables = new WeakMap<readonly FunctionRange[], Int32Array>();

const before = (line: number, column: number, l2: number, c2: number): boolean => line < l2 || (line === l2 && column < c2);

function contains(r: FunctionRange, line: number, column: number): boolean {
  return !before(line, column, r.startLine, r.startColumn) && before(line, column, r.endLine, r.endColumn);
}

/** Parent of each range (-1 = none); `ranges` must be sorted by start, outer before inner. */
function parentTable(ranges: readonly FunctionRange[]): Int32Array {
  const known = parentTables.get(ranges);
  if (known) return known;
  const parents = new Int32Array(ranges.length);
  const open: number[] = [];
  ranges.forEach((r, i) => {
    for (let top = open.at(-1); top !== undefined && !contains(at(ranges, top), r.startLine, r.startColumn); top = open.at(-1)) open.pop();
    parents[i] = open.at(-1) ?? -1;
    open.push(i);
  });
  parentTables.set(ranges, parents);
  return parents;
}

/**
 * The innermost range containing 0-based (`line`, `column`), or null (top-level code).
 * `ranges` sorted by start, outer before inner at equal starts (as names/ produces them).
 */
export function enclosingFunction(ranges: readonly FunctionRange[], line: number, column: number): FunctionRange | null {
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const r = at(ranges, mid);
    if (before(line, column, r.startLine, r.startColumn)) hi = mid;
    else lo = mid + 1;
  }
  const parents = parentTable(ranges);
  for (let i = lo - 1; i >= 0; i = at(parents, i)) {
    const r = at(ranges, i);
    if (contains(r, line, column)) return r;
  }
  return null;
}

/** Orders ranges for enclosingFunction: by start, the longer (outer) first at equal starts. */
export function sortRanges(ranges: FunctionRange[]): FunctionRange[] {
  return ranges.sort(
    (a, b) => a.startLine - b.startLine || a.startColumn - b.startColumn || b.endLine - a.endLine || b.endColumn - a.endColumn,
  );
}
