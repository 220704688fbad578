/**
 * Java/Kotlin stack lines: frames (`\tat pkg.Cls.method(SourceFile:12)`, with an optional logcat
 * prefix such as `E AndroidRuntime: ` and an optional JDK module/class-loader prefix such as
 * `java.base/`) and exception headers (`a.b.C: msg`, `Caused by: …`, `Suppressed: …`,
 * `Exception in thread "main" …`). Pure functions, no mapping knowledge.
 */
import { MAX_LINE_NUMBER } from './mapping-line.ts';

export interface JavaFrameLine {
  /** Everything before `at ` (indentation, logcat prefix), kept for the rewritten lines. */
  prefix: string;
  /** `java.base/`, `app//`… kept verbatim; not part of the class name. */
  module: string;
  className: string;
  method: string;
  /** The text inside the parentheses, e.g. `SourceFile:12`, `Unknown Source`, `Native Method`. */
  location: string;
  sourceFile: string;
  /** null when the frame has no line number (or one no class file can hold). */
  line: number | null;
  /** Text after the closing parenthesis (e.g. ` ~[app.jar:?]`). */
  rest: string;
}

const FRAME = /^((?:[^\t]*?: )?[ \t]*)at ((?:[^\s()/]*\/)*)([^\s()/]+)\.([^\s.()/]+)\(([^()]*)\)(.*)$/;

export function parseJavaFrame(line: string): JavaFrameLine | null {
  const [, prefix, module, className, method, location, rest] = FRAME.exec(line) ?? [];
  // Every group takes part in a match: undefined only when there is none.
  if (
    prefix === undefined ||
    module === undefined ||
    className === undefined ||
    method === undefined ||
    location === undefined ||
    rest === undefined
  )
    return null;
  // V8's `at fn (file.js:1:2)` has a space before '('; `file.js:1:2` inside is not a Java location either.
  if (/:\d+:\d+$/.test(location)) return null;
  const [, sourceFile = '', lineText] = /^(.*?)(?::(\d+))?$/.exec(location) ?? []; // matches any text
  let lineNo: number | null = null;
  if (lineText !== undefined) {
    const n = lineText.length <= 10 ? Number(lineText) : Infinity;
    lineNo = n <= MAX_LINE_NUMBER ? n : null;
  }
  return { prefix, module, className, method, location, sourceFile, line: lineNo, rest };
}

/** True when the location held a line number that does not fit a class file (hostile input). */
export function hasUnusableLine(f: JavaFrameLine): boolean {
  return f.line === null && /:\d+$/.test(f.location);
}

export interface JavaHeaderLine {
  /** [start, end) of the class name in the line. */
  start: number;
  end: number;
  className: string;
}

const LEAD = /^[ \t]*(?:Caused by: |Suppressed: |Exception in thread "[^"\n]*" )?/;
const CLASS_TOKEN = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$-]*)*(?=:|[ \t]*$)/;

/**
 * Candidate exception class names of a header line, in order: at the start of the line, then after
 * each of the first `: ` separators (logcat prefixes put the header after `Tag: `). The caller keeps
 * the first one its mapping knows, else the first one with a package (`java.lang.…`).
 */
export function headerCandidates(line: string): JavaHeaderLine[] {
  const starts = [0];
  for (let i = line.indexOf(': '), k = 0; i >= 0 && k < 3; i = line.indexOf(': ', i + 2), k++) starts.push(i + 2);
  const out: JavaHeaderLine[] = [];
  for (const s of starts) {
    const rest = line.slice(s);
    const lead = LEAD.exec(rest)?.[0].length ?? 0; // LEAD matches any text (all optional)
    const tok = CLASS_TOKEN.exec(rest.slice(lead));
    if (tok) out.push({ start: s + lead, end: s + lead + tok[0].length, className: tok[0] });
  }
  return out;
}

/** Whether a stack looks like a Java one: some line is a Java frame. */
export function looksLikeJavaStack(stack: string): boolean {
  let from = 0;
  for (let n = 0; n < 10_000 && from <= stack.length; n++) {
    const nl = stack.indexOf('\n', from);
    const line = stack.slice(from, nl < 0 ? stack.length : nl).replace(/\r$/, '');
    if (line.includes('at ') && parseJavaFrame(line)) return true;
    if (nl < 0) break;
    from = nl + 1;
  }
  return false;
}
