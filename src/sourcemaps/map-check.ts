/**
 * Why a `.map` file is not a usable sourcemap, or null when it is: checked at merge time (and by
 * the CLI before it uploads) so the uploader learns about it as a warning, not at resolution time.
 *
 * The bytes are fed in chunks as they stream to storage. The check is a JSON tokenizer that keeps
 * only its nesting stack and the kinds of the top-level fields it needs, so a map of any size is
 * checked in constant memory and without blocking the event loop for one long JSON.parse. It
 * accepts exactly what JSON.parse accepts on the UTF-8 text, after an optional `)]}'` first line
 * (the XSSI guard that the sourcemap spec allows).
 */
import { at } from '../util/invariant.ts';

/** Deeper nesting is refused: a sourcemap needs 3 levels, and the stack must stay small. */
export const MAX_MAP_NESTING = 10_000;

const enum S {
  Prefix,
  PrefixLine,
  Value,
  ArrayFirst,
  ObjectFirstKey,
  ObjectKey,
  Colon,
  AfterValue,
  End,
  String,
  Escape,
  Unicode,
  Literal,
  NumMinus,
  NumZero,
  NumInt,
  NumFracFirst,
  NumFrac,
  NumExpSign,
  NumExpFirst,
  NumExp,
}
const OBJ = 1,
  ARR = 2;
const PREFIX = [0x29, 0x5d, 0x7d, 0x27]; // )]}'
const WATCHED = new Set(['version', 'sections', 'mappings', 'sources', 'debugId', 'debug_id', 'file']);
/**
 * Top-level string fields whose text is kept (bounded): the map's debug ID (debug-id.ts), and its
 * `file` (the generated script, which `mapvault upload` packs with the map).
 */
const TEXT_FIELDS = new Set(['debugId', 'debug_id', 'file']);
/** Longest text kept; a longer one is cut to this length (callers treat a cut text as unusable). */
export const MAX_TEXT = 1024;
const MAX_KEY = 16; // longer top-level keys cannot be one of WATCHED
const MAX_NUMBER = 1024; // a longer number literal for a watched field counts as not a number
type Kind = 'object' | 'array' | 'string' | 'number' | 'boolean' | 'null';

export class SourceMapCheck {
  private state = S.Prefix;
  private offset = 0; // bytes consumed before the current chunk
  private error: string | null = null;
  private readonly stack: number[] = [];
  private rootKind: Kind | null = null;
  private readonly fields = new Map<string, { kind: Kind; number?: number; text?: string }>();
  /** The text of the TEXT_FIELDS string being read, else null. */
  private text: string | null = null;
  private prefixSeen = 0;
  private literal = '';
  private literalAt = 0;
  private unicodeLeft = 0;
  private unicode = 0;
  /** The top-level key being read (null when not capturing or too long to matter). */
  private key: string | null = null;
  private capturingKey = false;
  private isKey = false;
  /** The top-level field whose value is being read, if watched. */
  private field: string | null = null;
  private number = '';

