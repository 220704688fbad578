/**
 * Retrace: a Java/Kotlin stack + a mapping index → the original stack text and one structured
 * result per frame. Matching and line arithmetic follow ProGuard's ReTrace (FrameRemapper) so the
 * answers equal the reference on ProGuard mappings; R8's metadata (synthesized, outline,
 * outlineCallsite, rewriteFrame) is applied as R8's retrace specification says.
 *
 * Differences from the reference's text, on purpose: when the mapping cannot decide, the first
 * candidate chain is printed and the others follow as `<OR> at …` lines (R8's notation), instead of
 * extra `at` lines that read like inlining; `frames[].alternatives` holds every candidate chain.
 */
import type { JavaClass, JavaMappingIndex, MemberEntry } from './index-reader.ts';
import { continuesChain } from './mapping-line.ts';
import { hasUnusableLine, headerCandidates, parseJavaFrame, type JavaFrameLine } from './stack.ts';
import { at } from '../../util/invariant.ts';

export interface JavaOriginalFrame {
  class: string;
  method: string;
  /** null when unknown (the frame had no line and the mapping gives none). */
  line: number | null;
  sourceFile: string;
}

export type JavaUnresolvedReason = 'NoSourceMap' | 'NoMapping' | 'BadFrame';

export interface JavaFrameResult {
  raw: string;
  /** As in the stack (obfuscated). */
  class: string;
  method: string;
  line: number | null;
  sourceFile: string;
  resolved: boolean;
  /** The de-obfuscated class, when the mapping names it (even if the member is not found). */
  originalClass: string | null;
  /** Innermost first: an inlined chain has several frames. With alternatives: the first candidate. */
  chain: JavaOriginalFrame[] | null;
  /** Every candidate chain (the first is `chain`), present only when the mapping cannot decide. */
  alternatives?: JavaOriginalFrame[][];
  reason?: JavaUnresolvedReason;
  detail?: string;
}

/**
 * A field named in a message ART writes for a NullPointerException, `Attempt to read from field
 * 'int a.b.c' on a null object reference` (and `write to`): ReTrace maps it when given a regex
 * with `%t %c.%f`, keeping the fields of that name whose original type is the (de-obfuscated) type.
 */
export interface JavaFieldResult {
  raw: string;
  /** As in the message (obfuscated). */
  class: string;
  field: string;
  type: string;
  resolved: boolean;
  originalClass: string | null;
  /** The type with obfuscated class names replaced. */
  originalType: string;
  /** Original names of the fields of that name and type; several when the mapping cannot decide (the text shows the first). */
  names: string[];
}

export interface JavaRetraceResult {
  stack: string;
  frames: JavaFrameResult[];
  /** Present when some line names a field (see JavaFieldResult). */
  fields?: JavaFieldResult[];
  truncated?: true;
}

/** What the retracer needs from a mapping: the index, or why there is none. */
export type MappingSource = { index: JavaMappingIndex; label: string } | { missing: string };

const MAX_ALTERNATIVES = 64;

export function retraceJava(stack: string, mapping: MappingSource, maxFrames: number): JavaRetraceResult {
  const lines = stack.split('\n');
  const out: string[] = [];
  const frames: JavaFrameResult[] = [];
  const fields: JavaFieldResult[] = [];
  let truncated = false;
  let exception: string | null = null;
  let top = false;
  let outlinePosition: number | null = null;
  const index = 'index' in mapping ? mapping.index : null;

  for (const whole of lines) {
    const cr = whole.endsWith('\r') ? '\r' : '';
    const body = cr ? whole.slice(0, -1) : whole;
    const frame = truncated ? null : parseJavaFrame(body);
    if (frame) {
      if (frames.length === maxFrames) {
        truncated = true;
        out.push(whole);
        continue;
      }
      const r = resolveFrame(mapping, frame, body, { exception: top ? exception : null, outlinePosition });
      top = false;
      frames.push(r.result);
      outlinePosition = r.outline ? frame.line : null;
      if (r.outline) continue; // R8: an outline's frame is replaced by its call site's
      if (r.lines) for (const l of r.lines) out.push(l + cr);
      else out.push(whole);
      continue;
    }
    outlinePosition = null;
    const header = index ? pickHeader(index, body) : null;
    let text = body;
    if (header) {
      exception = header.original ?? header.className;
      top = true;
      if (header.original) text = body.slice(0, header.start) + header.original + body.slice(header.end);
    }
    const field = index && fields.length < maxFrames ? retraceFieldMessage(index, text) : null;
    if (field) {
      fields.push(field.result);
      text = field.text;
    }
    out.push(text === body ? whole : text + cr);
  }
  const result: JavaRetraceResult = { stack: out.join('\n'), frames };
  if (fields.length > 0) result.fields = fields;
  if (truncated) result.truncated = true;
  return result;
}

