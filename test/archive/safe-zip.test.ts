import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import yazl from 'yazl';
import { DEFAULT_ARCHIVE_LIMITS, extractZip, inspectZip, type ArchiveLimits, type EntrySink } from '../../src/archive/safe-zip.ts';
import { ApiError, type ErrorCode } from '../../src/errors.ts';
import { craftZip, deflated, zerosDeflate, type CraftEntry } from '../helpers/zip-craft.ts';

const MiB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'mapvault-archive-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const tmpPath = () => join(dir, `${++seq}.zip`);

function writeZip(buf: Buffer): string {
  const p = tmpPath();
  writeFileSync(p, buf);
  return p;
}

async function yazlZip(build: (zip: yazl.ZipFile) => void): Promise<string> {
  const zip = new yazl.ZipFile();
  build(zip);
  zip.end();
  const p = tmpPath();
  await pipeline(zip.outputStream, createWriteStream(p));
  return p;
}

/** Open fds of this process (Linux); used to prove the zip fd is closed by the time a call settles. */
const fdCount = () => (existsSync('/proc/self/fd') ? readdirSync('/proc/self/fd').length : 0);
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface SinkCall {
  path: string;
  declaredSize: number;
  received: number;
  data: Buffer;
  error?: unknown;
}

/** A sink shaped like the storage layer's: pipeline(body, writable), hashing on the way. */
function recordingSink(opts: { keep?: boolean } = {}) {
  const calls: SinkCall[] = [];
  const sink: EntrySink = async (path, body, declaredSize) => {
    const call: SinkCall = { path, declaredSize, received: 0, data: Buffer.alloc(0) };
    calls.push(call);
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    try {
      await pipeline(
        body,
        new Writable({
          write(chunk: Buffer, _enc, done) {
            call.received += chunk.length;
            hash.update(chunk);
            if (opts.keep !== false) chunks.push(chunk);
            done();
          },
        }),
      );
    } catch (err) {
      call.error = err;
      throw err;
    }
    call.data = Buffer.concat(chunks);
    return { size: call.received, sha256: hash.digest('hex') };
  };
  return { sink, calls };
}

async function settle<T>(p: Promise<T>): Promise<unknown> {
  return p.then(
    () => assert.fail('expected a rejection'),
    (err: unknown) => err,
  );
}

function assertApiError(err: unknown, code: ErrorCode, message: RegExp): asserts err is ApiError {
  assert.ok(err instanceof ApiError, `expected an ApiError, got ${String(err)}`);
  assert.equal(err.errorCode, code, err.message);
  assert.equal(err.status, 422);
  assert.match(err.message, message);
}

/** Extracts `zipPath` expecting `code`. Phase 1: the sink is never called and inspectZip agrees. Phase 2: phase 1 passes, extraction throws. */
async function expectRejection(
  zipPath: string,
  phase: 1 | 2,
  code: ErrorCode,
  message: RegExp,
  limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
) {
  const rec = recordingSink({ keep: false });
  const fds = fdCount();
  const err = await settle(extractZip(zipPath, limits, rec.sink));
  assert.equal(fdCount(), fds, 'the zip fd is closed when extractZip settles');
  assertApiError(err, code, message);
  if (phase === 1) {
    assert.equal(rec.calls.length, 0, 'phase-1 failures never reach the sink');
    assertApiError(await settle(inspectZip(zipPath, limits)), code, message);
  } else {
    await inspectZip(zipPath, limits); // the headers alone look fine
    assert.ok(rec.calls.length > 0, 'phase-2 failures happen while streaming');
  }
  assert.equal(fdCount(), fds, 'no fd leaked');
  return { err, calls: rec.calls };
}

const json = Buffer.from('{"version":3,"sources":[],"mappings":""}');
const file = (name: string | Buffer, extra: Partial<CraftEntry> = {}): CraftEntry => ({ name, data: json, ...extra });

// ---------------------------------------------------------------------------------------------------------------
// Happy paths

