/**
 * Stack-line parsing. One line in, one frame (or null for "not a frame") out.
 *
 * Formats, tried in this order (the first that claims the line wins):
 *  - Guance web SDK  `  at <func> @ <url>:<line>:<col>`      (`<anonymous>` = unknown function)
 *  - V8 / Node       `    at fn (url:line:col)`, `    at url:line:col`, `async`/`new` prefixes,
 *                    `at eval (eval at f (url:line:col), <anonymous>:1:1)`
 *  - Firefox/Safari  `fn@url:line:col`, `@url:line:col`, `fn/<@…`, `global code@…`, `[native code]`
 *
 * A line that looks like a frame but has no usable `url:line:col` (`at foo (native)`,
 * `forEach@[native code]`, `fn@url:12`) is still returned, with `span: null` (the caller
 * reports it as BadFrame). Everything else is not a frame (null) and passes through.
 *
 * `eval` frames: the position inside the eval'd code (`<anonymous>:1:1`) cannot be mapped, so the
 * innermost `(url:line:col)` of the `eval at …` chain — the call site of eval() in a real file —
 * is used as the frame's location and is what gets rewritten.
 */
import { defined } from '../util/invariant.ts';

export interface ParsedFrame {
  /** The line without its line terminator. */
  raw: string;
  /** The function text as printed (`new Foo`, `Object.<anonymous>`, `si</subtotal/<`); null if none. */
  functionName: string | null;
  url: string | null;
  line: number | null;
  column: number | null;
  /** [start, end) of `url:line:col` inside `raw`; null when the location is unusable (BadFrame). */
  span: [number, number] | null;
}

/** `url:line:col` with line/col the LAST two `:\d+` groups, so URLs may contain `:` (scheme, port). */
const LOC = /^(.+):(\d+):(\d+)$/s;
const LOC_LINE_ONLY = /^(.+):(\d+)$/s;

function location(raw: string, start: number, end: number, functionName: string | null): ParsedFrame {
  const text = raw.slice(start, end);
  const m = LOC.exec(text);
  if (m) {
    const url = defined(m[1], 'the url of a location');
    const line = Number(m[2]);
    const column = Number(m[3]);
    // Absurd numbers cannot index a map; report them rather than silently clamping.
    if (Number.isSafeInteger(line) && Number.isSafeInteger(column) && line >= 1) {
      return { raw, functionName, url, line, column, span: [start, end] };
    }
    return { raw, functionName, url, line: null, column: null, span: null };
  }
  const l = LOC_LINE_ONLY.exec(text);
  if (l && Number.isSafeInteger(Number(l[2]))) {
    return { raw, functionName, url: defined(l[1], 'the url of a location'), line: Number(l[2]), column: null, span: null };
  }
  return { raw, functionName, url: null, line: null, column: null, span: null };
}

/** Index of the `(` matching the `)` at `close`, or -1. Handles nested/balanced parens in URLs. */
function matchingOpen(s: string, close: number, floor: number): number {
  let depth = 0;
  for (let i = close; i >= floor; i--) {
    const c = s.charCodeAt(i);
    if (c === 41 /* ) */) depth++;
    else if (c === 40 /* ( */ && --depth === 0) return i;
  }
  return -1;
}

function endTrimmed(s: string): number {
  let e = s.length;
  while (e > 0 && /\s/.test(s.charAt(e - 1))) e--;
  return e;
}

function parseGuance(raw: string, fnStart: number, sep: number, end: number): ParsedFrame {
  const fn = fnStart < sep ? raw.slice(fnStart, sep).trim() : '';
  const locStart = sep + 3; // ' @ '
  return location(raw, locStart, end, fn === '' || fn === '<anonymous>' ? null : fn);
}

function parseV8(raw: string, restStart: number, end: number): ParsedFrame {
  if (raw.charCodeAt(end - 1) === 41 /* ) */) {
    const open = matchingOpen(raw, end - 1, restStart);
    if (open >= restStart) {
      const fnText = raw.slice(restStart, open).trim();
      const functionName = fnText === '' ? null : fnText;
      const inner = raw.slice(open + 1, end - 1);
      if (inner.startsWith('eval at ')) {
        // Innermost parenthesised location without parens of its own = eval's call site.
        const m = /\(([^()]*:\d+:\d+)\)/.exec(inner);
        if (!m) return { raw, functionName, url: null, line: null, column: null, span: null };
        const s = open + 1 + m.index + 1;
        return location(raw, s, s + defined(m[1], 'an eval call site').length, functionName);
      }
      return location(raw, open + 1, end - 1, functionName);
    }
  }
  // `at url:line:col` (anonymous), possibly `at async url:line:col`.
  const start = raw.startsWith('async ', restStart) ? restStart + 6 : restStart;
  return location(raw, start, end, null);
}

function parseGecko(raw: string, indentEnd: number, at: number, end: number): ParsedFrame | null {
  const fn = raw.slice(indentEnd, at);
  const locStart = at + 1;
  const loc = raw.slice(locStart, end);
  if (loc === '[native code]') return { raw, functionName: fn || null, url: null, line: null, column: null, span: null };
  // Only claim the line if it ends like a location; `user@example.com failed` stays a message.
  if (!/:\d+$/.test(loc) || /\s/.test(loc)) return null;
  return location(raw, locStart, end, fn === '' ? null : fn);
}

/** Parses one stack line (without its terminator). Returns null when the line is not a frame. */
export function parseFrameLine(raw: string): ParsedFrame | null {
  const end = endTrimmed(raw);
  let i = 0;
  while (i < end && /\s/.test(raw.charAt(i))) i++;
  if (i === end) return null;

  if (raw.startsWith('at', i) && /\s/.test(raw[i + 2] ?? '')) {
    let restStart = i + 3;
    while (restStart < end && /\s/.test(raw.charAt(restStart))) restStart++;
    const sep = raw.indexOf(' @ ', i + 2);
    if (sep >= 0 && sep < end) return parseGuance(raw, restStart, sep, end);
    return parseV8(raw, restStart, end);
  }
  if (raw.slice(i, end) === '[native code]') {
    return { raw, functionName: null, url: null, line: null, column: null, span: null };
  }
  const at = raw.indexOf('@', i);
  if (at >= 0 && at < end) return parseGecko(raw, i, at, end);
  return null;
}

/** Renders a frame V8-style, for `frames` batch input; `span` points at `url:line:col`. */
export function renderV8Frame(url: string, line: number, column: number, functionName?: string | null): ParsedFrame {
  const loc = `${url}:${line}:${column}`;
  const prefix = functionName ? `    at ${functionName} (` : '    at ';
  const raw = prefix + loc + (functionName ? ')' : '');
  return {
    raw,
    functionName: functionName || null,
    url,
    line,
    column,
    span: [prefix.length, prefix.length + loc.length],
  };
}
