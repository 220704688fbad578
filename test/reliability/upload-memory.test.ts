/**
 * Issue #14, target 2: the server's peak RSS during a large upload + merge stays bounded and does
 * not follow the archive's size. A real server process receives a 128 MiB zip (one stored entry)
 * as 13 multipart parts of at most 10 MiB, 4 in flight, then merges it (concatenate, hash, extract,
 * verify the CRC, publish); VmHWM is read from /proc. The archive is larger than the bound on the
 * growth, so holding a whole archive (or every part) in memory anywhere on the path fails the test.
 * Memory only: no timing is asserted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openAsBlob } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnServer } from '../helpers/process.ts';
import { memoryMiB, postJson } from '../helpers/hostile.ts';
import { KEY_A } from '../helpers/server.ts';
import { writeRandomStoredZip } from '../helpers/stored-zip.ts';

const MiB = 1024 * 1024;
const ARCHIVE_BYTES = 128 * MiB;
const PART_BYTES = 10 * MiB;
/** docs/BENCHMARKS.md target 2: peak RSS of the server during an upload + merge. */
const PEAK_BOUND_MIB = 200;
/** What the upload + merge may add to the started server's peak: well under the archive's 128 MiB. */
const GROWTH_BOUND_MIB = 96;

test('upload + merge of a 128 MiB archive (13 parts, 4 in flight) keeps the server process under its peak-RSS bound', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'upload-memory-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const zipPath = join(dir, 'big.zip');
  const fileBytes = writeRandomStoredZip(zipPath, ARCHIVE_BYTES, 'static/big.bin');
  const s = await spawnServer(join(dir, 'data'));
  t.after(() => s.kill9());
  const pid = s.proc.pid!;
  const started = memoryMiB(pid).peak;

  const init = await postJson(s, '/multipart_upload_init', { appId: 'memory', version: '1.0.0', env: 'production' });
  assert.equal(init.status, 200, JSON.stringify(init.body));
  const uploadId = init.body.content.uploadId as string;
  const archive = await openAsBlob(zipPath);
  const indexes = Array.from({ length: Math.ceil(ARCHIVE_BYTES / PART_BYTES) }, (_, i) => i);
  // 4 parts in flight, as the Guance shell script and the CLI send them; each streamed from the file.
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let i = indexes.shift(); i !== undefined; i = indexes.shift()) {
        const form = new FormData();
        form.append('uploadId', uploadId);
        form.append('chunkIndex', String(i));
        form.append('files', archive.slice(i * PART_BYTES, Math.min(ARCHIVE_BYTES, (i + 1) * PART_BYTES)), `chunk_${i}`);
        const res = await fetch(`${s.api}/upload_part`, { method: 'POST', headers: { 'DF-API-KEY': KEY_A }, body: form });
        assert.equal(res.status, 200, await res.text());
      }
    }),
  );
  const merged = await postJson(s, '/part_merge', { uploadId });
  assert.equal(merged.status, 200, JSON.stringify(merged.body));
  assert.equal(merged.body.content.size, ARCHIVE_BYTES);
  assert.equal(merged.body.content.fileCount, 1);
  const tree = await postJson(s, '/file_tree', { appId: 'memory', version: '1.0.0', env: 'production' });
  assert.deepEqual(
    tree.body.content.files.map((f: { path: string; size: number }) => [f.path, f.size]),
    [['static/big.bin', fileBytes]],
  );

  const { peak } = memoryMiB(pid);
  t.diagnostic(`server VmHWM: ${started.toFixed(1)} MiB started, ${peak.toFixed(1)} MiB after the upload + merge`);
  assert.ok(peak <= PEAK_BOUND_MIB, `peak RSS ${peak.toFixed(1)} MiB is over ${PEAK_BOUND_MIB} MiB`);
  assert.ok(
    peak - started <= GROWTH_BOUND_MIB,
    `the upload + merge raised the peak RSS by ${(peak - started).toFixed(1)} MiB (from ${started.toFixed(1)}), more than ${GROWTH_BOUND_MIB} MiB`,
  );
});
