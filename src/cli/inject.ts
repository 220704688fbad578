/**
 * `mapvault inject <dir>`: gives every script with an external sourcemap, and its map, the same
 * debug ID (issue #12 §2), for bundlers that do not emit one (esbuild). The ID is derived from
 * the map's content (debug-id.ts), so running it twice, or on another machine, agrees; an ID
 * present on one side is copied to the other; a script and map that disagree are reported and
 * left alone. The script gets `//# debugId=<id>` just before its `sourceMappingURL` comment, which
 * stays last; nothing before it moves, so the mappings stay correct. The map gets a `debugId`
 * field. Files are replaced atomically (written beside, then renamed).
 */
import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { Command } from 'commander';
import { debugIdFromContent, mapDebugId, scriptDebugId } from '../symbolicate/debug-id.ts';
import { findSourceMappingURL } from '../symbolicate/locate.ts';
import { action, CliError, log, plural, warn } from './common.ts';

export function registerInject(program: Command): void {
  program
    .command('inject')
    .description('add deterministic debug IDs to the scripts and sourcemaps under <dir> that lack them (//# debugId= and "debugId")')
    .argument('<dir>', 'a build output directory')
    .action(action(inject));
}

async function* scripts(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && e.name !== 'node_modules') yield* scripts(p);
    else if (e.isFile() && /\.(m|c)?js$/.test(e.name)) yield p;
  }
}

async function writeAtomically(path: string, data: string): Promise<void> {
  const tmp = `${path}.mapvault-inject-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/** The script with `//# debugId=` inserted before its trailing sourceMappingURL comment line. */
export function withScriptDebugId(script: string, id: string): string {
  const comment = `//# debugId=${id}`;
  const lines = script.split('\n');
  let at = lines.length;
  while (at > 0 && lines[at - 1]?.trim() === '') at--;
  const last = lines[at - 1]?.trim() ?? '';
  if (/^\/\/[#@]\s*sourceMappingURL=/.test(last)) {
    lines.splice(at - 1, 0, comment);
    return lines.join('\n');
  }
  return `${script}${script.endsWith('\n') || script === '' ? '' : '\n'}${comment}\n`;
}

export interface InjectSummary {
  injected: string[];
  unchanged: string[];
  mismatched: string[];
}

export async function injectDebugIds(dir: string): Promise<InjectSummary> {
  const summary: InjectSummary = { injected: [], unchanged: [], mismatched: [] };
  for await (const jsPath of scripts(dir)) {
    const script = await readFile(jsPath, 'utf8');
    const ref = findSourceMappingURL(script);
    // External maps only: an inline data: map would have to be re-encoded.
    const mapPath =
      ref && !/^data:/i.test(ref) && !/^[a-z][a-z0-9+.-]*:/i.test(ref)
        ? join(dirname(jsPath), decodeURIComponent(ref.replace(/[?#].*$/s, '')))
        : `${jsPath}.map`;
    const mapText = await readFile(mapPath, 'utf8').catch(() => null);
    if (mapText === null) continue;
    let map: Record<string, unknown>;
    try {
      map = JSON.parse(mapText) as Record<string, unknown>;
    } catch {
      warn(`${relative(dir, mapPath)} is not valid JSON; ${relative(dir, jsPath)} left as it is`);
      continue;
    }
    const fromScript = scriptDebugId(script);
    const fromMap = mapDebugId(map);
    const name = relative(dir, jsPath);
    if (fromScript && fromMap) {
      if (fromScript === fromMap) summary.unchanged.push(name);
      else {
        summary.mismatched.push(name);
        warn(`${name} has debug ID ${fromScript} but ${relative(dir, mapPath)} has ${fromMap}; left as they are`);
      }
      continue;
    }
    const id = fromScript ?? fromMap ?? debugIdFromContent(mapText);
    if (!fromMap) await writeAtomically(mapPath, JSON.stringify({ ...map, debugId: id }));
    if (!fromScript) await writeAtomically(jsPath, withScriptDebugId(script, id));
    summary.injected.push(name);
  }
  return summary;
}

async function inject(dir: string): Promise<void> {
  const s = await injectDebugIds(dir).catch((e: NodeJS.ErrnoException) => {
    throw e.code === 'ENOENT' ? new CliError(`no such directory: ${dir}`) : e;
  });
  log(
    `debug IDs: ${plural(s.injected.length, 'script')} injected, ${s.unchanged.length} already had one${s.mismatched.length ? `, ${s.mismatched.length} mismatched (see warnings)` : ''}`,
  );
  if (s.mismatched.length) process.exitCode = 1;
}
