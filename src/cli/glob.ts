/**
 * A small glob matcher for `--include`: `**` (any number of directories), `*` and `?` (within one
 * path segment) and `{a,b}` alternatives (nestable). Paths use `/`. A pattern without `/` matches
 * a file name at any depth (`*.map` = `**\/*.map`), as in .gitignore.
 */
export function globToRegExp(pattern: string): RegExp {
  let p = pattern.replace(/^(\.\/)+/, '');
  if (!p.includes('/')) p = `**/${p}`;
  return new RegExp(`^(?:${expandBraces(p).map(compile).join('|')})$`);
}

export function globMatcher(patterns: string[]): (path: string) => boolean {
  const res = patterns.map(globToRegExp);
  return (path) => res.some((re) => re.test(path));
}

/** `a{b,c{d,e}}` → [ab, acd, ace]; an unbalanced or comma-less `{…}` stays literal. */
export function expandBraces(p: string): string[] {
  for (let open = p.indexOf('{'); open !== -1; open = p.indexOf('{', open + 1)) {
    let depth = 0;
    const commas: number[] = [];
    for (let i = open; i < p.length; i++) {
      const ch = p[i];
      if (ch === '{') depth++;
      else if (ch === ',' && depth === 1) commas.push(i);
      else if (ch === '}' && --depth === 0) {
        if (commas.length === 0) break; // `{x}` is literal; look for a later brace
        const starts = [open, ...commas],
          ends = [...commas, i];
        const head = p.slice(0, open),
          tail = p.slice(i + 1);
        return starts.flatMap((start, k) => expandBraces(head + p.slice(start + 1, ends[k]) + tail));
      }
    }
  }
  return [p];
}

function compile(p: string): string {
  const segs = p.split('/');
  let re = '',
    needSlash = false;
  segs.forEach((seg, k) => {
    if (seg === '**') {
      // `**` spans zero or more whole segments, including the separators around them.
      if (k === segs.length - 1) re += needSlash ? '(?:/.*)?' : '.*';
      else re += needSlash ? '(?:/[^/]+)*/' : '(?:[^/]+/)*';
      needSlash = false;
    } else {
      re += (needSlash ? '/' : '') + segment(seg);
      needSlash = true;
    }
  });
  return re;
}

function segment(seg: string): string {
  let out = '';
  for (const ch of seg) {
    if (ch === '*') out += '[^/]*';
    else if (ch === '?') out += '[^/]';
    else out += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return out;
}
