/**
 * A transport-only client for the Guance-compatible sourcemap API: it sends one request, parses
 * the `{code, content, errorCode, message, success, traceId}` envelope, turns failures into
 * ApiError/NetworkError, and retries what is worth retrying. It knows no endpoint semantics.
 */
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, EnvHttpProxyAgent, request, type Dispatcher } from 'undici';

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
  constructor(
    readonly path: string,
    readonly status: number,
    readonly errorCode: string,
    readonly serverMessage: string,
    readonly traceId = '',
    readonly content: unknown = null,
  ) {
    super(`${path}: HTTP ${status}${errorCode ? ` ${errorCode}` : ''}${serverMessage ? `: ${serverMessage}` : ''}${traceId ? ` (${traceId})` : ''}`);
    this.name = 'ApiError';
  }
  /** 5xx and 429 are the server's (or a proxy's) momentary trouble; other 4xx are ours. */
  get retriable(): boolean {
    return this.status >= 500 || this.status === 429;
  }
}

/** No HTTP answer at all: refused, reset, DNS, TLS, timeout. */
export class NetworkError extends Error {
  constructor(readonly path: string, readonly origin: string, readonly code: string, detail: string) {
    super(`cannot reach ${origin} (${code}${detail && detail !== code ? `: ${detail}` : ''})`);
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
  /** ms to wait for the answer's headers (merges of big archives take a while). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called before each attempt and after each failed one (e.g. to roll progress back). */
  onAttempt?: () => void;
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

export class Client {
  readonly origin: string;
  readonly base: string;
  private readonly dispatcher: Dispatcher;

  constructor(private readonly opts: ClientOptions) {
    const url = normalizeEndpoint(opts.endpoint);
    this.origin = url.origin;
    this.base = url.pathname.replace(/\/$/, '') + API_BASE;
    const proxied = ['HTTPS_PROXY', 'HTTP_PROXY', 'https_proxy', 'http_proxy'].some((v) => process.env[v]);
    // CI runners often sit behind a proxy; honour the usual variables (and NO_PROXY) when set.
    this.dispatcher = proxied ? new EnvHttpProxyAgent({ keepAliveTimeout: 10_000 }) : new Agent({ keepAliveTimeout: 10_000 });
  }

  async close(): Promise<void> {
    await this.dispatcher.close().catch(() => {});
  }

  /** One API call with retries on network errors, 5xx and 429 (exponential backoff, never on other 4xx). */
  async call<T = unknown>(path: string, opts: CallOptions = {}): Promise<Envelope<T>> {
    const retries = this.opts.retries ?? 5;
    const base = this.opts.retryBaseMs ?? 500;
    for (let attempt = 0; ; attempt++) {
      try {
        opts.onAttempt?.();
        return await this.once<T>(path, opts);
      } catch (err) {
        opts.onAttemptFailed?.();
        if (opts.signal?.aborted) throw opts.signal.reason ?? err;
        const retriable = err instanceof NetworkError || (err instanceof ApiError && err.retriable);
        if (!retriable || attempt >= retries) throw err;
        // Full jitter keeps N parallel part uploads from retrying in lockstep.
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
    let res: Dispatcher.ResponseData;
    try {
      res = await request(this.origin + this.base + path + qs, {
        method: opts.method ?? 'POST', headers, body, dispatcher: this.dispatcher, signal: opts.signal,
        headersTimeout: opts.timeoutMs ?? 300_000, bodyTimeout: 300_000,
      });
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      throw networkError(path, this.origin, err);
    }
    let text: string;
    try {
      text = await res.body.text();
    } catch (err) {
      throw networkError(path, this.origin, err);
    }
    const traceId = headerValue(res.headers['x-trace-id']);
    let env: Partial<Envelope<T>> | undefined;
    try {
      const parsed = JSON.parse(text) as unknown;
      if (parsed && typeof parsed === 'object' && 'success' in parsed) env = parsed as Envelope<T>;
    } catch { /* not JSON: a proxy's error page, or not this API at all */ }
    const status = res.statusCode;
    if (!env) {
      const snippet = text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 160);
      const err = new ApiError(path, status, status < 400 ? 'Response.NotEnvelope' : '', snippet || 'the answer is not a JSON envelope', traceId);
      (err as { retryAfter?: string }).retryAfter = headerValue(res.headers['retry-after']);
      throw err;
    }
    if (status >= 300 || env.success !== true) {
      const err = new ApiError(path, status, env.errorCode ?? '', env.message ?? '', env.traceId || traceId, env.content ?? null);
      (err as { retryAfter?: string }).retryAfter = headerValue(res.headers['retry-after']);
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
  const v = (err as { retryAfter?: string }).retryAfter;
  if (!v) return undefined;
  const s = Number(v);
  const ms = Number.isFinite(s) ? s * 1000 : Date.parse(v) - Date.now();
  return ms > 0 ? Math.min(ms, 60_000) : undefined;
}

function networkError(path: string, origin: string, err: unknown): NetworkError {
  // undici wraps the socket error; the useful code (ECONNREFUSED, ENOTFOUND…) is on the cause.
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.cause?.code ?? e.code ?? 'ERR';
  return new NetworkError(path, origin, code, e.cause?.message ?? e.message ?? '');
}
