import { ApiError } from '../errors.ts';

const MAX_PATH_BYTES = 1024;
const MAX_SEGMENT_BYTES = 255;

/** Quoted, length-capped rendering of an untrusted name for error messages (shows \u0000 etc. visibly). */
function show(name: string): string {
  return JSON.stringify(name.length > 120 ? `${name.slice(0, 120)}…` : name);
}

function unsafe(name: string, why: string): ApiError {
  return new ApiError('Archive.UnsafePath', `Unsafe path ${show(name)}: ${why}`, { path: name.slice(0, 1024) });
}

/**
 * Normalizes a relative file path (zip entry name or upload filename) or throws ApiError('Archive.UnsafePath').
 * Rules: reject empty, NUL bytes, absolute paths (leading '/' or '\\'), drive letters (/^[A-Za-z]:/), any '..' segment,
 * treat '\\' as a separator then apply the same checks (so '..\\..\\x' is rejected), strip '.' segments and duplicate slashes,
 * reject total length > 1024 bytes or any segment > 255 bytes, reject control chars. Returns 'a/b/c.js.map' form.
 */
export function normalizeRelativePath(name: string): string {
  if (typeof name !== 'string' || name === '') throw unsafe('', 'the name is empty');
  if (name.includes('\0')) throw unsafe(name, 'contains a NUL byte');
  // C0, DEL and C1 controls: never legitimate in a file name, and they garble logs and terminals.
  const ctl = /[\u0001-\u001f\u007f-\u009f]/.exec(name);
  if (ctl) throw unsafe(name, `contains control character U+${ctl[0].charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}`);
  // A lone surrogate cannot be written as UTF-8; it would silently become U+FFFD and could collide with another name.
  if (/\p{Cs}/u.test(name)) throw unsafe(name, 'is not well-formed Unicode');
  // Normalization only ever removes characters, so bounding the input also bounds the result.
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_PATH_BYTES) throw unsafe(name, `is ${bytes} bytes long; the limit is ${MAX_PATH_BYTES}`);
  if (name[0] === '/' || name[0] === '\\') throw unsafe(name, 'is absolute');
  if (/^[A-Za-z]:/.test(name)) throw unsafe(name, 'starts with a drive letter');

  // Zips made on Windows use '\' as a separator, so treat it as one rather than as a name character.
  const segments: string[] = [];
  for (const seg of name.replace(/\\/g, '/').split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') throw unsafe(name, "contains a '..' segment");
    const segBytes = Buffer.byteLength(seg, 'utf8');
    if (segBytes > MAX_SEGMENT_BYTES) throw unsafe(name, `has a ${segBytes}-byte segment; the limit is ${MAX_SEGMENT_BYTES}`);
    segments.push(seg);
  }
  if (segments.length === 0) throw unsafe(name, 'does not name a file');
  const result = segments.join('/');
  // './C:/x' would otherwise become 'C:/x' after stripping the '.' segment.
  if (/^[A-Za-z]:/.test(result)) throw unsafe(name, 'starts with a drive letter');
  return result;
}
