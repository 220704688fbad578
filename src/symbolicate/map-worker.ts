/**
 * Worker thread entry: parses sourcemap bytes and writes the binary lookup index (index/), which
 * is transferred back as one buffer, so the main thread never runs JSON.parse / VLQ decoding for
 * big maps. Protocol (see worker-pool.ts): in `{id, bytes, script, sha256}`, out `{ready: true}` once,
 * then `{id, index}` or `{id, error, invalid}` per job.
 */
import { parentPort } from 'node:worker_threads';
import { InvalidSourceMapError } from './sourcemap.ts';
import { makeIndexFile } from './index/make.ts';

const port = parentPort;
if (!port) throw new Error('map-worker.ts must run in a worker thread');

port.on('message', async ({ id, bytes, script, sha256 }: { id: number; bytes: Uint8Array; script: Uint8Array | null; sha256: string }) => {
  try {
    const index = await makeIndexFile(bytes, script, sha256);
    port.postMessage({ id, index }, [index.buffer as ArrayBuffer]);
  } catch (e) {
    port.postMessage({ id, error: (e as Error).message, invalid: e instanceof InvalidSourceMapError });
  }
});
port.postMessage({ ready: true });
