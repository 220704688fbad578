/**
 * Resume state for `upload`: one small JSON file per upload task, named after a hash of what makes
 * two runs "the same upload" (endpoint, identity, the zip's sha256 and the part size). Re-running
 * the same command finds it and continues that task; any change of input gets another file, so a
 * fresh upload.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface UploadState {
  uploadId: string;
  endpoint: string;
  appId: string;
  version: string;
  env: string;
  zipSha256: string;
  size: number;
  partSize: number;
  needCover: boolean;
  createdAt: string;
}

export type StateKey = Pick<UploadState, 'endpoint' | 'appId' | 'version' | 'env' | 'zipSha256' | 'partSize'>;

export function defaultStateDir(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'mapvault');
}

export function statePath(dir: string, key: StateKey): string {
  const id = createHash('sha256')
    .update(JSON.stringify([key.endpoint, key.appId, key.version, key.env, key.zipSha256, key.partSize]))
    .digest('hex')
    .slice(0, 32);
  return join(dir, `upload-${id}.json`);
}

export async function loadState(path: string): Promise<UploadState | null> {
  try {
    const s = JSON.parse(await readFile(path, 'utf8')) as UploadState;
    return typeof s.uploadId === 'string' && s.uploadId ? s : null;
  } catch {
    return null; // absent or unreadable (e.g. cut off by a crash): start afresh
  }
}

/** Written to a temp name and renamed, so a kill never leaves half a file. */
export async function saveState(path: string, state: UploadState): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

export async function removeState(path: string): Promise<void> {
  await rm(path, { force: true });
}
