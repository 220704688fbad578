/**
 * Parsed sourcemaps in a packed, transferable form.
 *
 * Why packed: trace-mapping's decoded form is an array of arrays of small arrays. Building it for
 * a 30 MB map blocks 0.5–1.5 s, and moving it between threads is worse (structured clone blocks
 * the receiver 1.3–1.5 s; rebuilding it from a transferred Int32Array still 0.25–0.46 s — see
 * bench/symbolicate-parse.ts). So
 * trace-mapping does the parsing work (VLQ decoding, segment sorting, flattening index maps via
 * AnyMap) — in a worker for big maps — and the result is packed into a few typed arrays that are
 * transferred with zero copy and queried in place. The lookup is trace-mapping's
 * `originalPositionFor` with its default GREATEST_LOWER_BOUND bias, re-implemented over the flat
 * arrays (test/symbolicate/sourcemap.test.ts checks them against each other position by
 * position). Bonus: 20 bytes per segment instead of ~94 (measured, 30 MB map: 61 MB packed vs
 * ~200 MB of decoded arrays), and the cost is known exactly.
 */
import { AnyMap, decodedMappings } from '@jridgewell/trace-mapping';
import type { SectionedSourceMapInput } from '@jridgewell/trace-mapping';

/** Plain data, structured-cloneable; the typed arrays' buffers are transferable. */
export interface PackedMap {
  /** 5 ints per segment: generated column, source index, original line, original column, name index (-1 = none). */
  segs: Int32Array;
  /** Segments of generated line i (0-based) are [lineStarts[i], lineStarts[i + 1]). */
  lineStarts: Uint32Array;
  /** UTF-8 of all strings: sources, then sourcesContent, then names. */
  strings: Uint8Array;
  /** [start, end) byte offsets into `strings` per string; -1 = null. */
  offsets: Int32Array;
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
  let decoded: ReturnType<typeof decodedMappings>;
  let names: readonly unknown[];
  try {
    collectSources(json, sources, contents);
    const tm = AnyMap(json as unknown as SectionedSourceMapInput);
    decoded = decodedMappings(tm);
    names = tm.names;
    if (tm.sources.length !== sources.length) throw new Error('source count mismatch');
  } catch (e) {
    if (e instanceof InvalidSourceMapError) throw e;
    throw new InvalidSourceMapError(`unreadable sourcemap: ${(e as Error).message}`);
  }

  let n = 0;
  for (const line of decoded) n += line.length;
  const segs = new Int32Array(n * 5);
  const lineStarts = new Uint32Array(decoded.length + 1);
  let k = 0;
  for (let i = 0; i < decoded.length; i++) {
    lineStarts[i] = k / 5;
    for (const seg of decoded[i]!) {
      segs[k] = seg[0];
      segs[k + 1] = seg.length > 1 ? seg[1]! : -1;
      segs[k + 2] = seg.length > 1 ? seg[2]! : -1;
      segs[k + 3] = seg.length > 1 ? seg[3]! : -1;
      segs[k + 4] = seg.length === 5 ? seg[4]! : -1;
      k += 5;
    }
  }
  lineStarts[decoded.length] = n;

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
  return { segs, lineStarts, strings, offsets, nSources: sources.length, nNames: names.length };
}

export function transferList(p: PackedMap): ArrayBuffer[] {
  return [p.segs.buffer, p.lineStarts.buffer, p.strings.buffer, p.offsets.buffer] as ArrayBuffer[];
}

export interface Mapping {
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
    this.cost = p.segs.byteLength + p.lineStarts.byteLength + p.strings.byteLength + p.offsets.byteLength + 1024;
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
      if (segs[mid * 5]! < c) lo = mid + 1;
      else hi = mid;
    }
    const idx = lo < lineStarts[l + 1]! && segs[lo * 5] === c ? lo : lo - 1;
    if (idx < begin) return null;
    const o = idx * 5;
    if (segs[o + 1]! < 0) return null; // 1-field segment: generated code with no original
    return { sourceIndex: segs[o + 1]!, line: segs[o + 2]! + 1, column: segs[o + 3]! + 1, nameIndex: segs[o + 4]! };
  }

  /**
   * Lines around `line` (1-based) of source `sourceIndex`'s sourcesContent: `n` before, the line,
   * `n` after, each cut to 300 chars. Null when there is no content or the line is past its end.
   * Works on the UTF-8 bytes so only the lines needed are decoded.
   */
  context(sourceIndex: number, line: number, n: number): SourceContext | null {
    if (sourceIndex < 0 || sourceIndex >= this.p.nSources) return null;
    const k = this.p.nSources + sourceIndex;
    const start = this.p.offsets[2 * k]!;
    const end = this.p.offsets[2 * k + 1]!;
    if (start < 0) return null;
    const first = Math.max(1, line - n);
    const lines: string[] = [];
    let pos = start;
    for (let ln = 1; ln <= line + n; ln++) {
      if (pos > end) break; // past the last line
      let nl = this.buf.indexOf(10, pos);
      if (nl < 0 || nl >= end) nl = end;
      if (ln >= first) {
        let e = nl;
        if (e > pos && this.buf[e - 1] === 13) e--; // CRLF
        lines.push(clip(this.buf.toString('utf8', pos, e)));
      }
      pos = nl + 1;
    }
    const at = line - first;
    if (at >= lines.length) return null;
    return { pre: lines.slice(0, at), line: lines[at]!, post: lines.slice(at + 1) };
  }
}
