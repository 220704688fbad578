/**
 * Reads the binary lookup index (layout.ts): typed-array views straight into the file's bytes,
 * no JSON, no decoding, O(1) work before the first lookup. Index files are written only by this
 * server, under keys no upload can reach (layout.ts indexBlobPath), and blob writes are atomic
 * (BlobStore contract), so a file is either whole or absent. Still, the header, every section's
 * bounds and the table sizes are checked (IndexFormatError), and lookups bounds-check the values
 * they read, so even a damaged file cannot crash or hang a lookup. Another format version →
 * IndexVersionError; the caller rebuilds the index from the map either way.
 */
import { SourceMapIndex, type EnclosingFunction, type FunctionLookup, type Mapping, type PackedMap } from '../sourcemap.ts';
import { at } from '../../util/invariant.ts';
import type { FunctionMeta } from './writer.ts';
import {
  BLOCK_FIELDS,
  BLOCK_SEGMENTS,
  BlockField,
  ELEMENT_BYTES,
  FLAG_SPARSE_LINES,
  FORMAT_VERSION,
  FUNCTION_FIELDS,
  FunctionField,
  HEADER_BYTES,
  MAGIC,
  SECTION_COUNT,
  SHA_OFFSET,
  Section,
  SegmentKind,
} from './layout.ts';

export class IndexFormatError extends Error {
  constructor(message: string) {
    super(`lookup index: ${message}`);
    this.name = 'IndexFormatError';
  }
}

export class IndexVersionError extends IndexFormatError {
  constructor(readonly found: number) {
    super(`format version ${found}, this server reads ${FORMAT_VERSION}`);
    this.name = 'IndexVersionError';
  }
}

/** Enclosing-function lookups over the FUNCTIONS section. */
export class FunctionRanges implements FunctionLookup {
  private readonly names: Buffer;

  constructor(
    private readonly table: Int32Array,
    names: Uint8Array,
    private readonly nameOffsets: Int32Array,
    private readonly flags: Uint8Array,
  ) {
    this.names = Buffer.from(names.buffer, names.byteOffset, names.byteLength);
  }

  get count(): number {
    return this.table.length / FUNCTION_FIELDS;
  }

  /**
   * The innermost range containing the 0-based position: the last range starting at or before
   * it, or the nearest of its ancestors that has not ended yet (ranges nest, so the innermost
   * containing range is always on that chain).
   */
  enclosing(line: number, column: number): EnclosingFunction | null {
    const t = this.table;
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const o = mid * FUNCTION_FIELDS;
      const startLine = at(t, o + FunctionField.START_LINE);
      if (startLine < line || (startLine === line && at(t, o + FunctionField.START_COLUMN) <= column)) lo = mid + 1;
      else hi = mid;
    }
    // Parents always precede their children (writer.ts); `parent < i` keeps a damaged table from looping.
    for (let i = lo - 1, steps = 0; i >= 0 && steps <= this.count; steps++) {
      const o = i * FUNCTION_FIELDS;
      const endLine = at(t, o + FunctionField.END_LINE);
      if (line < endLine || (line === endLine && column < at(t, o + FunctionField.END_COLUMN))) {
        const n = at(t, o + FunctionField.NAME);
        const name = this.names.toString('utf8', this.nameOffsets[2 * n], this.nameOffsets[2 * n + 1]);
        return { name, provisional: this.flags[i] === 1 };
      }
      const parent = at(t, o + FunctionField.PARENT);
      i = parent < i ? parent : -1;
    }
    return null;
  }
}

/**
 * A map read from an index file: the queries of SourceMapIndex, with lookups decoding the
 * block-compressed segments (layout.ts) instead of reading the packed 5-int form.
 */
export class IndexedMap extends SourceMapIndex {
  constructor(
    p: PackedMap,
    functions: FunctionLookup | null,
    cost: number,
    private readonly data: Uint8Array,
    private readonly blocks: Int32Array,
    private readonly lineBlocks: Uint32Array,
    /** Where the function ranges came from, or why there are none; null when not recorded. */
    readonly functionMeta: FunctionMeta | null,
  ) {
    super(p, functions, cost);
  }

