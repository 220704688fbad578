/**
 * Parsed sourcemaps in a packed, transferable form.
 *
 * Why packed: trace-mapping's decoded form is an array of arrays of small arrays. Building it for
 * a 30 MB map blocks 0.5–1.5 s, and moving it between threads is worse (structured clone blocks
 * the receiver 1.3–1.5 s; rebuilding it from a transferred Int32Array still 0.25–0.46 s — see
 * bench/symbolicate-parse.ts). So the mappings are decoded (in a worker for big maps) straight
 * into a few typed arrays that are transferred with zero copy and queried in place: plain maps by
 * decodePacked, a port of trace-mapping's own VLQ decoder that skips its array-per-segment form
 * (the slow, garbage-heavy part of a cold parse); index maps by flattenSections, which follows
 * trace-mapping's AnyMap rules but keeps only the generated lines that have segments (AnyMap
 * allocates an array per line up to each section's offset: a 150-byte map with an offset at line
 * 200 000 000 exhausted the heap). Every allocation here is bounded by the map's bytes, never by
 * a number written inside it (docs/RELIABILITY.md, "Resolver: work bounded by bytes"). The lookup is trace-mapping's `originalPositionFor` with its default
 * GREATEST_LOWER_BOUND bias, re-implemented over the flat arrays
 * (test/symbolicate/sourcemap.test.ts checks them against each other position by position).
 * Bonus: 20 bytes per segment instead of ~94 (measured, 30 MB map: 61 MB packed vs ~200 MB of
 * decoded arrays), and the cost is known exactly.
 */
import { TraceMap, decodedMappings } from '@jridgewell/trace-mapping';
import { at } from '../util/invariant.ts';

/**
 * The fields of one packed segment, at these offsets from its start (named as trace-mapping's
 * sourcemap-segment.ts does). Every field but COLUMN is -1 when the segment does not have it.
 */
export const COLUMN = 0;
export const SOURCES_INDEX = 1;
export const SOURCE_LINE = 2;
export const SOURCE_COLUMN = 3;
export const NAMES_INDEX = 4;
/** Ints per segment in `PackedMap.segs`. */
export const SEGMENT_SIZE = 5;

/** Plain data, structured-cloneable; the typed arrays' buffers are transferable. */
export interface PackedMap {
  /** SEGMENT_SIZE ints per segment: COLUMN, SOURCES_INDEX, SOURCE_LINE, SOURCE_COLUMN, NAMES_INDEX (-1 = none). */
  segs: Int32Array;
  /**
   * Segments of line entry i are [lineStarts[i], lineStarts[i + 1]). Entry i is generated line i
   * (0-based) when `lineNumbers` is null (plain maps: one entry per line, as the `;`s say), else
   * generated line lineNumbers[i] (index maps: only lines with segments, ascending).
   */
  lineStarts: Uint32Array;
  lineNumbers: Uint32Array | null;
  /** UTF-8 of all strings: sources, then sourcesContent, then names. */
  strings: Uint8Array;
  /** [start, end) byte offsets into `strings` per string; -1 = null. */
  offsets: Int32Array;
  /**
   * Byte offset (into `strings`) of the start of every line of every sourcesContent, source after
   * source; source i's lines are [contentLineFirst[i], contentLineFirst[i + 1]). Lets context()
   * jump to a line instead of scanning the content from its start (a 9 MB source: ~4 ms a frame).
   */
  contentLines: Uint32Array;
  contentLineFirst: Uint32Array;
  /** One byte per source: 1 when the map's `ignoreList` (or `x_google_ignoreList`) names it. */
  ignored: Uint8Array;
  nSources: number;
  nNames: number;
}

export class InvalidSourceMapError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidSourceMapError';
  }
}

type Json = Record<string, unknown>;

/**
 * `sources[i]` joined with `sourceRoot` exactly as the map says (no normalization, unlike
 * trace-mapping's resolvedSources): `webpack://` + `app/./src/a.ts`, or `../src/a.ts` as-is.
 * Absolute URLs in `sources` ignore the root.
 */
