/**
 * Typed API errors. Every failure the service reports is one of these, so the
 * envelope's `errorCode` is stable and the HTTP status follows from the code.
 */
export type ErrorCode =
  | 'ft.InvalidAPIKey'
  | 'Param.Invalid'
  | 'Route.NotFound'
  | 'Request.TooLarge'
  | 'Request.UnsupportedMediaType'
  | 'Request.RateLimited'
  | 'Request.Timeout'
  | 'Quota.Exceeded'
  | 'Upload.NotFound'
  | 'Part.TooLarge'
  | 'Part.Empty'
  | 'Part.ChecksumMismatch'
  | 'Part.TooMany'
  | 'Parts.Missing'
  | 'SourceMap.AlreadyExists'
  | 'SourceMap.NotFound'
  | 'File.NotFound'
  | 'Merge.InProgress'
  | 'Archive.UnsafePath'
  | 'Archive.UnsafeEntry'
  | 'Archive.TooLarge'
  | 'Archive.Corrupt'
  | 'Archive.Encrypted'
  | 'Archive.DuplicatePath'
  | 'Stack.TooLarge'
  | 'Storage.Full'
  | 'Server.Busy'
  | 'Catalog.Unavailable'
  | 'Storage.Unavailable'
  | 'Server.Internal'
  | 'Server.Unavailable';

const STATUS: Record<ErrorCode, number> = {
  'ft.InvalidAPIKey': 403,
  'Param.Invalid': 400,
  'Route.NotFound': 404,
  'Request.TooLarge': 413,
  'Request.UnsupportedMediaType': 415,
  'Request.RateLimited': 429,
  /** The request was not received whole within MAPVAULT_REQUEST_TIMEOUT (a client trickling its body). */
  'Request.Timeout': 408,
  'Quota.Exceeded': 413,
  'Upload.NotFound': 404,
  'Part.TooLarge': 413,
  'Part.Empty': 400,
  'Part.ChecksumMismatch': 400,
  'Part.TooMany': 400,
  'Parts.Missing': 409,
  'SourceMap.AlreadyExists': 409,
  'SourceMap.NotFound': 404,
  'File.NotFound': 404,
  'Merge.InProgress': 409,
  'Archive.UnsafePath': 422,
  'Archive.UnsafeEntry': 422,
  'Archive.TooLarge': 422,
  'Archive.Corrupt': 422,
  'Archive.Encrypted': 422,
  'Archive.DuplicatePath': 422,
  'Stack.TooLarge': 413,
  'Storage.Full': 507,
  'Server.Busy': 503,
  'Catalog.Unavailable': 503,
  /** The blob store (S3) cannot be reached; sent with Retry-After, nothing was changed. */
  'Storage.Unavailable': 503,
  'Server.Internal': 500,
  'Server.Unavailable': 503,
};

export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly errorCode: ErrorCode,
    message: string,
    /** Optional machine-readable detail, sent as the envelope's `content`. */
    readonly content: unknown = null,
    /** Sent as `Retry-After` (seconds) with 503 and 429 answers. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = STATUS[errorCode];
  }
}

export function isApiError(err: unknown): err is ApiError {
  return err instanceof ApiError;
}
