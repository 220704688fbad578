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
  return m?.[1] ? m[1].toLowerCase() : null;
}

/**
 * The path part of a frame URL, without the leading `/`, host, query and fragment:
 * `https://cdn.example.com/static/js/app.js?v=1` → `static/js/app.js`,
 * `webpack://app/./src/x.js` → `src/x.js`, `file:///srv/dist/app.js` → `srv/dist/app.js`,
 * `/static/app.js` and `static/app.js` → `static/app.js`. Null if there is no path.
 */
export function urlPath(url: string): string | null {
  let s = url.trim();
  const q = s.search(/[?#]/);
  if (q >= 0) s = s.slice(0, q);
  // Stored paths are at most 1 024 bytes: a longer path cannot match, and rewriting or splitting
  // a megabyte of `\\` or `/` costs a second of the event loop.
  if (s.length > MAX_REF_CHARS) return null;
  s = s.replace(/\\/g, '/');
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

/** Lines looked at from the end of a script (blank and other `//` comment lines are skipped). */
const TAIL_LINES = 16;

/**
 * The value of the `//# sourceMappingURL=` (or legacy `//@`) comment that ends a script, or null.
 * Only the tail is read, as ECMA-426 §11.1.2 describes: walking back from the end over blank lines
 * and other line comments (`//# debugId=…` often follows), at most TAIL_LINES of them; a line of
 * code ends the search (a comment followed by code no longer counts). Linear in the bytes of the
 * lines looked at, with no regular expression: the previous whole-file regex backtracked
 * quadratically on `//@sourceMappingURL=` repeated without whitespace (docs/RELIABILITY.md).
 * Accepts a string or the script's bytes (then only the tail lines are decoded).
 */
export function findSourceMappingURL(script: string | Uint8Array): string | null {
  return findTailComment(script, 'sourceMappingURL=');
}

/**
 * The value of the `//# <key><value>` comment among the tail lines of a script (the rules of
 * findSourceMappingURL: other comment lines and blank lines are skipped, code ends the search).
 * Also reads `//# debugId=` (debug-id.ts).
 */
export function findTailComment(script: string | Uint8Array, key: string): string | null {
  const buf = typeof script === 'string' ? Buffer.from(script, 'utf8') : Buffer.from(script.buffer, script.byteOffset, script.byteLength);
  let end = buf.length;
  for (let looked = 0; end > 0 && looked < TAIL_LINES; looked++) {
    // The line is [start, end): after the previous line terminator (LF, or a lone CR).
    let start = end;
    while (start > 0 && buf[start - 1] !== 10 && buf[start - 1] !== 13) start--;
    const found = commentValue(buf, start, end, key);
    end = start > 0 && buf[start - 1] === 10 && start >= 2 && buf[start - 2] === 13 ? start - 2 : start - 1;
    if (end < 0) end = 0;
    if (found === undefined) continue; // blank or another comment
    return found; // the value, or null: code ends the search
  }
  return null;
}

/** Past the buffer's end (undefined) is not blank. */
const isBlank = (c: number | undefined) => c === 32 || c === 9 || c === 11 || c === 12 || c === 0xa0;

/**
 * One tail line: the value (string) of a `//# <key>` comment, undefined for a blank or other
 * `//` line (keep looking), null for anything else (stop).
 */
function commentValue(buf: Buffer, start: number, end: number, key: string): string | null | undefined {
  let i = start;
  let e = end;
  while (i < e && isBlank(buf[i])) i++;
  while (e > i && isBlank(buf[e - 1])) e--;
  if (i === e) return undefined;
  if (buf[i] !== 47 || buf[i + 1] !== 47) return null; // not a line comment
  let j = i + 2;
  if (buf[j] !== 35 /* # */ && buf[j] !== 64 /* @ */) return undefined;
  j++;
  while (j < e && isBlank(buf[j])) j++;
  if (e - j < key.length || buf.toString('latin1', j, j + key.length) !== key) return undefined;
  j += key.length;
  while (j < e && isBlank(buf[j])) j++;
  if (j === e) return undefined;
  // The value is one token: whitespace inside means this is not such a comment.
  for (let k = j; k < e; k++) if (isBlank(buf[k])) return undefined;
  return buf.toString('utf8', j, e);
}

/** Longest reference or URL path looked at (stored paths are at most 1 024 bytes). */
const MAX_REF_CHARS = 4096;

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
    const params = r
      .slice(5, comma)
      .split(';')
      .map((p) => p.trim().toLowerCase());
    const payload = r.slice(comma + 1);
    try {
      const bytes = params.includes('base64') ? Buffer.from(payload, 'base64') : Buffer.from(decodeURIComponent(payload), 'utf8');
      return bytes.length ? { kind: 'inline', bytes } : null;
    } catch {
      return null;
    }
  }
  // Stored paths are at most 1 024 bytes; a longer reference cannot name one (and costs time).
  if (r.length > MAX_REF_CHARS) return null;
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
 * lexicographically smallest, so the choice is deterministic. One-off form of SuffixIndex.
 */
export function suffixMatch(mapPath: string, files: readonly string[]): string | null {
  return new SuffixIndex(files).match(mapPath);
}

interface SuffixNode {
  children: Map<string, SuffixNode>;
  /** The preferred file (shortest, then smallest) among those whose path ends here or below. */
  best: string;
}

const better = (a: string, b: string) => a.length < b.length || (a.length === b.length && a < b);

/**
 * The longest-suffix fallback as a lookup structure: a trie over the reversed path segments of
 * the tree's `.map` files, each node keeping its preferred file. Built once per tree revision in
 * time linear in the listing; a lookup walks at most the query's segments. (The previous scan
 * cost frames × files on every request: 27 s for a 35 KB stack against 1 500 files.)
 */
export class SuffixIndex {
  private readonly root: SuffixNode = { children: new Map(), best: '' };
  /** Characters held, as a memory cost estimate for caches. */
  readonly chars: number;
  /** Every stored file by the stem of its name (text before the first `.`), for `closest`. */
  private readonly byStem = new Map<string, string[]>();

  constructor(files: readonly string[]) {
    let chars = 0;
    for (const f of files) {
      const stem = fileStem(f);
      const same = this.byStem.get(stem);
      if (same) same.push(f);
      else this.byStem.set(stem, [f]);
      chars += f.length * 2 + 32;
      if (!f.endsWith('.map')) continue;
      chars += f.length * 2 + 64;
      const segs = f.split('/').filter((s) => s !== '' && s !== '.');
      let node = this.root;
      for (const seg of segs.reverse()) {
        let child = node.children.get(seg);
        if (!child) node.children.set(seg, (child = { children: new Map(), best: f }));
        else if (better(f, child.best)) child.best = f;
        node = child;
      }
    }
    this.chars = chars;
  }

  /** Same answer as a scan of every file with suffixMatch's rule. */
  match(mapPath: string): string | null {
    let node = this.root;
    for (const seg of mapPath.split('/').reverse()) {
      const child = node.children.get(seg);
      if (!child) break;
      node = child;
    }
    return node === this.root ? null : node.best;
  }

  /**
   * Up to `limit` stored files whose name has the same stem as `path`'s (`main.3f2a.js` and
   * `main.9c1b.js.map`), those sharing the longest path suffix first: the likely intended file
   * when a map was uploaded but not matched (a renamed hash, another directory).
   */
  closest(path: string, limit = 5): string[] {
    const same = this.byStem.get(fileStem(path));
    if (!same) return [];
    const want = path.split('/');
    const common = (f: string) => {
      const segs = f.split('/');
      let n = 1; // the file names differ (else the rules would have matched); count directories
      while (n < want.length && n < segs.length && want[want.length - 1 - n] === segs[segs.length - 1 - n]) n++;
      return n;
    };
    return same
      .slice(0, 1000) // bounded work per miss, however many files share a stem
      .map((f) => ({ f, n: common(f) }))
      .sort((a, b) => b.n - a.n || a.f.length - b.f.length || (a.f < b.f ? -1 : 1))
      .slice(0, limit)
      .map((x) => x.f);
  }
}

function fileStem(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const dot = name.indexOf('.');
  return dot > 0 ? name.slice(0, dot) : name;
}
