/**
 * ECMA-426 `scopes` (the source map scopes proposal, as Chrome DevTools decodes it): original
 * scopes and generated ranges in one comma-separated list of items, each a tag and VLQ fields.
 * When a map carries them they say directly which original function every generated range
 * belongs to, inlining included, so they beat guessing from the minified script.
 *
 * Only what naming needs is kept: a generated range whose definition scope is a function-like
 * original scope (`isStackFrame`) becomes a FunctionRange named after that scope; hidden ranges
 * (generator helpers) are dropped so the enclosing function names them. Lax like DevTools: an
 * item that does not fit is skipped; a list that is not VLQ at all gives a problem, not a throw.
 * Linear in the field's length.
 */
import { sortRanges } from './enclosing.ts';
import type { FunctionRange } from './function-ranges.ts';

const TAG_ORIGINAL_SCOPE_START = 0x1;
const TAG_GENERATED_RANGE_START = 0x4;
const TAG_GENERATED_RANGE_END = 0x5;

const SCOPE_HAS_NAME = 0x1;
const SCOPE_HAS_KIND = 0x2;
const SCOPE_IS_STACK_FRAME = 0x4;
const RANGE_HAS_LINE = 0x1;
const RANGE_HAS_DEFINITION = 0x2;
const RANGE_IS_HIDDEN = 0x8;

const B64 = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) B64['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;

class VlqReader {
  pos = 0;
  constructor(private readonly s: string) {}

  atItemEnd(): boolean {
    return this.pos >= this.s.length || this.s.charCodeAt(this.pos) === 44; /* , */
  }

  unsigned(): number {
    let value = 0;
    let shift = 0;
    for (;;) {
      if (this.atItemEnd()) throw new Error(`truncated VLQ at ${this.pos}`);
      const c = this.s.charCodeAt(this.pos++);
      const digit = B64[c] ?? -1; // past the table (c ≥ 128): not a digit either
      if (digit < 0) throw new Error(`not a base64 digit at ${this.pos - 1}`);
      if (shift > 30) throw new Error(`VLQ too long at ${this.pos - 1}`);
      value += (digit & 31) * 2 ** shift;
      shift += 5;
      if (!(digit & 32)) return value;
    }
  }

  signed(): number {
    const v = this.unsigned();
    return v % 2 === 1 ? -(v - 1) / 2 : v / 2;
  }

  /** Skips the rest of the item and its comma. */
  nextItem(): void {
    const comma = this.s.indexOf(',', this.pos);
    this.pos = comma < 0 ? this.s.length : comma + 1;
  }
}

interface OriginalScope {
  name: string | null;
  isStackFrame: boolean;
}

interface OpenRange {
  line: number;
  column: number;
  definition: OriginalScope | null;
  hidden: boolean;
}

export type ScopesDecode = { ranges: FunctionRange[]; problem?: undefined } | { ranges: null; problem: string };

/**
 * Decodes one map's `scopes` into function ranges. `offset` shifts generated positions (an index
 * map's section offset); `names` is the map's `names`.
 */
export function decodeScopes(scopes: string, names: readonly unknown[], offset = { line: 0, column: 0 }): ScopesDecode {
  const r = new VlqReader(scopes);
  const flat: OriginalScope[] = [];
  let nameIdx = 0;
  let defIdx = 0;
  let line = offset.line;
  let column = offset.column;
  const open: OpenRange[] = [];
  const ranges: FunctionRange[] = [];
  const nameAt = (i: number): string | null => (typeof names[i] === 'string' ? (names[i] as string) : null);
  try {
    while (r.pos < scopes.length) {
      if (r.atItemEnd()) {
        r.nextItem(); // empty item
        continue;
      }
      const tag = r.unsigned();
      if (tag === TAG_ORIGINAL_SCOPE_START) {
        const flags = r.unsigned();
        r.unsigned(); // line
        r.unsigned(); // column
        let name: string | null = null;
        if (flags & SCOPE_HAS_NAME) name = nameAt((nameIdx += r.signed()));
        if (flags & SCOPE_HAS_KIND) r.signed(); // kind: not needed to name frames
        flat.push({ name, isStackFrame: (flags & SCOPE_IS_STACK_FRAME) !== 0 });
      } else if (tag === TAG_GENERATED_RANGE_START) {
        const flags = r.unsigned();
        if (flags & RANGE_HAS_LINE) {
          line += r.unsigned();
          column = r.unsigned();
        } else column += r.unsigned();
        let definition: OriginalScope | null = null;
        if (flags & RANGE_HAS_DEFINITION) definition = flat[(defIdx += r.signed())] ?? null;
        open.push({ line, column, definition, hidden: (flags & RANGE_IS_HIDDEN) !== 0 });
      } else if (tag === TAG_GENERATED_RANGE_END) {
        const first = r.unsigned();
        if (!r.atItemEnd()) {
          line += first;
          column = r.unsigned();
        } else column += first;
        const range = open.pop();
        if (range?.definition?.isStackFrame && !range.hidden) {
          ranges.push({
            startLine: range.line,
            startColumn: range.column,
            endLine: line,
            endColumn: column,
            name: range.definition.name ?? '<anonymous>',
          });
        }
      }
      // Other tags (variables, bindings, call sites, vendor extensions) carry nothing naming needs.
      r.nextItem();
    }
  } catch (e) {
    return { ranges: null, problem: `unreadable "scopes": ${(e as Error).message}` };
  }
  return { ranges: sortRanges(ranges) };
}
