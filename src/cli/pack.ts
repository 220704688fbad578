/**
 * Packaging for `upload`: choose the files of a build directory, check them, and stream them into
 * a deterministic zip on disk (same input → same bytes → same sha256, which is what makes an
 * interrupted upload resumable by re-running the same command).
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import yazl from 'yazl';
import { MAX_TEXT, SourceMapCheck } from '../sourcemaps/map-check.ts';
import { mapDebugId, scriptDebugId } from '../symbolicate/debug-id.ts';
import { findSourceMappingURL, resolveMapRef } from '../symbolicate/locate.ts';
import { globMatcher } from './glob.ts';

export interface PackedFile {
  /** Absolute path on disk. */
  abs: string;
  /** Path relative to the directory, with `/`. */
  rel: string;
  /** Path inside the zip: `rel` after --strip-prefix; must equal the script URL's path (+ .map). */
  name: string;
  size: number;
}

export interface Selection {
  files: PackedFile[];
  /** Matching files left out because they are not under --strip-prefix. */
  outsidePrefix: number;
  /** Every .js under the prefix (included or not), for the sourceMappingURL check. */
  scripts: PackedFile[];
}

/** Never descended into: they are not build output, and node_modules is full of .map files. */
const SKIP_DIRS = new Set(['node_modules', '.git']);
/** A fixed timestamp keeps the zip's bytes independent of when the build ran. */
const FIXED_MTIME = new Date(2000, 0, 1);

export function normalizePrefix(prefix: string | undefined): string {
  const p = (prefix ?? '')
    .replace(/\\/g, '/')
    .replace(/^(\.\/)+/, '')
    .replace(/^\/+/, '');
  return p && !p.endsWith('/') ? `${p}/` : p;
}

/**
 * Walks `dir` and keeps the files matching `include` (tested against the path relative to `dir`
 * and against the same path after `stripPrefix`), sorted by zip path.
 */
export async function selectFiles(dir: string, include: string[], stripPrefix?: string): Promise<Selection> {
  const match = globMatcher(include);
  const prefix = normalizePrefix(stripPrefix);
  const files: PackedFile[] = [],
    scripts: PackedFile[] = [];
  let outsidePrefix = 0;
  for (const { abs, rel, size } of await walk(dir, '')) {
    const inside = rel.startsWith(prefix);
    const name = inside ? rel.slice(prefix.length) : rel;
    const f = { abs, rel, name, size };
    if (inside && /\.[cm]?js$/.test(rel)) scripts.push(f);
    if (!match(rel) && !match(name)) continue;
    if (inside) files.push(f);
    else outsidePrefix++;
  }
  const byName = (a: PackedFile, b: PackedFile) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return { files: files.sort(byName), outsidePrefix, scripts: scripts.sort(byName) };
}

async function walk(root: string, rel: string): Promise<{ abs: string; rel: string; size: number }[]> {
  const out: { abs: string; rel: string; size: number }[] = [];
  for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    const abs = join(root, r);
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name)) out.push(...(await walk(root, r)));
    } else if (e.isFile() || e.isSymbolicLink()) {
      // A symlinked file is packed as the file it points at; symlinked directories are not followed (loops).
      const st = await stat(abs).catch(() => null);
      if (st?.isFile()) out.push({ abs, rel: r, size: st.size });
    }
  }
  return out;
}

/** Streams the files into a zip at `out` (never held in memory); returns its size and sha256. */
export async function packZip(files: PackedFile[], out: string, signal?: AbortSignal): Promise<{ size: number; sha256: string }> {
  const zip = new yazl.ZipFile();
  // Deflate level 3, not zlib's default 6: on sourcemaps it is ~2x faster for ~10% more bytes
  // (2 000 maps, 300 MB: 8.6 s → 80 MB vs 16.2 s → 72 MB; bench/cli.ts), and packing is most of
  // an upload's time. The level is part of the deterministic output: changing it changes the sha256.
  for (const f of files) zip.addFile(f.abs, f.name, { mtime: FIXED_MTIME, mode: 0o100644, compressionLevel: 3 });
  zip.end();
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(
    zip.outputStream as Readable,
    async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        hash.update(chunk);
        size += chunk.length;
        yield chunk;
      }
    },
    createWriteStream(out),
    { signal },
  );
  return { size, sha256: hash.digest('hex') };
}

export async function hashFile(path: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { size, sha256: hash.digest('hex') };
}

export async function isZipFile(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(4), 0, 4, 0);
    return bytesRead === 4 && buffer.readUInt32LE(0) === 0x04034b50; // "PK\3\4"
  } finally {
    await fh.close();
  }
}

