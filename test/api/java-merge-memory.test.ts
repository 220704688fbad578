/**
 * Indexing a large ProGuard/R8 mapping at merge time in bounded memory, on a real server process:
 * mappings of 32 and 128 MiB (generated on the fly into zips, cached in the run's temp dir, not
 * committed) are merged one after the other while the process's peak RSS (VmHWM, reset before each
 * merge) is watched. The index is spilled to the scratch dir as it grows, so the merge's peak does
 * not grow with the mapping: four times the bytes may add at most GROWTH_SLOPE_BUDGET_MIB. Built in
 * memory, as before, the index took ~0.7x the mapping, outside the V8 heap, and was copied once more
 * when finished (a 100 MiB merge grew the peak by 261 MiB): here that is ~70 MiB more for the 128 MiB
 * mapping than for the 32 MiB one at the least.
 *
 * The server runs with a fixed V8 heap (--max-old-space-size, --max-semi-space-size): without one,
 * Node 22+ (V8 12+) lets its heap grow with the work before collecting (measured on Node 24: +59,
 * +127 and +189 MiB for 25, 100 and 200 MiB mappings, yet +92 MiB for both 200 and 400 MiB once the
 * heap is bounded), which says how lazy the collector is, not what the merge keeps. The index
 * buffers the old builder kept are outside the V8 heap, so the bound does not hide them.
 * Frames retraced through the stored index afterwards must be right, and the scratch dir is empty
 * once the merges are done.
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

const MiB = 1024 * 1024;
const SMALL_MAPPING_BYTES = 32 * MiB;
const BIG_MAPPING_BYTES = 128 * MiB;
/** How much more the 128 MiB merge may grow the peak than the 32 MiB one (the in-memory build: ~70 MiB more at the least). */
const GROWTH_SLOPE_BUDGET_MIB = 40;
/** A fixed V8 heap for the server, so the figures measure the merge and not the collector's appetite. */
const SERVER_NODE_OPTIONS = '--max-old-space-size=128 --max-semi-space-size=8';
/** Generated once per test run (scripts/run-tests.mjs gives each run its own TMPDIR). */
const CACHE = join(tmpdir(), 'mapvault-test-cache');
const PART_BYTES = 8 * 1024 * 1024;

/** Class c: `com.example.f<c%97>.Screen<c> -> p<c>.a`, methods m = 0..13 at lines 10m+1..10m+5. */
function* mappingText(mappingBytes: number): Generator<string> {
  yield '# compiler: R8\n# {"id":"com.android.tools.r8.mapping","version":"2.2"}\n';
  let bytes = 0;
  for (let c = 0; bytes < mappingBytes; c++) {
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

async function mappingZip(mappingBytes: number): Promise<string> {
  const path = join(CACHE, `java-mapping-${mappingBytes / MiB}m-v1.zip`);
  if (existsSync(path)) return path;
  await mkdir(CACHE, { recursive: true });
  const zip = new yazl.ZipFile();
  zip.addReadStream(Readable.from(mappingText(mappingBytes)), 'shop-prod-big/mapping.txt', { compressionLevel: 1 });
  zip.end();
  const tmp = `${path}.${process.pid}.tmp`;
  await pipeline(zip.outputStream as Readable, createWriteStream(tmp));
  await rename(tmp, path);
  return path;
}

let dataDir: string;
let s: ServerProcess;
before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mapvault-java-mem-'));
  s = await spawnServer(dataDir, { LOG_LEVEL: 'warn', NODE_OPTIONS: SERVER_NODE_OPTIONS });
});
after(async () => {
  await s?.kill9();
  await rm(dataDir, { recursive: true, force: true });
});

/** Uploads `zipPath` as `id` and merges it; returns how much the merge grew the peak RSS (MiB). */
async function uploadAndMerge(zipPath: string, id: { appId: string; version: string; env: string }): Promise<number> {
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
  const pid = s.proc.pid ?? 0;
  const before = memoryMiB(pid);
  writeFileSync(`/proc/${pid}/clear_refs`, '5'); // VmHWM := current RSS, so the peak below is the merge's
  const merged = await postJson(s, '/part_merge', { uploadId });
  assert.equal(merged.status, 200, JSON.stringify(merged.body));
  assert.deepEqual(merged.body.content.warnings, []);
  return memoryMiB(pid).peak - before.rss;
}

test('mappings of 32 and 128 MiB are indexed at merge in the same bounded memory, and their frames retrace right', async (t) => {
  const small = await uploadAndMerge(await mappingZip(SMALL_MAPPING_BYTES), { appId: 'shop', version: 'small', env: 'prod' });
  const id = { appId: 'shop', version: 'big', env: 'prod' };
  const big = await uploadAndMerge(await mappingZip(BIG_MAPPING_BYTES), id);
  t.diagnostic(`merge peak growth: ${small.toFixed(0)} MiB for 32 MiB, ${big.toFixed(0)} MiB for 128 MiB`);
  assert.ok(
    big - small < GROWTH_SLOPE_BUDGET_MIB,
    `four times the mapping grew the merge's peak by ${(big - small).toFixed(0)} MiB more (${small.toFixed(0)} → ${big.toFixed(0)} MiB); budget ${GROWTH_SLOPE_BUDGET_MIB} MiB`,
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
