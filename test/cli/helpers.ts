/** Helpers for the CLI tests: run the real bin/mapvault, and a tiny HTTP proxy that watches and meddles. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/mapvault', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The environment minus anything that would configure the CLI behind the test's back. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(DF_|MAPVAULT_)|_proxy$/i.test(k)) env[k] = v;
  }
  return { ...env, ...extra };
}

export interface Spawned {
  child: ChildProcess;
  done: Promise<CliResult>;
  stdout(): string;
}

export function spawnCli(args: string[], opts: { env?: Record<string, string>; input?: string } = {}): Spawned {
  const child = spawn(process.execPath, [BIN, ...args], { env: cleanEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '',
    stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin!.end(opts.input ?? '');
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done, stdout: () => stdout };
}

export const runCli = (args: string[], opts: { env?: Record<string, string>; input?: string } = {}) => spawnCli(args, opts).done;

export interface SeenRequest {
  path: string;
  chunkIndex?: number;
}
export type Verdict = 'pass' | 'hold' | { status: number; errorCode: string };

export interface Proxy {
  url: string;
  seen: SeenRequest[];
  /** Decides, per request, to forward it, hold it forever, or answer with an error itself. */
  hook: (r: SeenRequest, nth: number) => Verdict;
  count(path: string): number;
  close(): Promise<void>;
}

/** A pass-through proxy in front of `target` that records each request's API verb and part index. */
export async function startProxy(target: string): Promise<Proxy> {
  const t = new URL(target);
  const seen: SeenRequest[] = [];
  const proxy: Proxy = {
    url: '',
    seen,
    hook: () => 'pass',
    count: (path) => seen.filter((r) => r.path === path).length,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const path = (req.url ?? '').split('?')[0]!.replace(/^.*\//, '');
      const m = /name="chunkIndex"\r\n\r\n(\d+)\r\n/.exec(body.subarray(0, 4096).toString('latin1'));
      const r: SeenRequest = m ? { path, chunkIndex: Number(m[1]) } : { path };
      seen.push(r);
      const verdict = proxy.hook(r, seen.filter((x) => x.path === path).length);
      if (verdict === 'hold') return;
      if (verdict !== 'pass') {
        res.writeHead(verdict.status, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            code: verdict.status,
            content: null,
            errorCode: verdict.errorCode,
            message: 'injected by the test proxy',
            success: false,
            traceId: 'TRACE-PROXY',
          }),
        );
        return;
      }
      const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      });
      up.on('error', () => res.destroy());
      up.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}

/** A directory of valid but incompressible-ish sourcemaps (`bytes` of random base64 in total). */
export async function bigMapsDir(bytes: number, files = 3): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mapvault-big-'));
  for (let i = 0; i < files; i++) {
    const path = join(dir, 'static/js', `chunk-${i}.js.map`);
    await mkdir(dirname(path), { recursive: true });
    const noise = randomBytes(Math.ceil((bytes / files) * 0.75)).toString('base64');
    await writeFile(path, JSON.stringify({ version: 3, sources: [`src/chunk-${i}.ts`], names: [], mappings: 'AAAA', x_noise: noise }));
  }
  return dir;
}

/** A port nothing listens on. */
export async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
