/**
 * The binary lookup index: the on-disk layout (the one place that knows it). Written by
 * writer.ts (at merge, in a parser worker), read by reader.ts (at resolution, zero-copy views).
 * Shaped after getsentry/symbolic's sourcemapcache: raw layout, writer and lookup kept apart;
 * the content is the packed map of ../sourcemap.ts plus enclosing-function ranges.
 *
 * File = header, section table, sections. Little-endian throughout.
 *
 *   offset  size  field
 *   0       4     magic "MVIX"
 *   4       4     format version (FORMAT_VERSION; another value → the index is rebuilt from the map)
 *   8       4     nSources
 *   12      4     nNames
 *   16      4     flags (FLAG_SPARSE_LINES: lineNumbers present)
 *   20      4     section count (≥ SECTION_COUNT; readers ignore sections they do not know)
 *   24      32    SHA-256 of the map file the index was built from (a stale index is detected by it)
 *   56      8×n   section table: u32 byte offset from the file start, u32 byte length
 *   …             sections, each starting on an 8-byte boundary
 *
 * Sections (id: element type, content):
 *   SEG_DATA           u8, the segments, block by block (below)
 *   LINE_STARTS        u32, line entries + 1: segments of entry i are [s[i], s[i+1]) (global numbering)
 *   LINE_NUMBERS       u32, one per entry when sparse (index maps): the 0-based generated line of entry i
 *   STRINGS            u8, UTF-8 of sources, then sourcesContent, then names
 *   STRING_OFFSETS     i32 pairs [start, end) into STRINGS per string; -1 = null
 *   CONTENT_LINES      u32, byte offset into STRINGS of every line of every sourcesContent
 *   CONTENT_LINE_FIRST u32, nSources + 1: source i's lines are [f[i], f[i+1]) of CONTENT_LINES
 *   IGNORED            u8 per source: 1 when the map's ignoreList (x_google_ignoreList) names it
 *   FUNCTIONS          i32 ×6 per range: start line, start column, end line, end column (exclusive),
 *                      parent range (-1 = none), name index into FUNCTION_NAME_OFFSETS; sorted by
 *                      start, outer before inner on equal starts (names/function-ranges.ts)
 *   FUNCTION_NAMES     u8, UTF-8 of the function names
 *   FUNCTION_NAME_OFFSETS i32 pairs [start, end) into FUNCTION_NAMES
 *   BLOCKS             i32 ×7 per block: the block's first segment in full — generated column, SEG_DATA
 *                      offset of the block's next segment, kind, then the running state (source,
 *                      original line, original column, name) after it
 *   LINE_BLOCKS        u32, line entries + 1: blocks of entry i are [b[i], b[i+1])
 *   FUNCTION_META      u8, UTF-8 JSON {"source", "problem"?, "script"?}: where the function ranges came
 *                      from (names/: "scopes" or "script"), or why there are none; `script` = SHA-256 of
 *                      the generated script they were computed from (a script stored later → rebuilt)
 *   FUNCTION_FLAGS     u8 per FUNCTIONS range: 1 = its name is provisional (anonymous, or a minified
 *                      identifier the map does not name: names/function-ranges.ts), 0 = original
 *
 * Segments (sorted by generated column within a line) are cut into blocks of BLOCK_SEGMENTS; a
 * lookup binary-searches the line's blocks by first column and decodes at most two blocks. Within
 * a block each segment after the first is: varint(zigzag(column − previous column) × 4 + kind),
 * kind 0 = generated only, 1 = + source/line/column, 2 = + name; then, for kind ≥ 1, zigzag
 * varints of the source, original line and original column deltas against the running state, and
 * for kind 2 the name delta. Deltas are int32 (wrapping, as the VLQ accumulators do). About 6
 * bytes a segment instead of the 20 of the packed form.
 */

export const MAGIC = 0x5849564d; // "MVIX" read as a little-endian u32
/** 2: FUNCTION_FLAGS added (version 1 indexes are rebuilt from their maps on first use). */
export const FORMAT_VERSION = 2;
export const FLAG_SPARSE_LINES = 1;
export const SHA_OFFSET = 24;
export const HEADER_BYTES = 56;

export const Section = {
  SEG_DATA: 0,
  LINE_STARTS: 1,
  LINE_NUMBERS: 2,
  STRINGS: 3,
  STRING_OFFSETS: 4,
  CONTENT_LINES: 5,
  CONTENT_LINE_FIRST: 6,
  IGNORED: 7,
  FUNCTIONS: 8,
  FUNCTION_NAMES: 9,
  FUNCTION_NAME_OFFSETS: 10,
  BLOCKS: 11,
  LINE_BLOCKS: 12,
  FUNCTION_META: 13,
  FUNCTION_FLAGS: 14,
} as const;
export const SECTION_COUNT = 15;

/** Bytes per element of each section, by id. */
export const ELEMENT_BYTES = [1, 4, 4, 1, 4, 4, 4, 1, 4, 1, 4, 4, 4, 1, 1] as const;

export const BLOCK_SEGMENTS = 16;
/** The fields of one BLOCKS entry, at these offsets from its start. */
export const BlockField = { COLUMN: 0, DATA_AT: 1, KIND: 2, SOURCE: 3, SOURCE_LINE: 4, SOURCE_COLUMN: 5, NAME: 6 } as const;
export const BLOCK_FIELDS = 7;
export const SegmentKind = { GENERATED_ONLY: 0, MAPPED: 1, NAMED: 2 } as const;

/** The fields of one FUNCTIONS range, at these offsets from its start. */
export const FunctionField = { START_LINE: 0, START_COLUMN: 1, END_LINE: 2, END_COLUMN: 3, PARENT: 4, NAME: 5 } as const;
export const FUNCTION_FIELDS = 6;

export const align8 = (n: number): number => (n + 7) & ~7;