  write(chunk: Buffer): void {
    if (this.error !== null) return;
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      const b = at(chunk, i);
      switch (this.state) {
        case S.Prefix:
          if (b === PREFIX[this.prefixSeen]) {
            if (++this.prefixSeen === PREFIX.length) this.state = S.PrefixLine;
            i++;
            continue;
          }
          if (this.prefixSeen > 0) return this.fail("unexpected ')'", -this.offset); // not the guard, and `)` starts no JSON value
          this.state = S.Value;
          continue;
        case S.PrefixLine:
          i = chunk.indexOf(0x0a, i);
          if (i < 0) {
            i = n;
          } else {
            i++;
            this.state = S.Value;
          }
          continue;
        case S.Value:
        case S.ArrayFirst:
          if (isSpace(b)) {
            i++;
            continue;
          }
          if (this.state === S.ArrayFirst && b === 0x5d) {
            i++;
            this.close();
            continue;
          }
          if (!this.startValue(b, i)) return;
          i++;
          continue;
        case S.ObjectFirstKey:
        case S.ObjectKey:
          if (isSpace(b)) {
            i++;
            continue;
          }
          if (b === 0x22) {
            this.isKey = true;
            this.capturingKey = this.stack.length === 1;
            this.key = this.capturingKey ? '' : null;
            this.state = S.String;
            i++;
            continue;
          }
          if (this.state === S.ObjectFirstKey && b === 0x7d) {
            i++;
            this.close();
            continue;
          }
          return this.fail(`expected a key string, got ${describe(b)}`, i);
        case S.Colon:
          if (isSpace(b)) {
            i++;
            continue;
          }
          if (b !== 0x3a) return this.fail(`expected ':', got ${describe(b)}`, i);
          this.state = S.Value;
          i++;
          continue;
        case S.AfterValue: {
          if (isSpace(b)) {
            i++;
            continue;
          }
          const top = this.stack[this.stack.length - 1];
          if (b === 0x2c && top !== undefined) {
            this.state = top === OBJ ? S.ObjectKey : S.Value;
            i++;
            continue;
          }
          if ((b === 0x7d && top === OBJ) || (b === 0x5d && top === ARR)) {
            i++;
            this.close();
            continue;
          }
          return this.fail(`unexpected ${describe(b)}`, i);
        }
        case S.End:
          if (isSpace(b)) {
            i++;
            continue;
          }
          return this.fail(`unexpected ${describe(b)} after the JSON value`, i);
        case S.String:
          if (!this.capturingKey && this.text === null) {
            // Fast path: the bulk of a map is its mappings and sourcesContent strings.
            while (i < n) {
              const c = at(chunk, i);
              if (c === 0x22 || c === 0x5c || c < 0x20) break;
              i++;
            }
            if (i === n) continue;
          }
          {
            const c = at(chunk, i);
            if (c === 0x22) {
              i++;
              this.endString();
              continue;
            }
            if (c === 0x5c) {
              i++;
              this.state = S.Escape;
              continue;
            }
            if (c < 0x20) return this.fail(`unescaped control character ${describe(c)} in a string`, i);
            if (this.key !== null)
              this.appendKey(String.fromCharCode(c)); // non-ASCII never matches a watched key
            else if (this.text !== null) this.appendText(String.fromCharCode(c));
            i++;
            continue;
          }
        case S.Escape: {
          const decoded = ESCAPES[b];
          if (b === 0x75) {
            this.state = S.Unicode;
            this.unicodeLeft = 4;
            this.unicode = 0;
          } else if (decoded !== undefined) {
            if (this.capturingKey && this.key !== null) this.appendKey(decoded);
            else if (this.text !== null) this.appendText(decoded);
            this.state = S.String;
          } else {
            return this.fail(`bad escape \\${String.fromCharCode(b)}`, i);
          }
          i++;
          continue;
        }
        case S.Unicode: {
          const h = hexValue(b);
          if (h < 0) return this.fail(`bad \\u escape (${describe(b)})`, i);
          this.unicode = this.unicode * 16 + h;
          if (--this.unicodeLeft === 0) {
            if (this.capturingKey && this.key !== null) this.appendKey(String.fromCharCode(this.unicode));
            else if (this.text !== null) this.appendText(String.fromCharCode(this.unicode));
            this.state = S.String;
          }
          i++;
          continue;
        }
        case S.Literal:
          if (b !== this.literal.charCodeAt(this.literalAt)) return this.fail(`unexpected ${describe(b)}`, i);
          i++;
          if (++this.literalAt === this.literal.length) this.endValue();
          continue;
        default: {
          // Numbers: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
          const next = numberStep(this.state, b);
          if (next === null) {
            if (!numberComplete(this.state)) return this.fail(`unexpected ${describe(b)} in a number`, i);
            this.endValue();
            continue; // the byte is looked at again after the number
          }
          if (this.field !== null) this.number = this.number.length < MAX_NUMBER ? this.number + String.fromCharCode(b) : 'NaN';
          this.state = next;
          i++;
          continue;
        }
      }
    }
    this.offset += n;
  }

  /** Call once after the last chunk. */
  result(): string | null {
    if (this.error === null && this.state >= S.NumMinus) {
      if (numberComplete(this.state)) this.endValue();
      else this.error = 'unexpected end of data in a number';
    }
    if (this.error === null && this.state !== S.End) this.error = 'unexpected end of data';
    if (this.error !== null) return `not valid JSON (${this.error})`;
    if (this.rootKind !== 'object') return 'not a JSON object';
    const version = this.fields.get('version');
    if (!version) return 'missing "version" (expected 3)';
    if (version.kind !== 'number') return `"version" is a ${version.kind} (expected the number 3)`;
    if (version.number !== 3) return `unsupported sourcemap version ${version.number} (expected 3)`;
    if (this.fields.get('sections')?.kind === 'array') return null;
    if (this.fields.get('mappings')?.kind !== 'string') return 'missing "mappings" string';
    if (this.fields.get('sources')?.kind !== 'array') return 'missing "sources" array';
    return null;
  }

  /**
   * The text of a top-level string field among TEXT_FIELDS (`debugId`, `debug_id`), at most
   * MAX_TEXT characters; null when absent or not a string. Read after result().
   */
  stringField(name: 'debugId' | 'debug_id' | 'file'): string | null {
    const f = this.fields.get(name);
    return f?.kind === 'string' ? (f.text ?? null) : null;
  }

  private startValue(b: number, i: number): boolean {
    const kind = valueKind(b);
    if (kind === null) {
      this.fail(`unexpected ${describe(b)}`, i);
      return false;
    }
    if (this.stack.length === 0) this.rootKind = kind;
    if (this.field !== null) this.fields.set(this.field, { kind });
    switch (b) {
      case 0x7b:
      case 0x5b:
        if (this.stack.length >= MAX_MAP_NESTING) {
          this.fail(`nested deeper than ${MAX_MAP_NESTING} levels`, i);
          return false;
        }
        this.stack.push(b === 0x7b ? OBJ : ARR);
        this.field = null;
        this.state = b === 0x7b ? S.ObjectFirstKey : S.ArrayFirst;
        return true;
      case 0x22:
        this.isKey = false;
        this.capturingKey = false;
        this.key = null;
        this.text = this.field !== null && TEXT_FIELDS.has(this.field) ? '' : null;
        this.state = S.String;
        return true;
      case 0x74:
      case 0x66:
      case 0x6e:
        this.literal = b === 0x74 ? 'true' : b === 0x66 ? 'false' : 'null';
        this.literalAt = 1;
        this.state = S.Literal;
        return true;
      default:
        this.number = String.fromCharCode(b);
        this.state = b === 0x2d ? S.NumMinus : b === 0x30 ? S.NumZero : S.NumInt;
        return true;
    }
  }

  private endString() {
    if (this.isKey) {
      this.field = this.capturingKey && this.key !== null && WATCHED.has(this.key) ? this.key : null;
      this.capturingKey = false;
      this.isKey = false;
      this.state = S.Colon;
      return;
    }
    this.endValue();
  }

  private endValue() {
    if (this.field !== null) {
      const f = this.fields.get(this.field);
      if (f?.kind === 'number') f.number = Number(this.number);
      if (f?.kind === 'string' && this.text !== null) f.text = this.text;
    }
    this.text = null;
    this.field = null;
    this.state = this.stack.length === 0 ? S.End : S.AfterValue;
  }

  private close() {
    this.stack.pop();
    this.field = null;
    this.state = this.stack.length === 0 ? S.End : S.AfterValue;
  }

  private appendText(s: string) {
    this.text = this.text !== null && this.text.length < MAX_TEXT ? this.text + s : this.text;
  }

  private appendKey(s: string) {
    this.key = this.key !== null && this.key.length < MAX_KEY ? this.key + s : null;
  }

  private fail(message: string, i: number): void {
    this.error = `${message} at byte ${this.offset + i}`;
  }
}

