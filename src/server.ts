import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import multipart from '@fastify/multipart';
import { StartupError, type Config } from './config.ts';
import type { Catalog } from './catalog/catalog.ts';
import { openCatalog } from './catalog/open-catalog.ts';
import type { Locker } from './locking/locker.ts';
import type { BlobStore } from './storage/blob-store.ts';
import { FsBlobStore } from './storage/fs-blob-store.ts';
import { LocalReadCache } from './storage/local-read-cache.ts';
import { isMapIndexKey, isPartKey } from './storage/blob-keys.ts';
import { ScratchDir } from './storage/scratch.ts';
import { ApiKeys } from './auth/api-keys.ts';
import { UploadService } from './uploads/upload-service.ts';
import { Quotas } from './catalog/quotas.ts';
import { Sweeper } from './uploads/sweeper.ts';
import { SourceMapService } from './sourcemaps/sourcemap-service.ts';
import { Admission } from './util/admission.ts';
import { ApiError } from './errors.ts';
import { newTraceId } from './util/ids.ts';
import { MemoryLocker } from './locking/memory-locker.ts';
import { answerClientError, registerErrorHandling } from './api/errors.ts';
import { registerAuth } from './api/auth.ts';
import { uploadRoutes } from './api/routes/uploads.ts';
import { sourcemapRoutes } from './api/routes/sourcemaps.ts';
import { parseStackRoutes } from './api/routes/parse-stack.ts';
import { appRoutes } from './api/routes/apps.ts';
import { consoleRoutes } from './console/routes.ts';
import { StackResolver } from './symbolicate/index.ts';
import { JavaResolver } from './symbolicate/java/java-resolver.ts';
import { countStorageErrors, metrics, registerRequestMetrics } from './metrics/metrics.ts';
import { registerOpenApi } from './api/openapi.ts';
import { opsRoutes } from './api/routes/ops.ts';
import { buildTreeIndexes, type StoredFiles } from './symbolicate/index/build.ts';
import type { StoredFile } from './storage/tree-archive.ts';

export const API_PREFIX = '/api/v1/rum_sourcemap';

export interface ServerOptions {
  /** Injected clock (tests); defaults to Date.now. */
  now?: () => number;
  /** Pino options, or false for silence. */
  logger?: boolean | Record<string, unknown>;
  /** Where the "first start" key banner goes. */
  announce?: (text: string) => void;
  /** Storage implementations; default to SQLite and the filesystem under the data dir. */
  catalog?: Catalog;
  blobs?: BlobStore;
  /** The locks every node sharing the catalog respects (default: in-process, or the PostgreSQL catalog's). */
  locker?: Locker;
}

export interface Mapvault {
  app: FastifyInstance;
  /** Every route, as registered (tests loop over it so a new route cannot forget auth). */
  routes: Array<{ method: string; url: string; public: boolean }>;
  catalog: Catalog;
  blobs: BlobStore;
  keys: ApiKeys;
  uploads: UploadService;
  sourcemaps: SourceMapService;
  sweeper: Sweeper;
  resolver: StackResolver;
  /** Android: Java stacks against stored ProGuard/R8 mappings (symbolicate/java). */
  java: JavaResolver;
  /** Starts listening; resolves to the base URL. */
  listen(port?: number, host?: string): Promise<string>;
  /**
   * Stops accepting, lets in-flight requests finish for up to `deadlineMs` (then cuts their
   * connections), and closes storage. Without a deadline, waits for every request.
   */
  close(deadlineMs?: number): Promise<void>;
}

/**
 * MAPVAULT_BLOB_URL's S3 bucket (checked to answer now), with the lookup indexes and upload parts
 * it holds kept on this node's disk (MAPVAULT_BLOB_CACHE_BYTES), else the data dir; the SDK loads
 * only when used.
 */
async function openBlobStore(config: Config, scratch: ScratchDir): Promise<BlobStore> {
  if (!config.blobs) return FsBlobStore.open(join(config.dataDir, 'blobs'));
  const { S3BlobStore } = await import('./storage/s3/s3-blob-store.ts');
  let s3: BlobStore;
  try {
    s3 = await S3BlobStore.open(config.blobs);
  } catch (err) {
    throw new StartupError(`MAPVAULT_BLOB_URL: ${(err as Error).message}`);
  }
  if (config.blobCacheBytes === 0) return s3;
  return LocalReadCache.open(s3, join(scratch.dir, 'blob-cache'), config.blobCacheBytes, (key) => isMapIndexKey(key) || isPartKey(key));
}

