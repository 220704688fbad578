import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { FileDigester } from '../../src/util/file-digests.ts';
import { writeStreamToFile } from '../../src/storage/write-file.ts';

const expected = (b: Buffer) => ({
  size: b.length,
  md5: createHash('md5').update(b).digest('hex'),
  sha256: createHash('sha256').update(b).digest('hex'),
});

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
    assert.deepEqual(await digester.digest(files[4]!.path, ['sha256']), {
      size: files[4]!.bytes.length,
      sha256: expected(files[4]!.bytes).sha256,
    });
    await digester.close();
  }
});

test('FileDigester: several files are hashed as their concatenation, in order (an archive stored as its parts), in a worker and on this thread', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'digests-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Sizes around the worker's 1 MiB read, and an empty part in the middle.
  const parts = [1024 * 1024 - 3, 0, 17, 2 * 1024 * 1024 + 5].map((n, i) => {
    const bytes = randomBytes(n);
    const path = join(dir, `p${i}`);
    writeFileSync(path, bytes);
    return { path, bytes };
  });
  const whole = Buffer.concat(parts.map((p) => p.bytes));
  for (const threads of [1, 0]) {
    const digester = new FileDigester(threads);
    const paths = parts.map((p) => p.path);
    assert.deepEqual(await digester.digest(paths, ['md5', 'sha256']), expected(whole), `threads=${threads}`);
    assert.deepEqual(await digester.digest([...paths].reverse(), ['sha256']), {
      size: whole.length,
      sha256: expected(Buffer.concat(parts.map((p) => p.bytes).reverse())).sha256,
    });
    await assert.rejects(digester.digest([paths[0]!, join(dir, 'absent')], ['sha256']), { code: 'ENOENT' });
    await digester.close();
  }
});

test('FileDigester: a missing file rejects with the file system code, and the worker keeps serving', async () => {
  const digester = new FileDigester(1);
  await assert.rejects(
    digester.digest(join(tmpdir(), `absent-${process.pid}-${Date.now()}`), ['md5']),
    (e: NodeJS.ErrnoException) => e.code === 'ENOENT',
  );
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

/** Writes `bytes` to `path` in uneven chunks through writeStreamToFile, reporting progress to `follower`. */
async function writeFollowed(path: string, bytes: Buffer, follower: { written(n: number): void }) {
  async function* chunks() {
    for (let at = 0; at < bytes.length; ) {
      const n = Math.min(bytes.length - at, 1 + ((at * 7919) % (300 * 1024)));
      yield bytes.subarray(at, at + n);
      at += n;
      await new Promise((r) => setImmediate(r)); // let the worker read while the rest is still to come
    }
  }
  return writeStreamToFile(Readable.from(chunks()), path, { md5: false, sha256: false, onWritten: (n) => follower.written(n) });
}

test('FileDigester.follow: files hashed while they are written (several at once, beside a whole-file digest) equal node:crypto, in a worker and on this thread', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'digests-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sizes = [0, 100, 1024 * 1024, 3 * 1024 * 1024 + 5, 6 * 1024 * 1024 - 1];
  for (const threads of [1, 2, 0]) {
    const digester = new FileDigester(threads);
    const whole = randomBytes(2 * 1024 * 1024 + 3);
    writeFileSync(join(dir, `whole-${threads}`), whole);
    const runs = sizes.map(async (n, i) => {
      const bytes = randomBytes(n);
      const path = join(dir, `t${threads}-f${i}`);
      const follower = digester.follow(path, ['md5', 'sha256']);
      const written = await writeFollowed(path, bytes, follower);
      assert.equal(written.size, n);
      assert.deepEqual(await follower.finish(written.size), expected(bytes), `threads=${threads}, file ${i} (${n} bytes)`);
    });
    const [wholeDigest] = await Promise.all([digester.digest(join(dir, `whole-${threads}`), ['md5', 'sha256']), ...runs]);
    assert.deepEqual(wholeDigest, expected(whole));
    await digester.close();
  }
});

test('FileDigester.follow: a size beyond the bytes on disk rejects, a cancelled follow is dropped, and the worker keeps serving', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'digests-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const digester = new FileDigester(1);
  t.after(() => digester.close());
  const bytes = randomBytes(3 * 1024 * 1024);
  const short = digester.follow(join(dir, 'short'), ['sha256']);
  const written = await writeFollowed(join(dir, 'short'), bytes, short);
  await assert.rejects(short.finish(written.size + 10), (e: NodeJS.ErrnoException) => e.code === 'ESHORT');

  const abandoned = digester.follow(join(dir, 'abandoned'), ['md5']);
  await writeFollowed(join(dir, 'abandoned'), bytes, abandoned);
  abandoned.cancel();

  const next = digester.follow(join(dir, 'next'), ['md5', 'sha256']);
  const w = await writeFollowed(join(dir, 'next'), bytes, next);
  assert.deepEqual(await next.finish(w.size), expected(bytes));
});
