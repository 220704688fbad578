import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';
import { KEY_A, KEY_B } from '../helpers/server.ts';
import { S3BlobStore } from '../../src/storage/s3/s3-blob-store.ts';
import { parseS3Url } from '../../src/storage/s3/s3-url.ts';

/** `s3url` with its own prefix inside the same bucket. */
export function s3UrlWithPrefix(s3url: string, prefix: string): string {
  const u = new URL(s3url);
  return `s3://${u.host}/${prefix}${u.search}`;
}

/** A fresh database on the test PostgreSQL server (its role may create databases), by psql. */
export async function freshDatabase(pgUrl: string): Promise<string> {
  const name = `mapvault_${randomBytes(6).toString('hex')}`;
  const child = spawn('psql', [pgUrl, '-Atqc', `CREATE DATABASE ${name}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (c) => (err += c));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0) throw new Error(`psql could not create a database: ${err}`);
  const u = new URL(pgUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

export interface Cluster {
  /** The environment every node shares: one catalog, one bucket prefix, one key pepper. */
  env: Record<string, string>;
  nodes: ServerProcess[];
  /** The bucket prefix the nodes write to, for looking at what is stored. */
  blobs: S3BlobStore;
  /** Starts one more node on the shared services (its own data dir, for scratch only). */
  addNode(): Promise<ServerProcess>;
  close(): Promise<void>;
}

/** `n` real `mapvault serve` processes on one fresh PostgreSQL database and one fresh S3 prefix. */
export async function startCluster(
  n: number,
  services: { pgUrl: string; s3Url: string },
  extraEnv: Record<string, string> = {},
): Promise<Cluster> {
  const prefix = `cluster-${randomBytes(6).toString('hex')}/`;
  const env = {
    MAPVAULT_CATALOG_URL: await freshDatabase(services.pgUrl),
    MAPVAULT_BLOB_URL: s3UrlWithPrefix(services.s3Url, prefix),
    MAPVAULT_KEY_PEPPER: randomBytes(32).toString('hex'),
    // Configured keys are synced into the shared catalog at every start: every node gets the same list.
    MAPVAULT_API_KEYS: `${KEY_A}=workspace-a,${KEY_B}=workspace-b`,
    ...extraEnv,
  };
  const nodes: ServerProcess[] = [];
  const addNode = async () => {
    const node = await spawnServer(await mkdtemp(join(tmpdir(), 'mapvault-node-')), env);
    nodes.push(node);
    return node;
  };
  // One after the other: the first creates the schema, the others find it.
  for (let i = 0; i < n; i++) await addNode();
  const blobs = await S3BlobStore.open({ ...parseS3Url(services.s3Url), prefix });
  return {
    env,
    nodes,
    blobs,
    addNode,
    async close() {
      await Promise.all(nodes.map((node) => node.kill9()));
      blobs.close();
    },
  };
}

export interface Answer {
  status: number;
  body: any;
  text: string;
}

/** One API call to one node. */
export async function call(
  node: ServerProcess,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  key: string = KEY_A,
): Promise<Answer> {
  const res = await fetch(node.api + path, {
    method,
    headers: { 'DF-API-KEY': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* a raw file */
  }
  return { status: res.status, body: parsed, text };
}

export async function sendPart(node: ServerProcess, uploadId: string, index: number, data: Buffer, key: string = KEY_A): Promise<Answer> {
  const form = new FormData();
  form.append('uploadId', uploadId);
  form.append('chunkIndex', String(index));
  form.append('files', new Blob([new Uint8Array(data)]), `chunk_${String(index).padStart(6, '0')}`);
  const res = await fetch(`${node.api}/upload_part`, { method: 'POST', headers: { 'DF-API-KEY': key }, body: form });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text), text };
}

/** Splits `zip` into `count` parts. */
export function split(zip: Buffer, count: number): Buffer[] {
  const size = Math.ceil(zip.length / count);
  return Array.from({ length: count }, (_, i) => zip.subarray(i * size, (i + 1) * size)).filter((p) => p.length > 0);
}
