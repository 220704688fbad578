/**
 * One line of a ProGuard/R8 mapping file, parsed. The grammar is ProGuard's, with R8's additions
 * (https://r8.googlesource.com/r8/+/refs/heads/main/doc/retrace.md):
 *
 *   original.Class -> obfuscated.Class:
 *       type field -> a                                         (fields: for field names in messages)
 *       [a:b:]ret [orig.Class.]name(args)[:c[:d]] -> x           (methods)
 *   # {"id":"…", …}                                             (R8 metadata, JSON in a comment)
 *
 * Line numbers follow ProGuard's MappingReader: a missing original range equals the obfuscated one,
 * a single original number `:c` means `c:c`. Numbers above 2^31-1 make the line invalid (bounded
 * by what a JVM line number table can hold), so nothing downstream ever sees an absurd value.
 */

export const MAX_LINE_NUMBER = 2 ** 31 - 1;

export interface ClassLine {
  kind: 'class';
  original: string;
  obfuscated: string;
}

/** What retrace needs of a method line (the lookup index stores only this, see encodeMember). */
export interface MemberPosition {
  /** Obfuscated range; 0:0 when the line has none (then the member matches any line). */
  obfStart: number;
  obfEnd: number;
  hasObfRange: boolean;
  /** The original class when the member was moved (inlined from) another class, else null. */
  originalClass: string | null;
  name: string;
  /** Original range (ProGuard defaults: see the file comment); 0:0 when unknown. */
  origStart: number;
  origEnd: number;
  /** True when the line wrote an original line number itself. */
  hasOrigLine: boolean;
}

export interface MethodLine extends MemberPosition {
  kind: 'method';
  returnType: string;
  args: string;
  obfName: string;
}

/**
 * The compact form kept in the lookup index: `obfStart:obfEnd:origStart:origEnd:flags:name`
 * (flags: 1 = has an obfuscated range, 2 = has an original line; name qualified when moved).
 * Return and argument types are left out: a stack frame cannot use them.
 */
export function encodeMember(m: MemberPosition): string {
  const name = m.originalClass === null ? m.name : `${m.originalClass}.${m.name}`;
  return `${m.obfStart}:${m.obfEnd}:${m.origStart}:${m.origEnd}:${(m.hasObfRange ? 1 : 0) | (m.hasOrigLine ? 2 : 0)}:${name}`;
}

/** The inverse of encodeMember; null when the text is not one (a damaged index). */
export function decodeMember(s: string): MemberPosition | null {
  const f = s.split(':');
  if (f.length !== 6) return null;
  const [a, b, c, d, flags] = f.slice(0, 5).map(Number) as [number, number, number, number, number];
  if (![a, b, c, d, flags].every((n) => Number.isInteger(n) && n >= 0 && n <= MAX_LINE_NUMBER)) return null;
  const q = f[5] ?? ''; // six fields, checked above
  const dot = q.lastIndexOf('.');
  return {
    obfStart: a,
    obfEnd: b,
    origStart: c,
    origEnd: d,
    hasObfRange: (flags & 1) !== 0,
    hasOrigLine: (flags & 2) !== 0,
    originalClass: dot > 0 ? q.slice(0, dot) : null,
    name: dot > 0 ? q.slice(dot + 1) : q,
  };
}

export interface FieldLine {
  kind: 'field';
  /** The field's original type, as written (`int`, `java.util.List`, `com.example.Cart[]`). */
  type: string;
  /** Its original name (qualified when R8 moved it from another class, as written). */
  name: string;
  obfName: string;
}

export interface MetaLine {
  kind: 'meta';
  /** The parsed JSON object of a `# {…}` comment. */
  value: Record<string, unknown>;
}

export type MappingLine = ClassLine | MethodLine | FieldLine | MetaLine | { kind: 'blank' } | { kind: 'invalid'; why: string };

const JAVA_NAME = /^[^\s:()]+$/;

function parseNumber(s: string): number {
  if (s.length > 10) return -1;
  const n = Number(s);
  return n <= MAX_LINE_NUMBER ? n : -1;
}