export function joinSource(root: unknown, source: unknown): string | null {
  if (typeof source !== 'string') return null;
  if (typeof root !== 'string' || root === '' || /^[a-zA-Z][a-zA-Z0-9+.-]+:/.test(source)) return source;
  return root.endsWith('/') || source.startsWith('/') ? root + source : `${root}/${source}`;
}

function addSources(map: Json, sources: (string | null)[], contents: (string | null)[], names: (string | null)[], ignored: number[]): void {
  if (!Array.isArray(map.sources)) throw new InvalidSourceMapError('"sources" is not an array');
  const first = ignored.length;
  for (let i = 0; i < map.sources.length; i++) ignored.push(0);
  const list = Array.isArray(map.ignoreList) ? map.ignoreList : Array.isArray(map.x_google_ignoreList) ? map.x_google_ignoreList : [];
  for (const i of list as unknown[])
    if (Number.isInteger(i) && (i as number) >= 0 && (i as number) < map.sources.length) ignored[first + (i as number)] = 1;
  if (map.names != null && !Array.isArray(map.names)) throw new InvalidSourceMapError('"names" is not an array');
  const sc = Array.isArray(map.sourcesContent) ? (map.sourcesContent as unknown[]) : [];
  map.sources.forEach((s, i) => {
    sources.push(joinSource(map.sourceRoot, s));
    contents.push(typeof sc[i] === 'string' ? (sc[i] as string) : null);
  });
  for (const n of (map.names as unknown[] | undefined) ?? []) names.push(typeof n === 'string' ? n : null);
}

/** Index maps nest at most this deep (the spec allows 1; trace-mapping recurses without limit). */
const MAX_SECTION_DEPTH = 8;
/** Generated positions are int32/uint32 in the packed arrays; offsets past this are refused. */
const MAX_OFFSET = 0x7fffffff;

/** Segments of an index map as they are flattened: sparse lines, appended in ascending order. */
class SparseLines {
  segs = new Int32Array(5 * 64);
  n = 0;
  lineNumbers: number[] = [];
  lineStarts: number[] = [];
  unsorted = new Set<number>();

  push(line: number, column: number, src: number, oLine: number, oCol: number, name: number): void {
    const last = this.lineNumbers.length - 1;
    const lastLine = this.lineNumbers[last];
    if (lastLine === undefined || lastLine < line) {
      this.lineNumbers.push(line);
      this.lineStarts.push(this.n);
    } else if (this.n > at(this.lineStarts, last) && at(this.segs, (this.n - 1) * SEGMENT_SIZE + COLUMN) > column) {
      this.unsorted.add(last); // a later section's negative VLQ column; trace-mapping leaves it unsorted
    }
    if ((this.n + 1) * SEGMENT_SIZE > this.segs.length) {
      const grown = new Int32Array(this.segs.length * 2);
      grown.set(this.segs);
      this.segs = grown;
    }
    const o = this.n++ * SEGMENT_SIZE;
    this.segs[o + COLUMN] = column;
    this.segs[o + SOURCES_INDEX] = src;
    this.segs[o + SOURCE_LINE] = oLine;
    this.segs[o + SOURCE_COLUMN] = oCol;
    this.segs[o + NAMES_INDEX] = name;
  }
}

function sectionOffset(section: Json): { line: number; column: number } {
  const off = section.offset as Json | undefined;
  const ok = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= MAX_OFFSET;
  if (!off || typeof off !== 'object' || !ok(off.line) || !ok(off.column)) {
    throw new InvalidSourceMapError('an index map section has no valid "offset" {line, column} (non-negative integers below 2^31)');
  }
  return { line: off.line, column: off.column };
}

/**
 * trace-mapping's FlattenMap (recurse + addSection), over sparse lines: same stop rule (a section
 * ends where the next one starts), same source/name index shifts, same column offset on a
 * section's first line only. Sections must be in order (the spec requires it; AnyMap would
 * silently mis-sort them), nesting is capped, and nothing is allocated per skipped line.
 */
