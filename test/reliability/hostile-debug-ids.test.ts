/**
 * Debug IDs under load, against a real server process: a request giving 1 000 frames each with
 * its own debug ID (a third stored, in another version and under other paths; the rest unknown)
 * costs one index lookup per ID and keeps /healthz answering within the resolver's budget.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';
import { zipEntries } from '../helpers/fixtures.ts';
import { postJson, underHealthWatch, uploadZipTo } from '../helpers/hostile.ts';

const HEALTH_BUDGET_MS = 200;
const uuid = (i: number) => `${i.toString(16).padStart(8, '0')}-0000-4000-8000-${(i * 7919).toString(16).padStart(12, '0')}`;

let dataDir: string;
let s: ServerProcess;
before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mapvault-hostile-debugids-'));
  s = await spawnServer(dataDir, { LOG_LEVEL: 'warn' });
  const files: Record<string, string> = {};
  for (let i = 0; i < 300; i++)
    files[`build/m${i}.js.map`] = `{"version":3,"sources":["a${i}.ts"],"names":[],"mappings":"AAAA","debugId":"${uuid(i)}"}`;
  await uploadZipTo(s, await zipEntries(files), { appId: 'ids', version: 'stored' });
});
after(async () => {
  await s.kill9();
  await rm(dataDir, { recursive: true, force: true });
});

test('1 000 frames with 1 000 distinct debug IDs: resolved through the index where stored, the rest fall back, /healthz keeps answering', async () => {
  const frames = Array.from({ length: 1000 }, (_, i) => ({ url: `https://x.example/v9/${i}/s${i}.js`, line: 1, column: 1 }));
  const debugIds = Object.fromEntries(frames.map((f, i) => [f.url, uuid(i)]));
  const { result: r, health } = await underHealthWatch(s, () =>
    postJson(s, '/parse_stack', { appId: 'ids', version: 'other', frames, debugIds }),
  );
  assert.ok(health.worstCpuMs < HEALTH_BUDGET_MS, `a /healthz ping waited while the event loop used ${health.worstCpuMs} ms of CPU`);
  assert.equal(r.status, 200, JSON.stringify(r.body).slice(0, 500));
  const got = r.body.content.frames as Array<{
    resolved: boolean;
    source: string;
    match: { by: string; debugId: string; tried?: string[] };
  }>;
  for (let i = 0; i < 1000; i++) {
    if (i < 300) {
      assert.equal(got[i]!.source, `a${i}.ts`, JSON.stringify(got[i]));
      assert.equal(got[i]!.match.by, 'debugId');
    } else {
      assert.equal(got[i]!.resolved, false);
      assert.deepEqual(got[i]!.match.tried, [`debug ID ${uuid(i)}`, `v9/${i}/s${i}.js.map`]);
    }
  }
});
