/**
 * Building the lookup indexes of a stored tree's maps, at merge (and upload_file_content) time:
 * one map at a time, each read from the blob store, parsed and written in a parser worker under
 * the resolver's admission (bytes-bounded, resourceLimits), the index stored beside the map.
 * A map that cannot be indexed gets no index (and a warning): resolution then reports why, per frame.
 */
import { Readable } from 'node:stream';
import type { BlobStore } from '../../storage/blob-store.ts';
import { InvalidSourceMapError } from '../sourcemap.ts';
import { mapIndexPath } from '../../storage/blob-keys.ts';
import { readIndex } from './reader.ts';

export interface IndexBuildOptions {
  blobs: BlobStore;
  /** The tree's blob prefix (staging or live), ending in `/`. */
  prefix: string;
  files: ReadonlyArray<{ path: string; size: number; sha256: string }>;
  /** Map bytes (+ its generated script, for function names) → index file (StackResolver.buildIndex). */
  build(bytes: Uint8Array, sha256: string, script: Uint8Array | null): Promise<Uint8Array>;
  /** Maps larger than this are not indexed (nor resolved: MAPVAULT_MAX_MAP_BYTES). */
  maxMapBytes: number;
}

/**
 * Indexes every `.map` among `files`; returns one warning per map that could not be indexed, and
 * per map whose original function names cannot be recovered (its generated script is missing or
 * is not JavaScript, and the map has no `scopes`).
 */
export async function buildTreeIndexes(o: IndexBuildOptions): Promise<string[]> {
  const warnings: string[] = [];
  const stored = new Set(o.files.map((f) => f.path));
  const read = async (path: string): Promise<Buffer | null> => {
    const body = await o.blobs.get(o.prefix + path);
    if (!body) return null;
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };
  const withoutScript: string[] = [];
  for (const f of o.files) {
    if (!f.path.endsWith('.map') || f.size > o.maxMapBytes) continue;
    const key = o.prefix + mapIndexPath(f.path);
    const bytes = await read(f.path);
    if (!bytes) continue;
    // The generated script beside the map (`x.js.map` → `x.js`), for its function names.
    const scriptPath = f.path.slice(0, -'.map'.length);
    const script = stored.has(scriptPath) ? await read(scriptPath) : null;
    let index: Uint8Array;
    try {
      index = await o.build(bytes, f.sha256, script);
    } catch (e) {
      if (!(e instanceof InvalidSourceMapError)) throw e;
      await o.blobs.delete(key); // no stale index of earlier bytes may stay behind
      warnings.push(`${f.path}: not indexed for resolution: ${e.message}`);
      continue;
    }
    await o.blobs.put(key, Readable.from([Buffer.from(index.buffer, index.byteOffset, index.byteLength)]));
    const names = readIndex(index).functionMeta;
    if (names?.source === 'script-missing') withoutScript.push(f.path);
    else if (names && names.source === 'script-unparsable') {
      warnings.push(`${f.path}: original function names (originalFunction) cannot be recovered from ${scriptPath}: ${names.problem ?? 'it is not JavaScript a parser accepts'}`);
    }
  }
  // One line for all of them: a maps-only upload (the CLI's default) would otherwise warn per chunk.
  const lost = 'original function names (originalFunction) cannot be recovered; upload the .js files with their maps';
  const [map] = withoutScript;
  if (withoutScript.length === 1 && map !== undefined) {
    warnings.push(`${map}: its generated script ${map.slice(0, -'.map'.length)} is not in the upload, so ${lost}`);
  } else if (withoutScript.length > 1) {
    const shown = withoutScript.slice(0, 3).join(', ') + (withoutScript.length > 3 ? `, and ${withoutScript.length - 3} more` : '');
    warnings.push(`${withoutScript.length} maps have no generated script beside them (${shown}), so ${lost}`);
  }
  return warnings;
}
