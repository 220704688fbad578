/**
 * Builds the lookup index of a ProGuard/R8 mapping while its bytes stream in (at merge time), in
 * work bounded by the bytes received: one pass, one line at a time, lines longer than
 * MAX_MAPPING_LINE_BYTES skipped (never buffered), inline chains deeper than MAX_INLINE_DEPTH cut.
 * Memory is bounded too: one class at a time (at most MAX_CLASS_BYTES of member lines) plus the
 * output's buffers; given a spill dir, the index goes to a file there through index-output.ts
 * (class records appended, the class table sorted in spilled runs), so memory stays flat however
 * large the mapping is. Callers that stream await `drain()` between chunks.
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
 *                 groupCount × [nameOff, nameLen, bodyOff, bodyLen]  (relative to the record, sorted by name bytes;
 *                 a field name's group is named with FIELD_GROUP_PREFIX, its lines are `type name`)
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
import { IndexOutput, type SpillDir, type SpillLimits } from './index-output.ts';

/** 02: field lines are indexed too (an 01 index is rebuilt from its mapping when read). */
export const INDEX_MAGIC = Buffer.from('MVJIDX02', 'latin1');
/**
 * Field lines of obfuscated name `a` are the group named `FIELD_GROUP_PREFIX + 'a'`, each line
 * `type name`: a space can never be part of a parsed member name, so no method group collides.
 */
export const FIELD_GROUP_PREFIX = ' ';
export const FOOTER_BYTES = 6 * 4 + 32 + 8;
export const MAX_MAPPING_LINE_BYTES = 64 * 1024;
export const MAX_INLINE_DEPTH = 512;
/**
 * Mapping lines kept per (class, obfuscated member name): a lookup parses one such group at once,
 * so this bounds the work of one frame (real mappings have at most a few thousand).
 */
export const MAX_GROUP_LINES = 20_000;
/**
 * Encoded member bytes (and member-group entries) kept per class: a class is held in memory until it ends, so this bounds the
 * builder's memory on a mapping that is one huge class (real classes stay far below: 8 MiB is
 * about 200 000 member lines).
 */
