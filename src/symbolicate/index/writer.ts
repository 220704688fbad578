/**
 * Writes the binary lookup index (layout.ts) from a packed map and the script's function ranges.
 * Runs where maps are parsed (a parser worker): one allocation of the exact size, arrays copied in.
 */
import { COLUMN, NAMES_INDEX, SEGMENT_SIZE, SOURCE_COLUMN, SOURCE_LINE, SOURCES_INDEX, type PackedMap } from '../sourcemap.ts';
import type { FunctionRange } from '../names/function-ranges.ts';
import type { OriginalFunctionSource } from '../names/frame-names.ts';
import { at } from '../../util/invariant.ts';

/** Where the function ranges came from, or why there are none (names/frame-names.ts). */
export interface FunctionMeta {
  source: OriginalFunctionSource;
  problem?: string;
  /** SHA-256 (hex) of the generated script the ranges were computed from; absent when there was none. */
  script?: string;
}
import {
  BLOCK_FIELDS,
  BLOCK_SEGMENTS,
  ELEMENT_BYTES,
  FLAG_SPARSE_LINES,
  FORMAT_VERSION,
  FUNCTION_FIELDS,
  HEADER_BYTES,
  MAGIC,
  SECTION_COUNT,
  SHA_OFFSET,
  Section,
  SegmentKind,
  align8,
} from './layout.ts';

const before = (aL: number, aC: number, bL: number, bC: number) => aL < bL || (aL === bL && aC < bC);

/**
 * Function ranges as the FUNCTIONS section wants them: sorted by start (outer first on equal
 * starts), each with its parent. Ranges that are empty, or overlap a sibling without nesting
 * (the seam promises they do not; a bug upstream must not corrupt lookups), are dropped.
 */
export function functionTable(ranges: readonly FunctionRange[]): { table: Int32Array; names: string[]; flags: Uint8Array } {
  const sorted = ranges
    .filter((r) => before(r.startLine, r.startColumn, r.endLine, r.endColumn))
    .slice()
    .sort((a, b) => a.startLine - b.startLine || a.startColumn - b.startColumn || b.endLine - a.endLine || b.endColumn - a.endColumn);
  const kept: FunctionRange[] = [];
  const parents: number[] = [];
  const stack: number[] = [];
  for (const r of sorted) {
    // Close the open ranges that end at or before this start.
    for (let open = stack.at(-1); open !== undefined; open = stack.at(-1)) {
      const top = at(kept, open);
      if (before(r.startLine, r.startColumn, top.endLine, top.endColumn)) break;
      stack.pop();
    }
    const parent = stack.at(-1) ?? -1;
    if (parent >= 0) {
      const p = at(kept, parent);
      if (before(p.endLine, p.endColumn, r.endLine, r.endColumn)) continue; // partial overlap: dropped
    }
    kept.push(r);
    parents.push(parent);
    stack.push(kept.length - 1);
  }
  const table = new Int32Array(kept.length * FUNCTION_FIELDS);
  const flags = new Uint8Array(kept.length);
  const names: string[] = [];
  const nameIds = new Map<string, number>();
  kept.forEach((r, i) => {
    let id = nameIds.get(r.name);
    if (id === undefined) nameIds.set(r.name, (id = names.push(r.name) - 1));
    table.set([r.startLine, r.startColumn, r.endLine, r.endColumn, at(parents, i), id], i * FUNCTION_FIELDS); // FunctionField order
    if (r.provisional) flags[i] = 1;
  });
  return { table, names, flags };
}

function packStrings(strings: readonly string[]): { bytes: Uint8Array; offsets: Int32Array } {
  let total = 0;
  for (const s of strings) total += Buffer.byteLength(s);
  const bytes = new Uint8Array(total);
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const offsets = new Int32Array(strings.length * 2);
  let pos = 0;
  strings.forEach((s, i) => {
    offsets[2 * i] = pos;
    pos += view.write(s, pos);
    offsets[2 * i + 1] = pos;
  });
  return { bytes, offsets };
}

const zigzag = (d: number) => ((d << 1) ^ (d >> 31)) >>> 0;

/** Growable byte buffer for the varint stream. */
class Bytes {
  buf = new Uint8Array(1 << 16);
  n = 0;
  varint(v: number): void {
    if (this.n + 6 > this.buf.length) {
      const grown = new Uint8Array(this.buf.length * 2);
      grown.set(this.buf);
      this.buf = grown;
    }
    while (v >= 128) {
      this.buf[this.n++] = (v % 128) | 128;
      v = Math.floor(v / 128);
    }
    this.buf[this.n++] = v;
  }
}

