/**
 * Zips a dropped folder's files off the main thread (fflate, streaming, deflate level 6), in
 * path order with a fixed timestamp: the same files always give the same bytes, so an interrupted
 * upload of a folder can be resumed after a reload by zipping it again.
 */
import { Zip, ZipDeflate } from 'fflate';

export interface ZipRequest {
  files: Array<{ path: string; file: File }>;
}
export type ZipMessage =
  | { type: 'progress'; doneBytes: number; totalBytes: number }
  | { type: 'done'; zip: Blob }
  | { type: 'error'; message: string };

const FIXED_MTIME = new Date(Date.UTC(2000, 0, 1));
/** The worker's global, typed without the webworker lib (which clashes with the page's DOM lib). */
const scope = self as unknown as { postMessage(m: ZipMessage): void; onmessage: ((e: MessageEvent<ZipRequest>) => void) | null };

scope.onmessage = async (e: MessageEvent<ZipRequest>) => {
  try {
    const files = e.data.files.slice().sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const totalBytes = files.reduce((n, f) => n + f.file.size, 0);
    const chunks: Uint8Array[] = [];
    let failure: Error | null = null;
    const finished = new Promise<void>((resolve, reject) => {
      const zip = new Zip((err, chunk, final) => {
        if (err) return reject(err);
        chunks.push(chunk);
        if (final) resolve();
      });
      (async () => {
        let doneBytes = 0;
        for (const { path, file } of files) {
          const entry = new ZipDeflate(path, { level: 6 });
          entry.mtime = FIXED_MTIME;
          zip.add(entry);
          const reader = file.stream().getReader();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            entry.push(value);
            doneBytes += value.length;
            scope.postMessage({ type: 'progress', doneBytes, totalBytes } satisfies ZipMessage);
          }
          entry.push(new Uint8Array(0), true);
        }
        zip.end();
      })().catch((err: Error) => {
        failure = err;
        reject(err);
      });
    });
    await finished;
    if (failure) throw failure;
    scope.postMessage({ type: 'done', zip: new Blob(chunks as BlobPart[], { type: 'application/zip' }) } satisfies ZipMessage);
  } catch (err) {
    scope.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) } satisfies ZipMessage);
  }
};
