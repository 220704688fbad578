/**
 * Test fixtures: real esbuild bundles of a small TS project, an in-memory TreeSource, and an
 * independent resolver (source-map@0.6) to check results against.
 */
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import sourceMap from 'source-map';
import type { TreeSource } from '../../src/symbolicate/index.ts';

export const CDN = 'https://cdn.example.com';

/** The TS project: a throw three calls deep, through a class, an async function and a constructor. */
const SOURCES: Record<string, string> = {
  'src/errors.ts': `export class ValidationError extends Error {
  constructor(readonly field: string) {
    super('invalid ' + field);
  }
}
`,
  'src/validate.ts': `import { ValidationError } from './errors.ts';

export function validateAmount(amount: number): number {
  if (!(amount >= 0)) {
    throw new ValidationError('amount');
  }
  return amount;
}
`,
  'src/cart.ts': `import { validateAmount } from './validate.ts';

export class Cart {
  private items: number[] = [];

  add(price: number): number {
    const ok = validateAmount(price);
    this.items.push(ok);
    return this.total();
  }

  total(): number {
    return this.items.reduce((a, b) => a + b, 0);
  }
}

export async function checkout(cart: Cart, price: number): Promise<number> {
  await Promise.resolve();
  return cart.add(price);
}

export class Account {
  readonly balance: number;
  constructor(initial: number) {
    this.balance = validateAmount(initial);
  }
}
`,
  'src/index.ts': `import { Account, Cart, checkout } from './cart.ts';

export function runSync(): number {
  const cart = new Cart();
  cart.add(3);
  return cart.add(-1);
}

export async function runAsync(): Promise<number> {
  return checkout(new Cart(), -5);
}

export function runCtor(): Account {
  return new Account(-2);
}
`,
  'src/other.ts': `function explode(kind: string): never {
  throw new TypeError('boom: ' + kind);
}

export function runOther(): void {
  [1].forEach(() => explode('other'));
}
`,
};

export interface Bundle {
  /** Absolute path of the built .js on disk. */
  file: string;
  /** A copy without the sourceMappingURL comment, to run: Node/tsx must not apply the map itself. */
  runFile: string;
  /** Its URL as a browser would report it. */
  url: string;
  js: string;
  /** Map JSON text (null for inline maps). */
  map: string | null;
}

export interface Fixture {
  dir: string;
  app: Bundle; // static/js/app.js + .map (sourcesContent)
  noContent: Bundle; // static/js/nc.js + .map (sourcesContent: false)
  other: Bundle; // static/js/other.js + .map
  inline: Bundle; // static/inline/vendor.js, map only as data: URL
  suffix: Bundle; // assets/lib.js; map stored at build/out/assets/lib.js.map only
  cleanup(): void;
}

async function bundle(
  dir: string,
  entry: string,
  treePath: string,
  opts: { sourcesContent?: boolean; inline?: boolean } = {},
): Promise<Bundle> {
  const file = join(dir, 'out', treePath);
  mkdirSync(dirname(file), { recursive: true });
  await build({
    entryPoints: [join(dir, entry)],
    outfile: file,
    bundle: true,
    minify: true,
    format: 'esm',
    sourcemap: opts.inline ? 'inline' : 'external',
    sourcesContent: opts.sourcesContent ?? true,
    logLevel: 'error',
  });
  const js = readFileSync(file, 'utf8');
  const runFile = file.replace(/\.js$/, '.run.mjs');
  writeFileSync(runFile, js.replace(/\/\/# sourceMappingURL=.*/, ''));
  return {
    file,
    runFile,
    url: `${CDN}/${treePath}`,
    js,
    map: opts.inline ? null : readFileSync(`${file}.map`, 'utf8'),
  };
}

export async function buildFixture(): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'mapvault-sym-'));
  for (const [p, text] of Object.entries(SOURCES)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), text);
  }
  const [app, noContent, other, inline, suffix] = await Promise.all([
    bundle(dir, 'src/index.ts', 'static/js/app.js'),
    bundle(dir, 'src/index.ts', 'static/js/nc.js', { sourcesContent: false }),
    bundle(dir, 'src/other.ts', 'static/js/other.js'),
    bundle(dir, 'src/other.ts', 'static/inline/vendor.js', { inline: true }),
    bundle(dir, 'src/index.ts', 'assets/lib.js'),
  ]);
  return {
    dir,
    app: app!,
    noContent: noContent!,
    other: other!,
    inline: inline!,
    suffix: suffix!,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Runs an exported function of a bundle and returns the thrown error's stack with the bundle's file URL replaced by its CDN URL. */
export async function stackOf(b: Bundle, fn: string): Promise<string> {
  const mod = (await import(pathToFileURL(b.runFile).href)) as Record<string, () => unknown>;
  try {
    await mod[fn]!();
  } catch (e) {
    // Under tsx the frames show the file path, under plain node the file:// URL.
    return (e as Error).stack!.split(pathToFileURL(b.runFile).href).join(b.url).split(b.runFile).join(b.url);
  }
  throw new Error(`${fn} did not throw`);
}

/** In-memory TreeSource that counts reads. */
export class MemTree implements TreeSource {
  reads: string[] = [];
  listCalls = 0;
  readonly files = new Map<string, Buffer>();
  constructor(
    public id: string,
    files: Record<string, string | Buffer> = {},
  ) {
    for (const [p, c] of Object.entries(files)) this.files.set(p, Buffer.isBuffer(c) ? c : Buffer.from(c));
  }
  async listFiles(): Promise<string[]> {
    this.listCalls++;
    return [...this.files.keys()].sort();
  }
  async fileInfo(path: string): Promise<{ size: number; sha256: string } | null> {
    const f = this.files.get(path);
    return f ? { size: f.length, sha256: createHash('sha256').update(f).digest('hex') } : null;
  }
  async readFile(path: string): Promise<Buffer | null> {
    this.reads.push(path);
    await new Promise((r) => setImmediate(r)); // be asynchronous like real storage
    return this.files.get(path) ?? null;
  }
}

export interface Expected {
  source: string | null;
  line: number | null;
  /** 1-based */
  column: number | null;
  name: string | null;
}

/** source-map@0.6's answer for a 1-based line/column, with the column made 1-based. */
export function expectedFor(mapJson: string, line: number, column: number): Expected {
  const c = new sourceMap.SourceMapConsumer(JSON.parse(mapJson));
  const p = c.originalPositionFor({ line, column: column - 1 });
  return { source: p.source, line: p.line, column: p.column === null ? null : p.column + 1, name: p.name ?? null };
}

/** A 1-based generated position that maps to `source` line `line` (the first such segment), via source-map@0.6. */
export function generatedFor(mapJson: string, sourceSuffix: string, line: number): { line: number; column: number } {
  const c = new sourceMap.SourceMapConsumer(JSON.parse(mapJson));
  let found: { line: number; column: number } | null = null;
  c.eachMapping((m) => {
    if (!found && m.source.endsWith(sourceSuffix) && m.originalLine === line)
      found = { line: m.generatedLine, column: m.generatedColumn + 1 };
  });
  if (!found) throw new Error(`no mapping for ${sourceSuffix}:${line}`);
  return found;
}

/** Line number (1-based) of the first line of a fixture source containing `needle`. */
export function sourceLine(file: string, needle: string): number {
  const i = SOURCES[file]!.split('\n').findIndex((l) => l.includes(needle));
  if (i < 0) throw new Error(`${needle} not in ${file}`);
  return i + 1;
}