function pickHeader(index: JavaMappingIndex, line: string) {
  const candidates = headerCandidates(line);
  for (const c of candidates) {
    const original = index.originalClassName(c.className);
    if (original !== null) return { ...c, original };
  }
  const plain = candidates.find((c) => c.className.includes('.'));
  return plain ? { ...plain, original: null } : null;
}

const FIELD_MESSAGE = /Attempt to (?:read from|write to) field '([^'\s]+) ([^'\s]+)\.([^'\s.]+)' on a null object reference/;
const PRIMITIVES = new Set(['boolean', 'byte', 'char', 'short', 'int', 'long', 'float', 'double', 'void']);

/** `com.a.b[]` → `com.example.Cart[]`: obfuscated class names replaced, primitives and unknown names kept. */
function originalType(index: JavaMappingIndex, type: string): string {
  const dims = /(\[\])*$/.exec(type)?.[0] ?? '';
  const base = type.slice(0, type.length - dims.length);
  return PRIMITIVES.has(base) ? type : (index.originalClassName(base) ?? base) + dims;
}

function retraceFieldMessage(index: JavaMappingIndex, line: string): { text: string; result: JavaFieldResult } | null {
  const m = FIELD_MESSAGE.exec(line);
  if (!m) return null;
  const [, type, className, field] = m as unknown as [string, string, string, string];
  const original = index.originalClassName(className);
  const typeName = originalType(index, type);
  const names =
    original === null ? [] : (index.classFor(className)?.fields(field) ?? []).filter((f) => f.type === typeName).map((f) => f.name);
  const result: JavaFieldResult = {
    raw: line,
    class: className,
    field,
    type,
    resolved: names.length > 0,
    originalClass: original,
    originalType: typeName,
    names,
  };
  // ReTrace's rewrite: each part it knows is replaced, the others kept.
  const start = m.index + m[0].indexOf(`'`) + 1;
  const end = start + type.length + 1 + className.length + 1 + field.length;
  const text = `${line.slice(0, start)}${typeName} ${original ?? className}.${names[0] ?? field}${line.slice(end)}`;
  return { text, result };
}

interface FrameContext {
  /** The original class of the exception whose first frame this is (for rewriteFrame), else null. */
  exception: string | null;
  /** The previous frame's line when it was an R8 outline. */
  outlinePosition: number | null;
}