/** Opens storage, recovers from any crash, and assembles the HTTP app. Does not listen yet. */
export async function createMapvault(config: Config, opts: ServerOptions = {}): Promise<Mapvault> {
  const now = opts.now ?? Date.now;
  await mkdir(config.dataDir, { recursive: true });
  const opened = opts.catalog
    ? { catalog: opts.catalog, locker: opts.locker ?? new MemoryLocker(), shared: false }
    : await openCatalog(config);
  const locker = opts.locker ?? opened.locker;
  const catalog = countStorageErrors(opened.catalog, 'catalog');
  const scratch = await ScratchDir.open(join(config.dataDir, 'tmp'));
  const blobs = countStorageErrors(opts.blobs ?? (await openBlobStore(config, scratch)), 'blobs');
  const keys = await ApiKeys.open(catalog, { dataDir: config.dataDir, secret: config.keyPepper, sharedCatalog: opened.shared });
  await keys.syncConfigured(config.apiKeys, now());
  if ((await catalog.countApiKeys()) === 0) {
    const key = await keys.create('default', 'first-start', now());
    // To the terminal (stderr), never into the JSON log stream on stdout, which is often shipped elsewhere.
    (opts.announce ?? ((t) => process.stderr.write(t)))(
      `\nmapvault: no API key existed, so one was created for workspace "default".\n` +
        `It is shown only this once; store it now:\n\n    DF-API-KEY: ${key}\n\n`,
    );
  }

  const app = Fastify({
    logger: opts.logger ?? { level: config.logLevel },
    genReqId: () => newTraceId(),
    // Our own onResponse hook writes the one line per request.
    logController: new LogController({ requestIdLogLabel: 'traceId', disableRequestLogging: true }),
    bodyLimit: config.maxJsonBytes,
    // A request must be received whole within this; stalled bodies are also cut by the idle timeout below.
    requestTimeout: config.requestTimeoutMs,
    // Also given to http.createServer: on Node 20 the value Fastify assigns after construction is
    // not what Node enforces (test/reliability/slow-clients.test.ts). Node checks it on this interval,
    // 30 s by default, so a short MAPVAULT_REQUEST_TIMEOUT would otherwise overshoot by half a minute.
    http: {
      requestTimeout: config.requestTimeoutMs,
      connectionsCheckingInterval:
        config.requestTimeoutMs > 0 ? Math.min(30_000, Math.max(250, Math.floor(config.requestTimeoutMs / 4))) : 30_000,
    },
    clientErrorHandler: answerClientError(config.requestTimeoutMs),
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });

  const sweeper = new Sweeper({ catalog, blobs, now, intervalMs: config.sweepIntervalMs, log: app.log });
  const quotas = new Quotas(catalog, { uploadBytes: config.quotaUploadBytes, storedBytes: config.quotaStoredBytes }, now);
  const merges = new Admission(
    Math.max(1, config.maxMerges),
    config.mergeQueueMs,
    () =>
      new ApiError(
        'Server.Busy',
        `${config.maxMerges} merges are running and none finished within ${config.mergeQueueMs} ms; retry later`,
        null,
        5,
      ),
  );
  const resolver = new StackResolver({
    cacheBytes: config.symbolicate.cacheBytes,
    maxStackBytes: config.symbolicate.maxStackBytes,
    maxFrames: config.symbolicate.maxFrames,
    parseBudgetBytes: config.symbolicate.parseBudgetBytes,
    maxColdParses: config.symbolicate.maxColdParses,
    parseQueueMs: config.symbolicate.parseQueueMs,
    parserHeapMb: config.symbolicate.parserHeapMb,
    parseTimeoutMs: config.symbolicate.parseTimeoutMs,
  });
  const java = new JavaResolver(config.symbolicate.javaCacheBytes);
  // A replaced, deleted or edited tree drops its parsed maps (and Java mapping index) from the caches.
  const onTreeRetired = (rev: string) => {
    resolver.invalidateTree(rev);
    java.invalidateTree(rev);
  };
  const collectSoon = () => void sweeper.kick();
  // Each merged map gets its binary lookup index beside it (symbolicate/index/).
  const indexMaps = (prefix: string, files: ReadonlyArray<StoredFile>, stored?: StoredFiles) =>
    buildTreeIndexes({
      blobs,
      prefix,
      files,
      stored,
      maxMapBytes: config.symbolicate.maxMapBytes,
      build: (bytes, sha256, script) => resolver.buildIndex(bytes, sha256, script),
    });
  const uploads = new UploadService({
    catalog,
    blobs,
    scratch,
    now,
    uploadTtlMs: config.uploadTtlMs,
    retiredGraceMs: config.retiredGraceMs,
    maxParts: config.maxParts,
    archiveLimits: config.archive,
    quotas,
    locker,
    lockTimeoutMs: config.lockTimeoutMs,
    onTreeRetired,
    collectSoon,
    merges,
    mergeLeaseMs: config.mergeLeaseMs,
    postProcess: indexMaps,
  });
  const sourcemaps = new SourceMapService({
    catalog,
    blobs,
    now,
    retiredGraceMs: config.retiredGraceMs,
    locker,
    lockTimeoutMs: config.lockTimeoutMs,
    quotas,
    onTreeRetired,
    collectSoon,
    maxFileBytes: config.maxFileContentBytes,
    maxResolveFileBytes: config.symbolicate.maxMapBytes,
    listCacheBytes: config.listCacheBytes,
    postProcess: indexMaps,
  });

  const routes: Mapvault['routes'] = [];
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) {
      if (method !== 'HEAD') routes.push({ method, url: r.url, public: r.config?.public === true });
    }
  });

  // One log line per request, with its traceId (the logger's request label); never headers, so never keys.
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-trace-id', req.id);
    // A body that stops arriving frees its connection (Node destroys a socket whose timeout nobody
    // handles); once the body is in, the socket may sit quietly while a long merge runs.
    if (!req.raw.complete) {
      req.raw.socket.setTimeout(config.bodyIdleTimeoutMs);
      req.raw.once('end', () => req.raw.socket?.setTimeout(0));
    }
  });
  // Same for an answer the client stops reading (a large GET /file): the work is done, so a socket
  // that stays idle this long only holds a file descriptor. Node sets keep-alive's own timeout after.
  app.addHook('onSend', async (req, reply) => {
    reply.raw.once('timeout', () => reply.raw.destroy());
    req.raw.socket?.setTimeout(config.bodyIdleTimeoutMs);
  });
  app.addHook('onResponse', async (req, reply) => {
    req.log.info({ method: req.method, url: req.url, statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });
  registerRequestMetrics(app);
  metrics.watchMapCache(() => resolver.stats());
  metrics.watchJavaCache(() => java.stats());
  // Only JSON and multipart bodies exist in this API; anything else is refused with 415.
  app.removeContentTypeParser('text/plain');
  registerErrorHandling(app);
  registerAuth(app, keys, config.rateLimitPerMinute, now);
  await app.register(multipart, { throwFileSizeLimit: true });
  await registerOpenApi(app, API_PREFIX);

  await opsRoutes(app, { catalog, blobs });
  await app.register(
    async (api) => {
      await uploadRoutes(api, { uploads, scratch, maxPartBytes: config.maxPartBytes, maxParts: config.maxParts });
      await sourcemapRoutes(api, { sourcemaps, maxFileContentBytes: config.maxFileContentBytes });
      await parseStackRoutes(api, { sourcemaps, resolver, java });
      await appRoutes(api, {
        sourcemaps,
        limits: {
          maxPartBytes: config.maxPartBytes,
          maxParts: config.maxParts,
          archiveMaxBytes: config.archive.maxTotalBytes,
          archiveMaxEntries: config.archive.maxEntries,
          maxStackBytes: config.symbolicate.maxStackBytes,
          maxFrames: config.symbolicate.maxFrames,
          quotaUploadBytes: config.quotaUploadBytes,
          quotaStoredBytes: config.quotaStoredBytes,
        },
      });
    },
    { prefix: API_PREFIX },
  );
  await app.register(consoleRoutes, { buildDir: config.consoleDir ?? undefined });

  // Startup recovery: what is due now (expired tasks, cancelled parts, retired trees past their
  // grace, staging trees of merges that died long enough ago). Nothing earlier: another node
  // sharing the catalog may be writing or reading it.
  await sweeper.sweep(now());

  return {
    app,
    routes,
    catalog,
    blobs,
    keys,
    uploads,
    sourcemaps,
    sweeper,
    resolver,
    java,
    async listen(port = config.port, host = config.host) {
      await app.listen({ port, host });
      // Beyond this many open connections new ones are refused, before the process runs out of file descriptors.
      app.server.maxConnections = config.maxConnections;
      sweeper.start();
      const addr = app.server.address();
      const actualPort = typeof addr === 'object' && addr ? addr.port : port;
      return `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}`;
    },
    async close(deadlineMs?: number) {
      // Fastify closes idle keep-alive connections at once and answers 503 on busy ones; a request
      // still running at the deadline (a stalled upload, say) has its connection cut.
      const cut = deadlineMs === undefined ? undefined : setTimeout(() => app.server.closeAllConnections(), deadlineMs);
      try {
        await app.close();
      } finally {
        clearTimeout(cut);
      }
      await sweeper.stop();
      await resolver.close();
      await locker.close();
      await catalog.close();
      await scratch.close();
    },
  };
}
