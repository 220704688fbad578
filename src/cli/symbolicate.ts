/** `mapvault symbolicate`: resolve a minified stack trace through the stored sourcemaps (parse_stack, API.md §8). */
import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import type { FrameResult, ResolveResult } from '../symbolicate/types.ts';
import { action, addConnectionOptions, CliError, log, makeClient, requireConnection, withEnv, type ConnectionOptions } from './common.ts';

interface SymbolicateOptions extends ConnectionOptions {
  file?: string;
  json: boolean;
  context?: boolean;
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
    .addOption(new Option('--platform <platform>', 'force the stack kind (default: Java/Kotlin stacks are recognized)').choices(['web', 'android']));
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
    log(JSON.stringify(result, null, 2));
    return;
  }
  const withContext = o.context ?? process.stdout.isTTY === true;
  process.stdout.write(render(stack, result, withContext));
  if (process.stderr.isTTY) {
    const resolved = result.frames.filter((f) => f.resolved).length;
    process.stderr.write(`resolved ${resolved} of ${result.frames.length} frames\n`);
  }
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
export function render(input: string, r: ParseStackContent, withContext: boolean): string {
  const inLines = input.split(/\r?\n/), outLines = r.stack.split(/\r?\n/);
  if (!withContext || inLines.length !== outLines.length) return r.stack.endsWith('\n') ? r.stack : `${r.stack}\n`;
  const out: string[] = [];
  let k = 0;
  inLines.forEach((line, i) => {
    out.push(outLines[i]!);
    const f = r.frames[k];
    if (!f || f.raw.replace(/\r$/, '') !== line) return;
    k++;
    if (f.resolved && f.context) out.push(`        | ${f.context.line.trim()}`);
    else if (!f.resolved) out.push(`        (not resolved: ${f.reason ?? 'unknown'})`); // --json has the detail
  });
  const text = out.join('\n');
  return text.endsWith('\n') ? text : `${text}\n`;
}