function resolveFrame(
  mapping: MappingSource,
  f: JavaFrameLine,
  raw: string,
  ctx: FrameContext,
): { result: JavaFrameResult; lines: string[] | null; outline: boolean } {
  const base: JavaFrameResult = {
    raw,
    class: f.className,
    method: f.method,
    line: f.line,
    sourceFile: f.sourceFile,
    resolved: false,
    originalClass: null,
    chain: null,
  };
  const fail = (reason: JavaUnresolvedReason, detail: string, lines: string[] | null = null) => ({
    result: { ...base, reason, detail },
    lines,
    outline: false,
  });
  if (!('index' in mapping)) return fail('NoSourceMap', mapping.missing);
  if (hasUnusableLine(f)) return fail('BadFrame', `line number in "(${f.location.slice(0, 40)})" is out of range`);
  const cls = mapping.index.classFor(f.className);
  if (!cls) return fail('NoMapping', `${mapping.label} does not map class ${f.className}`);
  base.originalClass = cls.original;
  // Like the reference: a known class with an unknown member still gets its class name back.
  const classOnly = [render(f, { class: cls.original, method: f.method, line: f.line, sourceFile: sourceFileOf(cls, cls.original, f) })];
  const entries = cls.members(f.method);
  if (!entries)
    return fail('NoMapping', `${mapping.label} maps ${f.className} to ${cls.original} but has no method ${f.method} there`, classOnly);

  let line = f.line;
  if (ctx.outlinePosition !== null && line !== null) {
    const frameLine = line;
    const site = entries.find((e) => e.outlineCallsite && coversLine(e, frameLine));
    const mapped = site?.outlineCallsite?.get(ctx.outlinePosition);
    if (mapped !== undefined) line = mapped;
  }
  const candidates: JavaOriginalFrame[][] = [];
  let outline = false;
  for (const chain of pickChains(chains(entries), line)) {
    if (chainHead(chain).outline) outline = true;
    const kept = stripSynthesized(cls, applyRewrite(chain, ctx.exception));
    const lone = kept.length === 1 ? (kept[0] ?? null) : null;
    // R8: a member written without an obfuscated range but with an original span (`m():42:44`)
    // could be at any line of the span: one candidate per line, while they fit.
    // A wider span than fits stays one candidate whose line is unknown.
    const span = lone && !lone.hasObfRange && lone.hasOrigLine && lone.origEnd > lone.origStart ? lone : null;
    if (span && span.origEnd - span.origStart < MAX_ALTERNATIVES - candidates.length) {
      for (let n = span.origStart; n <= span.origEnd; n++) candidates.push([{ ...originalFrame(cls, span, null, f), line: n }]);
    } else if (span) {
      candidates.push([{ ...originalFrame(cls, span, null, f), line: null }]);
    } else {
      candidates.push(kept.map((e) => originalFrame(cls, e, line, f)));
    }
    if (candidates.length >= MAX_ALTERNATIVES) break;
  }
  if (candidates.length === 0) {
    // R8's best effort for a line outside every range, with no base mapping to fall back on: the
    // class is known, the member at that line is not (the text keeps the obfuscated name and line).
    return fail('NoMapping', `${mapping.label} maps ${cls.original}'s method ${f.method} but no range covers line ${f.line}`, classOnly);
  }
  const first = at(candidates, 0);
  const result: JavaFrameResult = { ...base, resolved: true, chain: first };
  if (candidates.length > 1) result.alternatives = candidates;
  const lines = first.map((o) => render(f, o));
  for (const alt of candidates.slice(1)) for (const o of alt) lines.push(render(f, o, '<OR> '));
  return { result, lines, outline };
}

/** Chains of each decoded member group (the index reader keeps the group's array while it is used). */
const chainsOfGroup = new WeakMap<MemberEntry[], MemberEntry[][]>();

/** Consecutive member lines sharing an obfuscated range are one inline chain (innermost first). */
function chains(entries: MemberEntry[]): MemberEntry[][] {
  const kept = chainsOfGroup.get(entries);
  if (kept) return kept;
  const out: MemberEntry[][] = [];
  let cur: MemberEntry[] = [];
  for (const e of entries) {
    const prev = cur[cur.length - 1];
    if (prev && continuesChain(prev, e)) cur.push(e);
    else {
      if (cur.length) out.push(cur);
      cur = [e];
    }
  }
  if (cur.length) out.push(cur);
  chainsOfGroup.set(entries, out);
  return out;
}

/** A member written without an obfuscated range (or with `0:0:`): R8's "base mapping". */
function isBase(e: MemberEntry): boolean {
  return !e.hasObfRange || (e.obfStart === 0 && e.obfEnd === 0);
}

/** Whether a member's own obfuscated range holds `line` (base mappings hold none). */
function coversLine(e: MemberEntry, line: number): boolean {
  if (isBase(e)) return false;
  return Math.min(e.obfStart, e.obfEnd) <= line && line <= Math.max(e.obfStart, e.obfEnd);
}

