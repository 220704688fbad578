/**
 * Parsed sourcemaps in a packed, transferable form.
 *
 * Why packed: trace-mapping's decoded form is an array of arrays of small arrays. Building it for
 * a 30 MB map blocks 0.5–1.5 s, and moving it between threads is worse (structured clone blocks
 * the receiver 1.3–1.5 s; rebuilding it from a transferred Int32Array still 0.25–0.46 s — see
 * bench/symbolicate-parse.ts). So the mappings are decoded (in a worker for big maps) straight
 * into a few typed arrays that are transferred with zero copy and queried in place: plain maps by
 * decodePacked, a port of trace-mapping's own VLQ decoder that skips its array-per-segment form
 * (the slow, garbage-heavy part of a cold parse); index maps through trace-mapping's AnyMap, then
 * packed. The lookup is trace-mapping's `originalPositionFor` with its default
 * GREATEST_LOWER_BOUND bias, re-implemented over the flat arrays
 * (test/symbolicate/sourcemap.test.ts checks them against each other position by position).
 * Bonus: 20 bytes per segment instead of ~94 (measured, 30 MB map: 61 MB packed vs ~200 MB of
 * decoded arrays), and the cost is known exactly.
 */
import { AnyMap, decodedMappings } from '@jridgewell/trace-mapping';
import type { SectionedSourceMapInput } from '@jridgewell/trace-mapping';

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
  /** Segments of generated line i (0-based) are [lineStarts[i], lineStarts[i + 1]). */
  lineStarts: Uint32Array;
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

