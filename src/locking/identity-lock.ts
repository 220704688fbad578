import type { Identity } from '../catalog/catalog.ts';
import { ApiError } from '../errors.ts';
import { LockTimeoutError, withLock, type Locker } from './locker.ts';

/** The lock key of an identity: merges, deletes and single-file writes of one identity take turns. */
export const identityKey = (i: Identity): string => JSON.stringify([i.workspace, i.appId, i.version, i.env]);

/** Runs `work` holding the identity's lock; 409 Merge.InProgress when it is not free within the timeout. */
export async function underIdentityLock<T>(
  o: { locker: Locker; lockTimeoutMs: number },
  identity: Identity,
  work: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  try {
    return await withLock(o.locker, identityKey(identity), { timeoutMs: o.lockTimeoutMs, signal }, work);
  } catch (err) {
    if (!(err instanceof LockTimeoutError) || err.key !== identityKey(identity)) throw err;
    throw new ApiError(
      'Merge.InProgress',
      `another merge, delete or file write of appId "${identity.appId}", version "${identity.version}", env "${identity.env}" is in progress; retry when it is done`,
    );
  }
}
