/**
 * Map bytes (and the generated script, when stored) → one lookup index file: parse and pack the
 * map, recover the enclosing-function ranges (names/: the map's `scopes`, else scope analysis of
 * the script), write the file. Runs in a parser worker (map-worker.ts) for all but small inputs,
 * at merge time and when an index is rebuilt, so the script is parsed once per map, off the
 * serving thread, not per request.
 */
import { createHash } from 'node:crypto';
import { SourceMapIndex, packSourceMap } from '../sourcemap.ts';
import { loadFunctionNames } from '../names/frame-names.ts';
import { writeIndex } from './writer.ts';

export async function makeIndexFile(mapBytes: Uint8Array, script: Uint8Array | null, sha256: string): Promise<Uint8Array> {
  const packed = packSourceMap(mapBytes);
  const names = await loadFunctionNames(mapBytes, new SourceMapIndex(packed), async () =>
    script ? Buffer.from(script.buffer, script.byteOffset, script.byteLength) : null,
  );
  // Which script the ranges were computed from: a script stored (or replaced) later makes the index stale.
  const scriptSha256 = script ? createHash('sha256').update(script).digest('hex') : undefined;
  return writeIndex(packed, names.ranges ?? [], sha256, {
    source: names.source,
    ...(names.problem ? { problem: names.problem } : {}),
    ...(scriptSha256 ? { script: scriptSha256 } : {}),
  });
}
