/**
 * Soak test (not part of `npm test`): runs many uploads and stack resolutions at once against one
 * real server process for N minutes, then checks that RSS is flat, no file descriptor leaked, and
 * every stored sourcemap still matches its sha256s.
 *
 *   npm run soak -- --minutes 5 --workers 8
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { spawnServer } from '../test/helpers/process.ts';
import { KEY_A } from '../test/helpers/server.ts';
import { buildApp, zipDir } from '../test/helpers/fixtures.ts';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '2' }, workers: { type: 'string', default: '8' } } });
const durationMs = Number(values.minutes) * 60_000;
const workers = Number(values.workers);

const dataDir = await mkdtemp(join(tmpdir(), 'mapvault-soak-'));
const server = await spawnServer(dataDir, { LOG_LEVEL: 'warn', MAPVAULT_RETIRED_GRACE: '1s', MAPVAULT_SWEEP_INTERVAL: '2s' });
const pid = server.proc.pid!;
const headers = { 'DF-API-KEY': KEY_A };

async function call(path: string, body: unknown) {
  const res = await fetch(`${server.api}${path}`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function procStats() {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024, fds: (await readdir(`/proc/${pid}/fd`)).length };
}

// A real bundle and its map; each upload adds random padding so archives differ.
const { dist, root } = await buildApp();
const _mapText = await readFile(join(dist, 'static/js/app.js.map'), 'utf8');
const appJs = await readFile(join(dist, 'static/js/app.js'), 'utf8');
const stack = `RangeError: negative price: -2\n    at subtotal (https://cdn.example.com/static/js/app.js:1:${appJs.indexOf('throw') + 1})\n    at https://cdn.example.com/static/js/app.js:1:10`;
const expected = new Map<string, string>(); // identity → archive sha256
const counts = { uploads: 0, resolves: 0, lists: 0, deletes: 0, errors: 0 };

async function uploadOnce(version: string) {
  const zip = await zipDir(dist, { 'static/media/pad.bin': randomBytes(200_000 + Math.floor(Math.random() * 3_000_000)) });
  const init = await call('/multipart_upload_init', { appId: 'soak', version, needCover: true });
  const uploadId = init.body.content.uploadId;
  const partSize = 1024 * 1024;
  const sends = [];
  for (let i = 0; i * partSize < zip.length; i++) {
    const form = new FormData();
    form.append('uploadId', uploadId);
    form.append('chunkIndex', String(i));
    form.append('files', new Blob([new Uint8Array(zip.subarray(i * partSize, (i + 1) * partSize))]), `chunk_${i}`);
    sends.push(fetch(`${server.api}/upload_part`, { method: 'POST', headers, body: form }).then((r) => r.json()));
  }
  await Promise.all(sends);
  const merged = await call('/part_merge', { uploadId });
  if (merged.status !== 200) throw new Error(JSON.stringify(merged.body));
  expected.set(version, createHash('sha256').update(zip).digest('hex'));
  counts.uploads++;
}

/**
 * Only worker `w` writes versions `v<w>-*`, so `list` (kept answers included) must show exactly
 * what this worker last stored for them, while the other workers keep writing the same app.
 */
async function checkOwnVersionsListed(w: number) {
  const listed = await fetch(`${server.api}/list?appId=soak`, { headers }).then((r) => r.json() as Promise<any>);
  const own = new Map<string, string>(
    (listed.content as Array<{ version: string; sha256: string }>)
      .filter((sm) => sm.version.startsWith(`v${w}-`))
      .map((sm) => [sm.version, sm.sha256]),
  );
  const wanted = new Map([...expected].filter(([version]) => version.startsWith(`v${w}-`)));
  if (JSON.stringify([...own].sort()) !== JSON.stringify([...wanted].sort())) {
    throw new Error(`stale list for worker ${w}: listed ${JSON.stringify([...own])}, stored ${JSON.stringify([...wanted])}`);
  }
}

const samples: Array<Awaited<ReturnType<typeof procStats>> & { t: number }> = [];
const start = Date.now();
const sampler = setInterval(async () => samples.push({ t: Date.now() - start, ...(await procStats()) }), 5000);

await Promise.all(
  Array.from({ length: workers }, async (_, w) => {
    let n = 0;
    while (Date.now() - start < durationMs) {
      const version = `v${w}-${n++ % 3}`;
      try {
        const roll = Math.random();
        if (roll < 0.5) await uploadOnce(version);
        else if (roll < 0.88) {
          const r = await call('/parse_stack', { appId: 'soak', version, stack });
          if (r.status !== 200 && r.status !== 404) throw new Error(JSON.stringify(r.body));
          counts.resolves++;
        } else if (roll < 0.95) {
          await checkOwnVersionsListed(w);
          counts.lists++;
        } else if (expected.has(version)) {
          expected.delete(version);
          await call('/delete', { appId: 'soak', version });
          counts.deletes++;
        }
      } catch (err) {
        counts.errors++;
        console.error(`worker ${w}:`, (err as Error).message);
      }
    }
  }),
);
clearInterval(sampler);
await new Promise((r) => setTimeout(r, 3000)); // let the sweeper collect replaced trees

// Every stored sourcemap: its archive sha256 is the one uploaded, and each file matches its own sha256.
let verifiedFiles = 0;
const mismatches: string[] = [];
const listed = await fetch(`${server.api}/list?appId=soak`, { headers }).then((r) => r.json() as Promise<any>);
for (const sm of listed.content) {
  if (expected.get(sm.version) !== sm.sha256) mismatches.push(`${sm.version}: archive sha256`);
  const tree = await call('/file_tree', { appId: 'soak', version: sm.version });
  for (const f of tree.body.content.files) {
    const bytes = Buffer.from(
      await (
        await fetch(`${server.api}/file?appId=soak&version=${sm.version}&path=${encodeURIComponent(f.path)}`, { headers })
      ).arrayBuffer(),
    );
    if (createHash('sha256').update(bytes).digest('hex') !== f.sha256) mismatches.push(`${sm.version}/${f.path}`);
    verifiedFiles++;
  }
}
const final = await procStats();
const firstHalf = samples.slice(1, Math.max(2, samples.length >> 1));
const secondHalf = samples.slice(samples.length >> 1);
const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
console.log('\nsamples (t s, RSS MiB, fds):', samples.map((s) => `${Math.round(s.t / 1000)}:${s.rssMiB.toFixed(0)}/${s.fds}`).join(' '));
console.log(
  `ran ${values.minutes} min with ${workers} workers: ${counts.uploads} uploads+merges, ${counts.resolves} parse_stack, ${counts.lists} list checks, ${counts.deletes} deletes, ${counts.errors} errors`,
);
console.log(
  `RSS: first half avg ${avg(firstHalf.map((s) => s.rssMiB)).toFixed(1)} MiB, second half avg ${avg(secondHalf.map((s) => s.rssMiB)).toFixed(1)} MiB, peak (VmHWM) ${final.hwmMiB.toFixed(1)} MiB`,
);
console.log(`fds: at first sample ${samples[0]?.fds}, at the end ${final.fds}`);
console.log(
  `verified ${listed.content.length} sourcemaps, ${verifiedFiles} files: ${mismatches.length ? `MISMATCHES ${mismatches.join(', ')}` : 'all sha256 match'}`,
);
await server.kill9();
await rm(dataDir, { recursive: true, force: true });
await rm(root, { recursive: true, force: true });
const fdLeak = samples.length > 0 && final.fds > samples[0]!.fds + 5;
process.exit(mismatches.length || counts.errors || fdLeak ? 1 : 0);
