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

/** What name mapping needs of a parsed map. */
export interface GeneratedMappings {
  /** The segment with the greatest generated column ≤ `column` on generated `line`, or null. */
  segmentAt(line: number, column: number): MappedSegment | null;
  /** Original line `line` of source `sourceIndex` from sourcesContent (may be cut short), or null. */
  originalLine(sourceIndex: number, line: number): string | null;
}

/** Longest name kept; longer ones are cut (names are stored per function in the lookup index). */
export const MAX_NAME_LENGTH = 512;

const IDENTIFIER = /^#?[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*/u;
const FUNCTION_HEADER = /^(?:export\s+(default\s+)?)?(?:async\s+)?function\b\s*\*?\s*([\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*)?/u;
/** Words the original text may show at a mapped position that are not a name. */
const KEYWORDS = new Set(
  (
    'await break case catch class const continue debugger default delete do else export extends false finally for function ' +
    'if import in instanceof let new null return static super switch this throw true try typeof var void while with yield async get set of'
  ).split(' '),
);

/** The segment that starts on generated position `at` (or one column before it), mapped to a source. */
function segmentOn(mappings: GeneratedMappings, at: Position): MappedSegment | null {
  const seg = mappings.segmentAt(at.line, at.column);
  return seg && seg.generatedColumn >= at.column - 1 && seg.sourceIndex >= 0 ? seg : null;
}

/**
 * The original spelling of the generated identifier at `at`: the segment's `names` entry, else
 * the preceding segment's when it maps to the same original position, else the identifier the
 * original text (sourcesContent) shows where the segment points (terser names no private
 * names and no property keys). Null when the map does not say.
 */
export function originalIdentifier(mappings: GeneratedMappings, at: Position): string | null {
  const seg = segmentOn(mappings, at);
  if (!seg) return null;
  if (seg.name !== null) return seg.name;
  if (seg.generatedColumn > 0) {
    const before = mappings.segmentAt(at.line, seg.generatedColumn - 1);
    if (before?.name && before.sourceIndex === seg.sourceIndex && before.line === seg.line && before.column === seg.column) {
      return before.name;
    }
  }
  if (seg.generatedColumn !== at.column) return null;
  const text = mappings.originalLine(seg.sourceIndex, seg.line);
  const word = text === null ? null : IDENTIFIER.exec(text.slice(seg.column))?.[0];
  return word && !KEYWORDS.has(word) ? word : null;
}

/**
 * The name the original text declares where the generated `function` at `at` maps to
 * (`function NAME`, `async function NAME`; `default` for `export default function ()`), or null.
 */
export function originalFunctionHeader(mappings: GeneratedMappings, at: Position): string | null {
  const seg = segmentOn(mappings, at);
  if (!seg || seg.generatedColumn !== at.column) return null;
  const text = mappings.originalLine(seg.sourceIndex, seg.line);
  const header = text === null ? null : FUNCTION_HEADER.exec(text.slice(seg.column));
  if (!header) return null;
  // `export default function () {}` is `default` (the map may point at `export` or at `function`).
  if (header[2]) return header[2];
  return header[1] || /\bexport\s+default\s+(?:async\s+)?$/.test(text?.slice(0, seg.column) ?? '') ? 'default' : null;
}

/**
 * Joins the parts, each identifier mapped to its original spelling when the map knows it.
 * `unmappedHead`: the first identifier (the one a minifier renames: `o` of `function o`, `i` of
 * `i.add`) when the map does not name it, so its generated text stood in; else null.
 */
export function resolveName(parts: readonly NamePart[], mappings: GeneratedMappings): { name: string; unmappedHead: string | null } {
  let out = '';
  let unmappedHead: string | null = null;
  let first = true;
  for (const part of parts) {
    if (typeof part === 'string') {
      out += part;
      continue;
    }
    const original = originalIdentifier(mappings, part.at);
    if (first && original === null) unmappedHead = part.text;
    first = false;
    // A private name's `names` entry may be spelled with or without its `#`.
    out += original === null ? part.text : part.private && !original.startsWith('#') ? `#${original}` : original;
  }
  return { name: out.length > MAX_NAME_LENGTH ? out.slice(0, MAX_NAME_LENGTH) : out, unmappedHead };
}
