/**
 * Reads the binary lookup index (layout.ts): typed-array views straight into the file's bytes,
 * no JSON, no decoding, O(1) work before the first lookup. Index files are written only by this
 * server, under keys no upload can reach (layout.ts indexBlobPath), and blob writes are atomic
 * (BlobStore contract), so a file is either whole or absent. Still, the header, every section's
 * bounds and the table sizes are checked (IndexFormatError), and lookups bounds-check the values
 * they read, so even a damaged file cannot crash or hang a lookup. Another format version →
 * IndexVersionError; the caller rebuilds the index from the map either way.
 */
import { SourceMapIndex, type FunctionLookup, type PackedMap } from '../sourcemap.ts';
import {
  ELEMENT_BYTES, FLAG_SPARSE_LINES, FORMAT_VERSION, FUNCTION_FIELDS, HEADER_BYTES, MAGIC, SECTION_COUNT, SHA_OFFSET, Section,
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
  enclosing(line: number, column: number): string | null {
    const t = this.table;
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const o = mid * FUNCTION_FIELDS;
      if (t[o]! < line || (t[o] === line && t[o + 1]! <= column)) lo = mid + 1;
      else hi = mid;
    }
    // Parents always precede their children (writer.ts); `p < i` keeps a damaged table from looping.
    for (let i = lo - 1, steps = 0; i >= 0 && steps <= this.count; i = t[i * FUNCTION_FIELDS + 4]! < i ? t[i * FUNCTION_FIELDS + 4]! : -1, steps++) {
      const o = i * FUNCTION_FIELDS;
      if (line < t[o + 2]! || (line === t[o + 2] && column < t[o + 3]!)) {
        const n = t[o + 5]!;
        return this.names.toString('utf8', this.nameOffsets[2 * n], this.nameOffsets[2 * n + 1]);
      }
    }
    return null;
  }
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
export function readIndex(input: Uint8Array): SourceMapIndex {
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
    const size = ELEMENT_BYTES[id]!;
    if (at % 8 !== 0 || len % size !== 0 || at + len > bytes.byteLength) fail(`section ${id} out of bounds`);
    return make(bytes.buffer as ArrayBuffer, bytes.byteOffset + at, len / size);
  };
  const i32 = (id: number) => section(id, (b, o, n) => new Int32Array(b, o, n));
  const u32 = (id: number) => section(id, (b, o, n) => new Uint32Array(b, o, n));
  const u8 = (id: number) => section(id, (b, o, n) => new Uint8Array(b, o, n));

  const segs = i32(Section.SEGS);
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

  // O(1) checks only: the table sizes lookups index by. Reading must stay far cheaper than
  // parsing, so values inside the tables are not walked here; every use bounds-checks or clamps
  // (SourceMapIndex), so a wrong value gives no answer, never a crash or a hang.
  if (segs.length % 5 !== 0) fail('partial segment');
  if (lineStarts.length < 1) fail('no line table');
  if (sparse && lineNumbers.length !== lineStarts.length - 1) fail('line numbers do not match the line table');
  if (offsets.length !== 2 * (2 * nSources + nNames)) fail('string table size');
  if (contentLineFirst.length !== nSources + 1 || ignored.length !== nSources) fail('per-source tables size');
  if (functions.length % FUNCTION_FIELDS !== 0 || fnNameOffsets.length % 2 !== 0) fail('function table size');

  const map: PackedMap = {
    segs, lineStarts, lineNumbers: sparse ? lineNumbers : null, strings, offsets, contentLines, contentLineFirst, ignored, nSources, nNames,
  };
  const ranges = functions.length ? new FunctionRanges(functions, fnNames, fnNameOffsets) : null;
  return new SourceMapIndex(map, ranges, bytes.byteLength + 1024);
}
