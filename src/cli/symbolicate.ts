/** `mapvault symbolicate`: resolve a minified stack trace through the stored sourcemaps (parse_stack, API.md §8). */
import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import type { FrameResult, ResolveResult } from '../symbolicate/types.ts';
import { normalizeDebugId } from '../symbolicate/debug-id.ts';
import {
  action,
  addConnectionOptions,
  CliError,
  identity,
  log,
  makeClient,
  plural,
  requireConnection,
  withEnv,
  type ConnectionOptions,
} from './common.ts';

interface SymbolicateOptions extends ConnectionOptions {
  file?: string;
  json: boolean;
  context?: boolean;
  strict: boolean;
  explain: boolean;
  debugId: string[];
  platform?: 'web' | 'android';
}

/** Exit status when frames did not resolve (none, or with --strict any): distinct from 1, a failure to ask. */
export const EXIT_UNRESOLVED = 2;

/** The answer's shape is the server's own (API.md §8); other Guance-compatible servers send the same fields. */
export type Frame = FrameResult;
type ParseStackContent = ResolveResult;

export function registerSymbolicate(program: Command): void {
  const cmd = program
    .command('symbolicate')
    .description('resolve a minified stack trace (from stdin or --file) with the stored sourcemaps');
  addConnectionOptions(cmd)
    .option('--file <path>', 'read the stack from this file instead of stdin')
    .option('--json', "print the server's answer (the rewritten stack and every frame) as JSON", false)
    .option('--context', 'show the original source line under each resolved frame (default: on a terminal)')
    .option('--no-context', 'do not show source lines')
    .option(
      '--debug-id <url=uuid>',
      "a script URL's debug ID, as the browser SDK reported it (repeatable): its frames are resolved through it first",
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--explain', 'under each frame, how its map was found, or what was looked for and the closest stored files', false)
    .addOption(
      new Option('--platform <platform>', 'force the stack kind (default: Java/Kotlin stacks are recognized)').choices(['web', 'android']),
    )
    .option('--strict', `exit ${2} when any frame did not resolve (by default only when none did)`, false);
  withEnv(cmd).action(action(symbolicate));
}

async function symbolicate(o: SymbolicateOptions): Promise<void> {
  const conn = requireConnection(o);
  const stack = await readStack(o.file);
  const client = makeClient(conn, o.retries);
  let result: ParseStackContent;
  try {
    const body: Record<string, unknown> = { appId: conn.appId, stack };
    if (o.debugId.length) body.debugIds = debugIdsOf(o.debugId);
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
    process.stdout.write(render(stack, result, withContext, o.explain));
  }
  const resolved = result.frames.filter((f) => f.resolved).length;
  const total = result.frames.length;
  if (total === 0)
    throw new CliError('no stack frames found in the input (expected lines like "    at fn (https://host/app.js:1:2)")', EXIT_UNRESOLVED);
  if (resolved === 0) {
    throw new CliError(
      `none of the ${plural(total, 'frame')} resolved for ${identity(conn)}; see the "not resolved" reasons`,
      EXIT_UNRESOLVED,
    );
  }
  if (o.strict && resolved < total)
    throw new CliError(`${total - resolved} of ${plural(total, 'frame')} did not resolve (--strict)`, EXIT_UNRESOLVED);
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

/** `--debug-id url=uuid` values → parse_stack's `debugIds` (the URL may itself contain `=`: the ID is after the last one). */
function debugIdsOf(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.lastIndexOf('=');
    const id = normalizeDebugId(v.slice(eq + 1));
    if (eq <= 0 || !id) throw new CliError(`--debug-id ${v}: expected <script url>=<uuid>`);
    out[v.slice(0, eq)] = id;
  }
  return out;
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
export function render(input: string, r: ParseStackContent, withContext: boolean, explain = false): string {
  const inLines = input.split(/\r?\n/),
    outLines = r.stack.split(/\r?\n/);
  if (inLines.length !== outLines.length) {
    const stack = r.stack.endsWith('\n') ? r.stack : `${r.stack}\n`;
    // Lines were added or removed (Java inlining): the explanations follow the stack, one block per frame.
    return explain
      ? stack +
          r.frames
            .flatMap((f) => [`  ${f.raw.trim()}`, ...explainFrame(f)])
            .map((l) => `${l}\n`)
            .join('')
      : stack;
  }
  const out: string[] = [];
  let k = 0;
  inLines.forEach((line, i) => {
    const f = r.frames[k];
    const outLine = outLines[i] ?? ''; // as many lines as inLines (checked above)
    if (!f || f.raw.replace(/\r$/, '') !== line) return void out.push(outLine);
    k++;
    if (!f.resolved) return void out.push(`${outLine}  ${notResolved(f)}`, ...(explain ? explainFrame(f) : []));
    const at = `${f.source}:${f.originalLine}:${f.originalColumn}`;
    out.push(f.source == null ? outLine : outLine.replace(at, `${projectPath(f.source)}:${f.originalLine}:${f.originalColumn}`));
    if (withContext && f.context) out.push(`        | ${f.context.line.trim()}`);
    if (explain) out.push(...explainFrame(f));
  });
  const text = out.join('\n');
  return text.endsWith('\n') ? text : `${text}\n`;
}

/**
 * `--explain`: how the frame's map was found (`match`, API.md §8), or, when none was, what was
 * looked for and the stored files that come closest (the reason is already on the frame's line).
 */
export function explainFrame(f: Frame): string[] {
  const pad = '        ';
  const m = (f as Partial<Frame>).match;
  if (!m) return []; // Java frames: their mapping is the identity's mapping.txt
  if (m.by !== null && m.map !== null) {
    const how = {
      debugId: `its debug ID ${m.debugId ?? ''}`.trimEnd(),
      path: 'the URL path + .map',
      sourceMappingURL: "the script's sourceMappingURL",
      suffix: 'the longest matching path suffix',
    }[m.by];
    const from = m.from ? `, stored for appId "${m.from.appId}" version "${m.from.version}" env "${m.from.env}"` : '';
    const unused = m.by !== 'debugId' && m.debugId ? ` (its debug ID ${m.debugId} led to no stored map)` : '';
    return [`${pad}map: ${m.map}, found by ${how}${from}${unused}`];
  }
  if (!m.tried) return [];
  return [
    `${pad}looked for: ${m.tried.join('; then ')}`,
    `${pad}closest stored files: ${m.closest?.length ? m.closest.join(', ') : 'none with the same file name'}`,
  ];
}
