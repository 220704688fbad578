/**
 * A transport-only client for the Guance-compatible sourcemap API: it sends one request, parses
 * the `{code, content, errorCode, message, success, traceId}` envelope, turns failures into
 * ApiError/NetworkError, and retries what is worth retrying. It knows no endpoint semantics.
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

export const API_BASE = '/api/v1/rum_sourcemap';

export interface Envelope<T = unknown> {
  code: number;
  content: T;
  errorCode: string;
  message: string;
  success: boolean;
  traceId: string;
}

/** The server answered, and said no. */
export class ApiError extends Error {
  /** The answer's Retry-After header, if any (429/503). */
  retryAfter = '';
  constructor(
    readonly path: string,
    readonly status: number,
    readonly errorCode: string,
    readonly serverMessage: string,
    readonly traceId = '',
    readonly content: unknown = null,
  ) {
    super(
      `${path.replace(/^\//, '')}: HTTP ${status}${errorCode ? ` ${errorCode}` : ''}${serverMessage ? `: ${serverMessage}` : ''}${traceId ? ` (${traceId})` : ''}`,
    );
    this.name = 'ApiError';
  }
  /** 5xx and 429 are the server's (or a proxy's) momentary trouble; other 4xx are ours. */
  get retriable(): boolean {
    return this.status >= 500 || this.status === 429;
  }
}

/** No HTTP answer at all: refused, reset, DNS, TLS, timeout. */
export class NetworkError extends Error {
  constructor(
    readonly path: string,
    readonly origin: string,
    readonly code: string,
    detail: string,
  ) {
    super(`cannot reach ${origin} (${detail.includes(code) ? detail : `${code}${detail ? `: ${detail}` : ''}`})`);
    this.name = 'NetworkError';
  }
}

/** A request body that can be produced again for each attempt (streams are single-use). */
export interface Body {
  contentType: string;
  length: number;
  open(): Readable | Buffer;
}

export interface CallOptions {
  method?: 'GET' | 'POST';
  json?: unknown;
  body?: Body;
  query?: Record<string, string>;
  /** ms a request may stay silent (no bytes either way) before it is abandoned; merges of big archives take a while. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called after each failed attempt (e.g. to take back the progress it made). */
  onAttemptFailed?: () => void;
}

export interface ClientOptions {
  endpoint: string;
  apiKey: string;
  retries?: number;
  retryBaseMs?: number;
  /** Told about each retry, so the user sees why nothing moves. */
  onRetry?: (info: { path: string; attempt: number; retries: number; delayMs: number; error: Error }) => void;
  userAgent?: string;
}

/**
 * Errors that mean "nothing listens there" (or the name does not exist). Before the server has
 * answered once they fail at once, so a wrong or down endpoint is one quick line; after that they
 * are retried, since the server was up and is probably restarting.
 */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNECTTIMEOUT']);

export class Client {
  readonly origin: string;
  readonly base: string;
  private transport: Promise<Transport> | undefined;
  /** Whether any request to this endpoint got an HTTP answer. */
  private reached = false;

  constructor(private readonly opts: ClientOptions) {
    const url = normalizeEndpoint(opts.endpoint);
    this.origin = url.origin;
    this.base = url.pathname.replace(/\/$/, '') + API_BASE;
  }

  async close(): Promise<void> {
    if (this.transport) await (await this.transport).close();
  }

  /** One API call with retries on network errors, 5xx and 429 (exponential backoff, never on other 4xx). */
  async call<T = unknown>(path: string, opts: CallOptions = {}): Promise<Envelope<T>> {
    const retries = this.opts.retries ?? 5;
    const base = this.opts.retryBaseMs ?? 500;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.once<T>(path, opts);
      } catch (err) {
        opts.onAttemptFailed?.();
        if (opts.signal?.aborted) throw opts.signal.reason ?? err;
        const retriable =
          err instanceof NetworkError ? this.reached || !UNREACHABLE.has(err.code) : err instanceof ApiError && err.retriable;
        if (!retriable || attempt >= retries) throw err;
        // Jitter (half the cap plus a random half) keeps N parallel part uploads from retrying in lockstep.
        const cap = Math.min(30_000, base * 2 ** attempt);
        const delayMs = Math.max(retryAfterMs(err) ?? 0, Math.round(cap / 2 + (Math.random() * cap) / 2));
        this.opts.onRetry?.({ path, attempt: attempt + 1, retries, delayMs, error: err as Error });
        await sleep(delayMs, undefined, { signal: opts.signal });
      }
    }
  }

  private async once<T>(path: string, opts: CallOptions): Promise<Envelope<T>> {
    const headers: Record<string, string> = {
      'DF-API-KEY': this.opts.apiKey,
      'user-agent': this.opts.userAgent ?? 'mapvault-cli',
      accept: 'application/json',
    };
    let body: Readable | Buffer | undefined;
    if (opts.json !== undefined) {
      body = Buffer.from(JSON.stringify(opts.json));
      headers['content-type'] = 'application/json';
    } else if (opts.body) {
      body = opts.body.open();
      headers['content-type'] = opts.body.contentType;
      headers['content-length'] = String(opts.body.length);
    }
    const qs = opts.query ? `?${new URLSearchParams(opts.query)}` : '';
    this.transport ??= makeTransport();
    let res: RawResponse;
    try {
      res = await (await this.transport).send(new URL(this.origin + this.base + path + qs), {
        method: opts.method ?? 'POST',
        headers,
        body,
        signal: opts.signal,
        idleMs: opts.timeoutMs ?? 300_000,
      });
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      throw networkError(path, this.origin, err);
    }
    this.reached = true;
    const { text } = res;
    const traceId = headerValue(res.headers['x-trace-id']);
    let env: Partial<Envelope<T>> | undefined;
    try {
      const parsed = JSON.parse(text) as unknown;
      if (parsed && typeof parsed === 'object' && 'success' in parsed) env = parsed as Envelope<T>;
    } catch {
      /* not JSON: a proxy's error page, or not this API at all */
    }
    const status = res.status;
    if (!env) {
      // Only the head of a proxy's error page is shown; `[^<>]` ends each try at the next `<`, so stripping is linear.
      const snippet = text
        .slice(0, 4096)
        .replace(/<[^<>]*>/g, ' ')
        .replace(/\s+/g, ' ')
        .trim()
        .slice(0, 160);
      const err = new ApiError(
        path,
        status,
        status < 400 ? 'Response.NotEnvelope' : '',
        snippet || 'the answer is not a JSON envelope',
        traceId,
      );
      err.retryAfter = headerValue(res.headers['retry-after']);
      throw err;
    }
    if (status >= 300 || env.success !== true) {
      // Some gateways answer HTTP 200 with the real status only in the envelope's `code`.
      const code = status < 300 && typeof env.code === 'number' && env.code >= 400 ? env.code : status;
      const err = new ApiError(path, code, env.errorCode ?? '', env.message ?? '', env.traceId || traceId, env.content ?? null);
      err.retryAfter = headerValue(res.headers['retry-after']);
      throw err;
    }
    return env as Envelope<T>;
  }
}