/** Parses one line (without its terminator). Never throws. */
export function parseMappingLine(line: string): MappingLine {
  const t = line.trim();
  if (t === '') return { kind: 'blank' };
  if (t.startsWith('#')) {
    const body = t.slice(1).trim();
    if (!body.startsWith('{')) return { kind: 'blank' };
    try {
      // R8 writes JSON; its own examples also use single quotes, which JSON.parse would refuse.
      const value = JSON.parse(body.includes('"') ? body : body.replace(/'/g, '"')) as unknown;
      if (value && typeof value === 'object' && !Array.isArray(value)) return { kind: 'meta', value: value as Record<string, unknown> };
    } catch {
      // an ordinary comment that happens to start with '{'
    }
    return { kind: 'blank' };
  }
  const arrow = t.lastIndexOf(' -> ');
  if (arrow < 0) return { kind: 'invalid', why: "no ' -> '" };
  const left = t.slice(0, arrow).trim();
  let right = t.slice(arrow + 4).trim();
  const indented = line.length > 0 && (line[0] === ' ' || line[0] === '\t');
  if (!indented) {
    if (!right.endsWith(':')) return { kind: 'invalid', why: "a class line must end with ':'" };
    right = right.slice(0, -1).trim();
    if (!JAVA_NAME.test(left) || !JAVA_NAME.test(right)) return { kind: 'invalid', why: 'bad class name' };
    return { kind: 'class', original: left, obfuscated: right };
  }
  return parseMemberParts(left, right);
}

/** `[a:b:]ret [orig.Class.]name(args)[:c[:d]]`: one regex, as this runs once per mapping line. */
const METHOD = /^(?:(\d+):(\d+):)?([^\s:()]+) ([^\s:()]+)\(([^()\s]*(?:, [^()\s]*)*)\)(?::(\d+)(?::(\d+))?)?$/;

function parseMemberParts(left: string, right: string): MethodLine | FieldLine | { kind: 'invalid'; why: string } {
  if (!JAVA_NAME.test(right)) return { kind: 'invalid', why: 'bad obfuscated member name' };
  if (left.indexOf('(') < 0) {
    const [, type, name] = /^(\S+)\s+(\S+)$/.exec(left) ?? [];
    return type && name ? { kind: 'field', type, name, obfName: right } : { kind: 'invalid', why: 'bad field line' };
  }
  const m = METHOD.exec(left);
  if (!m) return { kind: 'invalid', why: 'not "[a:b:]type name(args)[:c[:d]]"' };
  const [, obfA, obfB, returnType, qualifiedName, args, origA, origB] = m;
  // Groups 3-5 always take part in a match; 1 and 2 together or not at all.
  if (returnType === undefined || qualifiedName === undefined || args === undefined)
    return { kind: 'invalid', why: 'not "[a:b:]type name(args)[:c[:d]]"' };
  const hasObfRange = obfA !== undefined && obfB !== undefined;
  const obfStart = hasObfRange ? parseNumber(obfA) : 0;
  const obfEnd = hasObfRange ? parseNumber(obfB) : 0;
  const hasOrigLine = origA !== undefined;
  const origStart = hasOrigLine ? parseNumber(origA) : obfStart;
  const origEnd = origB !== undefined ? parseNumber(origB) : hasOrigLine ? origStart : obfEnd;
  if (obfStart < 0 || obfEnd < 0 || origStart < 0 || origEnd < 0) return { kind: 'invalid', why: 'line number out of range' };
  const dot = qualifiedName.lastIndexOf('.');
  return {
    kind: 'method',
    obfStart,
    obfEnd,
    hasObfRange,
    returnType,
    originalClass: dot > 0 ? qualifiedName.slice(0, dot) : null,
    name: dot > 0 ? qualifiedName.slice(dot + 1) : qualifiedName,
    args: args.includes(', ') ? args.replace(/, /g, ',') : args,
    origStart,
    origEnd,
    hasOrigLine,
    obfName: right,
  };
}

/**
 * Whether member line `next` continues the inline chain of `prev`: it shares `prev`'s obfuscated
 * range and names its call site's original line (ProGuard and R8 write callers as `a:b:… m():c`).
 * Lines sharing a range without an original line are different methods: alternatives, not inlining
 * (e.g. two lambdas compiled from one source line).
 */
export function continuesChain(prev: MemberPosition, next: MemberPosition): boolean {
  return prev.hasObfRange && next.hasObfRange && next.hasOrigLine && prev.obfStart === next.obfStart && prev.obfEnd === next.obfEnd;
}
