/**
 * Worker thread entry: parses sourcemap bytes into the packed form and transfers it back, so the
 * main thread never runs JSON.parse / VLQ decoding for big maps. Protocol (see worker-pool.ts):
 * in `{id, bytes}`, out `{ready: true}` once, then `{id, map}` or `{id, error, invalid}` per job.
 */
import { parentPort } from 'node:worker_threads';
import { InvalidSourceMapError, packSourceMap, transferList } from './sourcemap.ts';

const port = parentPort;
if (!port) throw new Error('map-worker.ts must run in a worker thread');

port.on('message', ({ id, bytes }: { id: number; bytes: Uint8Array }) => {
  try {
    const map = packSourceMap(bytes);
    port.postMessage({ id, map }, transferList(map));
  } catch (e) {
    port.postMessage({ id, error: (e as Error).message, invalid: e instanceof InvalidSourceMapError });
  }
});
port.postMessage({ ready: true });
