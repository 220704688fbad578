/**
 * Builds the lookup index of a ProGuard/R8 mapping while its bytes stream in (at merge time), in
 * work and memory bounded by the bytes received: one pass, one line at a time, lines longer than
 * MAX_MAPPING_LINE_BYTES skipped (never buffered), inline chains deeper than MAX_INLINE_DEPTH cut.
 *
 * Layout (all integers u32 little-endian; offsets from the start of the blob):
 *
 *   "MVJIDX01"                                   magic
 *   class records…                               one per obfuscated class, see below
 *   names                                        UTF-8 class names
 *   class table   N × [obfOff, obfLen, origOff, origLen, recordOff, recordLen]   sorted by obf name bytes
 *   footer        [classCount, tableOff, namesOff, namesLen, recordsLen, lineCount] + sha256(32) + "MVJIDX01"
 *
 *   class record: [groupCount, metaLen]
 *                 groupCount × [nameOff, nameLen, bodyOff, bodyLen]  (relative to the record, sorted by name bytes)
 *                 meta (UTF-8 JSON lines of class metadata)
 *                 names and bodies: a body is the group's member lines (mapping-line.ts encodeMember)
 *                 and their metadata lines (`#{json}`), '\n'-separated, in mapping order, so inline
 *                 chains stay together.
 *
 * A lookup reads only the footer, binary-searches the class table, then the record's group table,
 * and parses one group's lines: the index is never decoded as a whole.
 */
import { createHash, type Hash } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { continuesChain, encodeMember, parseMappingLine, type MethodLine } from './mapping-line.ts';

export const INDEX_MAGIC = Buffer.from('MVJIDX01', 'latin1');
export const FOOTER_BYTES = 6 * 4 + 32 + 8;
export const MAX_MAPPING_LINE_BYTES = 64 * 1024;
export const MAX_INLINE_DEPTH = 512;
/**
 * Mapping lines kept per (class, obfuscated member name): a lookup parses one such group at once,
 * so this bounds the work of one frame (real mappings have at most a few thousand).
 */
export const MAX_GROUP_LINES = 20_000;
/** R8 mapping versions whose metadata we understand (doc/retrace.md). */
export const SUPPORTED_MAPPING_VERSION = '2.2';
const MAX_WARNINGS = 20;

/** Since which mapping version each R8 metadata id is meaningful; others stay plain comments. */
const META_SINCE: Record<string, number> = {
  sourceFile: 0,
  'com.android.tools.r8.synthesized': 1.0,
  'com.android.tools.r8.rewriteFrame': 2.0,
  'com.android.tools.r8.outline': 2.0,
  'com.android.tools.r8.outlineCallsite': 2.0,
  'com.android.tools.r8.residualsignature': 2.2,
};

export interface MappingIndexResult {
  /** The index blob, or null when the bytes are not a mapping (see `notMapping`). */
  index: Buffer | null;
  notMapping: string | null;
  warnings: string[];
  classCount: number;
  lineCount: number;
}

interface PendingClass {
  obf: string;
  orig: string;
  meta: string[];
  groups: Map<string, string[]>;
}

export class MappingIndexBuilder {
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private skippingLongLine = false;
  private lineNo = 0;
  private sawContent = false;
  private notMapping: string | null = null;
  private version = 0;
  private readonly warnings: string[] = [];
  private droppedWarnings = 0;
  private readonly hash: Hash = createHash('sha256');
  private current: PendingClass | null = null;
  /** The group the last member line went to: metadata lines below it attach there. */
  private lastGroup: string[] | null = null;
  private lastMember: MethodLine | null = null;
  /** The group of `lastMember`, kept while a chain is being cut (unlike lastGroup). */
  private chainGroup: string[] | null = null;
  private chainDepth = 0;
  private cutChain = false;
  private readonly chunks: Buffer[] = [INDEX_MAGIC];
  private offset = INDEX_MAGIC.length;
  private readonly table: { obf: Buffer; orig: Buffer; off: number; len: number }[] = [];
  private readonly seen = new Set<string>();
  private invalidLines = 0;
  private nonUtf8Lines = 0;

