/**
 * Reads the lookup index written by index-writer.ts (layout described there). Opening checks the
 * magic and that every table lies inside the blob; lookups check each offset they follow, so a
 * damaged or foreign blob fails with InvalidJavaIndexError instead of reading out of bounds.
 */
import { FIELD_GROUP_PREFIX, FOOTER_BYTES, INDEX_MAGIC } from './index-writer.ts';
import { decodeMember, type MemberPosition } from './mapping-line.ts';

export class InvalidJavaIndexError extends Error {}

/** A method line with the R8 metadata that followed it. */
export interface MemberEntry extends MemberPosition {
  synthesized: boolean;
  outline: boolean;
  /** outlineCallsite positions: position in the outline → line in this method. */
  outlineCallsite: Map<number, number> | null;
  rewriteFrame: { conditions: string[]; actions: string[] }[];
  residualSignature: string | null;
}

export interface ClassMeta {
  sourceFile: string | null;
  synthesized: boolean;
}

export interface JavaClass {
  obfuscated: string;
  original: string;
  meta: ClassMeta;
  /** The member lines mapped to this obfuscated name, in mapping order (null if none). */
  members(obfName: string): MemberEntry[] | null;
  /** The fields mapped to this obfuscated name, in mapping order (null if none). */
  fields(obfName: string): { type: string; name: string }[] | null;
}

const MAX_CLASS_MEMO = 4096;
/**
 * Decoded classes kept per index, in bytes: at most 16 MiB, and at most 8× the index (a decoded
 * member line, an object with its strings, takes about 5× its encoded bytes), so `cost` is an upper
 * bound of what an index holds, fixed when it is created.
 */
const MAX_MEMO_BYTES = 16 * 1024 * 1024;
const DECODED_PER_ENCODED_BYTE = 8;

export class JavaMappingIndex {
  readonly classCount: number;
  readonly mappingSha256: string;
  readonly lineCount: number;
  private readonly tableOff: number;
  private readonly memo = new Map<string, { c: JavaClass | null; bytes: number }>();
  private memoBytes = 0;
  private readonly memoCap: number;

  constructor(private readonly buf: Buffer) {
    const n = buf.length;
    if (n < INDEX_MAGIC.length + FOOTER_BYTES || !buf.subarray(0, 8).equals(INDEX_MAGIC) || !buf.subarray(n - 8).equals(INDEX_MAGIC)) {
      throw new InvalidJavaIndexError('not a mapvault Java mapping index (bad magic)');
    }
    const f = n - FOOTER_BYTES;
    this.classCount = buf.readUInt32LE(f);
    this.tableOff = buf.readUInt32LE(f + 4);
    this.lineCount = buf.readUInt32LE(f + 20);
    this.mappingSha256 = buf.subarray(f + 24, f + 56).toString('hex');
    if (this.tableOff + this.classCount * 24 !== f) throw new InvalidJavaIndexError('class table does not end at the footer');
    this.memoCap = Math.min(MAX_MEMO_BYTES, n * DECODED_PER_ENCODED_BYTE);
  }

  /** Bytes it may hold, for cache budgets: the index itself and its decoded-class memo's cap. */
  get cost(): number {
    return this.buf.length + this.memoCap;
  }

  /** The original name of an obfuscated class, or null when the mapping does not name it. */
  originalClassName(obf: string): string | null {
    const i = this.find(obf);
    return i < 0 ? null : this.str(this.u32(this.tableOff + i * 24 + 8), this.u32(this.tableOff + i * 24 + 12));
  }

  classFor(obf: string): JavaClass | null {
    const hit = this.memo.get(obf);
    if (hit !== undefined) return hit.c;
    const i = this.find(obf);
    const c = i < 0 ? null : this.loadClass(obf, i);
    // Its record's bytes, decoded at most once per member group: the most this entry can grow to.
    const bytes = 256 + (i < 0 ? 0 : this.u32(this.tableOff + i * 24 + 20) * DECODED_PER_ENCODED_BYTE);
    if (bytes > this.memoCap) return c; // used for this frame, not kept
    for (const [k, e] of this.memo) {
      if (this.memo.size < MAX_CLASS_MEMO && this.memoBytes + bytes <= this.memoCap) break;
      this.memo.delete(k);
      this.memoBytes -= e.bytes;
    }
    this.memo.set(obf, { c, bytes });
    this.memoBytes += bytes;
    return c;
  }

  private u32(at: number): number {
    if (at < 0 || at + 4 > this.buf.length) throw new InvalidJavaIndexError(`offset ${at} is outside the index`);
    return this.buf.readUInt32LE(at);
  }

  private slice(off: number, len: number): Buffer {
    if (off + len > this.buf.length - FOOTER_BYTES) throw new InvalidJavaIndexError(`range ${off}+${len} is outside the index`);
    return this.buf.subarray(off, off + len);
  }