export const MAX_CLASS_BYTES = 8 * 1024 * 1024;
/** A member group's entry in its class record's table, counted against MAX_CLASS_BYTES with its name. */
const GROUP_ENTRY_BYTES = 16;
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
  /** The index blob, built in memory (no spill dir); null when the bytes are not a mapping (see `notMapping`). */
  index: Buffer | null;
  /** With a spill dir: the index file written there (the caller moves or removes it), else null. */
  indexPath: string | null;
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
  /** Encoded bytes of its member and metadata lines so far (MAX_CLASS_BYTES). */
  bytes: number;
  cut: boolean;
  /** Whether a method line was seen (class metadata is what comes before the first). */
  hasMethods: boolean;
  line: number;
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
  private readonly out: IndexOutput;
  private invalidLines = 0;
  private nonUtf8Lines = 0;

  /** With a spill dir (the merge's scratch dir) the index is written to a file there. */
  constructor(opts: { spill?: SpillDir; spillLimits?: SpillLimits } = {}) {
    this.out = new IndexOutput(opts.spill ?? null, INDEX_MAGIC, opts.spillLimits);
  }

  /** True when output is buffered that `drain()` should write out before the next chunk. */
  get full(): boolean {
    return this.out.full;
  }

  drain(): Promise<void> {
    return this.out.drain();
  }

  /** Removes what was written (the upload failed before `finish`). */
  discard(): Promise<void> {
    return this.out.discard();
  }

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

  async finish(): Promise<MappingIndexResult> {
    if (this.notMapping === null && (this.partialBytes > 0 || this.skippingLongLine)) this.endLine();
    const sha = this.hash.digest();
    if (this.notMapping === null && !this.sawContent) this.notMapping = 'the file is empty';
    if (this.notMapping !== null) {
      await this.out.discard();
      return { index: null, indexPath: null, notMapping: this.notMapping, warnings: [], classCount: 0, lineCount: this.lineNo };
    }
    this.closeClass();
    const built = await this.out.finish(
      (classCount, namesOff, namesLen) => this.footer(sha, classCount, namesOff, namesLen),
      (dup) => this.warn(`line ${dup.line}: class ${dup.obf.toString('utf8')} is mapped twice; the later mapping is ignored`),
    );
    if (this.invalidLines > 0) this.warn(`${this.invalidLines} line(s) were not understood and were skipped`);
    if (this.nonUtf8Lines > 0) this.warn(`${this.nonUtf8Lines} line(s) are not valid UTF-8 (invalid bytes read as U+FFFD)`);
    if (this.droppedWarnings > 0) this.warnings.push(`… and ${this.droppedWarnings} more warning(s)`);
    return {
      index: built.index,
      indexPath: built.path,
      notMapping: null,
      warnings: this.warnings,
      classCount: built.classCount,
      lineCount: this.lineNo,
    };
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
        // A class mapped twice is found when the class table is sorted (IndexOutput.finish).
        this.current = {
          obf: parsed.obfuscated,
          orig: parsed.original,
          meta: [],
          groups: new Map(),
          bytes: 0,
          cut: false,
          hasMethods: false,
          line: this.lineNo,
        };
        this.lastGroup = null;
        this.chainGroup = null;
        this.lastMember = null;
        return;
      case 'field': {
        this.sawContent = true;
        this.lastGroup = null;
        this.chainGroup = null;
        this.lastMember = null;
        const c = this.current;
        if (!c || c.cut) return;
        const encoded = `${parsed.type} ${parsed.name}`;
        if (c.bytes + encoded.length > MAX_CLASS_BYTES) {
          this.warn(
            `line ${this.lineNo}: class ${c.obf} has more than ${MAX_CLASS_BYTES} bytes of member lines; the rest of the class is ignored`,
          );
          c.cut = true;
          return;
        }
        const key = FIELD_GROUP_PREFIX + parsed.obfName;
        let group = c.groups.get(key);
        if (!group) {
          c.groups.set(key, (group = []));
          c.bytes += GROUP_ENTRY_BYTES + key.length;
        }
        if (group.length >= MAX_GROUP_LINES) return; // real classes have a handful per name
        c.bytes += encoded.length + 1;
        group.push(encoded);
        return;
      }
      case 'method': {
        if (!this.sawContent) {
          this.notMapping = `line ${this.lineNo} is a member line before any class line: ${shortText(text)}`;
          return;
        }
        if (!this.current || this.current.cut) return;
        const encoded = encodeMember(parsed);
        if (this.current.bytes + encoded.length > MAX_CLASS_BYTES) {
          this.warn(
            `line ${this.lineNo}: class ${this.current.obf} has more than ${MAX_CLASS_BYTES} bytes of member lines; the rest of the class is ignored`,
          );
          this.current.cut = true;
          this.lastGroup = null;
          return;
        }
        const name = parsed.obfName;
        this.current.hasMethods = true;
        let group = this.current.groups.get(name);
        if (!group) {
          this.current.groups.set(name, (group = []));
          this.current.bytes += GROUP_ENTRY_BYTES + name.length;
        }
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
            this.warn(
              `line ${this.lineNo}: method name ${name} of ${this.current.obf} has more than ${MAX_GROUP_LINES} mapping lines; the rest are ignored`,
            );
            group.push(''); // marks the warning as given; empty lines are skipped when read
          }
          this.lastGroup = null;
          return;
        }
        this.current.bytes += encoded.length + 1;
        group.push(encoded);
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
          this.warn(
            `line ${this.lineNo}: mapping version ${v} is newer than ${SUPPORTED_MAPPING_VERSION}; its newer metadata is read as plain comments`,
          );
        }
        this.version = n;
      }
      return;
    }
    const since = typeof id === 'string' && Object.hasOwn(META_SINCE, id) ? META_SINCE[id] : undefined;
    if (since === undefined || this.version < since) return;
    if (!this.current || this.current.cut) return;
    const json = `#${JSON.stringify(value)}`;
    if (this.current.bytes + json.length > MAX_CLASS_BYTES) return; // the next member line cuts the class
    if (this.lastGroup) this.lastGroup.push(json);
    else if (!this.current.hasMethods) this.current.meta.push(json);
    else return;
    this.current.bytes += json.length + 1;
  }

  private closeClass(): void {
    const c = this.current;
    this.current = null;
    if (!c) return;
    const groups = [...c.groups]
      .map(([name, lines]) => ({ name: Buffer.from(name, 'utf8'), body: lines.join('\n') }))
      .sort((a, b) => Buffer.compare(a.name, b.name));
    const meta = c.meta.join('\n');
    const metaLen = Buffer.byteLength(meta, 'utf8');
    const bodyLens = groups.map((g) => Buffer.byteLength(g.body, 'utf8'));
    const headLen = 8 + groups.length * 16;
    let len = headLen + metaLen;
    for (const [i, g] of groups.entries()) len += g.name.length + (bodyLens[i] ?? 0);
    // Written straight into the output's buffer: no intermediate buffers per class.
    const { buf: rec, off } = this.out.record(len);
    rec.writeUInt32LE(groups.length, 0);
    rec.writeUInt32LE(metaLen, 4);
    rec.write(meta, headLen, 'utf8');
    let rel = headLen + metaLen;
    groups.forEach(({ name: n, body }, i) => {
      rec.writeUInt32LE(rel, 8 + i * 16);
      rec.writeUInt32LE(n.length, 12 + i * 16);
      rel += n.copy(rec, rel);
      rec.writeUInt32LE(rel, 16 + i * 16);
      rec.writeUInt32LE(bodyLens[i] ?? 0, 20 + i * 16);
      rel += rec.write(body, rel, 'utf8');
    });
    this.out.classEntry({ obf: Buffer.from(c.obf, 'utf8'), orig: Buffer.from(c.orig, 'utf8'), off, len, line: c.line });
  }

  private footer(sha: Buffer, classCount: number, namesOff: number, namesLen: number): Buffer {
    const footer = Buffer.alloc(FOOTER_BYTES);
    footer.writeUInt32LE(classCount, 0);
    footer.writeUInt32LE(namesOff + namesLen, 4);
    footer.writeUInt32LE(namesOff, 8);
    footer.writeUInt32LE(namesLen, 12);
    footer.writeUInt32LE(namesOff - INDEX_MAGIC.length, 16);
    footer.writeUInt32LE(Math.min(this.lineNo, 0xffffffff), 20);
    sha.copy(footer, 24);
    INDEX_MAGIC.copy(footer, 56);
    return footer;
  }
}

function shortText(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

/** Builds the index of a whole mapping held in memory, in memory (tests). */
export function buildMappingIndex(bytes: Uint8Array): Promise<MappingIndexResult> {
  const b = new MappingIndexBuilder();
  b.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return b.finish();
}
