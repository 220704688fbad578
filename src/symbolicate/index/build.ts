/**
 * Building the lookup indexes of a stored tree's maps, at merge (and upload_file_content) time:
 * one map at a time, each read from the blob store (out of the tree's archive for merged files), parsed and written in a parser worker under
 * the resolver's admission (bytes-bounded, resourceLimits), the index stored beside the map.
 * A map that cannot be indexed gets no index (and a warning): resolution then reports why, per frame.
 */
import { Readable } from 'node:stream';
import type { BlobStore } from '../../storage/blob-store.ts';
import { readTreeFile, type StoredFile } from '../../storage/tree-archive.ts';
import { InvalidSourceMapError } from '../sourcemap.ts';
import { indexBlobPath } from './layout.ts';
import { readIndex } from './reader.ts';

export interface IndexBuildOptions {
  blobs: BlobStore;
  /** The tree's blob prefix (staging or live), ending in `/`. */
  prefix: string;
  /** The tree's files as their rows will say (a merged file's bytes are in the tree's archive). */
  files: ReadonlyArray<StoredFile>;
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
  const stored = new Map(o.files.map((f) => [f.path, f]));
  const withoutScript: string[] = [];
  for (const f of o.files) {
    if (!f.path.endsWith('.map') || f.size > o.maxMapBytes) continue;
    const key = o.prefix + indexBlobPath(f.path);
    const bytes = await readTreeFile(o.blobs, o.prefix, f);
    if (!bytes) continue;
    // The generated script beside the map (`x.js.map` → `x.js`), for its function names.
    const scriptPath = f.path.slice(0, -'.map'.length);
    const scriptFile = stored.get(scriptPath);
    const script = scriptFile ? await readTreeFile(o.blobs, o.prefix, scriptFile) : null;
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
  if (withoutScript.length === 1) {
    const [map] = withoutScript;
    warnings.push(`${map}: its generated script ${map!.slice(0, -'.map'.length)} is not in the upload, so ${lost}`);
  } else if (withoutScript.length > 1) {
    const shown = withoutScript.slice(0, 3).join(', ') + (withoutScript.length > 3 ? `, and ${withoutScript.length - 3} more` : '');
    warnings.push(`${withoutScript.length} maps have no generated script beside them (${shown}), so ${lost}`);
  }
  return warnings;
}
