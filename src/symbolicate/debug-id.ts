/**
 * Debug IDs (issue #12 §2): a UUID shared by a script and its map, so a frame finds its map by
 * identity rather than by path. Read from a map's `debugId` (or the older `debug_id`) and from a
 * script's `//# debugId=<uuid>` comment in its last lines; `mapvault inject` derives missing ones
 * deterministically from the map's content. Pure functions, no I/O (the CLI uses them too).
 */
import { createHash } from 'node:crypto';
import { findTailComment } from './locate.ts';

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
  h[6] = (h[6]! & 0x0f) | 0x40;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}