/** Sources and contents in the order AnyMap flattens sections, so source indexes line up. */
function collectSources(map: Json, sources: (string | null)[], contents: (string | null)[]): void {
  if (Array.isArray(map.sections)) {
    for (const section of map.sections as Json[]) {
      const inner = typeof section.map === 'string' ? (JSON.parse(section.map) as Json) : (section.map as Json);
      if (!inner || typeof inner !== 'object') throw new InvalidSourceMapError('index map section without a map');
      collectSources(inner, sources, contents);
    }
    return;
  }
  if (!Array.isArray(map.sources)) throw new InvalidSourceMapError('"sources" is not an array');
  const sc = Array.isArray(map.sourcesContent) ? (map.sourcesContent as unknown[]) : [];
  map.sources.forEach((s, i) => {
    sources.push(joinSource(map.sourceRoot, s));
    contents.push(typeof sc[i] === 'string' ? (sc[i] as string) : null);
  });
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
  for (let i = 0; i < decoded.length; i++) {
    lineStarts[i] = k / SEGMENT_SIZE;
    for (const seg of decoded[i]!) {
      segs[k + COLUMN] = seg[0];
      segs[k + SOURCES_INDEX] = seg.length > 1 ? seg[1]! : -1;
      segs[k + SOURCE_LINE] = seg.length > 1 ? seg[2]! : -1;
      segs[k + SOURCE_COLUMN] = seg.length > 1 ? seg[3]! : -1;
      segs[k + NAMES_INDEX] = seg.length === 5 ? seg[4]! : -1;
      k += SEGMENT_SIZE;
    }
  }
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
    const c = b[i]!;
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
  let source = 0, origLine = 0, origColumn = 0, name = 0;
  do {
    let semi = b.indexOf(59, pos);
    if (semi === -1) semi = len;
    lineStarts[line] = n;
    const first = n;
    let column = 0, last = 0, sorted = true;
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
        let value = 0, shift = 0, digit = 0;
        do {
          digit = B64[b[pos++]!]!; // past the end: undefined → 0, like the codec
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
  rows.sort((a, b) => a[COLUMN]! - b[COLUMN]!);
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
  let names: readonly unknown[];
  let segs: Int32Array;
  let lineStarts: Uint32Array;
  try {
    collectSources(json, sources, contents);
    if (typeof json.mappings === 'string' && !Array.isArray(json.sections) && Buffer.byteLength(json.mappings) === json.mappings.length) {
      // Plain map: decode the VLQ straight into the packed arrays (see decodePacked).
      if (json.names != null && !Array.isArray(json.names)) throw new InvalidSourceMapError('"names" is not an array');
      names = (json.names as unknown[] | undefined) ?? [];
      ({ segs, lineStarts } = decodePacked(json.mappings));
    } else {
      // Index map (trace-mapping's AnyMap flattens the sections), or non-ASCII junk in "mappings".
      const tm = AnyMap(json as unknown as SectionedSourceMapInput);
      names = tm.names;
      if (tm.sources.length !== sources.length) throw new Error('source count mismatch');
      ({ segs, lineStarts } = packDecoded(decodedMappings(tm)));
    }
  } catch (e) {
    if (e instanceof InvalidSourceMapError) throw e;
    throw new InvalidSourceMapError(`unreadable sourcemap: ${(e as Error).message}`);
  }

  const all = [...sources, ...contents, ...names.map((x) => (typeof x === 'string' ? x : null))];
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
    const start = offsets[2 * (nSources + i)]!;
    if (start < 0) continue;
    const end = offsets[2 * (nSources + i) + 1]!;
    nLines++;
    for (let nl = view.indexOf(10, start); nl >= 0 && nl < end; nl = view.indexOf(10, nl + 1)) nLines++;
  }
  const contentLines = new Uint32Array(nLines);
  let li = 0;
  for (let i = 0; i < nSources; i++) {
    contentLineFirst[i] = li;
    const start = offsets[2 * (nSources + i)]!;
    if (start < 0) continue;
    const end = offsets[2 * (nSources + i) + 1]!;
    contentLines[li++] = start;
    for (let nl = view.indexOf(10, start); nl >= 0 && nl < end; nl = view.indexOf(10, nl + 1)) contentLines[li++] = nl + 1;
  }
  contentLineFirst[nSources] = li;
  return { segs, lineStarts, strings, offsets, contentLines, contentLineFirst, nSources, nNames: names.length };
}

export function transferList(p: PackedMap): ArrayBuffer[] {
  return [p.segs.buffer, p.lineStarts.buffer, p.strings.buffer, p.offsets.buffer, p.contentLines.buffer, p.contentLineFirst.buffer] as ArrayBuffer[];
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

/** A packed map plus the queries the resolver needs. */
export class SourceMapIndex {
  private readonly buf: Buffer;
  /** Bytes held by this map (typed arrays + a small constant): the cache's cost unit. */
  readonly cost: number;

  constructor(private readonly p: PackedMap) {
    this.buf = Buffer.from(p.strings.buffer, p.strings.byteOffset, p.strings.byteLength);
    this.cost = p.segs.byteLength + p.lineStarts.byteLength + p.strings.byteLength + p.offsets.byteLength +
      p.contentLines.byteLength + p.contentLineFirst.byteLength + 1024;
  }

  get lineCount(): number {
    return this.p.lineStarts.length - 1;
  }

  private str(i: number): string | null {
    const start = this.p.offsets[2 * i]!;
    return start < 0 ? null : this.buf.toString('utf8', start, this.p.offsets[2 * i + 1]);
  }

  source(i: number): string | null {
    return i >= 0 && i < this.p.nSources ? this.str(i) : null;
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
    const l = line - 1;
    const c = Math.max(0, column - 1); // a column 0 from a sloppy reporter means the line start
    if (l < 0 || l >= lineStarts.length - 1) return null;
    let lo = lineStarts[l]!;
    let hi = lineStarts[l + 1]!;
    const begin = lo;
    while (lo < hi) {
      // first segment with generated column >= c
      const mid = (lo + hi) >>> 1;
      if (segs[mid * SEGMENT_SIZE + COLUMN]! < c) lo = mid + 1;
      else hi = mid;
    }
    const idx = lo < lineStarts[l + 1]! && segs[lo * SEGMENT_SIZE + COLUMN] === c ? lo : lo - 1;
    if (idx < begin) return null;
    const o = idx * SEGMENT_SIZE;
    if (segs[o + SOURCES_INDEX]! < 0) return null; // 1-field segment: generated code with no original
    return {
      generatedColumn: segs[o + COLUMN]! + 1, sourceIndex: segs[o + SOURCES_INDEX]!, line: segs[o + SOURCE_LINE]! + 1,
      column: segs[o + SOURCE_COLUMN]! + 1, nameIndex: segs[o + NAMES_INDEX]!,
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
    const start = this.p.offsets[2 * k]!;
    const end = this.p.offsets[2 * k + 1]!;
    if (start < 0) return null;
    const firstLine = this.p.contentLineFirst[sourceIndex]!;
    const count = this.p.contentLineFirst[sourceIndex + 1]! - firstLine;
    if (line < 1 || line > count) return null; // past the last line
    const first = Math.max(1, line - n);
    const last = Math.min(count, line + n);
    const lines: string[] = [];
    for (let ln = first; ln <= last; ln++) {
      const pos = this.p.contentLines[firstLine + ln - 1]!;
      let e = ln < count ? this.p.contentLines[firstLine + ln]! - 1 : end; // the '\n', or the content's end
      if (e > pos && this.buf[e - 1] === 13) e--; // CRLF
      lines.push(clip(this.buf.toString('utf8', pos, e)));
    }
    const at = line - first;
    return { pre: lines.slice(0, at), line: lines[at]!, post: lines.slice(at + 1) };
  }
}
