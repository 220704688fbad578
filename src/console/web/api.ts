/**
 * The console's only way to reach the server: the documented HTTP API, same origin, with the key
 * in the DF-API-KEY header. The key is read from sessionStorage at each call and never put in a
 * URL, the DOM or a log.
 */
export const API = '/api/v1/rum_sourcemap';
const KEY_ITEM = 'mapvault.key';

export const session = {
  key: (): string | null => sessionStorage.getItem(KEY_ITEM),
  save: (key: string) => sessionStorage.setItem(KEY_ITEM, key),
  clear: () => sessionStorage.removeItem(KEY_ITEM),
};

/** A failure the server reported in its envelope. */
export class ServerError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
    readonly traceId: string,
    readonly content: unknown = null,
  ) {
    super(message);
  }
}

/** The request never got an answer (server down, network gone). */
export class UnreachableError extends Error {
  constructor() {
    super(`Cannot reach the mapvault server at ${location.origin}. Is it running? Check the connection and try again.`);
  }
}

/** Sent with every request, so a session ended elsewhere (sign-out) shows the sign-in form. */
type Listener = (e: ServerError) => void;
let onAuthFailure: Listener = () => {};
export const setAuthFailureListener = (l: Listener) => {
  onAuthFailure = l;
};

export interface Identity {
  appId: string;
  version: string;
  env: string;
}

async function request(method: string, path: string, body?: unknown, key = session.key()): Promise<Response> {
  const headers: Record<string, string> = {};
  if (key) headers['DF-API-KEY'] = key;
  if (body !== undefined) headers['content-type'] = 'application/json';
  try {
    return await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch {
    throw new UnreachableError();
  }
}

export async function errorFrom(res: Response): Promise<ServerError> {
  let env: { errorCode?: string; message?: string; traceId?: string; content?: unknown } = {};
  try {
    env = await res.json();
  } catch {
    /* not an envelope (a proxy's error page) */
  }
  return new ServerError(
    res.status,
    env.errorCode ?? `HTTP.${res.status}`,
    env.message || `the server answered ${res.status} ${res.statusText}`,
    env.traceId ?? '',
    env.content ?? null,
  );
}

/** Calls an endpoint and returns the envelope's `content`; throws ServerError or UnreachableError. */
export async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown, key?: string): Promise<T> {
  const res = await request(method, path, body, key);
  if (!res.ok) {
    const e = await errorFrom(res);
    if (e.errorCode === 'ft.InvalidAPIKey' && key === undefined) onAuthFailure(e);
    throw e;
  }
  return ((await res.json()) as { content: T }).content;
}

/** A stored file's bytes (GET /file). */
export async function fetchFile(id: Identity, path: string): Promise<Blob> {
  const res = await request('GET', `/file?${query({ ...id, path })}`);
  if (!res.ok) throw await errorFrom(res);
  return res.blob();
}

export const query = (params: Record<string, string>) => new URLSearchParams(params).toString();

// The API's shapes (docs/API.md).
export interface WhoAmI {
  workspace: string;
  usage: { storedBytes: number; uploadBytes: number };
  limits: {
    maxPartBytes: number;
    maxParts: number;
    archiveMaxBytes: number;
    archiveMaxEntries: number;
    maxStackBytes: number;
    maxFrames: number;
    quotaUploadBytes: number;
    quotaStoredBytes: number;
  };
}
export interface AppSummary {
  appId: string;
  sourcemapCount: number;
  size: number;
  latestCreateAt: number;
}
export interface SourceMapEntry extends Identity {
  createAt: number;
  size: number;
  fileCount: number;
  mapCount: number;
  sha256: string;
  warnings: string[];
}
export interface FileEntry {
  path: string;
  size: number;
  sha256: string;
}
export interface MergeResult extends Identity {
  size: number;
  sha256: string;
  fileCount: number;
  mapCount: number;
  warnings: string[];
}
export interface SourceContext {
  pre: string[];
  line: string;
  post: string[];
}
export interface Frame {
  raw: string;
  functionName: string | null;
  url: string | null;
  line: number | null;
  column: number | null;
  resolved: boolean;
  source: string | null;
  originalLine: number | null;
  originalColumn: number | null;
  name: string | null;
  context?: SourceContext;
  reason?: string;
  detail?: string;
  /** Added by newer servers: how the map was found, or the closest stored names. */
  match?: unknown;
  /** Added by newer servers: false for library frames (node_modules, the map's ignoreList). */
  inApp?: boolean;
  /** Added by newer servers: the original function's name. */
  originalFunction?: string | null;
}
export interface Resolution {
  stack: string;
  frames: Frame[];
  truncated?: true;
}

export const api = {
  whoami: (key?: string) => call<WhoAmI>('GET', '/whoami', undefined, key),
  apps: () => call<AppSummary[]>('GET', '/apps'),
  list: (appId: string) => call<SourceMapEntry[]>('GET', `/list?${query({ appId })}`),
  fileTree: (id: Identity) => call<{ files: FileEntry[] }>('POST', '/file_tree', id),
  delete: (id: Identity) => call<true>('POST', '/delete', id),
  parseStack: (id: Identity, stack: string) => call<Resolution>('POST', '/parse_stack', { ...id, stack }),
  init: (id: Identity, needCover: boolean) =>
    call<{ uploadId: string; existsSameFile: boolean; existsOldTask: boolean }>('POST', '/multipart_upload_init', { ...id, needCover }),
  partList: (uploadId: string) =>
    call<{ parts: Array<{ chunkIndex: number; size: number }> } & Identity>('POST', '/part_list', { uploadId }),
  merge: (uploadId: string) => call<MergeResult>('POST', '/part_merge', { uploadId }),
  cancel: (uploadId: string) => call<true>('POST', '/upload_cancel', { uploadId }),
};

/**
 * Sends one part with XMLHttpRequest, the only browser API that reports upload progress.
 * `onProgress` gets the bytes of this part sent so far.
 */
export function sendPart(
  uploadId: string,
  chunkIndex: number,
  data: Blob,
  onProgress: (sent: number) => void,
  signal: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const form = new FormData();
    form.append('uploadId', uploadId);
    form.append('chunkIndex', String(chunkIndex));
    form.append('files', data, `chunk_${String(chunkIndex).padStart(6, '0')}`);
    xhr.open('POST', `${API}/upload_part`);
    xhr.setRequestHeader('DF-API-KEY', session.key() ?? '');
    xhr.upload.onprogress = (e) => onProgress(Math.min(e.loaded, data.size));
    xhr.onload = () => {
      if (xhr.status === 200) return resolve();
      let env: { errorCode?: string; message?: string; traceId?: string } = {};
      try {
        env = JSON.parse(xhr.responseText);
      } catch {
        /* not an envelope */
      }
      reject(
        new ServerError(
          xhr.status,
          env.errorCode ?? `HTTP.${xhr.status}`,
          env.message || `the server answered ${xhr.status}`,
          env.traceId ?? '',
        ),
      );
    };
    xhr.onerror = () => reject(new UnreachableError());
    xhr.onabort = () => reject(new DOMException('cancelled', 'AbortError'));
    signal.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(form);
  });
}
