/**
 * Turns a scope's name parts (scope-names.ts) into the original name: each identifier of the
 * generated script is looked up in the map, and the `names` entry of the segment that starts on
 * it replaces the minified text. Like Sentry's NameResolver: the segment must start at the
 * identifier (or one column before it: some generators are off by one); when it carries no name,
 * the segment just before it is used if it maps to the same original position (TypeScript and
 * others put the function's name on the `function` keyword). Otherwise the generated text stays:
 * property and method keys are rarely mangled, so it is usually right anyway.
 */
import type { NamePart, Position } from './scope-names.ts';

/** One mapping segment, 0-based. */
export interface MappedSegment {
  generatedColumn: number;
  sourceIndex: number;
  line: number;
  column: number;
  /** The segment's `names` entry, null when it has none. */
  name: string | null;
}

/** The map's segments by generated position: what name mapping needs of a parsed map. */
export interface GeneratedMappings {
  /** The segment with the greatest generated column ≤ `column` on generated `line`, or null. */
  segmentAt(line: number, column: number): MappedSegment | null;
}

/** Longest name kept; longer ones are cut (names are stored per function in the lookup index). */
export const MAX_NAME_LENGTH = 512;

export function originalIdentifier(mappings: GeneratedMappings, at: Position): string | null {
  const seg = mappings.segmentAt(at.line, at.column);
  if (!seg || seg.generatedColumn < at.column - 1 || seg.sourceIndex < 0) return null;
  if (seg.name !== null) return seg.name;
  if (seg.generatedColumn === 0) return null;
  const before = mappings.segmentAt(at.line, seg.generatedColumn - 1);
  if (before && before.sourceIndex === seg.sourceIndex && before.line === seg.line && before.column === seg.column) {
    return before.name;
  }
  return null;
}

/** Joins the parts, each identifier mapped to its original spelling when the map knows it. */
export function resolveName(parts: readonly NamePart[], mappings: GeneratedMappings): string {
  let out = '';
  for (const part of parts) {
    if (typeof part === 'string') {
      out += part;
      continue;
    }
    const original = originalIdentifier(mappings, part.at);
    // A private name's `names` entry may be spelled with or without its `#`.
    out += original === null ? part.text : part.private && !original.startsWith('#') ? `#${original}` : original;
  }
  return out.length > MAX_NAME_LENGTH ? out.slice(0, MAX_NAME_LENGTH) : out;
}