  private str(off: number, len: number): string {
    return this.slice(off, len).toString('utf8');
  }

  private find(obf: string): number {
    const key = Buffer.from(obf, 'utf8');
    let lo = 0;
    let hi = this.classCount - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const e = this.tableOff + mid * 24;
      const c = Buffer.compare(this.slice(this.u32(e), this.u32(e + 4)), key);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  private loadClass(obf: string, i: number): JavaClass {
    const e = this.tableOff + i * 24;
    const original = this.str(this.u32(e + 8), this.u32(e + 12));
    const recOff = this.u32(e + 16);
    const recLen = this.u32(e + 20);
    const rec = this.slice(recOff, recLen);
    if (rec.length < 8) throw new InvalidJavaIndexError(`class record of ${obf} is truncated`);
    const groups = rec.readUInt32LE(0);
    const metaLen = rec.readUInt32LE(4);
    if (8 + metaLen + groups * 16 > rec.length) throw new InvalidJavaIndexError(`class record of ${obf} is truncated`);
    const meta: ClassMeta = { sourceFile: null, synthesized: false };
    const tableAt = 8;
    for (const line of rec
      .subarray(8 + groups * 16, 8 + groups * 16 + metaLen)
      .toString('utf8')
      .split('\n')) {
      const v = parseJson(line.slice(1));
      if (!v) continue;
      if (v.id === 'sourceFile' && typeof v.fileName === 'string') meta.sourceFile = v.fileName;
      if (v.id === 'com.android.tools.r8.synthesized') meta.synthesized = true;
    }
    const field = (k: number, w: number) => rec.readUInt32LE(tableAt + k * 16 + w * 4);
    const bounded = (off: number, len: number) => {
      if (off + len > rec.length) throw new InvalidJavaIndexError(`class record of ${obf} is truncated`);
      return rec.subarray(off, off + len);
    };
    const parsed = new Map<string, MemberEntry[]>();
    const findGroup = (name: string): number => {
      const key = Buffer.from(name, 'utf8');
      let lo = 0;
      let hi = groups - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        const c = Buffer.compare(bounded(field(mid, 0), field(mid, 1)), key);
        if (c === 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
      }
      return -1;
    };
    const body = (g: number) => bounded(field(g, 2), field(g, 3)).toString('utf8');
    return {
      obfuscated: obf,
      original,
      meta,
      members(name: string): MemberEntry[] | null {
        // Keyed by name, so a warm frame skips the search; only names found are kept (bounded by the groups).
        const known = parsed.get(name);
        if (known) return known;
        const g = name.startsWith(FIELD_GROUP_PREFIX) ? -1 : findGroup(name);
        if (g < 0) return null;
        const entries = parseBody(body(g));
        parsed.set(name, entries);
        return entries;
      },
      fields(name: string): { type: string; name: string }[] | null {
        const g = findGroup(FIELD_GROUP_PREFIX + name);
        if (g < 0) return null;
        return body(g)
          .split('\n')
          .flatMap((l) => {
            const sp = l.indexOf(' ');
            return sp > 0 ? [{ type: l.slice(0, sp), name: l.slice(sp + 1) }] : [];
          });
      },
    };
  }
}

function parseJson(s: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(s) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function parseBody(body: string): MemberEntry[] {
  const out: MemberEntry[] = [];
  for (const line of body.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const last = out[out.length - 1];
      const v = parseJson(line.slice(1));
      if (!last || !v) continue;
      applyMeta(last, v);
      continue;
    }
    const m = decodeMember(line);
    if (!m) throw new InvalidJavaIndexError('a member record is damaged');
    out.push({ ...m, synthesized: false, outline: false, outlineCallsite: null, rewriteFrame: [], residualSignature: null });
  }
  return out;
}

function applyMeta(e: MemberEntry, v: Record<string, unknown>): void {
  switch (v.id) {
    case 'com.android.tools.r8.synthesized':
      e.synthesized = true;
      return;
    case 'com.android.tools.r8.outline':
      e.outline = true;
      return;
    case 'com.android.tools.r8.outlineCallsite': {
      const positions = v.positions;
      if (!positions || typeof positions !== 'object') return;
      const map = new Map<number, number>();
      for (const [k, val] of Object.entries(positions as Record<string, unknown>)) {
        const from = Number(k);
        if (Number.isSafeInteger(from) && typeof val === 'number' && Number.isSafeInteger(val)) map.set(from, val);
      }
      e.outlineCallsite = map;
      return;
    }
    case 'com.android.tools.r8.rewriteFrame': {
      const strings = (x: unknown) => (Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string') : []);
      e.rewriteFrame.push({ conditions: strings(v.conditions), actions: strings(v.actions) });
      return;
    }
    case 'com.android.tools.r8.residualsignature':
      if (typeof v.signature === 'string') e.residualSignature = v.signature;
      return;
  }
}
