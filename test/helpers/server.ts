import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config.ts';
import { createMapvault, API_PREFIX, type Mapvault } from '../../src/server.ts';
import { OpenApiChecker } from './openapi-check.ts';
import type { Locker } from '../../src/locking/locker.ts';

export const KEY_A = 'test-key-workspace-a';
export const KEY_B = 'test-key-workspace-b';

export interface TestServer {
  url: string;
  api: string;
  dataDir: string;
  mv: Mapvault;
  config: Config;
  clock: { now: number };
  /** POSTs JSON with a key (KEY_A unless given) and returns status + envelope. */
  post(path: string, body: unknown, key?: string | null): Promise<{ status: number; body: any; headers: Headers }>;
  get(path: string, key?: string | null): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

/**
 * A real server on a random loopback port, with its own data dir, two workspaces (a, b) and
 * an injectable clock (`clock.now`; real time when left at 0).
 */
export async function startServer(env: Record<string, string> = {}, opts: { dataDir?: string; locker?: Locker } = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'mapvault-test-')));
  const config = loadConfig({
    MAPVAULT_DATA_DIR: dataDir,
    MAPVAULT_API_KEYS: `${KEY_A}=workspace-a,${KEY_B}=workspace-b`,
    MAPVAULT_RETIRED_GRACE: '0',
    ...env,
  });
  const clock = { now: 0 };
  const mv = await createMapvault(config, { logger: false, now: () => clock.now || Date.now(), locker: opts.locker });
  const url = await mv.listen(0, '127.0.0.1');
  const api = url + API_PREFIX;
  const openapi = new OpenApiChecker(url);
  const request = async (method: string, path: string, body: unknown, key: string | null | undefined) => {
    const headers: Record<string, string> = {};
    if (key !== null) headers['DF-API-KEY'] = key ?? KEY_A;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const target = new URL(path.startsWith('http') ? path : api + path);
    const res = await fetch(target, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* raw file */
    }
    // Every JSON answer is checked against the API document the server publishes.
    if (res.headers.get('content-type')?.startsWith('application/json') && typeof parsed === 'object') {
      await openapi.check(method, target.pathname, res.status, parsed);
    }
    return { status: res.status, body: parsed as any, headers: res.headers };
  };
  return {
    url,
    api,
    dataDir,
    mv,
    config,
    clock,
    post: (path, body, key) => request('POST', path, body, key),
    get: (path, key) => request('GET', path, undefined, key),
    async close() {
      await mv.close();
      if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Sends one part as multipart/form-data in the public clients' field order. */
export async function uploadPart(
  s: TestServer,
  uploadId: string,
  chunkIndex: number | string,
  data: Buffer,
  extra: Record<string, string> = {},
  key: string = KEY_A,
) {
  const form = new FormData();
  form.append('uploadId', uploadId);
  form.append('chunkIndex', String(chunkIndex));
  for (const [k, v] of Object.entries(extra)) form.append(k, v);
  form.append('files', new Blob([new Uint8Array(data)]), `chunk_${String(chunkIndex).padStart(6, '0')}`);
  const res = await fetch(`${s.api}/upload_part`, { method: 'POST', headers: { 'DF-API-KEY': key }, body: form });
  return { status: res.status, body: (await res.json()) as any };
}

/** init → parts → merge; returns the merge answer. */
export async function uploadZip(
  s: TestServer,
  zip: Buffer,
  identity: { appId: string; version?: string; env?: string; needCover?: boolean },
  opts: { partSize?: number; key?: string } = {},
) {
  const init = await s.post('/multipart_upload_init', identity, opts.key);
  if (init.status !== 200 || !init.body.content.uploadId) return init;
  const uploadId = init.body.content.uploadId as string;
  const partSize = opts.partSize ?? 1024 * 1024;
  for (let i = 0, off = 0; off < zip.length; i++, off += partSize) {
    const r = await uploadPart(s, uploadId, i, zip.subarray(off, off + partSize), {}, opts.key);
    if (r.status !== 200) throw new Error(`part ${i}: ${JSON.stringify(r.body)}`);
  }
  return s.post('/part_merge', { uploadId }, opts.key);
}

/** A stored blob's bytes, read through the server's own store (null when absent). */
export async function blobBytes(s: TestServer, key: string): Promise<Buffer | null> {
  const body = await s.mv.blobs.get(key);
  if (!body) return null;
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
