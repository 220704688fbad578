/** Where an S3BlobStore keeps its objects (parsed from `s3://bucket/prefix?endpoint=…&region=…`). */
export interface S3Location {
  bucket: string;
  /** Prepended to every key: '' or a `/`-terminated path inside the bucket. */
  prefix: string;
  /** An S3-compatible server's base URL (Swift, MinIO, Ceph…); absent for AWS itself. */
  endpoint?: string;
  region: string;
}

const PARAMS = new Set(['endpoint', 'region']);
// S3's bucket naming rules (lower case, digits, dots, hyphens; 3-63 characters).
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Parses `s3://bucket[/prefix][?endpoint=http://host:port][&region=…]`. Throws an Error whose message
 * says what is wrong (the caller names the variable). No SDK is loaded here, so parsing the
 * configuration stays cheap.
 */
export function parseS3Url(text: string): S3Location {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`not a URL: "${text}" (expected s3://bucket/prefix?endpoint=http://host:port&region=us-east-1)`);
  }
  if (url.protocol !== 's3:') throw new Error(`the scheme must be s3://, got "${url.protocol}//"`);
  if (url.username || url.password)
    throw new Error('credentials do not belong in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
  if (url.port) throw new Error(`"${url.host}" is not a bucket name; a server's address goes in ?endpoint=`);
  const bucket = url.hostname;
  if (!BUCKET.test(bucket)) throw new Error(`"${bucket}" is not a valid bucket name (3-63 characters: a-z, 0-9, ".", "-")`);
  for (const name of url.searchParams.keys()) {
    if (!PARAMS.has(name)) throw new Error(`unknown parameter "${name}" (known: endpoint, region)`);
  }
  // The URL parser resolves "." and ".." away; a prefix written with them is refused rather than guessed.
  const [rawPath = ''] = text.replace(/^s3:\/\/[^/?#]*/i, '').split(/[?#]/);
  const segments = decodeURIComponent(rawPath).split('/').filter(Boolean);
  if (segments.some((s) => s === '.' || s === '..' || s.includes('\\')))
    throw new Error(`the prefix "${rawPath}" must not contain ".", ".." or "\\"`);
  const prefix = segments.length ? `${segments.join('/')}/` : '';
  const endpoint = url.searchParams.get('endpoint') ?? undefined;
  if (endpoint !== undefined) {
    let e: URL;
    try {
      e = new URL(endpoint);
    } catch {
      throw new Error(`endpoint "${endpoint}" is not a URL (expected e.g. http://127.0.0.1:9000)`);
    }
    if (e.protocol !== 'http:' && e.protocol !== 'https:') throw new Error(`endpoint "${endpoint}" must be http:// or https://`);
  }
  const region = url.searchParams.get('region') || 'us-east-1';
  return { bucket, prefix, endpoint, region };
}
