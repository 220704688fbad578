import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { envelope } from './envelope.ts';
import { ApiError, type ErrorCode } from '../errors.ts';
import { SizeLimitExceededError } from '../storage/write-file.ts';
import { CatalogUnavailableError } from '../catalog/catalog.ts';
import { newTraceId } from '../util/ids.ts';

/** Seconds a client is told to wait when the catalog or the blob store is unreachable (a restart takes a few). */
export const CATALOG_RETRY_AFTER_S = 5;

/** Framework and library errors, translated into our stable codes. */
const FRAMEWORK_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'Request.UnsupportedMediaType',
  FST_ERR_CTP_BODY_TOO_LARGE: 'Request.TooLarge',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'Param.Invalid',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'Param.Invalid',
  FST_ERR_CTP_INVALID_JSON_BODY: 'Param.Invalid',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'Request.UnsupportedMediaType',
  FST_REQ_FILE_TOO_LARGE: 'Part.TooLarge',
  FST_FILES_LIMIT: 'Param.Invalid',
  FST_FIELDS_LIMIT: 'Param.Invalid',
  FST_PARTS_LIMIT: 'Param.Invalid',
  FST_PROTO_VIOLATION: 'Param.Invalid',
  FST_MP_PREMATURE_CLOSE: 'Param.Invalid',
};

/** A full disk or quota, wherever it is hit (blob store, scratch, SQLite): nothing was published. */
const STORAGE_FULL = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);

export function toApiError(err: FastifyError | Error): ApiError {
  if (err instanceof ApiError) return err;
  if (STORAGE_FULL.has((err as NodeJS.ErrnoException).code ?? '')) {
    return new ApiError('Storage.Full', 'the server has no storage space left; nothing was stored. Try again later', null, 60);
  }
  // Out of file descriptors: an overload that passes, not a bug.
  if (['EMFILE', 'ENFILE'].includes((err as NodeJS.ErrnoException).code ?? '')) {
    return new ApiError('Server.Busy', 'the server is out of file descriptors; retry shortly', null, 5);
  }
  if (err instanceof CatalogUnavailableError) {
    return new ApiError(
      'Catalog.Unavailable',
      `the catalog database cannot be reached; nothing was lost, retry in ${CATALOG_RETRY_AFTER_S} s`,
    );
  }
  if (err instanceof SizeLimitExceededError) return new ApiError('Part.TooLarge', `the part is larger than ${err.limit} bytes (10 MiB)`);
  const fe = err as FastifyError;
  if (fe.validation) {
    const v = fe.validation[0];
    const field =
      v?.params && 'missingProperty' in v.params
        ? `${fe.validationContext}.${String(v.params.missingProperty)}`
        : `${fe.validationContext}${(v?.instancePath ?? '').replaceAll('/', '.')}`;
    return new ApiError('Param.Invalid', `${field}: ${v?.message ?? 'invalid'}`, { field });
  }
  const code = fe.code ? FRAMEWORK_CODES[fe.code] : undefined;
  if (code) return new ApiError(code, fe.message);
  if (err instanceof SyntaxError && fe.statusCode === 400) return new ApiError('Param.Invalid', `body is not valid JSON: ${err.message}`);
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) return new ApiError('Param.Invalid', fe.message);
  return new ApiError('Server.Internal', 'internal error; see the server log for this traceId');
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    const apiError = toApiError(err);
    if (apiError.status >= 500) req.log.error({ err }, 'request failed');
    else req.log.info({ errorCode: apiError.errorCode, reason: apiError.message }, 'request refused');
    // A refused upload is not read to its end: closing stops the client instead of draining it.
    if (apiError.status === 413 || !req.raw.complete) reply.header('connection', 'close');
    // A refusal with its own retry time (busy), or the catalog or blob store briefly away: the same request can be sent again.
    if (apiError.retryAfterSeconds !== undefined) reply.header('retry-after', String(apiError.retryAfterSeconds));
    else if (apiError.status === 503) reply.header('retry-after', String(CATALOG_RETRY_AFTER_S));
    return reply.code(apiError.status).send(envelope(req, apiError.status, apiError.content, apiError.errorCode, apiError.message));
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new ApiError('Route.NotFound', `no route ${req.method} ${req.url.split('?')[0]}`);
    return reply.code(404).send(envelope(req, 404, null, e.errorCode, e.message));
  });
}

/**
 * Errors Node raises on a connection before any route runs (a request not received whole within
 * MAPVAULT_REQUEST_TIMEOUT, unparsable HTTP) get the same envelope as every other failure, written
 * straight to the socket, which is then closed. Fastify's `clientErrorHandler` option.
 */
export function answerClientError(requestTimeoutMs: number) {
  return (err: Error & { code?: string }, socket: Socket): void => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const e =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new ApiError('Request.Timeout', `the request was not received whole within ${requestTimeoutMs} ms (MAPVAULT_REQUEST_TIMEOUT)`)
        : new ApiError('Param.Invalid', `malformed HTTP request (${err.code ?? err.message})`);
    const body = JSON.stringify({
      code: e.status,
      content: null,
      errorCode: e.errorCode,
      message: e.message,
      success: false,
      traceId: newTraceId(),
    });
    socket.end(
      `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  };
}