  /** Same contract as SourceMapIndex.lookup (trace-mapping's GREATEST_LOWER_BOUND, 1-based). */
  override lookup(line: number, column: number): Mapping | null {
    const l = this.entry(line - 1);
    const c = Math.max(0, column - 1);
    if (l < 0 || l + 1 >= this.lineBlocks.length) return null;
    const nBlocks = this.blocks.length / BLOCK_FIELDS;
    const b0 = Math.min(at(this.lineBlocks, l), nBlocks);
    const b1 = Math.min(Math.max(at(this.lineBlocks, l + 1), b0), nBlocks);
    const count = at(this.p.lineStarts, l + 1) - at(this.p.lineStarts, l);
    if (b0 === b1 || !(count > 0)) return null;
    // The last block whose first column is below c (else the line's first block).
    let lo = b0;
    let hi = b1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (at(this.blocks, mid * BLOCK_FIELDS + BlockField.COLUMN) < c) lo = mid + 1;
      else hi = mid;
    }
    const start = lo > b0 ? lo - 1 : b0;
    // Walk forward from that block to the first segment at or past c (at most two blocks).
    let prev: Segment | null = null;
    for (let b = start; b < b1; b++) {
      const inBlock = Math.min(BLOCK_SEGMENTS, count - (b - b0) * BLOCK_SEGMENTS);
      const seg = this.blockFirst(b);
      let pos = seg.dataAt;
      for (let k = 0; k < inBlock; k++) {
        if (k > 0 && (pos = this.next(seg, pos)) < 0) return null; // damaged data
        if (seg.col >= c) return seg.col === c ? this.mapping(seg) : prev && this.mapping(prev);
        prev = { ...seg };
      }
    }
    return prev && this.mapping(prev);
  }

  private blockFirst(b: number): Segment {
    const o = b * BLOCK_FIELDS;
    const t = this.blocks;
    return {
      col: at(t, o + BlockField.COLUMN),
      dataAt: at(t, o + BlockField.DATA_AT),
      kind: at(t, o + BlockField.KIND),
      src: at(t, o + BlockField.SOURCE),
      line: at(t, o + BlockField.SOURCE_LINE),
      column: at(t, o + BlockField.SOURCE_COLUMN),
      name: at(t, o + BlockField.NAME),
    };
  }

  /**
   * Decodes the segment at `pos` into `seg` (deltas on its state); the next position, or -1.
   * No closures in here: under tsx (keepNames) every closure created costs a defineProperty, and
   * this runs for every segment a lookup walks over (docs/BENCHMARKS.md, target 3).
   */
  private next(seg: Segment, pos: number): number {
    const d = this.data;
    const head = readVarint(d, pos);
    if (head < 0) return -1;
    pos = varintEnd;
    seg.kind = head % 4;
    seg.col = (seg.col + unzig(Math.floor(head / 4) >>> 0)) | 0;
    if (seg.kind !== SegmentKind.GENERATED_ONLY) {
      const a = readVarint(d, pos);
      if (a < 0) return -1;
      const b = readVarint(d, varintEnd);
      if (b < 0) return -1;
      const e = readVarint(d, varintEnd);
      if (e < 0) return -1;
      pos = varintEnd;
      seg.src = (seg.src + unzig(a)) | 0;
      seg.line = (seg.line + unzig(b)) | 0;
      seg.column = (seg.column + unzig(e)) | 0;
      if (seg.kind === SegmentKind.NAMED) {
        const n = readVarint(d, pos);
        if (n < 0) return -1;
        pos = varintEnd;
        seg.name = (seg.name + unzig(n)) | 0;
      }
    }
    return pos;
  }

  private mapping(s: Segment): Mapping | null {
    if (s.kind === SegmentKind.GENERATED_ONLY) return null; // generated code with no original
    return {
      generatedColumn: s.col + 1,
      sourceIndex: s.src,
      line: s.line + 1,
      column: s.column + 1,
      nameIndex: s.kind === SegmentKind.NAMED ? s.name : -1,
    };
  }
}

/** Where the last readVarint stopped (module state: lookups are synchronous, one at a time). */
let varintEnd = 0;

/** The unsigned LEB128 value at `pos` (at most 6 bytes), or -1 when cut short; sets varintEnd. */
function readVarint(d: Uint8Array, pos: number): number {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 6; i++) {
    const byte = d[pos++];
    if (byte === undefined) return -1;
    v += (byte & 127) * mul;
    if (byte < 128) {
      varintEnd = pos;
      return v;
    }
    mul *= 128;
  }
  return -1;
}

const unzig = (z: number): number => (z >>> 1) ^ -(z & 1);

/** A decoded segment with the running state it leaves. */
interface Segment {
  col: number;
  dataAt: number;
  kind: number;
  src: number;
  line: number;
  column: number;
  name: number;
}

function fail(msg: string): never {
  throw new IndexFormatError(msg);
}

/** SHA-256 (hex) of the map an index file was built from, or null if unknown or not an index. */
export function indexMapSha256(file: Uint8Array): string | null {
  if (file.byteLength < HEADER_BYTES) return null;
  const hex = Buffer.from(file.buffer, file.byteOffset + SHA_OFFSET, 32).toString('hex');
  return /^0+$/.test(hex) ? null : hex;
}

