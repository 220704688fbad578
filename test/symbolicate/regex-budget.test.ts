/**
 * Issue #10 §4, the class: regular expressions (and the code around them) that run on stored files
 * or request bodies, against inputs built to make them backtrack. Each call on ~1 MiB of hostile
 * text must finish within a budget that linear code meets with a wide margin on a loaded machine
 * (a few ms of work; the budget is 1 s) and super-linear code cannot (the old sourceMappingURL
 * regex took minutes on such input). The list of audited expressions is in docs/RELIABILITY.md.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFrameLine } from '../../src/symbolicate/frames.ts';
import { findSourceMappingURL, resolveMapRef, urlPath } from '../../src/symbolicate/locate.ts';
import { joinSource } from '../../src/symbolicate/sourcemap.ts';
import { normalizeRelativePath } from '../../src/archive/entry-path.ts';

const N = 1024 * 1024;
const BUDGET_MS = 1000;

function withinBudget(what: string, fn: () => unknown): void {
  const t0 = performance.now();
  try {
    fn();
  } catch {
    // refusing is fine; taking long is not
  }
  const ms = performance.now() - t0;
  assert.ok(ms < BUDGET_MS, `${what}: ${ms.toFixed(0)} ms on ${N} hostile bytes (budget ${BUDGET_MS} ms)`);
}

const rep = (s: string) => s.repeat(Math.ceil(N / s.length));

test('stack-line parsing (frames.ts) stays linear on hostile lines', () => {
  const lines: Record<string, string> = {
    'V8 location with colons and digits, no end': `    at ${rep('a:1')}x`,
    'V8 location: digit runs between colons': `    at (${rep('1111111:')}x)`,
    'eval chain without a closing location': `    at f (eval at ${rep('(a:1:1 ')})`,
    'eval chain of opening parens': `    at f (eval at ${rep('(')})`,
    'eval chain, unbalanced': `    at f (eval at ${rep('g (h:1:')}1)`,
    'Gecko with digit runs': `f@${rep(':1111')}x`,
    'Gecko location with spaces': `f@${rep(':1 ')}:1`,
    'Guance separator repeated': `  at ${rep(' @ ')}a:1:1`,
    'whitespace runs': `    at ${' '.repeat(N)}x`,
    'parens nested deep': `    at ${'('.repeat(N / 2)}${')'.repeat(N / 2)}`,
    'at-signs': rep('@'),
  };
  for (const [what, line] of Object.entries(lines)) withinBudget(what, () => parseFrameLine(line));
});

test('sourceMappingURL search (locate.ts) reads the tail, linear in the bytes looked at', () => {
  const scripts: Record<string, string> = {
    'comment markers repeated without whitespace, then a stray token (quadratic for the old regex)': `${rep('//@sourceMappingURL=')} x`,
    'comment markers repeated without whitespace': rep('//@sourceMappingURL='),
    'same, as the last line': `x()\n${rep('//# sourceMappingURL=')}`,
    'many short comment lines': rep('//# sourceMappingURL=a.map\n'),
    'one huge line of slashes': rep('/'),
    'CR-only lines': rep('//\r'),
    'blank tail': `//# sourceMappingURL=a.map${' '.repeat(N)}`,
  };
  for (const [what, js] of Object.entries(scripts)) {
    withinBudget(what, () => findSourceMappingURL(js));
    withinBudget(`${what} (bytes)`, () => findSourceMappingURL(Buffer.from(js)));
  }
});

test('URL and path handling (locate.ts, sourcemap.ts, entry-path.ts) stays linear', () => {
  const inputs: Record<string, string> = {
    'scheme-like run without colon': rep('a+'),
    'query markers': rep('?#'),
    'percent escapes': rep('%e'),
    'dot segments': rep('../'),
    backslashes: rep('\\'),
    'surrogate halves': rep('\ud800'),
    'control characters': rep('\u0001a'),
  };
  for (const [what, s] of Object.entries(inputs)) {
    withinBudget(`urlPath: ${what}`, () => urlPath(s));
    withinBudget(`resolveMapRef: ${what}`, () => resolveMapRef('static/js/app.js', s));
    withinBudget(`joinSource: ${what}`, () => joinSource('root', s));
    withinBudget(`normalizeRelativePath: ${what}`, () => normalizeRelativePath(s));
  }
  withinBudget('resolveMapRef: a data: URL of 1 MiB', () => resolveMapRef('a.js', `data:application/json;base64,${rep('QUFB')}`));
  const nodeModules = /(^|[/\\])node_modules[/\\]/; // resolver.ts NODE_MODULES (inApp), on URLs and sources
  withinBudget('node_modules test: separators and near-misses', () => nodeModules.test(rep('/node_modules')));
});