function flattenSections(
  map: Json,
  out: SparseLines,
  sources: (string | null)[],
  contents: (string | null)[],
  names: (string | null)[],
  ignored: number[],
  lineOffset: number,
  columnOffset: number,
  stopLine: number,
  stopColumn: number,
  depth: number,
): void {
  if (depth > MAX_SECTION_DEPTH) throw new InvalidSourceMapError(`index map sections nest deeper than ${MAX_SECTION_DEPTH} levels`);
  const sections = map.sections as unknown[];
  let prev: { line: number; column: number } | null = null;
  for (let i = 0; i < sections.length; i++) {
    const section = sections[i] as Json;
    if (!section || typeof section !== 'object') throw new InvalidSourceMapError('an index map section is not an object');
    const offset = sectionOffset(section);
    if (prev && (offset.line < prev.line || (offset.line === prev.line && offset.column < prev.column))) {
      throw new InvalidSourceMapError('index map sections are not in order of their offsets');
    }
    prev = offset;
    let sl = stopLine;
    let sc = stopColumn;
    if (i + 1 < sections.length) {
      const next = sectionOffset(sections[i + 1] as Json);
      sl = Math.min(stopLine, lineOffset + next.line);
      if (sl === stopLine) sc = Math.min(stopColumn, columnOffset + next.column);
      else if (sl < stopLine) sc = columnOffset + next.column;
    }
    const raw = section.map;
    let inner: Json;
    try {
      inner = typeof raw === 'string' ? (JSON.parse(raw) as Json) : (raw as Json);
    } catch (e) {
      throw new InvalidSourceMapError(`an index map section's map is not valid JSON: ${(e as Error).message}`);
    }
    if (!inner || typeof inner !== 'object') throw new InvalidSourceMapError('index map section without a map');
    const lo = lineOffset + offset.line;
    const co = columnOffset + offset.column;
    if (lo > MAX_OFFSET || co > MAX_OFFSET) throw new InvalidSourceMapError('an index map section starts past line or column 2^31');
    if (Array.isArray(inner.sections)) {
      flattenSections(inner, out, sources, contents, names, ignored, lo, co, sl, sc, depth + 1);
      continue;
    }
    if (typeof inner.mappings !== 'string') throw new InvalidSourceMapError('an index map section\'s map has no "mappings"');
    const sourcesOffset = sources.length;
    const namesOffset = names.length;
    addSources(inner, sources, contents, names, ignored);
    const { segs, lineStarts } = decodeMappings(inner.mappings);
    const lines = lineStarts.length - 1;
    eachLine: for (let l = 0; l < lines; l++) {
      const lineI = lo + l;
      if (lineI > sl || lineI > MAX_OFFSET) break;
      const cOffset = l === 0 ? co : 0;
      for (let k = at(lineStarts, l), end = at(lineStarts, l + 1); k < end; k++) {
        const o = k * SEGMENT_SIZE;
        const column = cOffset + at(segs, o + COLUMN);
        if (lineI === sl && column >= sc) break eachLine;
        const src = at(segs, o + SOURCES_INDEX);
        if (src < 0) out.push(lineI, column, -1, -1, -1, -1);
        else {
          const name = at(segs, o + NAMES_INDEX);
          out.push(
            lineI,
            column,
            sourcesOffset + src,
            at(segs, o + SOURCE_LINE),
            at(segs, o + SOURCE_COLUMN),
            name < 0 ? -1 : namesOffset + name,
          );
        }
      }
    }
  }
}

/** Decodes one "mappings" string into dense per-line packed segments (bytes-bounded). */
function decodeMappings(mappings: string): { segs: Int32Array; lineStarts: Uint32Array } {
  if (Buffer.byteLength(mappings) === mappings.length) return decodePacked(mappings);
  // Non-ASCII junk in "mappings": trace-mapping's own decoder (per-char lookup), then packed.
  return packDecoded(decodedMappings(new TraceMap({ version: 3, sources: [], names: [], mappings })));
}

function stripPrefix(text: string): string {
  // BOM, and the `)]}'` XSSI guard line the sourcemap spec allows.
  let t = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (t.startsWith(")]}'")) t = t.slice(t.indexOf('\n') + 1);
  return t;
}

