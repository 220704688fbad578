import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../cli/helpers.ts';
import { spawnServer } from '../helpers/process.ts';
import { KEY_A } from '../helpers/server.ts';

const keys = (dataDir: string, args: string[], env: Record<string, string> = {}) =>
  runCli(['keys', ...args], { env: { MAPVAULT_DATA_DIR: dataDir, ...env } });

async function init(api: string, key: string): Promise<number> {
  const res = await fetch(`${api}/multipart_upload_init`, {
    method: 'POST',
    headers: { 'DF-API-KEY': key, 'content-type': 'application/json' },
    body: '{"appId":"k"}',
  });
  await res.arrayBuffer();
  return res.status;
}

interface Listed {
  id: string;
  workspace: string;
  source: string;
  createdAt: number;
  lastUsedAt: number | null;
}
const list = async (dataDir: string): Promise<Listed[]> => {
  const r = await keys(dataDir, ['list', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Listed[];
};

test('keys create on a fresh data dir makes exactly one key, and the first start then makes none', async () => {
  const dataDir = join(await mkdtemp(join(tmpdir(), 'mapvault-keys-')), 'data');
  const created = await keys(dataDir, ['create', '--workspace', 'team-web']);
  assert.equal(created.code, 0, created.stderr);
  const key = created.stdout.trim();
  const listed = await list(dataDir);
  assert.deepEqual(
    listed.map((k) => [k.workspace, k.source, k.lastUsedAt]),
    [['team-web', 'cli', null]],
  );
  assert.doesNotMatch(JSON.stringify(listed), new RegExp(key), 'the key itself is never listed');

  const server = await spawnServer(dataDir, { MAPVAULT_API_KEYS: '' });
  try {
    assert.equal(await init(server.api, key), 200);
    assert.equal((await list(dataDir)).length, 1, 'no hidden first-start key');
    const [k] = await list(dataDir);
    assert.ok(k!.lastUsedAt !== null && k!.lastUsedAt > 0, 'last use recorded');
    const table = await keys(dataDir, ['list']);
    assert.match(
      table.stdout,
      /^ID +WORKSPACE +SOURCE +CREATED \(UTC\) +LAST USED \(UTC\)\n[0-9a-f]{12} +team-web +cli +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +\d{4}-/,
    );
  } finally {
    await server.kill9();
  }
});

test('keys revoke and rotate act on a running server at once; env keys are refused; bad ids are one line', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mapvault-keys-'));
  const server = await spawnServer(dataDir);
  try {
    const a = (await keys(dataDir, ['create', '--workspace', 'alpha'])).stdout.trim();
    const b = (await keys(dataDir, ['create', '--workspace', 'beta'])).stdout.trim();
    assert.equal(await init(server.api, a), 200);
    assert.equal(await init(server.api, b), 200);
    const byWorkspace = async (w: string) => (await list(dataDir)).find((k) => k.workspace === w)!;
    // a and b were just accepted, so the server now remembers their HMACs (ApiKeys.digests): the
    // 403s below show it still asks the catalog on every request.

    const revoke = await keys(dataDir, ['revoke', (await byWorkspace('alpha')).id.slice(0, 8)]);
    assert.equal(revoke.code, 0, revoke.stderr);
    assert.match(revoke.stderr, /^revoked key [0-9a-f]{12} of workspace "alpha"\n$/);
    assert.equal(await init(server.api, a), 403, 'a revoked key stops working at once');

    const oldId = (await byWorkspace('beta')).id;
    const rotate = await keys(dataDir, ['rotate', oldId]);
    assert.equal(rotate.code, 0, rotate.stderr);
    const b2 = rotate.stdout.trim();
    assert.match(b2, /^mv_/);
    assert.notEqual(b2, b);
    assert.equal(await init(server.api, b2), 200);
    assert.equal(await init(server.api, b), 403);
    assert.notEqual((await byWorkspace('beta')).id, oldId);

    const envKey = (await list(dataDir)).find((k) => k.source === 'env')!;
    const refused = await keys(dataDir, ['revoke', envKey.id]);
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr, `mapvault: key ${envKey.id} comes from MAPVAULT_API_KEYS: remove it there and restart the server\n`);
    assert.equal(await init(server.api, KEY_A), 200);

    for (const [id, message] of [
      ['zz', /is not a key id/],
      ['abcdef', /no key has id abcdef/],
    ] as const) {
      const r = await keys(dataDir, ['revoke', id]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.split('\n').length, 2, 'one line');
    }
  } finally {
    await server.kill9();
  }
});

test('keys create touches only the key store: the running server keeps its env keys and its scratch files', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mapvault-keys-'));
  const server = await spawnServer(dataDir);
  try {
    assert.equal(await init(server.api, KEY_A), 200);
    // Something a merge in progress would have in the scratch dir, which startup recovery would wipe.
    await mkdir(join(dataDir, 'tmp'), { recursive: true });
    await writeFile(join(dataDir, 'tmp', 'merge-in-progress.zip'), 'bytes');
    const before = await readdir(dataDir);
    const scratchBefore = await readdir(join(dataDir, 'tmp'));
    // The operator's shell has no (or other) MAPVAULT_API_KEYS: they must not be synced into the server's store.
    for (const env of [{}, { MAPVAULT_API_KEYS: 'other-key=elsewhere' }] as Array<Record<string, string>>) {
      const r = await keys(dataDir, ['create', '--workspace', 'ops'], env);
      assert.equal(r.code, 0, r.stderr);
    }
    assert.equal(await init(server.api, KEY_A), 200, "the server's env keys still work");
    assert.equal(await init(server.api, 'other-key'), 403, "the shell's keys were not added");
    assert.deepEqual((await readdir(join(dataDir, 'tmp'))).sort(), scratchBefore.sort());
    assert.ok(scratchBefore.includes('merge-in-progress.zip'));
    assert.deepEqual((await readdir(dataDir)).sort(), before.sort(), 'nothing else created or removed');
  } finally {
    await server.kill9();
  }
});