/** Why a `.map` file would not be usable (null when it is), and its debug ID: the server's merge-time reading, streamed. */
interface MapFileCheck {
  problem: string | null;
  debugId: string | null;
  /** The map's `file` (its generated script), null when absent or too long to be one. */
  file: string | null;
}

/** Each selected map is read once, however many checks ask. */
const mapChecks = new WeakMap<PackedFile, Promise<MapFileCheck>>();

function checkMapFile(f: PackedFile): Promise<MapFileCheck> {
  let checked = mapChecks.get(f);
  if (!checked) {
    checked = (async () => {
      const check = new SourceMapCheck();
      for await (const chunk of createReadStream(f.abs) as AsyncIterable<Buffer>) check.write(chunk);
      const problem = check.result();
      if (problem) return { problem, debugId: null, file: null };
      const file = check.stringField('file');
      return {
        problem,
        debugId: mapDebugId({ debugId: check.stringField('debugId'), debug_id: check.stringField('debug_id') }),
        file: file && file.length < MAX_TEXT ? file : null,
      };
    })();
    mapChecks.set(f, checked);
  }
  return checked;
}

/**
 * Adds to the selection the generated script of each selected map, so the server can recover
 * original function names (they need the `.js`): the script beside it (`x.js.map` → `x.js`), else
 * the one its `file` field names (relative to the map), else one whose sourceMappingURL names the
 * map. Scripts already selected stay as they are. Returns the maps for which no script was found.
 */
