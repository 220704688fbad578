/**
 * Indexing a large ProGuard/R8 mapping at merge time in bounded memory, on a real server process:
 * a 100 MiB mapping (generated on the fly into a zip, cached in the OS temp dir, not committed) is
 * uploaded and merged while the process's peak RSS (VmHWM, reset before the merge) is watched. The
 * index is spilled to the scratch dir as it grows, so the merge's peak stays under a fixed bound
 * (measured: +39–44 MiB). Built in memory, as before, the index took ~0.7× the mapping and was
 * copied once more when finished: the same merge grew the peak by 261 MiB. Frames retraced through the stored index afterwards
 * must be right, and the scratch dir is empty once the merge is done.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream, existsSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';
import { KEY_A } from '../helpers/server.ts';
import { memoryMiB, postJson } from '../helpers/hostile.ts';

const MAPPING_BYTES = 100 * 1024 * 1024;
/** Peak RSS growth allowed during the merge (the in-memory index build needed 261 MiB here). */
const MERGE_PEAK_BUDGET_MIB = 64;
/** Generated once per test run (scripts/run-tests.mjs gives each run its own TMPDIR). */
const CACHE = join(tmpdir(), 'mapvault-test-cache');
const ZIP = join(CACHE, 'java-mapping-100m-v1.zip');
const PART_BYTES = 8 * 1024 * 1024;

/** Class c: `com.example.f<c%97>.Screen<c> -> p<c>.a`, methods m = 0..13 at lines 10m+1..10m+5. */
function* mappingText(): Generator<string> {
  yield '# compiler: R8\n# {"id":"com.android.tools.r8.mapping","version":"2.2"}\n';
  let bytes = 0;
  for (let c = 0; bytes < MAPPING_BYTES; c++) {
    const lines = [
      `com.example.f${c % 97}.Screen${c} -> p${c}.a:`,
      `# {"id":"sourceFile","fileName":"Screen${c}.kt"}`,
      `    int field${c} -> a`,
    ];
    for (let m = 0; m < 14; m++) {
      const name = String.fromCharCode(97 + (m % 5)); // overloads share obfuscated names
      lines.push(`    ${10 * m + 1}:${10 * m + 5}:void method${m}(int,java.lang.String):${100 + m}:${104 + m} -> ${name}`);
      if (m % 4 === 1)
        lines.push(
          `    ${10 * m + 6}:${10 * m + 6}:void com.example.Helpers.check(int):7:7 -> ${name}`,
          `    ${10 * m + 6}:${10 * m + 6}:void method${m}(int,java.lang.String):${105 + m} -> ${name}`,
        );
    }
    const text = `${lines.join('\n')}\n`;
    bytes += text.length;
    yield text;
  }
}

async function mappingZip(): Promise<string> {
  if (existsSync(ZIP)) return ZIP;
  await mkdir(CACHE, { recursive: true });
  const zip = new yazl.ZipFile();
  zip.addReadStream(Readable.from(mappingText()), 'shop-prod-big/mapping.txt', { compressionLevel: 1 });
  zip.end();
  const tmp = `${ZIP}.${process.pid}.tmp`;
  await pipeline(zip.outputStream as Readable, createWriteStream(tmp));
  await rename(tmp, ZIP);
  return ZIP;
}

let dataDir: string;
let s: ServerProcess;
before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mapvault-java-mem-'));
  s = await spawnServer(dataDir, { LOG_LEVEL: 'warn' });
});
after(async () => {
  await s?.kill9();
  await rm(dataDir, { recursive: true, force: true });
});

test('a 100 MiB mapping is indexed at merge in bounded memory, and its frames retrace right', async (t) => {
  const zipPath = await mappingZip();
  const id = { appId: 'shop', version: 'big', env: 'prod' };
  const init = await postJson(s, '/multipart_upload_init', { ...id, needCover: true });
  assert.equal(init.status, 200, JSON.stringify(init.body));
  const uploadId = init.body.content.uploadId as string;
  const size = (await stat(zipPath)).size;
  const fh = await open(zipPath, 'r');
  try {
    for (let i = 0, off = 0; off < size; i++, off += PART_BYTES) {
      const buf = Buffer.alloc(Math.min(PART_BYTES, size - off));
      await fh.read(buf, 0, buf.length, off);
      const form = new FormData();
      form.append('uploadId', uploadId);
      form.append('chunkIndex', String(i));
      form.append('files', new Blob([new Uint8Array(buf)]), `chunk_${i}`);
      const part = await fetch(`${s.api}/upload_part`, { method: 'POST', headers: { 'DF-API-KEY': KEY_A }, body: form });
      assert.equal(part.status, 200, await part.text());
    }
  } finally {
    await fh.close();
  }

  const pid = s.proc.pid!;
  const before = memoryMiB(pid);
  writeFileSync(`/proc/${pid}/clear_refs`, '5'); // VmHWM := current RSS, so the peak below is the merge's
  const merged = await postJson(s, '/part_merge', { uploadId });
  assert.equal(merged.status, 200, JSON.stringify(merged.body));
  assert.deepEqual(merged.body.content.warnings, []);
  const peak = memoryMiB(pid).peak;
  const grown = peak - before.rss;
  t.diagnostic(`merge peak growth ${grown.toFixed(0)} MiB (${before.rss.toFixed(0)} → ${peak.toFixed(0)})`);
  assert.ok(
    grown < MERGE_PEAK_BUDGET_MIB,
    `the merge grew peak RSS by ${grown.toFixed(0)} MiB (from ${before.rss.toFixed(0)} to ${peak.toFixed(0)} MiB); budget ${MERGE_PEAK_BUDGET_MIB} MiB`,
  );

  // The scratch dir holds only the (empty) dir of the live process: runs and index files are gone.
  const scratchRoot = join(dataDir, 'tmp');
  for (const d of await readdir(scratchRoot)) assert.deepEqual(await readdir(join(scratchRoot, d)), [], `tmp/${d}`);

  const stack = [
    'java.lang.IllegalStateException: boom',
    '\tat p0.a.a(SourceFile:3)',
    '\tat p41999.a.b(SourceFile:16)',
    '\tat p60001.a.e(SourceFile:45)',
    '\tat android.os.Looper.loop(Looper.java:223)',
  ].join('\n');
  const r = await postJson(s, '/parse_stack', { ...id, stack });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(
    r.body.content.stack,
    [
      'java.lang.IllegalStateException: boom',
      '\tat com.example.f0.Screen0.method0(Screen0.kt:102)',
      '\tat com.example.Helpers.check(Helpers.java:7)',
      '\tat com.example.f95.Screen41999.method1(Screen41999.kt:106)',
      '\tat com.example.f55.Screen60001.method4(Screen60001.kt:108)',
      '\tat android.os.Looper.loop(Looper.java:223)',
    ].join('\n'),
  );
});
