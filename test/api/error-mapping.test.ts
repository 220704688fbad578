import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toApiError } from '../../src/api/errors.ts';

const sysError = (code: string) => Object.assign(new Error(`${code}: from the system`), { code, syscall: 'write' });

// ENOSPC is also produced for real in test/reliability/disk-full.test.ts; EDQUOT (a filesystem
// quota) and descriptor exhaustion cannot be set up safely inside a test, so their mapping is pinned here.
test('system errors that are not bugs map to stable codes, with Retry-After', () => {
  for (const code of ['ENOSPC', 'EDQUOT', 'SQLITE_FULL']) {
    const e = toApiError(sysError(code));
    assert.deepEqual([e.status, e.errorCode, e.retryAfterSeconds], [507, 'Storage.Full', 60], code);
  }
  for (const code of ['EMFILE', 'ENFILE']) {
    const e = toApiError(sysError(code));
    assert.deepEqual([e.status, e.errorCode, e.retryAfterSeconds], [503, 'Server.Busy', 5], code);
  }
  assert.deepEqual(
    [toApiError(sysError('EIO')).status, toApiError(sysError('EIO')).errorCode],
    [500, 'Server.Internal'],
    'a real I/O error stays a 500',
  );
});
