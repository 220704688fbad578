import { mkdtemp, readdir, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FsBlobStore } from '../../src/storage/fs-blob-store.ts';
import { blobStoreContract } from './blob-store.contract.ts';

blobStoreContract('FsBlobStore', async () => FsBlobStore.open(await mkdtemp(join(tmpdir(), 'mapvault-blobs-'))));

test('FsBlobStore: opening removes temp files left by a crash', async () => {
  const root = await mkdtemp(join(tmpdir(), 'mapvault-blobs-'));
  await mkdir(join(root, '.tmp'), { recursive: true });
  await writeFile(join(root, '.tmp', 'half-written'), 'x');
  await FsBlobStore.open(root);
  assert.deepEqual(await readdir(join(root, '.tmp')), []);
});