/** Accepts `https://host`, `https://host/prefix` or the full `…/api/v1/rum_sourcemap` base. */
export function normalizeEndpoint(endpoint: string): URL {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new Error(`--endpoint "${endpoint}" is not a URL (expected e.g. https://openapi.guance.com)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`--endpoint must be an http(s) URL, got ${endpoint}`);
  url.pathname = url.pathname.replace(/\/+$/, '').replace(new RegExp(`${API_BASE}$`), '') || '/';
  url.search = '';
  url.hash = '';
  return url;
}

function headerValue(h: string | string[] | undefined): string {
  return Array.isArray(h) ? (h[0] ?? '') : (h ?? '');
}

function retryAfterMs(err: unknown): number | undefined {
  const v = err instanceof ApiError ? err.retryAfter : '';
  if (!v) return undefined;
  const s = Number(v);
  const ms = Number.isFinite(s) ? s * 1000 : Date.parse(v) - Date.now();
  return ms > 0 ? Math.min(ms, 60_000) : undefined;
}

function networkError(path: string, origin: string, err: unknown): NetworkError {
  // node:http puts the code (ECONNREFUSED, ENOTFOUND…) on the error; undici on its cause.
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.cause?.code ?? e.code ?? 'ERR';
  return new NetworkError(path, origin, code, e.cause?.message ?? e.message ?? '');
}

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}
interface SendOptions {
  method: string;
  headers: Record<string, string>;
  body?: Readable | Buffer;
  signal?: AbortSignal;
  idleMs: number;
}

/** A host that drops connection attempts silently is given up on after this long (the OS would wait minutes). */
const CONNECT_TIMEOUT_MS = 10_000;
interface Transport {
  send(url: URL, o: SendOptions): Promise<RawResponse>;
  close(): Promise<void>;
}

/**
 * node:http(s) with keep-alive, which costs nothing to load; undici (about 170 ms to load) only
 * when HTTP(S)_PROXY is set, for its EnvHttpProxyAgent (CI runners often sit behind a proxy).
 */
async function makeTransport(): Promise<Transport> {
  if (['HTTPS_PROXY', 'HTTP_PROXY', 'https_proxy', 'http_proxy'].some((v) => process.env[v])) {
    const { EnvHttpProxyAgent, request } = await import('undici');
    const dispatcher = new EnvHttpProxyAgent({ keepAliveTimeout: 10_000 });
    return {
      async send(url, o) {
        const res = await request(url, {
          method: o.method as 'POST',
          headers: o.headers,
          body: o.body,
          dispatcher,
          signal: o.signal,
          headersTimeout: o.idleMs,
          bodyTimeout: o.idleMs,
        });
        return { status: res.statusCode, headers: res.headers as IncomingHttpHeaders, text: await res.body.text() };
      },
      close: () => dispatcher.close(),
    };
  }
  const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };
  return {
    send: (url, o) =>
      new Promise<RawResponse>((resolve, reject) => {
        const agent = agents[url.protocol as 'http:'];
        const req = (url.protocol === 'https:' ? https : http).request(url, {
          method: o.method,
          headers: o.headers,
          agent,
          signal: o.signal,
        });
        req.setTimeout(o.idleMs, () => req.destroy(Object.assign(new Error(`no answer for ${o.idleMs / 1000}s`), { code: 'ETIMEDOUT' })));
        req.on('socket', (socket) => {
          if (!socket.connecting) return;
          const timer = setTimeout(
            () => req.destroy(Object.assign(new Error(`no connection within ${CONNECT_TIMEOUT_MS / 1000}s`), { code: 'ECONNECTTIMEOUT' })),
            CONNECT_TIMEOUT_MS,
          );
          socket.once('connect', () => clearTimeout(timer)).once('close', () => clearTimeout(timer));
        });
        req.on('error', reject);
        req.on('response', (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
          res.on('error', reject);
        });
        if (o.body instanceof Readable) {
          o.body.on('error', (err) => req.destroy(err));
          o.body.pipe(req);
        } else {
          req.end(o.body);
        }
      }),
    close: async () => {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}