const ESCAPES: Record<number, string> = {
  0x22: '"',
  0x5c: '\\',
  0x2f: '/',
  0x62: '\b',
  0x66: '\f',
  0x6e: '\n',
  0x72: '\r',
  0x74: '\t',
};

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  return -1;
}

function valueKind(b: number): Kind | null {
  if (b === 0x7b) return 'object';
  if (b === 0x5b) return 'array';
  if (b === 0x22) return 'string';
  if (b === 0x74 || b === 0x66) return 'boolean';
  if (b === 0x6e) return 'null';
  if (b === 0x2d || (b >= 0x30 && b <= 0x39)) return 'number';
  return null;
}

const isDigit = (b: number) => b >= 0x30 && b <= 0x39;

/** The number state after byte `b`, or null if `b` cannot continue the number. */
function numberStep(state: S, b: number): S | null {
  switch (state) {
    case S.NumMinus:
      return b === 0x30 ? S.NumZero : isDigit(b) ? S.NumInt : null;
    case S.NumZero:
      return b === 0x2e ? S.NumFracFirst : b === 0x65 || b === 0x45 ? S.NumExpSign : null;
    case S.NumInt:
      return isDigit(b) ? S.NumInt : b === 0x2e ? S.NumFracFirst : b === 0x65 || b === 0x45 ? S.NumExpSign : null;
    case S.NumFracFirst:
      return isDigit(b) ? S.NumFrac : null;
    case S.NumFrac:
      return isDigit(b) ? S.NumFrac : b === 0x65 || b === 0x45 ? S.NumExpSign : null;
    case S.NumExpSign:
      return b === 0x2b || b === 0x2d ? S.NumExpFirst : isDigit(b) ? S.NumExp : null;
    case S.NumExpFirst:
      return isDigit(b) ? S.NumExp : null;
    case S.NumExp:
      return isDigit(b) ? S.NumExp : null;
    default:
      return null;
  }
}

function numberComplete(state: S): boolean {
  return state === S.NumZero || state === S.NumInt || state === S.NumFrac || state === S.NumExp;
}

function describe(b: number): string {
  return b >= 0x21 && b <= 0x7e ? `'${String.fromCharCode(b)}'` : `byte 0x${b.toString(16).padStart(2, '0')}`;
}
