/**
 * The real-bundles fixture (test/fixtures/real-bundles, README there): bundles built by webpack 5,
 * rollup + terser, esbuild and vite, and error stacks recorded in chromium and firefox-esr.
 * scoreNames resolves every recorded stack through StackResolver (the same path as parse_stack)
 * and compares each resolved frame's originalFunction with the oracle's name for its original
 * position. Shared by the accuracy test and bench/names.ts.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StackResolver } from '../../src/symbolicate/index.ts';
import type { TreeSource } from '../../src/symbolicate/index.ts';
import { walk } from './fixtures.ts';
import { oracleFunctionName } from './function-oracle.ts';

export const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/real-bundles/', import.meta.url));
export const BUNDLERS = ['webpack', 'rollup', 'esbuild', 'vite'] as const;
export const BROWSERS = ['chromium', 'firefox'] as const;

export interface TreeOptions {
  /** Leave these tree paths out (e.g. the scripts, to see frames without them). */
  omit?: (path: string) => boolean;
  /** Serve the maps without `sourcesContent` (names come from `names` alone). */
  withoutSourcesContent?: boolean;
}

/** The built bundles as a stored tree: URL path `/vite/assets/x.js` is tree path `vite/assets/x.js`. */
export function distTree(opts: TreeOptions = {}): TreeSource {
  const root = join(FIXTURE_DIR, 'dist');
  const omit = opts.omit ?? (() => false);
  const readTreeFile = async (path: string) => {
    if (omit(path)) return null;
    const bytes = await readFile(join(root, path)).catch(() => null);
    if (!bytes || !opts.withoutSourcesContent || !path.endsWith('.map')) return bytes;
    const { sourcesContent: _, ...map } = JSON.parse(bytes.toString('utf8'));
    return Buffer.from(JSON.stringify(map));
  };
  return {
    id: `real-bundles${Math.random()}`,
    listFiles: async () => (await walk(root)).map((f) => relative(root, f)).filter((p) => !omit(p)),
    fileInfo: async (path) => {
      const bytes = await readTreeFile(path);
      return bytes && { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
    },
    readFile: readTreeFile,
  };
}

/** The original file a map's `sources` entry names (webpack://…/./src/x.js, ../../app/src/x.js). */
export async function originalText(source: string): Promise<string | null> {
  const m = /(src\/.*|node_modules\/tiny-pipeline\/.*)$/.exec(source.replace(/\?.*$/, ''));
  return m ? readFile(join(FIXTURE_DIR, 'app', m[1]!), 'utf8').catch(() => null) : null;
}

export interface Miss {
  scenario: string;
  frame: string;
  source: string;
  line: number;
  column: number;
  got: string | null;
  want: string;
}

export interface Score {
  bundler: string;
  browser: string;
  resolved: number;
  correct: number;
  misses: Miss[];
}

export async function scoreNames(treeOptions: TreeOptions = {}): Promise<Score[]> {
  const resolver = new StackResolver({ workers: 1 });
  const scores: Score[] = [];
  const tree = distTree(treeOptions);
  for (const bundler of BUNDLERS) {
    for (const browser of BROWSERS) {
      const stacks = JSON.parse(await readFile(join(FIXTURE_DIR, 'stacks', `${bundler}.${browser}.json`), 'utf8')) as Record<
        string,
        string | null
      >;
      const score: Score = { bundler, browser, resolved: 0, correct: 0, misses: [] };
      for (const [scenario, stack] of Object.entries(stacks)) {
        if (!stack) continue;
        const { frames } = await resolver.resolve(tree, { stack });
        for (const f of frames) {
          if (!f.resolved) continue;
          const text = await originalText(f.source!);
          if (text === null) throw new Error(`no original file for ${f.source}`);
          score.resolved++;
          const want = oracleFunctionName(text, f.originalLine!, f.originalColumn!);
          if (f.originalFunction === want) score.correct++;
          else
            score.misses.push({
              scenario,
              frame: f.raw.trim(),
              source: f.source!,
              line: f.originalLine!,
              column: f.originalColumn!,
              got: f.originalFunction ?? null,
              want,
            });
        }
      }
      scores.push(score);
    }
  }
  await resolver.close();
  return scores;
}
