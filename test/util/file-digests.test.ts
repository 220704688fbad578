import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileDigester } from '../../src/util/file-digests.ts';

const expected = (b: Buffer) => ({ size: b.length, md5: createHash('md5').update(b).digest('hex'), sha256: createHash('sha256').update(b).digest('hex') });

test('FileDigester: md5 and sha256 of files (empty, sub-buffer, several MiB) equal node:crypto over the bytes, in a worker and on this thread', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'digests-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const files = [0, 1, 1024 * 1024, 1024 * 1024 + 1, 5 * 1024 * 1024 + 7].map((n, i) => {
    const bytes = randomBytes(n);
    const path = join(dir, `f${i}`);
    writeFileSync(path, bytes);
    return { path, bytes };
  });
  for (const threads of [1, 2, 0]) {
    const digester = new FileDigester(threads);
    // All at once: more jobs than workers queue and are answered in any order, each with its own file's digests.
    const got = await Promise.all(files.map((f) => digester.digest(f.path, ['md5', 'sha256'])));
    got.forEach((g, i) => assert.deepEqual(g, expected(files[i]!.bytes), `threads=${threads}, file ${i}`));
    assert.deepEqual(await digester.digest(files[4]!.path, ['sha256']), { size: files[4]!.bytes.length, sha256: expected(files[4]!.bytes).sha256 });
    await digester.close();
  }
});

test('FileDigester: a missing file rejects with the file system code, and the worker keeps serving', async () => {
  const digester = new FileDigester(1);
  await assert.rejects(digester.digest(join(tmpdir(), `absent-${process.pid}-${Date.now()}`), ['md5']), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
  const dir = mkdtempSync(join(tmpdir(), 'digests-'));
  try {
    const bytes = randomBytes(1000);
    writeFileSync(join(dir, 'x'), bytes);
    assert.deepEqual(await digester.digest(join(dir, 'x'), ['md5', 'sha256']), expected(bytes));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await digester.close();
  }
});