/**
 * Which chains can be at the frame's position, by R8's rules (ProGuard's ReTrace agrees on every
 * mapping ProGuard writes, where a name never mixes base and ranged members on one line):
 * - a line: the chains whose range holds it; if none, the base mappings; if none, nothing (the
 *   caller's best effort: class only);
 * - no line (or 0): the base mappings and ranges that hold 0 (`0:65535:` catch-alls) when the name
 *   has any, else every chain (ambiguous, as ProGuard lists them).
 */
function pickChains(all: MemberEntry[][], line: number | null): MemberEntry[][] {
  if (line !== null && line > 0) {
    const covering = all.filter((c) => coversLine(chainHead(c), line));
    return covering.length > 0 ? covering : all.filter((c) => isBase(chainHead(c)));
  }
  const base = all.filter((c) => isBase(chainHead(c)) || coversLine(chainHead(c), 0));
  return base.length > 0 ? base : all;
}

/** The first member of a chain (chains are never empty: each starts with the member it is named by). */
const chainHead = (chain: MemberEntry[]): MemberEntry => at(chain, 0);

/**
 * ProGuard's FrameRemapper line arithmetic (0 = unknown). Without a line in the frame, only a
 * mapping line naming one original line (an inlined call site, a one-line method) says which.
 */
function originalLine(e: MemberEntry, line: number | null): number | null {
  if (line === null || line === 0) return e.hasOrigLine && e.origStart === e.origEnd && e.origStart !== 0 ? e.origStart : null;
  let n = line;
  if (e.origStart !== e.obfStart) {
    n = e.origEnd !== 0 && e.origEnd !== e.origStart && e.obfStart !== 0 && n !== 0 ? e.origStart - e.obfStart + n : e.origStart;
  }
  return n === 0 ? null : n;
}

function originalFrame(cls: JavaClass, e: MemberEntry, line: number | null, f: JavaFrameLine): JavaOriginalFrame {
  const className = e.originalClass ?? cls.original;
  return { class: className, method: e.name, line: originalLine(e, line), sourceFile: sourceFileOf(cls, className, f) };
}

/** R8's sourceFile metadata for the class itself; otherwise the name javac would have used. */
function sourceFileOf(cls: JavaClass, className: string, f: JavaFrameLine): string {
  if (className === cls.original && cls.meta.sourceFile) return cls.meta.sourceFile;
  const simple = className.slice(className.lastIndexOf('.') + 1);
  const dollar = simple.indexOf('$');
  const ext = f.sourceFile.endsWith('.kt') ? '.kt' : '.java';
  return (dollar > 0 ? simple.slice(0, dollar) : simple) + ext;
}

/** R8 rewriteFrame: `throws(<descriptor>)` → `removeInnerFrames(n)` on an exception's first frame. */
function applyRewrite(chain: MemberEntry[], exception: string | null): MemberEntry[] {
  if (exception === null) return chain;
  const descriptor = `L${exception.replace(/\./g, '/')};`;
  let remove = 0;
  for (const e of chain) {
    for (const rule of e.rewriteFrame) {
      const applies = rule.conditions.length > 0 && rule.conditions.every((c) => c === `throws(${descriptor})`);
      if (!applies) continue;
      for (const a of rule.actions) {
        const m = /^removeInnerFrames\((\d{1,4})\)$/.exec(a);
        if (m) remove += Number(m[1]);
      }
    }
  }
  return remove > 0 ? chain.slice(Math.min(remove, chain.length - 1)) : chain;
}

/** R8: frames of synthesized methods are left out, unless nothing else would remain. */
function stripSynthesized(cls: JavaClass, chain: MemberEntry[]): MemberEntry[] {
  const keep = chain.filter((e) => !(e.synthesized || (cls.meta.synthesized && e.originalClass === null)));
  return keep.length > 0 ? keep : chain;
}

function render(f: JavaFrameLine, o: JavaOriginalFrame, marker = ''): string {
  const location = f.location === 'Native Method' ? f.location : o.line === null ? o.sourceFile : `${o.sourceFile}:${o.line}`;
  return `${f.prefix}${marker}at ${f.module}${o.class}.${o.method}(${location})${f.rest}`;
}