/** The index in `bytes` as a SourceMapIndex (views into `bytes`, which must stay untouched). */
export function readIndex(input: Uint8Array): IndexedMap {
  // Typed-array views need aligned offsets: copy once if the bytes sit at an odd place.
  const bytes = input.byteOffset % 8 === 0 ? input : new Uint8Array(input);
  if (bytes.byteLength < HEADER_BYTES) fail('shorter than its header');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) fail('not an index file (bad magic)');
  const version = dv.getUint32(4, true);
  if (version !== FORMAT_VERSION) throw new IndexVersionError(version);
  const nSources = dv.getUint32(8, true);
  const nNames = dv.getUint32(12, true);
  const sparse = (dv.getUint32(16, true) & FLAG_SPARSE_LINES) !== 0;
  const count = dv.getUint32(20, true);
  if (count < SECTION_COUNT || HEADER_BYTES + 8 * count > bytes.byteLength) fail('section table out of bounds');

  const section = <T>(id: number, make: (buf: ArrayBuffer, offset: number, length: number) => T): T => {
    const at = dv.getUint32(HEADER_BYTES + 8 * id, true);
    const len = dv.getUint32(HEADER_BYTES + 8 * id + 4, true);
    const size = ELEMENT_BYTES[id];
    if (size === undefined) return fail(`section ${id} is unknown`);
    if (at % 8 !== 0 || len % size !== 0 || at + len > bytes.byteLength) fail(`section ${id} out of bounds`);
    return make(bytes.buffer as ArrayBuffer, bytes.byteOffset + at, len / size);
  };
  const i32 = (id: number) => section(id, (b, o, n) => new Int32Array(b, o, n));
  const u32 = (id: number) => section(id, (b, o, n) => new Uint32Array(b, o, n));
  const u8 = (id: number) => section(id, (b, o, n) => new Uint8Array(b, o, n));

  const data = u8(Section.SEG_DATA);
  const blocks = i32(Section.BLOCKS);
  const lineBlocks = u32(Section.LINE_BLOCKS);
  const metaBytes = u8(Section.FUNCTION_META);
  let functionMeta: FunctionMeta | null = null;
  try {
    functionMeta = metaBytes.length ? (JSON.parse(Buffer.from(metaBytes).toString('utf8')) as FunctionMeta) : null;
  } catch {
    fail('function meta is not JSON');
  }
  const lineStarts = u32(Section.LINE_STARTS);
  const lineNumbers = u32(Section.LINE_NUMBERS);
  const strings = u8(Section.STRINGS);
  const offsets = i32(Section.STRING_OFFSETS);
  const contentLines = u32(Section.CONTENT_LINES);
  const contentLineFirst = u32(Section.CONTENT_LINE_FIRST);
  const ignored = u8(Section.IGNORED);
  const functions = i32(Section.FUNCTIONS);
  const fnNames = u8(Section.FUNCTION_NAMES);
  const fnNameOffsets = i32(Section.FUNCTION_NAME_OFFSETS);
  const fnFlags = u8(Section.FUNCTION_FLAGS);

  // O(1) checks only: the table sizes lookups index by. Reading must stay far cheaper than
  // parsing, so values inside the tables are not walked here; every use bounds-checks or clamps
  // (SourceMapIndex), so a wrong value gives no answer, never a crash or a hang.
  if (blocks.length % BLOCK_FIELDS !== 0) fail('partial block');
  if (lineStarts.length < 1 || lineBlocks.length !== lineStarts.length) fail('line tables size');
  if (sparse && lineNumbers.length !== lineStarts.length - 1) fail('line numbers do not match the line table');
  if (offsets.length !== 2 * (2 * nSources + nNames)) fail('string table size');
  if (contentLineFirst.length !== nSources + 1 || ignored.length !== nSources) fail('per-source tables size');
  if (functions.length % FUNCTION_FIELDS !== 0 || fnNameOffsets.length % 2 !== 0 || fnFlags.length !== functions.length / FUNCTION_FIELDS) {
    fail('function table size');
  }

  const map: PackedMap = {
    segs: new Int32Array(0),
    lineStarts,
    lineNumbers: sparse ? lineNumbers : null,
    strings,
    offsets,
    contentLines,
    contentLineFirst,
    ignored,
    nSources,
    nNames,
  };
  const ranges = functions.length ? new FunctionRanges(functions, fnNames, fnNameOffsets, fnFlags) : null;
  return new IndexedMap(map, ranges, bytes.byteLength + 1024, data, blocks, lineBlocks, functionMeta);
}
