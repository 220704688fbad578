import { mkdtemp, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { build } from 'esbuild';
import yazl from 'yazl';

/** A small real TypeScript app, bundled and minified by esbuild with external sourcemaps. */
export const APP_SOURCES: Record<string, string> = {
  'src/index.ts': `import { checkout } from './cart/checkout';
export function main(items: number[]): number {
  return checkout(items);
}
(globalThis as any).__app = { main };
`,
  'src/cart/checkout.ts': `import { subtotal } from './subtotal';
export class Cart {
  constructor(private readonly items: number[]) {}
  total(): number {
    return subtotal(this.items);
  }
}
export function checkout(items: number[]): number {
  const cart = new Cart(items);
  return cart.total();
}
`,
  'src/cart/subtotal.ts': `export function subtotal(items: number[]): number {
  let sum = 0;
  for (const item of items) {
    if (item < 0) {
      throw new RangeError('negative price: ' + item);
    }
    sum += item;
  }
  return sum;
}
`,
};

/**
 * Builds the app into `<dir>/dist/static/js/app.js` (+ `.map`), as a CI job would.
 * `variant` changes the code so two builds produce different maps.
 */
export async function buildApp(opts: { variant?: string; sourcesContent?: boolean } = {}): Promise<{ root: string; dist: string }> {
  const root = await mkdtemp(join(tmpdir(), 'mapvault-app-'));
  for (const [path, text] of Object.entries(APP_SOURCES)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), opts.variant ? text.replace('negative price', `negative price (${opts.variant})`) : text);
  }
  const dist = join(root, 'dist');
  await build({
    entryPoints: [join(root, 'src/index.ts')],
    outfile: join(dist, 'static/js/app.js'),
    bundle: true,
    minify: true,
    sourcemap: 'external',
    format: 'iife',
    target: 'es2020',
    sourcesContent: opts.sourcesContent ?? true,
    logLevel: 'silent',
  });
  return { root, dist };
}

/** Every file under `dir`, recursively, as paths sorted by name. */
export async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out.sort();
}

/** Zips a directory's files with yazl (paths relative to it), plus any extra entries. */
export async function zipDir(dir: string, extra: Record<string, Buffer | string> = {}): Promise<Buffer> {
  const entries: Record<string, Buffer | string> = {};
  for (const file of await walk(dir)) entries[relative(dir, file).split('\\').join('/')] = await readFile(file);
  return zipEntries({ ...entries, ...extra });
}

export async function zipEntries(entries: Record<string, Buffer | string>, opts: { compress?: boolean } = {}): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, data] of Object.entries(entries)) {
    zip.addBuffer(Buffer.isBuffer(data) ? data : Buffer.from(data), name, { compress: opts.compress ?? true });
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const c of zip.outputStream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