test('extracts a normal yazl archive: nested paths, stored + deflated + data-descriptor entries, directories skipped', async () => {
  const app = Buffer.from(JSON.stringify({ version: 3, file: 'app.3f2a.js', mappings: 'AAAA;'.repeat(5000) }));
  const css = Buffer.from('{"version":3,"file":"main.css","mappings":"AAAA"}');
  const vendor = Buffer.from(randomBytes(1.5 * MiB).toString('hex')); // 3 MiB, ratio ~2: multi-chunk, above the ratio floor
  const chunk = Buffer.from('{"version":3,"file":"chunk.js"}');
  const zipPath = await yazlZip((z) => {
    z.addEmptyDirectory('static/');
    z.addEmptyDirectory('static/js/');
    z.addBuffer(app, 'static/js/app.3f2a.js.map', { compress: true });
    z.addBuffer(css, 'static/css/main.css.map', { compress: false });
    z.addBuffer(vendor, 'static/js/vendor.9c1d.js.map', { compress: true });
    z.addBuffer(Buffer.alloc(0), 'empty.js.map');
    z.addReadStream(Readable.from([chunk]), 'static/js/chunk.js.map'); // sizes only in a data descriptor + central directory
  });
  const expected = [
    ['static/js/app.3f2a.js.map', app],
    ['static/css/main.css.map', css],
    ['static/js/vendor.9c1d.js.map', vendor],
    ['empty.js.map', Buffer.alloc(0)],
    ['static/js/chunk.js.map', chunk],
  ] as const;

  const rec = recordingSink();
  const fds = fdCount();
  const summary = await extractZip(zipPath, DEFAULT_ARCHIVE_LIMITS, rec.sink);
  assert.equal(fdCount(), fds, 'zip fd closed');

  assert.deepEqual(
    summary.files,
    expected.map(([path, data]) => ({ path, size: data.length, sha256: sha256(data) })),
  );
  assert.deepEqual(
    rec.calls.map((c) => [c.path, c.declaredSize]),
    expected.map(([path, data]) => [path, data.length]),
  );
  for (const [i, [, data]] of expected.entries()) assert.ok(rec.calls[i]!.data.equals(data), `content of ${expected[i]![0]}`);
  assert.equal(
    summary.totalBytes,
    expected.reduce((n, [, d]) => n + d.length, 0),
  );
  assert.equal(summary.entryCount, 7, 'entryCount counts directory entries too');

  const inspected = await inspectZip(zipPath, DEFAULT_ARCHIVE_LIMITS);
  assert.deepEqual(
    inspected.entries.map((e) => [e.path, e.size]),
    expected.map(([path, data]) => [path, data.length]),
  );
  assert.equal(inspected.entries[1]!.compressedSize, css.length, 'stored entry');
  assert.ok(inspected.entries[0]!.compressedSize < app.length / 10, 'deflated entry');
  assert.equal(inspected.totalBytes, summary.totalBytes);
  assert.equal(fdCount(), fds);
});

test('extracts hand-crafted archives too (zip64 fields, backslash separators, CP437 names, no unix mode)', async () => {
  const content = Buffer.from('zip64 content');
  const zipPath = writeZip(
    craftZip(
      [
        file('plain.map'),
        deflated('deflated.map', Buffer.from('x'.repeat(10_000))),
        { ...deflated('z64.map', content), zip64: true },
        file('win\\dir\\a.map'),
        file(Buffer.from('caf\x82.map', 'latin1')), // not UTF-8, no UTF-8 flag: CP437 0x82 is 'é'
        file('nomode.map', { mode: 0 }),
        { name: 'dir/', mode: 0o40755 },
        { name: 'dir2/', mode: 0 },
      ],
      { zip64Eocd: true },
    ),
  );
  const rec = recordingSink();
  const summary = await extractZip(zipPath, DEFAULT_ARCHIVE_LIMITS, rec.sink);
  assert.deepEqual(
    summary.files.map((f) => f.path),
    ['plain.map', 'deflated.map', 'z64.map', 'win/dir/a.map', 'café.map', 'nomode.map'],
  );
  assert.equal(summary.files[2]!.sha256, sha256(content));
  assert.equal(summary.entryCount, 8);
});