/** The packed segments as SEG_DATA, BLOCKS and LINE_BLOCKS (layout.ts). */
export function encodeSegments(
  segs: Int32Array,
  lineStarts: Uint32Array,
): { data: Uint8Array; blocks: Int32Array; lineBlocks: Uint32Array } {
  const lines = lineStarts.length - 1;
  const lineBlocks = new Uint32Array(lines + 1);
  let nBlocks = 0;
  for (let i = 0; i < lines; i++) {
    lineBlocks[i] = nBlocks;
    nBlocks += Math.ceil((at(lineStarts, i + 1) - at(lineStarts, i)) / BLOCK_SEGMENTS);
  }
  lineBlocks[lines] = nBlocks;
  const blocks = new Int32Array(nBlocks * BLOCK_FIELDS);
  const out = new Bytes();
  let b = 0;
  // The running state carries across blocks and lines, like the VLQ accumulators.
  let src = 0,
    oLine = 0,
    oCol = 0,
    name = 0;
  for (let i = 0; i < lines; i++) {
    let col = 0;
    for (let k = at(lineStarts, i), lineStart = k, end = at(lineStarts, i + 1); k < end; k++) {
      const o = k * SEGMENT_SIZE;
      const segColumn = at(segs, o + COLUMN);
      const segSource = at(segs, o + SOURCES_INDEX);
      const segName = at(segs, o + NAMES_INDEX);
      const kind = segSource < 0 ? SegmentKind.GENERATED_ONLY : segName < 0 ? SegmentKind.MAPPED : SegmentKind.NAMED;
      const first = (k - lineStart) % BLOCK_SEGMENTS === 0;
      if (!first) out.varint(zigzag((segColumn - col) | 0) * 4 + kind);
      if (kind !== SegmentKind.GENERATED_ONLY) {
        const segLine = at(segs, o + SOURCE_LINE);
        const segCol = at(segs, o + SOURCE_COLUMN);
        if (!first) {
          out.varint(zigzag((segSource - src) | 0));
          out.varint(zigzag((segLine - oLine) | 0));
          out.varint(zigzag((segCol - oCol) | 0));
        }
        src = segSource;
        oLine = segLine;
        oCol = segCol;
        if (kind === SegmentKind.NAMED) {
          if (!first) out.varint(zigzag((segName - name) | 0));
          name = segName;
        }
      }
      col = segColumn;
      // A block's first segment lives in BLOCKS, in full; its data starts with the next one.
      if (first) blocks.set([col, out.n, kind, src, oLine, oCol, name], b++ * BLOCK_FIELDS); // BlockField order
    }
  }
  return { data: out.buf.slice(0, out.n), blocks, lineBlocks };
}

/**
 * The index file for `map` (and the minified script's function ranges, if known). `mapSha256`
 * (hex) names the map bytes it was built from; omitted (zeros) when the caller does not know it.
 */
export function writeIndex(
  map: PackedMap,
  ranges: readonly FunctionRange[] = [],
  mapSha256 = '',
  meta: FunctionMeta | null = null,
): Uint8Array {
  const { table, names, flags } = functionTable(ranges);
  const fnNames = packStrings(names);
  const encoded = encodeSegments(map.segs, map.lineStarts);
  const sections: ArrayBufferView[] = [];
  sections[Section.SEG_DATA] = encoded.data;
  sections[Section.BLOCKS] = encoded.blocks;
  sections[Section.LINE_BLOCKS] = encoded.lineBlocks;
  sections[Section.FUNCTION_META] = Buffer.from(meta ? JSON.stringify(meta) : '');
  sections[Section.LINE_STARTS] = map.lineStarts;
  sections[Section.LINE_NUMBERS] = map.lineNumbers ?? new Uint32Array(0);
  sections[Section.STRINGS] = map.strings;
  sections[Section.STRING_OFFSETS] = map.offsets;
  sections[Section.CONTENT_LINES] = map.contentLines;
  sections[Section.CONTENT_LINE_FIRST] = map.contentLineFirst;
  sections[Section.IGNORED] = map.ignored;
  sections[Section.FUNCTIONS] = table;
  sections[Section.FUNCTION_NAMES] = fnNames.bytes;
  sections[Section.FUNCTION_NAME_OFFSETS] = fnNames.offsets;
  sections[Section.FUNCTION_FLAGS] = flags;

  let pos = align8(HEADER_BYTES + 8 * SECTION_COUNT);
  const sectionAt: number[] = [];
  for (const s of sections) {
    sectionAt.push(pos);
    pos = align8(pos + s.byteLength);
  }
  if (pos > 0xffffffff) throw new RangeError('index larger than 4 GiB');
  const out = new Uint8Array(pos);
  const header = new DataView(out.buffer);
  header.setUint32(0, MAGIC, true);
  header.setUint32(4, FORMAT_VERSION, true);
  header.setUint32(8, map.nSources, true);
  header.setUint32(12, map.nNames, true);
  header.setUint32(16, map.lineNumbers ? FLAG_SPARSE_LINES : 0, true);
  header.setUint32(20, SECTION_COUNT, true);
  if (/^[0-9a-f]{64}$/.test(mapSha256)) out.set(Buffer.from(mapSha256, 'hex'), SHA_OFFSET);
  sections.forEach((s, id) => {
    if (s.byteLength % at(ELEMENT_BYTES, id) !== 0) throw new Error(`section ${id} has a partial element`);
    const offset = at(sectionAt, id);
    header.setUint32(HEADER_BYTES + 8 * id, offset, true);
    header.setUint32(HEADER_BYTES + 8 * id + 4, s.byteLength, true);
    out.set(new Uint8Array(s.buffer, s.byteOffset, s.byteLength), offset);
  });
  return out;
}
