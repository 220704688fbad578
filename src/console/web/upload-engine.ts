/**
 * The upload protocol as the CLI runs it (docs/API.md §1–§5): init, parts in parallel with
 * retries, merge; resumable after a reload. The resume record is in localStorage (uploadId,
 * identity, the zip's fingerprint; never the key), so re-choosing the same zip or folder after a
 * reload sends only the parts the server does not have.
 */
import { api, sendPart, ServerError, UnreachableError, type Identity, type MergeResult, type WhoAmI } from './api.ts';
import { bytes, plural } from './format.ts';

const RESUME_ITEM = 'mapvault.upload';
const ATTEMPTS = 5;

export interface ResumeRecord {
  uploadId: string;
  identity: Identity;
  needCover: boolean;
  fingerprint: string;
  name: string;
  size: number;
  partSize: number;
  savedAt: number;
}

export const resumeRecord = {
  get(): ResumeRecord | null {
    try {
      return JSON.parse(localStorage.getItem(RESUME_ITEM) ?? 'null');
    } catch {
      return null;
    }
  },
  save: (r: ResumeRecord) => localStorage.setItem(RESUME_ITEM, JSON.stringify(r)),
  clear: () => localStorage.removeItem(RESUME_ITEM),
};

/** Thrown for anything refused before a byte is sent, with a sentence the user can act on. */
export class Refused extends Error {}

/** The server's limits, checked before anything is zipped or sent. */
export function checkBeforeZip(files: Array<{ file: File }>, limits: WhoAmI['limits']) {
  const total = files.reduce((n, f) => n + f.file.size, 0);
  if (files.length > limits.archiveMaxEntries) {
    throw new Refused(
      `${plural(files.length, 'file')} is more than the server accepts in one archive (${limits.archiveMaxEntries.toLocaleString('en')}, MAPVAULT_ARCHIVE_MAX_ENTRIES). Nothing was sent.`,
    );
  }
  if (total > limits.archiveMaxBytes) {
    throw new Refused(
      `These files hold ${bytes(total)}, more than the server unpacks from one archive (${bytes(limits.archiveMaxBytes)}, MAPVAULT_ARCHIVE_MAX_BYTES). Nothing was sent.`,
    );
  }
}

export function checkBeforeSend(size: number, partSize: number, who: WhoAmI, needCover: boolean) {
  const { limits, usage } = who;
  if (size === 0) throw new Refused('The zip is empty. Nothing was sent.');
  if (Math.ceil(size / partSize) > limits.maxParts) {
    throw new Refused(
      `A ${bytes(size)} zip needs more than ${limits.maxParts.toLocaleString('en')} parts of ${bytes(partSize)}. Nothing was sent.`,
    );
  }
  if (size > limits.archiveMaxBytes) {
    throw new Refused(
      `The zip is ${bytes(size)}, more than the server unpacks from one archive (${bytes(limits.archiveMaxBytes)}, MAPVAULT_ARCHIVE_MAX_BYTES). Nothing was sent.`,
    );
  }
  if (limits.quotaUploadBytes > 0 && usage.uploadBytes + size > limits.quotaUploadBytes) {
    throw new Refused(
      `The workspace's upload quota is ${bytes(limits.quotaUploadBytes)} and ${bytes(usage.uploadBytes)} are pending; this zip (${bytes(size)}) does not fit. Nothing was sent.`,
    );
  }
  if (!needCover && limits.quotaStoredBytes > 0 && usage.storedBytes + size > limits.quotaStoredBytes) {
    throw new Refused(
      `The workspace stores ${bytes(usage.storedBytes)} of its ${bytes(limits.quotaStoredBytes)} quota; this zip (${bytes(size)}) does not fit. Delete old sourcemaps first. Nothing was sent.`,
    );
  }
}

const retryable = (e: unknown) => e instanceof UnreachableError || (e instanceof ServerError && (e.status >= 500 || e.status === 429));

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(new DOMException('cancelled', 'AbortError'));
      },
      { once: true },
    );
  });