export async function addMapScripts(sel: Selection): Promise<{ added: number; withoutScript: string[] }> {
  const selected = new Set(sel.files.map((f) => f.rel));
  const scriptByRel = new Map(sel.scripts.map((s) => [s.rel, s]));
  // Which map each script's sourceMappingURL names (read only when a map needs it).
  let namedBy: Map<string, PackedFile> | null = null;
  const byComment = async (mapRel: string): Promise<PackedFile | undefined> => {
    if (!namedBy) {
      namedBy = new Map();
      const byName = new Map(sel.files.map((f) => [f.name, f.rel]));
      for (const s of sel.scripts) {
        const url = findSourceMappingURL(await readFile(s.abs));
        const target = url && mapTarget(s.rel, url);
        const rel = target && (target.rooted ? byName.get(target.path) : target.path);
        if (rel && !namedBy.has(rel)) namedBy.set(rel, s);
      }
    }
    return namedBy.get(mapRel);
  };
  const adds: PackedFile[] = [];
  const withoutScript: string[] = [];
  for (const map of sel.files) {
    if (!map.rel.endsWith('.map')) continue;
    let script = scriptByRel.get(map.rel.slice(0, -'.map'.length));
    if (!script) {
      const { file } = await checkMapFile(map);
      const target = file ? mapTarget(map.rel, file) : null;
      if (target && !target.rooted) script = scriptByRel.get(target.path);
    }
    script ??= await byComment(map.rel);
    if (!script) withoutScript.push(map.rel);
    else if (!selected.has(script.rel)) {
      selected.add(script.rel);
      adds.push(script);
    }
  }
  if (adds.length > 0) {
    sel.files.push(...adds);
    sel.files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
  return { added: adds.length, withoutScript };
}

/**
 * Where a script's sourceMappingURL (or a map's `file`) points, as a path relative to the upload
 * root, by the server's own rule (symbolicate/locate.ts `resolveMapRef`), or null when it is a
 * data: URL or an absolute URL: the server matches those by path suffix, so there is nothing to
 * check locally.
 */
function mapTarget(scriptRel: string, url: string): { path: string; rooted: boolean } | null {
  const ref = url.trim();
  if (/^[a-z][a-z0-9+.-]*:/i.test(ref) || ref.startsWith('//')) return null;
  const resolved = resolveMapRef(scriptRel, ref);
  return resolved?.kind === 'path' ? { path: resolved.path, rooted: ref.startsWith('/') } : null;
}

/**
 * Warnings about a directory upload: `.map` files that are not sourcemaps, and scripts whose
 * sourceMappingURL names a file that is not in the upload (their frames would not resolve).
 */
export async function checkSelection(sel: Selection): Promise<string[]> {
  const warnings: string[] = [];
  const mapIds = new Map<string, string | null>();
  for (const f of sel.files) {
    if (!f.rel.endsWith('.map')) continue;
    const { problem, debugId } = await checkMapFile(f);
    if (problem) warnings.push(`${f.rel}: ${problem}`);
    else mapIds.set(f.rel, debugId);
  }
  const rels = new Set(sel.files.map((f) => f.rel)),
    names = new Set(sel.files.map((f) => f.name));
  const byName = new Map(sel.files.map((f) => [f.name, f.rel]));
  const pairs: DebugIdPair[] = [];
  for (const s of sel.scripts) {
    // The whole script, read with the server's rule, so the CLI warns about exactly the reference
    // the server will follow (a tail window could cut a long last line, such as an inline map).
    const script = await readFile(s.abs);
    const url = findSourceMappingURL(script);
    const target = url && mapTarget(s.rel, url);
    if (target && !(target.rooted ? names : rels).has(target.path)) {
      warnings.push(`${s.rel}: its sourceMappingURL ${url} (${target.path}) is not in the upload`);
    }
    const mapRel = target ? (target.rooted ? byName.get(target.path) : target.path) : `${s.rel}.map`;
    const mapId = mapRel === undefined ? undefined : mapIds.get(mapRel);
    if (mapRel !== undefined && mapId !== undefined) pairs.push({ script: s.rel, scriptId: scriptDebugId(script), map: mapRel, mapId });
  }
  return [...warnings, ...debugIdWarnings(pairs)];
}

/** A script and the map it names (or `<script>.map`), with the debug ID each carries. */
interface DebugIdPair {
  script: string;
  scriptId: string | null;
  map: string;
  mapId: string | null;
}

/**
 * Scripts and maps whose debug IDs do not agree (issue #12 §2): the ID the browser SDK reports
 * comes from the script, the server finds the map by the ID the map carries, so both must have
 * the same one. `mapvault inject` gives both the same ID before the build is deployed.
 */
export function debugIdWarnings(pairs: DebugIdPair[]): string[] {
  const fix = 'run `mapvault inject` on the build output before deploying it';
  return pairs.flatMap((p) => {
    if (p.scriptId === p.mapId) return [];
    if (p.mapId === null)
      return [
        `${p.script}: it has debug ID ${p.scriptId} but its map ${p.map} has none, so frames reported with that ID will not find the map; ${fix}`,
      ];
    if (p.scriptId === null)
      return [`${p.map}: it has debug ID ${p.mapId} but its script ${p.script} has none, so the browser reports no ID for it; ${fix}`];
    return [
      `${p.script}: its debug ID ${p.scriptId} differs from its map ${p.map}'s (${p.mapId}), so frames reported with it will not find the map; ${fix}`,
    ];
  });
}

/** The same checks for a ready-made zip, reading its entries one at a time. */
export async function checkZip(path: string): Promise<{ warnings: string[]; entries: number; maps: number }> {
  const warnings: string[] = [];
  const names = new Set<string>();
  const scripts: { name: string; url: string | null; debugId: string | null }[] = [];
  const mapIds = new Map<string, string | null>();
  let maps = 0;
  const zip = await yauzl.openPromise(path, { lazyEntries: true, autoClose: false });
  try {
    for await (const entry of zip.eachEntry()) {
      if (entry.fileName.endsWith('/')) continue;
      names.add(entry.fileName);
      const isMap = entry.fileName.endsWith('.map'),
        isJs = /\.[cm]?js$/.test(entry.fileName);
      if (!isMap && !isJs) continue;
      const check = isMap ? new SourceMapCheck() : null;
      const script: Buffer[] = []; // whole, for the server's sourceMappingURL rule (checkSelection)
      for await (const c of await zip.openReadStreamPromise(entry)) {
        if (check) check.write(c as Buffer);
        else script.push(c as Buffer);
      }
      if (check) {
        maps++;
        const problem = check.result();
        if (problem) warnings.push(`${entry.fileName}: ${problem}`);
        else mapIds.set(entry.fileName, mapDebugId({ debugId: check.stringField('debugId'), debug_id: check.stringField('debug_id') }));
      } else {
        const bytes = Buffer.concat(script);
        scripts.push({ name: entry.fileName, url: findSourceMappingURL(bytes), debugId: scriptDebugId(bytes) });
      }
    }
  } catch (err) {
    throw new Error(`${path} is not a readable zip: ${(err as Error).message}`);
  } finally {
    zip.close();
  }
  const pairs: DebugIdPair[] = [];
  for (const s of scripts) {
    const target = s.url ? mapTarget(s.name, s.url) : null;
    if (target && !names.has(target.path)) warnings.push(`${s.name}: its sourceMappingURL ${s.url} (${target.path}) is not in the zip`);
    const map = s.url ? target?.path : `${s.name}.map`;
    const mapId = map === undefined ? undefined : mapIds.get(map);
    if (map !== undefined && mapId !== undefined) pairs.push({ script: s.name, scriptId: s.debugId, map, mapId });
  }
  return { warnings: [...warnings, ...debugIdWarnings(pairs)], entries: names.size, maps };
}
