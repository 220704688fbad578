/** `mapvault symbolicate`: resolve a minified stack trace through the stored sourcemaps (parse_stack, API.md §8). */
import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import type { FrameResult, ResolveResult } from '../symbolicate/types.ts';
import {
  action, addConnectionOptions, CliError, identity, log, makeClient, plural, requireConnection, withEnv, type ConnectionOptions,
} from './common.ts';

interface SymbolicateOptions extends ConnectionOptions {
  file?: string;
  json: boolean;
  context?: boolean;
  strict: boolean;
  platform?: 'web' | 'android';
}

/** Exit status when frames did not resolve (none, or with --strict any): distinct from 1, a failure to ask. */
export const EXIT_UNRESOLVED = 2;

/** The answer's shape is the server's own (API.md §8); other Guance-compatible servers send the same fields. */
export type Frame = FrameResult;
type ParseStackContent = ResolveResult;

export function registerSymbolicate(program: Command): void {
  const cmd = program.command('symbolicate').description('resolve a minified stack trace (from stdin or --file) with the stored sourcemaps');
  addConnectionOptions(cmd)
    .option('--file <path>', 'read the stack from this file instead of stdin')
    .option('--json', "print the server's answer (the rewritten stack and every frame) as JSON", false)
    .option('--context', 'show the original source line under each resolved frame (default: on a terminal)')
    .option('--no-context', 'do not show source lines')
    .addOption(new Option('--platform <platform>', 'force the stack kind (default: Java/Kotlin stacks are recognized)').choices(['web', 'android']))
    .option('--strict', `exit ${2} when any frame did not resolve (by default only when none did)`, false);
  withEnv(cmd).action(action(symbolicate));
}

async function symbolicate(o: SymbolicateOptions): Promise<void> {
  const conn = requireConnection(o);
  const stack = await readStack(o.file);
  const client = makeClient(conn, o.retries);
  let result: ParseStackContent;
  try {
    const body: Record<string, string> = { appId: conn.appId, stack };
    if (conn.version) body.version = conn.version;
    if (conn.env) body.env = conn.env;
    if (o.platform) body.platform = o.platform;
    result = (await client.call<ParseStackContent>('/parse_stack', { json: body })).content;
  } finally {
    await client.close();
  }
  if (o.json) {
    // `path` beside the server's raw `source`: the same project path the text output shows.
    // (Java frames have no `source`: their original classes are in `chain`.)
    const frames = result.frames.map((f) => (typeof f.source === 'string' ? { ...f, path: projectPath(f.source) } : f));
    log(JSON.stringify({ ...result, frames }, null, 2));
  } else {
    const withContext = o.context ?? process.stdout.isTTY === true;
    process.stdout.write(render(stack, result, withContext));
  }
  const resolved = result.frames.filter((f) => f.resolved).length;
  const total = result.frames.length;
  if (total === 0) throw new CliError('no stack frames found in the input (expected lines like "    at fn (https://host/app.js:1:2)")', EXIT_UNRESOLVED);
  if (resolved === 0) {
    throw new CliError(`none of the ${plural(total, 'frame')} resolved for ${identity(conn)}; see the "not resolved" reasons`, EXIT_UNRESOLVED);
  }
  if (o.strict && resolved < total) throw new CliError(`${total - resolved} of ${plural(total, 'frame')} did not resolve (--strict)`, EXIT_UNRESOLVED);
  if (process.stderr.isTTY) process.stderr.write(`resolved ${resolved} of ${plural(total, 'frame')}\n`);
}

/**
 * A resolved `source` as a project path (documented in docs/CLI.md): a `webpack://<name>/` or
 * `webpack:///` prefix, then leading `./` and `../` segments (the map's place in the build) are
 * removed, and `.`/`..` inside are resolved: `webpack://shop/./src/a.ts`, `../../src/a.ts` and
 * `./src/a.ts` all read `src/a.ts`. Other URLs (`https:`, `file:`) and absolute paths are kept.
 */
export function projectPath(source: string): string {
  let p = source.replace(/^webpack:\/\/[^/]*\//, '');
  if (/^[a-z][a-z0-9+.-]*:/i.test(p) || p.startsWith('/')) return p;
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '.' || seg === '') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  p = out.join('/');
  return p === '' ? source : p;
}

/** Why a frame did not resolve, in words (the server's detail when it gives one). */
function notResolved(f: Frame): string {
  return `# not resolved: ${f.detail ? `${f.detail}` : (f.reason ?? 'unknown reason')}`;
}

async function readStack(file: string | undefined): Promise<string> {
  let text: string;
  if (file) {
    text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new CliError(`${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
    });
  } else {
    if (process.stdin.isTTY) throw new CliError('no stack: pipe one to stdin or pass --file');
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    text = Buffer.concat(chunks).toString('utf8');
  }
  if (!text.trim()) throw new CliError('the stack is empty');
  return text;
}

/**
 * The server's rewritten stack (each resolved frame now reads `path:line:column`, the source as a
 * project path), each unresolved frame followed on its line by `# not resolved: <why>`, and, with
 * context, the original source line under resolved frames.
 */
export function render(input: string, r: ParseStackContent, withContext: boolean): string {
  const inLines = input.split(/\r?\n/), outLines = r.stack.split(/\r?\n/);
  if (inLines.length !== outLines.length) return r.stack.endsWith('\n') ? r.stack : `${r.stack}\n`;
  const out: string[] = [];
  let k = 0;
  inLines.forEach((line, i) => {
    const f = r.frames[k];
    if (!f || f.raw.replace(/\r$/, '') !== line) return void out.push(outLines[i]!);
    k++;
    if (!f.resolved) return void out.push(`${outLines[i]!}  ${notResolved(f)}`);
    const at = `${f.source}:${f.originalLine}:${f.originalColumn}`;
    out.push(f.source == null ? outLines[i]! : outLines[i]!.replace(at, `${projectPath(f.source)}:${f.originalLine}:${f.originalColumn}`));
    if (withContext && f.context) out.push(`        | ${f.context.line.trim()}`);
  });
  const text = out.join('\n');
  return text.endsWith('\n') ? text : `${text}\n`;
}