export interface UploadJob {
  identity: Identity;
  needCover: boolean;
  zip: Blob;
  name: string;
  fingerprint: string;
  partSize: number;
  concurrency: number;
  signal: AbortSignal;
  onProgress(sentBytes: number, totalBytes: number): void;
  onStatus(text: string): void;
  /** Called once the task exists, so the caller can cancel it. */
  onUploadId(uploadId: string): void;
}

export async function runUpload(job: UploadJob): Promise<{ result: MergeResult; skippedParts: number }> {
  const { zip } = job;
  const saved = resumeRecord.get();
  const same =
    saved &&
    saved.fingerprint === job.fingerprint &&
    saved.size === zip.size &&
    JSON.stringify(saved.identity) === JSON.stringify(job.identity);
  // A resumed upload keeps the part size it started with, whatever the form says now.
  const partSize = same ? saved.partSize : job.partSize;
  const count = Math.ceil(zip.size / partSize);
  const sizeOf = (i: number) => Math.min(partSize, zip.size - i * partSize);
  const have = new Set<number>();
  let uploadId = '';

  if (same) {
    try {
      const listed = await api.partList(saved.uploadId);
      // Only a part of exactly the expected size counts as sent; any other is sent again.
      for (const p of listed.parts) if (p.chunkIndex < count && p.size === sizeOf(p.chunkIndex)) have.add(p.chunkIndex);
      uploadId = saved.uploadId;
      job.onStatus(`Resuming: ${plural(have.size, 'part')} of ${count} already on the server.`);
    } catch (e) {
      if (!(e instanceof ServerError && e.errorCode === 'Upload.NotFound')) throw e;
      resumeRecord.clear(); // expired or cancelled: start over
    }
  }
  if (!uploadId) {
    const init = await api.init(job.identity, job.needCover);
    if (!init.uploadId) {
      throw new Refused('A sourcemap with this app, version and env already exists. Tick “Replace an existing sourcemap” to overwrite it.');
    }
    uploadId = init.uploadId;
    resumeRecord.save({
      uploadId,
      identity: job.identity,
      needCover: job.needCover,
      fingerprint: job.fingerprint,
      name: job.name,
      size: zip.size,
      partSize,
      savedAt: Date.now(),
    });
  }
  job.onUploadId(uploadId);

  const inFlight = new Map<number, number>();
  let doneBytes = [...have].reduce((n, i) => n + sizeOf(i), 0);
  const report = () => job.onProgress(doneBytes + [...inFlight.values()].reduce((a, b) => a + b, 0), zip.size);
  report();
  const queue = Array.from({ length: count }, (_, i) => i).filter((i) => !have.has(i));
  job.onStatus(`Sending ${plural(queue.length, 'part')}${have.size ? ` (${have.size} already sent)` : ''}…`);

  const sendOne = async (i: number) => {
    const data = zip.slice(i * partSize, i * partSize + sizeOf(i));
    for (let attempt = 1; ; attempt++) {
      try {
        await sendPart(
          uploadId,
          i,
          data,
          (sent) => {
            inFlight.set(i, sent);
            report();
          },
          job.signal,
        );
        inFlight.delete(i);
        doneBytes += data.size;
        report();
        return;
      } catch (e) {
        inFlight.delete(i);
        report();
        if (job.signal.aborted || !retryable(e) || attempt === ATTEMPTS) {
          if (e instanceof Error && !(e instanceof DOMException)) e.message = `Part ${i + 1} of ${count}: ${e.message}`;
          throw e;
        }
        job.onStatus(`Part ${i + 1} failed (${e instanceof Error ? e.message : e}); retrying (attempt ${attempt + 1} of ${ATTEMPTS})…`);
        await sleep(500 * 2 ** (attempt - 1), job.signal);
      }
    }
  };
  const workers = Array.from({ length: Math.min(job.concurrency, queue.length) }, async () => {
    for (let i = queue.shift(); i !== undefined; i = queue.shift()) await sendOne(i);
  });
  try {
    await Promise.all(workers);
  } catch (e) {
    queue.length = 0; // the other workers stop after their current part
    throw e;
  }

  job.onStatus('Merging on the server (checking and unpacking the zip)…');
  const result = await api.merge(uploadId);
  resumeRecord.clear();
  return { result, skippedParts: have.size };
}