test('the ratio and size limits are configurable: a 4 MiB highly compressible entry passes with maxRatio 5000', async () => {
  const zipPath = writeZip(craftZip([deflated('big.map', Buffer.alloc(4 * MiB, 'a'))]));
  await expectRejection(zipPath, 1, 'Archive.TooLarge', /compression ratio of \d+:1.*limit is 200:1/);
  const summary = await extractZip(zipPath, { ...DEFAULT_ARCHIVE_LIMITS, maxRatio: 5000 }, recordingSink({ keep: false }).sink);
  assert.equal(summary.totalBytes, 4 * MiB);
});

// ---------------------------------------------------------------------------------------------------------------
// Phase 1: rejected from the central directory alone, before the sink is ever called

const limits = (l: Partial<ArchiveLimits>): ArchiveLimits => ({ ...DEFAULT_ARCHIVE_LIMITS, ...l });
const phase1: Array<{ title: string; zip: () => Buffer; code: ErrorCode; message: RegExp; limits?: ArchiveLimits }> = [
  // paths
  {
    title: '../ traversal',
    zip: () => craftZip([file('ok.map'), file('../evil.js.map')]),
    code: 'Archive.UnsafePath',
    message: /"\.\.\/evil\.js\.map".*'\.\.' segment/,
  },
  {
    title: 'absolute path',
    zip: () => craftZip([file('/abs.map')]),
    code: 'Archive.UnsafePath',
    message: /^Unsafe path "\/abs\.map": is absolute$/,
  },
  { title: 'backslash traversal', zip: () => craftZip([file('..\\..\\x.map')]), code: 'Archive.UnsafePath', message: /'\.\.' segment/ },
  { title: 'drive letter', zip: () => craftZip([file('C:/x.map')]), code: 'Archive.UnsafePath', message: /drive letter/ },
  {
    title: 'NUL byte in name',
    zip: () => craftZip([file('a\u0000b.map')]),
    code: 'Archive.UnsafePath',
    message: /"a\\u0000b\.map": contains a NUL byte/,
  },
  {
    title: '5000-char name',
    zip: () => craftZip([file(`${'a'.repeat(4996)}.map`)]),
    code: 'Archive.UnsafePath',
    message: /5000 bytes long; the limit is 1024/,
  },
  {
    title: 'control byte in a CP437 name',
    zip: () => craftZip([file(Buffer.from([0x82, 0x01, 0x2e, 0x6d, 0x61, 0x70]))]),
    code: 'Archive.UnsafePath',
    message: /^Unsafe path "\\x82\\x01\.map": contains control character U\+0001$/,
  },
  {
    title: 'invalid UTF-8 in a UTF-8-flagged name',
    zip: () => craftZip([file(Buffer.from([0xff, 0x61]), { flags: 0x800 })]),
    code: 'Archive.UnsafePath',
    message: /not valid UTF-8/,
  },
  // entry types
  {
    title: 'symlink',
    zip: () => craftZip([file('link.map', { mode: 0o120777, data: Buffer.from('/etc/passwd') })]),
    code: 'Archive.UnsafeEntry',
    message: /"link\.map" is a symbolic link/,
  },
  { title: 'FIFO', zip: () => craftZip([file('fifo.map', { mode: 0o010644 })]), code: 'Archive.UnsafeEntry', message: /is a FIFO/ },
  {
    title: 'character device',
    zip: () => craftZip([file('tty.map', { mode: 0o020644 })]),
    code: 'Archive.UnsafeEntry',
    message: /is a character device/,
  },
  {
    title: 'directory entry with data',
    zip: () => craftZip([{ name: 'd/', data: Buffer.from('xyz') }]),
    code: 'Archive.UnsafeEntry',
    message: /"d\/" is a directory but carries 3 bytes/,
  },
  {
    title: "directory mode on a name without '/'",
    zip: () => craftZip([file('d', { mode: 0o40755, data: Buffer.alloc(0) })]),
    code: 'Archive.UnsafeEntry',
    message: /directory mode/,
  },
  // duplicates
  {
    title: 'same name twice',
    zip: () => craftZip([file('a.map'), file('a.map')]),
    code: 'Archive.DuplicatePath',
    message: /"a\.map" and "a\.map" both extract to the same path "a\.map"/,
  },
  {
    title: './a.map vs a.map',
    zip: () => craftZip([file('./a.map'), file('a.map')]),
    code: 'Archive.DuplicatePath',
    message: /"\.\/a\.map" and "a\.map" both extract/,
  },
  {
    title: 'a\\b.map vs a/b.map',
    zip: () => craftZip([file('a\\b.map'), file('a/b.map')]),
    code: 'Archive.DuplicatePath',
    message: /both extract to the same path "a\/b\.map"/,
  },
  {
    title: 'file a, then a/b',
    zip: () => craftZip([file('a'), file('a/b')]),
    code: 'Archive.DuplicatePath',
    message: /"a\/b" needs "a" to be a directory, but entry "a" is a file/,
  },
  {
    title: 'a/b, then file a',
    zip: () => craftZip([file('a/b'), file('a')]),
    code: 'Archive.DuplicatePath',
    message: /^Entry "a" is a file, but entry "a\/b" needs "a" to be a directory$/,
  },
  {
    title: 'directory a/, then file a',
    zip: () => craftZip([{ name: 'a/' }, file('a')]),
    code: 'Archive.DuplicatePath',
    message: /^Entries "a\/" and "a" are a directory and a file at the same path "a"$/,
  },
  // sizes, counts, ratios
  {
    title: '1 GiB of zeros from ~1 MB of deflate (ratio check, nothing inflated)',
    zip: () => craftZip([{ name: 'bomb.js.map', data: zerosDeflate(1024), method: 8, uncompressedSize: 1024 * MiB, crc32: 0 }]),
    code: 'Archive.TooLarge',
    message: /"bomb\.js\.map" has a compression ratio of \d{3,}:1 \(1073741824 bytes from \d+\); the limit is 200:1/,
  },
  {
    title: 'many small entries that are each under the per-entry ratio floor (archive-wide ratio)',
    zip: () =>
      craftZip(
        Array.from({ length: 8 }, (_, i) => ({ name: `z${i}.map`, data: zerosDeflate(1), method: 8, uncompressedSize: MiB, crc32: 0 })),
      ),
    code: 'Archive.TooLarge',
    message: /Archive expands \d+:1 \(8388608 bytes from a \d+-byte file\); the limit is 200:1/,
  },
  {
    title: 'zip64 extra field declaring 8 GiB',
    zip: () =>
      craftZip([{ ...deflated('huge.map', Buffer.from('tiny')), zip64: true, uncompressedSize: 8 * 1024 * MiB }], { zip64Eocd: true }),
    code: 'Archive.TooLarge',
    message: /expands to more than 2048\.0 MiB .*"huge\.map", which declares 8589934592 bytes/,
  },
  {
    title: 'total over a configured maxTotalBytes',
    zip: () => craftZip([file('a.map', { data: Buffer.alloc(600) }), file('b.map', { data: Buffer.alloc(600) })]),
    limits: limits({ maxTotalBytes: 1000 }),
    code: 'Archive.TooLarge',
    message: /^Archive expands to more than 1000 bytes \(reached 1200 bytes at entry "b\.map", which declares 600 bytes\)$/,
  },
  {
    title: 'entries over a configured maxEntries',
    zip: () => craftZip([file('a'), file('b'), file('c')]),
    limits: limits({ maxEntries: 2 }),
    code: 'Archive.TooLarge',
    message: /has 3 entries; the limit is 2/,
  },
  {
    title: '200 000 tiny entries (rejected from the entry count before iterating)',
    zip: () => craftZip(Array.from({ length: 200_000 }, (_, i) => ({ name: `f${i}` }))),
    code: 'Archive.TooLarge',
    message: /has 200000 entries; the limit is 100000/,
  },
  {
    title: 'zip64 EOCD claiming 2^40 entries',
    zip: () => craftZip([file('a.map')], { zip64Eocd: true, entryCount: 2 ** 40 }),
    code: 'Archive.TooLarge',
    message: /has 1099511627776 entries/,
  },
  {
    title: 'zip64 EOCD claiming more entries than exist',
    zip: () => craftZip([file('a.map')], { zip64Eocd: true, entryCount: 3 }),
    code: 'Archive.Corrupt',
    message: /Entry #2 of the central directory is corrupt: invalid central directory file header signature/,
  },
  {
    title: 'zip64 EOCD pointing the central directory past EOF',
    zip: () => craftZip([file('a.map')], { zip64Eocd: true, cdOffset: 1e9 }),
    code: 'Archive.Corrupt',
    message: /Entry #1 of the central directory is corrupt: unexpected EOF/,
  },
  {
    title: 'EOCD claiming 1000 entries in a tiny file',
    zip: () => craftZip([file('a.map')], { entryCount: 1000 }),
    code: 'Archive.Corrupt',
    message: /claims 1000 entries but is only \d+ bytes long/,
  },
  // not a zip / corrupt headers
  {
    title: 'random bytes',
    zip: () => randomBytes(4096),
    code: 'Archive.Corrupt',
    message: /The archive is corrupt: End of central directory record signature not found/,
  },
  { title: 'empty file', zip: () => Buffer.alloc(0), code: 'Archive.Corrupt', message: /End of central directory/ },
  {
    title: 'truncated zip',
    zip: () => {
      const z = craftZip([file('a.map'), deflated('b.map', randomBytes(4096))]);
      return z.subarray(0, z.length - 40);
    },
    code: 'Archive.Corrupt',
    message: /End of central directory/,
  },
  {
    title: 'entry data running past the end of the file',
    zip: () => craftZip([file('x.map', { data: Buffer.from('abc'), compressedSize: 5000, uncompressedSize: 5000 })]),
    code: 'Archive.Corrupt',
    message: /"x\.map" points past the end of the archive/,
  },
  {
    title: 'stored entry whose sizes disagree',
    zip: () => craftZip([file('x.map', { uncompressedSize: 10 })]),
    code: 'Archive.Corrupt',
    message: /size mismatch for stored file/,
  },
  {
    title: 'unsupported compression method 12 (bzip2)',
    zip: () => craftZip([file('x.map', { method: 12 })]),
    code: 'Archive.Corrupt',
    message: /"x\.map" uses unsupported compression method 12 \(bzip2\)/,
  },
  // encryption
  {
    title: 'traditional encryption (flag bit 0)',
    zip: () => craftZip([deflated('secret.map', json, { flags: 0x1 })]),
    code: 'Archive.Encrypted',
    message: /"secret\.map" is encrypted/,
  },
  {
    title: 'strong encryption (flag bit 6)',
    zip: () => craftZip([deflated('secret.map', json, { flags: 0x41 })]),
    code: 'Archive.Encrypted',
    message: /encrypt/,
  },
];

