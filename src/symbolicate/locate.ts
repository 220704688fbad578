/**
 * Choosing the map for a frame URL: pure functions, no I/O.
 *
 * Order (see StackResolver.locate): the URL's path + `.map` (DataKit's rule) → the stored `.js`'s
 * last `sourceMappingURL` → the `.map` file in the tree with the longest matching path suffix.
 */

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment; // malformed escape: keep it literally rather than failing the frame
  }
}

/**
 * Normalizes a path: percent-decodes, drops empty and `.` segments and resolves `..` (never above
 * the root), so the result is a relative tree path. Returns null when nothing is left.
 */
export function normalizePath(path: string): string | null {
  // Decode per segment first, then resolve dots, so `%2e%2e` cannot smuggle a traversal past us.
  const decoded = path.split('/').map(safeDecode).join('/').replace(/\\/g, '/');
  const out: string[] = [];
  for (const seg of decoded.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return out.length ? out.join('/') : null;
}

/** Scheme of an absolute URL, or null. One-letter "schemes" are Windows drive letters. */
function scheme(url: string): string | null {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]+):/.exec(url);
  return m ? m[1]!.toLowerCase() : null;
}

/**
 * The path part of a frame URL, without the leading `/`, host, query and fragment:
 * `https://cdn.example.com/static/js/app.js?v=1` → `static/js/app.js`,
 * `webpack://app/./src/x.js` → `src/x.js`, `file:///srv/dist/app.js` → `srv/dist/app.js`,
 * `/static/app.js` and `static/app.js` → `static/app.js`. Null if there is no path.
 */
export function urlPath(url: string): string | null {
  let s = url.trim().replace(/\\/g, '/');
  const q = s.search(/[?#]/);
  if (q >= 0) s = s.slice(0, q);
  if (scheme(s) !== null) {
    s = s.slice(s.indexOf(':') + 1);
    if (s.startsWith('//')) {
      const slash = s.indexOf('/', 2); // skip the authority (host[:port])
      s = slash < 0 ? '' : s.slice(slash);
    }
  } else if (s.startsWith('//')) {
    const slash = s.indexOf('/', 2); // protocol-relative `//host/path`
    s = slash < 0 ? '' : s.slice(slash);
  }
  return normalizePath(s);
}

/** DataKit's rule: the URL's path + `.map`. */
export function conventionalMapPath(url: string): string | null {
  const p = urlPath(url);
  return p === null ? null : `${p}.map`;
}

/**
 * The value of the last `//# sourceMappingURL=` (or legacy `//@`) comment in a script, or null.
 * Like browsers, the comment must be the last thing on its line.
 */
export function findSourceMappingURL(js: string): string | null {
  const re = /\/\/[#@][ \t]*sourceMappingURL=[ \t]*(\S+)[ \t]*(?:\r?\n|\r|$)/g;
  let last: string | null = null;
  for (let m = re.exec(js); m; m = re.exec(js)) last = m[1]!;
  return last;
}

export type MapRef = { kind: 'path'; path: string } | { kind: 'inline'; bytes: Buffer };

/**
 * Resolves a sourceMappingURL found in the tree file `jsPath`: `data:` URLs are decoded (base64 or
 * percent-encoded), absolute URLs and root-relative paths lose their host, anything else is
 * relative to the script's directory. Null if it leads nowhere usable.
 */
export function resolveMapRef(jsPath: string, ref: string): MapRef | null {
  const r = ref.trim();
  if (/^data:/i.test(r)) {
    const comma = r.indexOf(',');
    if (comma < 0) return null;
    const params = r.slice(5, comma).split(';').map((p) => p.trim().toLowerCase());
    const payload = r.slice(comma + 1);
    try {
      const bytes = params.includes('base64')
        ? Buffer.from(payload, 'base64')
        : Buffer.from(decodeURIComponent(payload), 'utf8');
      return bytes.length ? { kind: 'inline', bytes } : null;
    } catch {
      return null;
    }
  }
  let path: string | null;
  if (scheme(r) !== null || r.startsWith('/')) path = urlPath(r);
  else {
    const q = r.search(/[?#]/);
    const dir = jsPath.includes('/') ? jsPath.slice(0, jsPath.lastIndexOf('/') + 1) : '';
    path = normalizePath(dir + (q >= 0 ? r.slice(0, q) : r));
  }
  return path === null ? null : { kind: 'path', path };
}

/**
 * The tree's `.map` file sharing the longest path suffix (compared segment-wise) with
 * `mapPath`; at least the file name must match. Ties → the shortest path, then the
 * lexicographically smallest, so the choice is deterministic.
 */
export function suffixMatch(mapPath: string, files: readonly string[]): string | null {
  const want = mapPath.split('/');
  let best: string | null = null;
  let bestN = 0;
  for (const f of files) {
    if (!f.endsWith('.map')) continue;
    const segs = f.split('/').filter((s) => s !== '' && s !== '.');
    let n = 0;
    while (n < want.length && n < segs.length && want[want.length - 1 - n] === segs[segs.length - 1 - n]) n++;
    if (n === 0) continue;
    if (n > bestN || (n === bestN && best !== null && (f.length < best.length || (f.length === best.length && f < best)))) {
      best = f;
      bestN = n;
    }
  }
  return best;
}
