/**
 * Debug IDs (issue #12 §2): a UUID shared by a script and its map, so a frame finds its map by
 * identity rather than by path. Read from a map's `debugId` (or the older `debug_id`) and from a
 * script's `//# debugId=<uuid>` comment in its last lines; `mapvault inject` derives missing ones
 * deterministically from the map's content. Pure functions, no I/O (the CLI uses them too).
 */
import { createHash } from 'node:crypto';
import { findTailComment, urlPath } from './locate.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A debug ID in canonical form (lower-case UUID), or null if `value` is not one. */
export function normalizeDebugId(value: unknown): string | null {
  return typeof value === 'string' && value.length === 36 && UUID.test(value) ? value.toLowerCase() : null;
}

/** The debug ID of a parsed map (`debugId`, else `debug_id`), or null. */
export function mapDebugId(map: unknown): string | null {
  if (!map || typeof map !== 'object') return null;
  const m = map as Record<string, unknown>;
  return normalizeDebugId(m.debugId) ?? normalizeDebugId(m.debug_id);
}

/** The debug ID of a script (`//# debugId=<uuid>` among its tail lines), or null. */
export function scriptDebugId(script: string | Uint8Array): string | null {
  return normalizeDebugId(findTailComment(script, 'debugId='));
}

/**
 * A debug ID derived from content (the map's bytes): SHA-256, first 16 bytes, shaped as a
 * version-4 UUID. The same map always gets the same ID, so injecting twice, or on two machines,
 * agrees.
 */
export function debugIdFromContent(content: Uint8Array | string): string {
  const h = createHash('sha256').update(content).digest();
  h.writeUInt8((h.readUInt8(6) & 0x0f) | 0x40, 6);
  h.writeUInt8((h.readUInt8(8) & 0x3f) | 0x80, 8);
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

/** Tail lines a script's `//# debugId=` is looked for in (findTailComment's limit, with room). */
const TAIL_LINES_KEPT = 20;
/** Bytes kept of each tail line: a `//# debugId=` line is about 50; longer lines are code or other comments. */
const LINE_HEAD_BYTES = 256;

/**
 * The debug ID of a script fed in chunks as it streams to storage, in constant memory: keeps the
 * first bytes of each of the last lines (CRLF, LF and a lone CR end a line, as findTailComment
 * reads them), so a megabyte inline sourceMappingURL after the comment costs nothing.
 */
export class ScriptDebugIdReader {
  private readonly lines: Buffer[] = [];
  private current: Buffer[] = [];
  private currentBytes = 0;
  private afterCr = false;

  write(chunk: Buffer): void {
    let start = 0;
    // The next LF and CR at or after `start`, each searched again only once passed (linear per chunk).
    let lf = chunk.indexOf(10);
    let cr = chunk.indexOf(13);
    while (lf >= 0 || cr >= 0) {
      const i = lf < 0 ? cr : cr < 0 ? lf : Math.min(lf, cr);
      const b = chunk.readUInt8(i);
      if (b === 10 && this.afterCr && i === start && this.currentBytes === 0) {
        this.afterCr = false; // the LF of a CRLF whose CR ended the line already
      } else {
        this.keep(chunk.subarray(start, i));
        this.endLine();
        this.afterCr = b === 13;
      }
      start = i + 1;
      if (lf === i) lf = chunk.indexOf(10, start);
      if (cr === i) cr = chunk.indexOf(13, start);
    }
    if (start < chunk.length) {
      this.keep(chunk.subarray(start));
      this.afterCr = false;
    }
  }

  /** The script's debug ID, once every chunk was written. */
  debugId(): string | null {
    const tail = [...this.lines, Buffer.concat(this.current)];
    return scriptDebugId(Buffer.concat(tail.flatMap((l, i) => (i === 0 ? [l] : [Buffer.from('\n'), l]))));
  }

  private keep(part: Buffer): void {
    const room = LINE_HEAD_BYTES - this.currentBytes;
    if (room <= 0 || part.length === 0) return;
    // Copied: the chunk's memory is the stream's.
    const kept = Buffer.from(part.subarray(0, room));
    this.current.push(kept);
    this.currentBytes += kept.length;
  }

  private endLine(): void {
    this.lines.push(Buffer.concat(this.current));
    if (this.lines.length > TAIL_LINES_KEPT) this.lines.shift();
    this.current = [];
    this.currentBytes = 0;
  }
}

/** Whether a stored file is a script whose tail may carry `//# debugId=`. */
export const isScriptPath = (path: string): boolean => /\.(m|c)?js$/i.test(path);

/**
 * The debug IDs a request gave per script URL, looked up by a frame's URL: the very URL first,
 * else the one entry whose URL has the same path (host, query and fragment ignored, as the path
 * rules read URLs); two such entries with different IDs name none.
 */
export class DebugIdsByUrl {
  private readonly byUrl = new Map<string, string>();
  private readonly byPath = new Map<string, string | null>();

  constructor(entries: Record<string, string>) {
    for (const [url, id] of Object.entries(entries)) {
      this.byUrl.set(url, id);
      const path = urlPath(url);
      if (path === null) continue;
      const seen = this.byPath.get(path);
      this.byPath.set(path, seen === undefined || seen === id ? id : null);
    }
  }

  /** The frame's debug ID; `path` is urlPath(url), already computed by the caller. */
  get(url: string, path: string | null): string | null {
    return this.byUrl.get(url) ?? (path === null ? null : (this.byPath.get(path) ?? null));
  }
}