for (const c of phase1) {
  test(`rejects before extracting anything: ${c.title}`, async () => {
    await expectRejection(writeZip(c.zip()), 1, c.code, c.message, c.limits);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Phase 2: headers look fine, the data does not

test('CRC mismatch: the sink sees an error instead of a clean end, and extraction throws Archive.Corrupt', async () => {
  const { calls } = await expectRejection(
    writeZip(craftZip([file('good.map'), deflated('bad.map', json, { crc32: 0xdeadbeef })])),
    2,
    'Archive.Corrupt',
    /"bad\.map" fails its CRC-32 check \(expected deadbeef, got [0-9a-f]{8}\)/,
  );
  assert.deepEqual(
    calls.map((c) => c.path),
    ['good.map', 'bad.map'],
  );
  assert.equal(calls[0]!.error, undefined);
  assert.ok(calls[1]!.error instanceof ApiError, 'the sink saw the CRC error before end, so it can discard what it wrote');
});

test('a header that lies (1000 bytes declared, 50 MiB of deflate) is aborted as soon as it overruns', async () => {
  const { calls } = await expectRejection(
    writeZip(
      craftZip([{ name: 'liar.js.map', data: zerosDeflate(50), method: 8, uncompressedSize: 1000, crc32: crc32(Buffer.alloc(1000)) }]),
    ),
    2,
    'Archive.TooLarge',
    /"liar\.js\.map" inflates to more bytes than its header declares/,
  );
  assert.ok(calls[0]!.received <= 1000, `sink received ${calls[0]!.received} bytes`);
  assert.ok(calls[0]!.error);
});

test('a zip64 extra field that lies about the size is caught while streaming', async () => {
  const { calls } = await expectRejection(
    writeZip(
      craftZip([file('ok.map'), { name: 'liar64.map', data: zerosDeflate(50), method: 8, uncompressedSize: 4096, crc32: 0, zip64: true }], {
        zip64Eocd: true,
      }),
    ),
    2,
    'Archive.TooLarge',
    /"liar64\.map" inflates to more bytes than its header declares/,
  );
  assert.ok(calls[1]!.received <= 4096);
});

test('invalid deflate data → Archive.Corrupt', async () => {
  await expectRejection(
    writeZip(craftZip([{ name: 'garbage.map', data: Buffer.from([0xff, 0xff, 0xff, 0xff]), method: 8, uncompressedSize: 100 }])),
    2,
    'Archive.Corrupt',
    /"garbage\.map" is corrupt: invalid block type/,
  );
});

test('a broken local file header is caught when the entry is opened (the sink is never called)', async () => {
  const z = craftZip([file('a.map')]);
  z.writeUInt32LE(0x12345678, 0);
  const zipPath = writeZip(z);
  await inspectZip(zipPath, DEFAULT_ARCHIVE_LIMITS); // the central directory alone is fine
  const rec = recordingSink();
  const fds = fdCount();
  assertApiError(
    await settle(extractZip(zipPath, DEFAULT_ARCHIVE_LIMITS, rec.sink)),
    'Archive.Corrupt',
    /"a\.map" is corrupt: invalid local file header signature/,
  );
  assert.equal(rec.calls.length, 0);
  assert.equal(fdCount(), fds);
});

test('an entry that inflates to less than it declares → Archive.Corrupt', async () => {
  const content = randomBytes(1000);
  await expectRejection(
    writeZip(craftZip([deflated('short.map', content, { uncompressedSize: 2000 })])),
    2,
    'Archive.Corrupt',
    /"short\.map" is (truncated|corrupt)/,
  );
});

// ---------------------------------------------------------------------------------------------------------------
// Sink contract

test('a rejecting sink: its error propagates, later entries are not processed, the fd is closed', async () => {
  const zipPath = writeZip(craftZip([file('a.map'), deflated('b.map', randomBytes(256 * 1024)), file('c.map')]));
  const seen: string[] = [];
  const diskFull = new Error('disk full');
  const sink: EntrySink = async (path, body) => {
    seen.push(path);
    if (path === 'b.map') {
      for await (const _chunk of body) throw diskFull; // reads one chunk, then fails mid-stream
    }
    for await (const _chunk of body);
    return { size: 0, sha256: '' };
  };
  const fds = fdCount();
  assert.equal(await settle(extractZip(zipPath, DEFAULT_ARCHIVE_LIMITS, sink)), diskFull);
  assert.deepEqual(seen, ['a.map', 'b.map']);
  assert.equal(fdCount(), fds);
});

test('a sink that rejects without touching the body (large stored entry) does not hang or leak', async () => {
  const zipPath = writeZip(craftZip([file('big.map', { data: randomBytes(8 * MiB) })]));
  const fds = fdCount();
  const err = await settle(
    extractZip(zipPath, DEFAULT_ARCHIVE_LIMITS, async () => {
      throw new Error('nope');
    }),
  );
  assert.match((err as Error).message, /nope/);
  assert.equal(fdCount(), fds);
});

test('a sink that resolves without consuming the body is a programming error', async () => {
  const zipPath = writeZip(craftZip([file('a.map')]));
  const err = await settle(extractZip(zipPath, DEFAULT_ARCHIVE_LIMITS, async () => ({ size: 0, sha256: '' })));
  assert.ok(!(err instanceof ApiError));
  assert.match((err as Error).message, /without consuming "a\.map"/);
});

test('a missing file is an I/O error, not an archive error', async () => {
  const err = await settle(inspectZip(join(dir, 'does-not-exist.zip'), DEFAULT_ARCHIVE_LIMITS));
  assert.equal((err as NodeJS.ErrnoException).code, 'ENOENT');
});