  write(chunk: Buffer): void {
    this.hash.update(chunk);
    if (this.notMapping !== null) return;
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl;
      if (!this.skippingLongLine) {
        if (this.partialBytes + (end - start) > MAX_MAPPING_LINE_BYTES) {
          this.skippingLongLine = true;
          this.partial = [];
          this.partialBytes = 0;
        } else if (end > start) {
          this.partial.push(chunk.subarray(start, end));
          this.partialBytes += end - start;
        }
      }
      if (nl < 0) break;
      this.endLine();
      if (this.notMapping !== null) return;
      start = nl + 1;
    }
  }

  finish(): MappingIndexResult {
    if (this.notMapping === null && (this.partialBytes > 0 || this.skippingLongLine)) this.endLine();
    const sha = this.hash.digest();
    if (this.notMapping === null && !this.sawContent) this.notMapping = 'the file is empty';
    if (this.notMapping !== null) {
      return { index: null, notMapping: this.notMapping, warnings: [], classCount: 0, lineCount: this.lineNo };
    }
    this.closeClass();
    if (this.invalidLines > 0) this.warn(`${this.invalidLines} line(s) were not understood and were skipped`);
    if (this.nonUtf8Lines > 0) this.warn(`${this.nonUtf8Lines} line(s) are not valid UTF-8 (invalid bytes read as U+FFFD)`);
    if (this.droppedWarnings > 0) this.warnings.push(`… and ${this.droppedWarnings} more warning(s)`);
    return { index: this.serialize(sha), notMapping: null, warnings: this.warnings, classCount: this.table.length, lineCount: this.lineNo };
  }

  private warn(message: string): void {
    if (this.warnings.length < MAX_WARNINGS) this.warnings.push(message);
    else this.droppedWarnings++;
  }

  private endLine(): void {
    this.lineNo++;
    if (this.skippingLongLine) {
      this.skippingLongLine = false;
      this.warn(`line ${this.lineNo} is longer than ${MAX_MAPPING_LINE_BYTES} bytes and was skipped`);
      return;
    }
    const [only] = this.partial;
    const bytes = this.partial.length === 1 && only ? only : Buffer.concat(this.partial, this.partialBytes);
    this.partial = [];
    this.partialBytes = 0;
    if (!isUtf8(bytes)) this.nonUtf8Lines++;
    let text = bytes.toString('utf8');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (this.lineNo === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    this.line(text);
  }

  private line(text: string): void {
    const parsed = parseMappingLine(text);
    switch (parsed.kind) {
      case 'blank':
        return;
      case 'invalid':
        if (!this.sawContent) {
          this.notMapping = `line ${this.lineNo} is not a class line ("original.Name -> obfuscated.Name:"): ${shortText(text)}`;
          return;
        }
        this.invalidLines++;
        if (this.invalidLines === 1) this.warn(`line ${this.lineNo} is not a mapping line (${parsed.why}): ${shortText(text)}`);
        return;
      case 'meta':
        return this.meta(parsed.value);
      case 'class':
        this.sawContent = true;
        this.closeClass();
        if (this.seen.has(parsed.obfuscated)) {
          this.warn(`line ${this.lineNo}: class ${parsed.obfuscated} is mapped twice; the later mapping is ignored`);
          this.current = null;
        } else {
          this.seen.add(parsed.obfuscated);
          this.current = { obf: parsed.obfuscated, orig: parsed.original, meta: [], groups: new Map() };
        }
        this.lastGroup = null;
        this.chainGroup = null;
        this.lastMember = null;
        return;
      case 'field':
        this.sawContent = true;
        this.lastGroup = null;
        this.chainGroup = null;
        this.lastMember = null;
        return;
      case 'method': {
        if (!this.sawContent) {
          this.notMapping = `line ${this.lineNo} is a member line before any class line: ${shortText(text)}`;
          return;
        }
        if (!this.current) return;
        const name = parsed.obfName;
        let group = this.current.groups.get(name);
        if (!group) this.current.groups.set(name, (group = []));
        const prev = this.chainGroup === group ? this.lastMember : null;
        const sameChain = prev !== null && continuesChain(prev, parsed);
        this.chainDepth = sameChain ? this.chainDepth + 1 : 1;
        if (!sameChain) this.cutChain = false;
        this.chainGroup = group;
        this.lastMember = parsed;
        if (this.chainDepth > MAX_INLINE_DEPTH) {
          if (!this.cutChain) this.warn(`line ${this.lineNo}: an inline chain deeper than ${MAX_INLINE_DEPTH} frames was cut there`);
          this.cutChain = true;
          this.lastGroup = null; // its metadata goes with it
          return;
        }
        if (group.length >= MAX_GROUP_LINES) {
          if (group.length === MAX_GROUP_LINES) {
            this.warn(`line ${this.lineNo}: method name ${name} of ${this.current.obf} has more than ${MAX_GROUP_LINES} mapping lines; the rest are ignored`);
            group.push(''); // marks the warning as given; empty lines are skipped when read
          }
          this.lastGroup = null;
          return;
        }
        group.push(encodeMember(parsed));
        this.lastGroup = group;
        return;
      }
    }
  }

  private meta(value: Record<string, unknown>): void {
    const id = value.id;
    if (id === 'com.android.tools.r8.mapping') {
      const v = String(value.version ?? '');
      const n = v === 'experimental' ? Number(SUPPORTED_MAPPING_VERSION) : Number(v);
      if (!Number.isFinite(n)) {
        this.warn(`line ${this.lineNo}: unknown mapping version ${JSON.stringify(v).slice(0, 40)}`);
        this.version = 0;
      } else {
        if (n > Number(SUPPORTED_MAPPING_VERSION)) {
          this.warn(`line ${this.lineNo}: mapping version ${v} is newer than ${SUPPORTED_MAPPING_VERSION}; its newer metadata is read as plain comments`);
        }
        this.version = n;
      }
      return;
    }
    const since = typeof id === 'string' && Object.hasOwn(META_SINCE, id) ? META_SINCE[id] : undefined;
    if (since === undefined || this.version < since) return;
    if (!this.current) return;
    const json = `#${JSON.stringify(value)}`;
    if (this.lastGroup) this.lastGroup.push(json);
    else if (this.current.groups.size === 0) this.current.meta.push(json);
  }

  private closeClass(): void {
    const c = this.current;
    this.current = null;
    if (!c) return;
    const groups = [...c.groups].map(([name, lines]) => ({ name: Buffer.from(name, 'utf8'), body: Buffer.from(lines.join('\n'), 'utf8') }));
    groups.sort((a, b) => Buffer.compare(a.name, b.name));
    const meta = Buffer.from(c.meta.join('\n'), 'utf8');
    const head = Buffer.alloc(8 + groups.length * 16);
    head.writeUInt32LE(groups.length, 0);
    head.writeUInt32LE(meta.length, 4);
    let rel = head.length + meta.length;
    const parts: Buffer[] = [head, meta];
    groups.forEach(({ name: n, body }, i) => {
      head.writeUInt32LE(rel, 8 + i * 16);
      head.writeUInt32LE(n.length, 12 + i * 16);
      rel += n.length;
      head.writeUInt32LE(rel, 16 + i * 16);
      head.writeUInt32LE(body.length, 20 + i * 16);
      rel += body.length;
      parts.push(n, body);
    });
    const record = Buffer.concat(parts, rel);
    this.table.push({ obf: Buffer.from(c.obf, 'utf8'), orig: Buffer.from(c.orig, 'utf8'), off: this.offset, len: record.length });
    this.chunks.push(record);
    this.offset += record.length;
  }

  private serialize(sha: Buffer): Buffer {
    const recordsLen = this.offset - INDEX_MAGIC.length;
    this.table.sort((a, b) => Buffer.compare(a.obf, b.obf));
    const namesOff = this.offset;
    const table = Buffer.alloc(this.table.length * 24);
    let namesLen = 0;
    const names: Buffer[] = [];
    this.table.forEach((e, i) => {
      table.writeUInt32LE(namesOff + namesLen, i * 24);
      table.writeUInt32LE(e.obf.length, i * 24 + 4);
      names.push(e.obf);
      namesLen += e.obf.length;
      table.writeUInt32LE(namesOff + namesLen, i * 24 + 8);
      table.writeUInt32LE(e.orig.length, i * 24 + 12);
      names.push(e.orig);
      namesLen += e.orig.length;
      table.writeUInt32LE(e.off, i * 24 + 16);
      table.writeUInt32LE(e.len, i * 24 + 20);
    });
    const footer = Buffer.alloc(FOOTER_BYTES);
    footer.writeUInt32LE(this.table.length, 0);
    footer.writeUInt32LE(namesOff + namesLen, 4);
    footer.writeUInt32LE(namesOff, 8);
    footer.writeUInt32LE(namesLen, 12);
    footer.writeUInt32LE(recordsLen, 16);
    footer.writeUInt32LE(Math.min(this.lineNo, 0xffffffff), 20);
    sha.copy(footer, 24);
    INDEX_MAGIC.copy(footer, 56);
    return Buffer.concat([...this.chunks, ...names, table, footer]);
  }
}

function shortText(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

/** Builds the index of a whole mapping held in memory (tests, the CLI, and a stale or missing index). */
export function buildMappingIndex(bytes: Uint8Array): MappingIndexResult {
  const b = new MappingIndexBuilder();
  b.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return b.finish();
}
