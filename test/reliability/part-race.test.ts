import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.ts';
import { createMapvault, API_PREFIX, type Mapvault } from '../../src/server.ts';
import { FsBlobStore } from '../../src/storage/fs-blob-store.ts';
import { KEY_A } from '../helpers/server.ts';

/**
 * The narrow window the catalog's putPart guards: the task is valid when the part has arrived and
 * is checked, then ends (swept as expired, or cancelled) while the part's bytes are being stored.
 * A blob store that runs the task's end inside putFile puts the race exactly there.
 */
test('a task that ends while its part is being stored: 404 Upload.NotFound, and the stored bytes are removed', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mapvault-race-'));
  const blobs = await FsBlobStore.open(join(dataDir, 'blobs'));
  const clock = { now: Date.now() };
  let mv!: Mapvault;
  let endTask: ((uploadId: string) => Promise<void>) | null = null;
  const realPutFile = blobs.putFile.bind(blobs);
  blobs.putFile = async (key, localPath) => {
    await realPutFile(key, localPath);
    const uploadId = /^uploads\/([^/]+)\//.exec(key)?.[1];
    if (uploadId && endTask) await endTask(uploadId);
  };
  mv = await createMapvault(loadConfig({ MAPVAULT_DATA_DIR: dataDir, MAPVAULT_API_KEYS: `${KEY_A}=w`, MAPVAULT_RETIRED_GRACE: '0' }), {
    logger: false,
    blobs,
    now: () => clock.now,
  });
  const api = (await mv.listen(0, '127.0.0.1')) + API_PREFIX;
  const post = async (path: string, body: unknown) => {
    const res = await fetch(api + path, {
      method: 'POST',
      headers: { 'DF-API-KEY': KEY_A, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { errorCode: string; message: string; content: { uploadId: string } } };
  };
  const sendPart = async (uploadId: string) => {
    const form = new FormData();
    form.append('uploadId', uploadId);
    form.append('chunkIndex', '0');
    form.append('files', new Blob([new Uint8Array(4096).fill(7)]), 'chunk_000000');
    const res = await fetch(`${api}/upload_part`, { method: 'POST', headers: { 'DF-API-KEY': KEY_A }, body: form });
    return { status: res.status, body: (await res.json()) as { errorCode: string; message: string } };
  };
  const blobsOf = (uploadId: string) => readdir(join(dataDir, 'blobs', 'uploads', uploadId)).catch(() => [] as string[]);
  try {
    const ends: Array<[string, (uploadId: string) => Promise<void>]> = [
      [
        'expired and swept',
        async () => {
          clock.now += 25 * 3_600_000;
          await mv.sweeper.sweep(clock.now);
        },
      ],
      [
        'cancelled',
        async (uploadId) => {
          await mv.uploads.cancel('w', uploadId);
        },
      ],
    ];
    for (const [how, end] of ends) {
      const uploadId = (await post('/multipart_upload_init', { appId: `race${ends.findIndex((e) => e[0] === how)}` })).body.content
        .uploadId;
      endTask = end;
      const r = await sendPart(uploadId);
      endTask = null;
      assert.equal(r.status, 404, how);
      assert.equal(r.body.errorCode, 'Upload.NotFound', how);
      assert.match(r.body.message, /ended while the part was being received/, `${how}: the putPart guard answered, not the earlier check`);
      assert.deepEqual(await blobsOf(uploadId), [], `${how}: no bytes left behind`);
    }
  } finally {
    await mv.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
