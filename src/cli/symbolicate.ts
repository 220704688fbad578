/** `mapvault symbolicate`: resolve a minified stack trace through the stored sourcemaps (parse_stack, API.md §8). */
import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import type { FrameResult, ResolveResult } from '../symbolicate/types.ts';
import { normalizeDebugId } from '../symbolicate/debug-id.ts';
import { action, addConnectionOptions, CliError, log, makeClient, requireConnection, withEnv, type ConnectionOptions } from './common.ts';

interface SymbolicateOptions extends ConnectionOptions {
  file?: string;
  json: boolean;
  context?: boolean;
  explain: boolean;
  debugId: string[];
  platform?: 'web' | 'android';
}

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
    .option('--debug-id <url=uuid>', "a script URL's debug ID, as the browser SDK reported it (repeatable): its frames are resolved through it first",
      (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--explain', "under each frame, how its map was found, or what was looked for and the closest stored files", false)
    .addOption(new Option('--platform <platform>', 'force the stack kind (default: Java/Kotlin stacks are recognized)').choices(['web', 'android']));
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
    log(JSON.stringify(result, null, 2));
    return;
  }
  const withContext = o.context ?? process.stdout.isTTY === true;
  process.stdout.write(render(stack, result, withContext, o.explain));
  if (process.stderr.isTTY) {
    const resolved = result.frames.filter((f) => f.resolved).length;
    process.stderr.write(`resolved ${resolved} of ${result.frames.length} frames\n`);
  }
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
 * The server's rewritten stack (each resolved frame now reads `source:line:column`), with the
 * original source line under resolved frames and the reason under unresolved ones when asked.
 */
export function render(input: string, r: ParseStackContent, withContext: boolean, explain = false): string {
  const inLines = input.split(/\r?\n/), outLines = r.stack.split(/\r?\n/);
  const stack = r.stack.endsWith('\n') ? r.stack : `${r.stack}\n`;
  if (!withContext && !explain) return stack;
  if (inLines.length !== outLines.length) {
    // Lines were added or removed (Java inlining): the explanations follow the stack, one block per frame.
    if (!explain) return stack;
    return stack + r.frames.flatMap((f) => [`  ${f.raw.trim()}`, ...explainFrame(f)]).map((l) => `${l}\n`).join('');
  }
  const out: string[] = [];
  let k = 0;
  inLines.forEach((line, i) => {
    out.push(outLines[i]!);
    const f = r.frames[k];
    if (!f || f.raw.replace(/\r$/, '') !== line) return;
    k++;
    if (withContext) {
      if (f.resolved && f.context) out.push(`        | ${f.context.line.trim()}`);
      else if (!f.resolved) out.push(`        (not resolved: ${f.reason ?? 'unknown'})`); // --json has the detail
    }
    if (explain) out.push(...explainFrame(f));
  });
  const text = out.join('\n');
  return text.endsWith('\n') ? text : `${text}\n`;
}

/**
 * `--explain`: how the frame's map was found (`match`, API.md §8), or why none was: the reason,
 * what was looked for, and the stored files that come closest.
 */
export function explainFrame(f: Frame): string[] {
  const pad = '        ';
  const m = (f as Partial<Frame>).match;
  if (!m) return f.resolved ? [] : [`${pad}not resolved: ${f.reason ?? 'unknown'}${f.detail ? ` (${f.detail})` : ''}`];
  const id = m.debugId ? ` (debug ID ${m.debugId})` : '';
  if (m.by !== null && m.map !== null) {
    const how = {
      debugId: `its debug ID ${m.debugId ?? ''}`.trimEnd(),
      path: 'the URL path + .map',
      sourceMappingURL: "the script's sourceMappingURL",
      suffix: 'the longest matching path suffix',
    }[m.by];
    const from = m.from ? `, stored for appId "${m.from.appId}" version "${m.from.version}" env "${m.from.env}"` : '';
    const unused = m.by !== 'debugId' && m.debugId ? ` (its debug ID ${m.debugId} led to no stored map)` : '';
    const lines = [`${pad}map: ${m.map}, found by ${how}${from}${unused}`];
    if (!f.resolved) lines.push(`${pad}not resolved: ${f.reason ?? 'unknown'}${f.detail ? ` (${f.detail})` : ''}`);
    return lines;
  }
  const lines = [`${pad}no map${id}: ${f.detail ?? f.reason ?? 'unknown'}`];
  if (m.tried?.length) lines.push(`${pad}looked for: ${m.tried.join('; then ')}`);
  if (m.tried) lines.push(`${pad}closest stored files: ${m.closest?.length ? m.closest.join(', ') : 'none with the same file name'}`);
  return lines;
}
