/**
 * Building the lookup indexes of a stored tree's maps, at merge (and upload_file_content) time:
 * one map at a time, each read from the blob store (out of the tree's archive for merged files),
 * parsed and written in a parser worker under
 * the resolver's admission (bytes-bounded, resourceLimits), the index stored beside the map.
 * A map that cannot be indexed gets no index (and a warning): resolution then reports why, per frame.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BlobStore } from '../../storage/blob-store.ts';
import { readTreeFile, type StoredFile } from '../../storage/tree-archive.ts';
import { InvalidSourceMapError } from '../sourcemap.ts';
import { mapIndexPath } from '../../storage/blob-keys.ts';
import { readIndex } from './reader.ts';

export interface IndexBuildOptions {
  blobs: BlobStore;
  /** The tree's blob prefix (staging or live), ending in `/`. */
  prefix: string;
  /** The files written now, as their rows will say (a merged file's bytes are in the tree's archive). */
  files: ReadonlyArray<StoredFile>;
  /** Map bytes (+ its generated script, for function names) → index file (StackResolver.buildIndex). */
  build(bytes: Uint8Array, sha256: string, script: Uint8Array | null): Promise<Uint8Array>;
  /** Maps larger than this are not indexed (nor resolved: MAPVAULT_MAX_MAP_BYTES). */
  maxMapBytes: number;
  /**
   * The stored tree `files` are written into (upload_file_content into an existing sourcemap), for
   * what is not among them: a map's generated script stored earlier, or the stored map of a script
   * written now (its index is rebuilt with the script's function names, into `prefix`).
   */
  stored?: StoredFiles;
}

/** Files of a stored tree, by tree path. */
export interface StoredFiles {
  size(path: string): Promise<number | null>;
  read(path: string): Promise<Buffer | null>;
}

/**
 * The maps whose index `files` change: each `.map` among them, and the stored map of each other
 * file (`x.js` → `x.js.map`, the server's one rule for a map's script) when `stored` has it.
 */
async function mapsToIndex(o: IndexBuildOptions): Promise<{ path: string; size: number; sha256: string | null }[]> {
  const paths = new Set(o.files.map((f) => f.path));
  const maps: { path: string; size: number; sha256: string | null }[] = o.files.filter((f) => f.path.endsWith('.map'));
  for (const f of o.files) {
    const map = `${f.path}.map`;
    if (f.path.endsWith('.map') || paths.has(map) || !o.stored) continue;
    const size = await o.stored.size(map);
    if (size !== null) maps.push({ path: map, size, sha256: null });
  }
  return maps;
}

/**
 * Indexes every `.map` among `files`; returns one warning per map that could not be indexed, and
 * per map whose original function names cannot be recovered (its generated script is missing or
 * is not JavaScript, and the map has no `scopes`).
 */
export async function buildTreeIndexes(o: IndexBuildOptions): Promise<string[]> {
  const warnings: string[] = [];
  const written = new Map(o.files.map((f) => [f.path, f]));
  // A file written now, else (upload_file_content) the stored tree's.
  const read = async (path: string): Promise<Buffer | null> => {
    const file = written.get(path);
    if (!file) return (await o.stored?.read(path)) ?? null;
    return readTreeFile(o.blobs, o.prefix, file);
  };
  const withoutScript: string[] = [];
  for (const f of await mapsToIndex(o)) {
    if (f.size > o.maxMapBytes) continue;
    const key = o.prefix + mapIndexPath(f.path);
    const bytes = await read(f.path);
    if (!bytes) continue;
    // The generated script beside the map (`x.js.map` → `x.js`), for its function names.
    const scriptPath = f.path.slice(0, -'.map'.length);
    const script = await read(scriptPath);
    let index: Uint8Array;
    try {
      index = await o.build(bytes, f.sha256 ?? createHash('sha256').update(bytes).digest('hex'), script);
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
      warnings.push(
        `${f.path}: original function names (originalFunction) cannot be recovered from ${scriptPath}: ${names.problem ?? 'it is not JavaScript a parser accepts'}`,
      );
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
