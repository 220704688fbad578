/**
 * Indexing a whole mapping at resolution time (no usable stored index): the same builder as the
 * merge, fed in slices with a turn of the event loop between them, so other requests keep being
 * answered while a big mapping is indexed. The mapping is already in memory here, and so is the
 * index it yields (it goes to the cache), so it is built in memory.
 */
import { setImmediate as turn } from 'node:timers/promises';
import { MappingIndexBuilder, type MappingIndexResult } from './index-writer.ts';

const SLICE_BYTES = 256 * 1024;

export async function buildMappingIndexAsync(bytes: Buffer): Promise<MappingIndexResult> {
  const builder = new MappingIndexBuilder();
  for (let at = 0; at < bytes.length; at += SLICE_BYTES) {
    builder.write(bytes.subarray(at, Math.min(at + SLICE_BYTES, bytes.length)));
    if (at + SLICE_BYTES < bytes.length) await turn();
  }
  return builder.finish();
}