function packDecoded(decoded: ReturnType<typeof decodedMappings>): { segs: Int32Array; lineStarts: Uint32Array } {
  let n = 0;
  for (const line of decoded) n += line.length;
  const segs = new Int32Array(n * SEGMENT_SIZE);
  const lineStarts = new Uint32Array(decoded.length + 1);
  let k = 0;
  decoded.forEach((line, i) => {
    lineStarts[i] = k / SEGMENT_SIZE;
    for (const seg of line) {
      segs[k + COLUMN] = seg[0];
      segs[k + SOURCES_INDEX] = seg.length === 1 ? -1 : seg[1];
      segs[k + SOURCE_LINE] = seg.length === 1 ? -1 : seg[2];
      segs[k + SOURCE_COLUMN] = seg.length === 1 ? -1 : seg[3];
      segs[k + NAMES_INDEX] = seg.length === 5 ? seg[4] : -1;
      k += SEGMENT_SIZE;
    }
  });
  lineStarts[decoded.length] = n;
  return { segs, lineStarts };
}

/** Base64 digit values; anything else is 0, as in @jridgewell/sourcemap-codec. */
const B64 = new Uint8Array(256);
for (let i = 0; i < 64; i++) B64['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;

/**
 * @jridgewell/sourcemap-codec's `decode` (what trace-mapping's decodedMappings runs), ported to
 * write straight into the packed arrays: same field rules (1, 4 or 5 fields, the separator after
 * a segment skipped unread), same relative accumulators, same per-line stable sort by generated
 * column when a line is unsorted — but no array per segment. On the 14 MB bench map that is ~4x
 * faster than decode + pack and leaves little garbage (bench/resolve-cold.ts). ASCII only (the
 * caller falls back to trace-mapping otherwise), so the string can be read as bytes.
 */
function decodePacked(mappings: string): { segs: Int32Array; lineStarts: Uint32Array } {
  const b = Buffer.from(mappings, 'latin1');
  const len = b.length;
  let lines = 1;
  let estimate = 1;
  for (let i = 0; i < len; i++) {
    const c = at(b, i);
    if (c === 44 /* , */) estimate++;
    else if (c === 59 /* ; */) {
      estimate++;
      lines++;
    }
  }
  let segs = new Int32Array(estimate * SEGMENT_SIZE);
  const lineStarts = new Uint32Array(lines + 1);
  let pos = 0;
  let n = 0;
  let line = 0;
  let source = 0,
    origLine = 0,
    origColumn = 0,
    name = 0;
  do {
    let semi = b.indexOf(59, pos);
    if (semi === -1) semi = len;
    lineStarts[line] = n;
    const first = n;
    let column = 0,
      last = 0,
      sorted = true;
    while (pos < semi) {
      if ((n + 1) * SEGMENT_SIZE > segs.length) {
        const grown = new Int32Array(segs.length * 2); // only malformed mappings outgrow the estimate
        grown.set(segs);
        segs = grown;
      }
      const o = n * SEGMENT_SIZE;
      // The VLQ fields come in segment order, so `field` is also the offset of the one being read.
      let field = COLUMN;
      for (;;) {
        // One VLQ: inlined (a closure over `pos` costs ~1.5x here).
        let value = 0,
          shift = 0,
          digit = 0;
        do {
          digit = B64[b[pos++] ?? 0] ?? 0; // past the end: 0, like the codec (B64[0] is 0)
          value |= (digit & 31) << shift;
          shift += 5;
        } while (digit & 32);
        const v = value & 1 ? -2147483648 | -(value >>> 1) : value >>> 1;
        if (field === COLUMN) {
          column += v;
          if (column < last) sorted = false;
          last = column;
          segs[o + COLUMN] = column;
        } else if (field === SOURCES_INDEX) segs[o + SOURCES_INDEX] = source += v;
        else if (field === SOURCE_LINE) segs[o + SOURCE_LINE] = origLine += v;
        else if (field === SOURCE_COLUMN) segs[o + SOURCE_COLUMN] = origColumn += v;
        else segs[o + NAMES_INDEX] = name += v;
        field++;
        if (field === SEGMENT_SIZE) break;
        // The codec checks for more fields only after the 1st and the 4th.
        if ((field === SOURCES_INDEX || field === NAMES_INDEX) && (pos >= semi || b[pos] === 44)) break;
      }
      if (field === SOURCES_INDEX) segs[o + SOURCES_INDEX] = segs[o + SOURCE_LINE] = segs[o + SOURCE_COLUMN] = segs[o + NAMES_INDEX] = -1;
      else if (field === NAMES_INDEX) segs[o + NAMES_INDEX] = -1;
      n++;
      pos++; // the ',' (or whatever follows the segment, as the codec does)
    }
    if (!sorted) sortSegments(segs, first, n);
    line++;
    pos = semi + 1;
  } while (pos <= len);
  lineStarts[line] = n;
  return { segs: segs.length === n * SEGMENT_SIZE ? segs : segs.slice(0, n * SEGMENT_SIZE), lineStarts };
}

/** Stable sort of segments [from, to) by generated column (Array#sort is stable). */
function sortSegments(segs: Int32Array, from: number, to: number): void {
  const rows: Int32Array[] = [];
  for (let i = from; i < to; i++) rows.push(segs.slice(i * SEGMENT_SIZE, (i + 1) * SEGMENT_SIZE));
  rows.sort((a, b) => at(a, COLUMN) - at(b, COLUMN));
  rows.forEach((r, k) => segs.set(r, (from + k) * SEGMENT_SIZE));
}

/** Parses sourcemap JSON bytes (plain or index map) into packed form. Throws InvalidSourceMapError. */
export function packSourceMap(bytes: Uint8Array): PackedMap {
  let json: Json;
  try {
    json = JSON.parse(stripPrefix(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')));
  } catch (e) {
    throw new InvalidSourceMapError(`not valid JSON: ${(e as Error).message}`);
  }
  if (!json || typeof json !== 'object' || (typeof json.mappings !== 'string' && !Array.isArray(json.sections))) {
    throw new InvalidSourceMapError('not a sourcemap (no "mappings" or "sections")');
  }
  const sources: (string | null)[] = [];
  const contents: (string | null)[] = [];
  const names: (string | null)[] = [];
  const ignored: number[] = [];
  let segs: Int32Array;
  let lineStarts: Uint32Array;
  let lineNumbers: Uint32Array | null = null;
  try {
    if (Array.isArray(json.sections)) {
      const out = new SparseLines();
      flattenSections(json, out, sources, contents, names, ignored, 0, 0, Infinity, Infinity, 0);
      for (const i of out.unsorted) sortSegments(out.segs, at(out.lineStarts, i), out.lineStarts[i + 1] ?? out.n);
      segs = out.segs.slice(0, out.n * SEGMENT_SIZE);
      lineNumbers = Uint32Array.from(out.lineNumbers);
      lineStarts = Uint32Array.from([...out.lineStarts, out.n]);
    } else {
      addSources(json, sources, contents, names, ignored);
      ({ segs, lineStarts } = decodeMappings(json.mappings as string));
    }
  } catch (e) {
    if (e instanceof InvalidSourceMapError) throw e;
    throw new InvalidSourceMapError(`unreadable sourcemap: ${(e as Error).message}`);
  }

  const all = [...sources, ...contents, ...names];
  let total = 0;
  for (const s of all) if (s !== null) total += Buffer.byteLength(s);
  // A fresh ArrayBuffer (not Buffer's shared pool) so it can be transferred.
  const strings = new Uint8Array(total);
  const view = Buffer.from(strings.buffer);
  const offsets = new Int32Array(all.length * 2);
  let pos = 0;
  all.forEach((s, i) => {
    if (s === null) {
      offsets[2 * i] = offsets[2 * i + 1] = -1;
      return;
    }
    offsets[2 * i] = pos;
    pos += view.write(s, pos);
    offsets[2 * i + 1] = pos;
  });
  // Line starts of each sourcesContent: a line ends at '\n' (so n newlines = n + 1 lines).
  const nSources = sources.length;
  const contentLineFirst = new Uint32Array(nSources + 1);
  let nLines = 0;
  for (let i = 0; i < nSources; i++) {
    const start = at(offsets, 2 * (nSources + i));
    if (start < 0) continue;
    const end = at(offsets, 2 * (nSources + i) + 1);
    nLines++;
    for (let nl = view.indexOf(10, start); nl >= 0 && nl < end; nl = view.indexOf(10, nl + 1)) nLines++;
  }
  const contentLines = new Uint32Array(nLines);
  let li = 0;
  for (let i = 0; i < nSources; i++) {
    contentLineFirst[i] = li;
    const start = at(offsets, 2 * (nSources + i));
    if (start < 0) continue;
    const end = at(offsets, 2 * (nSources + i) + 1);
    contentLines[li++] = start;
    for (let nl = view.indexOf(10, start); nl >= 0 && nl < end; nl = view.indexOf(10, nl + 1)) contentLines[li++] = nl + 1;
  }
  contentLineFirst[nSources] = li;
  return {
    segs,
    lineStarts,
    lineNumbers,
    strings,
    offsets,
    contentLines,
    contentLineFirst,
    ignored: Uint8Array.from(ignored),
    nSources,
    nNames: names.length,
  };
}

export function transferList(p: PackedMap): ArrayBuffer[] {
  const arrays = [p.segs, p.lineStarts, p.lineNumbers, p.strings, p.offsets, p.contentLines, p.contentLineFirst, p.ignored];
  return [...new Set(arrays.filter((a) => a !== null).map((a) => a.buffer as ArrayBuffer))];
}

export interface Mapping {
  /** 1-based generated column where the segment starts (names/ needs to know it is on the identifier). */
  generatedColumn: number;
  sourceIndex: number;
  /** 1-based, as in the stack. */
  line: number;
  /** 1-based, as in the stack. */
  column: number;
  nameIndex: number;
}

export interface SourceContext {
  pre: string[];
  line: string;
  post: string[];
}

const MAX_CONTEXT_CHARS = 300;

function clip(s: string): string {
  if (s.length <= MAX_CONTEXT_CHARS) return s;
  const cut = s.slice(0, MAX_CONTEXT_CHARS);
  // Do not leave half a surrogate pair at the cut.
  return /[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut;
}

/** A function's name and whether it is provisional (names/function-ranges.ts FunctionRange). */
export interface EnclosingFunction {
  name: string;
  provisional: boolean;
}

/** Innermost enclosing function of a generated position (index/reader.ts implements it). */
export interface FunctionLookup {
  /** 0-based generated line and column. */
  enclosing(line: number, column: number): EnclosingFunction | null;
  readonly count: number;
}

/** A packed map plus the queries the resolver needs. */
export class SourceMapIndex {
  private readonly buf: Buffer;
  /** Bytes held by this map (typed arrays + a small constant): the cache's cost unit. */
  readonly cost: number;

  constructor(
    protected readonly p: PackedMap,
    /** Function ranges of the minified script (from the lookup index), when known. */
    readonly functions: FunctionLookup | null = null,
    /** Bytes held, when `p` is a set of views into one buffer (the index file). */
    cost?: number,
  ) {
    this.buf = Buffer.from(p.strings.buffer, p.strings.byteOffset, p.strings.byteLength);
    this.cost =
      cost ??
      p.segs.byteLength +
        p.lineStarts.byteLength +
        (p.lineNumbers?.byteLength ?? 0) +
        p.strings.byteLength +
        p.offsets.byteLength +
        p.contentLines.byteLength +
        p.contentLineFirst.byteLength +
        p.ignored.byteLength +
        1024;
  }

  /** Generated lines the map covers (the last mapped line, for index maps). */
  get lineCount(): number {
    const { lineNumbers, lineStarts } = this.p;
    if (!lineNumbers) return lineStarts.length - 1;
    const last = lineNumbers[lineNumbers.length - 1];
    return last === undefined ? 0 : last + 1;
  }

  /** The line entry of 0-based generated line `l` (see PackedMap.lineStarts), or -1. */
  protected entry(l: number): number {
    const { lineNumbers, lineStarts } = this.p;
    if (!lineNumbers) return l >= 0 && l < lineStarts.length - 1 ? l : -1;
    let lo = 0;
    let hi = lineNumbers.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (at(lineNumbers, mid) < l) lo = mid + 1;
      else hi = mid;
    }
    return lo < lineNumbers.length && lineNumbers[lo] === l ? lo : -1;
  }

  private str(i: number): string | null {
    const start = at(this.p.offsets, 2 * i);
    return start < 0 ? null : this.buf.toString('utf8', start, this.p.offsets[2 * i + 1]);
  }

  source(i: number): string | null {
    return i >= 0 && i < this.p.nSources ? this.str(i) : null;
  }

  /** Whether source i is on the map's ignore list (third-party code). */
  ignored(i: number): boolean {
    return i >= 0 && i < this.p.nSources && this.p.ignored[i] === 1;
  }

  /** Original name of the function enclosing a 1-based generated position, when ranges are known. */
  enclosingFunction(line: number, column: number): EnclosingFunction | null {
    return this.functions ? this.functions.enclosing(line - 1, Math.max(0, column - 1)) : null;
  }

  name(i: number): string | null {
    return i >= 0 && i < this.p.nNames ? this.str(2 * this.p.nSources + i) : null;
  }

  /**
   * trace-mapping's originalPositionFor with GREATEST_LOWER_BOUND, taking and returning 1-based
   * lines and columns: the segment with the largest generated column ≤ the needle's (the first
   * of several with an equal column, as trace-mapping picks). Null = no mapping there.
   */
  lookup(line: number, column: number): Mapping | null {
    const { segs, lineStarts } = this.p;
    const l = this.entry(line - 1);
    const c = Math.max(0, column - 1); // a column 0 from a sloppy reporter means the line start
    if (l < 0) return null;
    const nSegs = segs.length / SEGMENT_SIZE;
    let lo = Math.min(at(lineStarts, l), nSegs); // clamped: an index file's tables are not walked when read
    let hi = Math.min(Math.max(at(lineStarts, l + 1), lo), nSegs);
    const begin = lo;
    const hi0 = hi;
    while (lo < hi) {
      // first segment with generated column >= c
      const mid = (lo + hi) >>> 1;
      if (at(segs, mid * SEGMENT_SIZE + COLUMN) < c) lo = mid + 1;
      else hi = mid;
    }
    const idx = lo < hi0 && segs[lo * SEGMENT_SIZE + COLUMN] === c ? lo : lo - 1;
    if (idx < begin) return null;
    const o = idx * SEGMENT_SIZE;
    const sourceIndex = at(segs, o + SOURCES_INDEX);
    if (sourceIndex < 0) return null; // 1-field segment: generated code with no original
    return {
      generatedColumn: at(segs, o + COLUMN) + 1,
      sourceIndex,
      line: at(segs, o + SOURCE_LINE) + 1,
      column: at(segs, o + SOURCE_COLUMN) + 1,
      nameIndex: at(segs, o + NAMES_INDEX),
    };
  }

  /**
   * Lines around `line` (1-based) of source `sourceIndex`'s sourcesContent: `n` before, the line,
   * `n` after, each cut to 300 chars. Null when there is no content or the line is past its end.
   * Works on the UTF-8 bytes so only the lines needed are decoded; lines are found through the
   * precomputed line starts (contentLines), not by scanning.
   */
  context(sourceIndex: number, line: number, n: number): SourceContext | null {
    if (sourceIndex < 0 || sourceIndex >= this.p.nSources) return null;
    const k = this.p.nSources + sourceIndex;
    const start = at(this.p.offsets, 2 * k);
    const end = at(this.p.offsets, 2 * k + 1);
    if (start < 0) return null;
    const firstLine = at(this.p.contentLineFirst, sourceIndex);
    const count = at(this.p.contentLineFirst, sourceIndex + 1) - firstLine;
    if (line < 1 || line > count) return null; // past the last line
    const first = Math.max(1, line - n);
    const last = Math.min(count, line + n);
    const lines: string[] = [];
    for (let ln = first; ln <= last; ln++) {
      // A damaged index file's line table can point anywhere: no context then (index/reader.ts).
      const pos = this.p.contentLines[firstLine + ln - 1];
      const next = ln < count ? this.p.contentLines[firstLine + ln] : end + 1;
      if (pos === undefined || next === undefined) return null;
      let e = next - 1; // the '\n', or the content's end
      if (e > pos && this.buf[e - 1] === 13) e--; // CRLF
      lines.push(clip(this.buf.toString('utf8', pos, e)));
    }
    const here = line - first;
    return { pre: lines.slice(0, here), line: at(lines, here), post: lines.slice(here + 1) };
  }
}
