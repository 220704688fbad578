import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MAX_MAP_NESTING, SourceMapCheck } from '../../src/sourcemaps/map-check.ts';
import { buildApp } from '../helpers/fixtures.ts';

type Verdict = null | 'json' | 'object' | 'version' | 'mappings' | 'sources';

/** The rule, stated with JSON.parse: what the streaming check must agree with on every input. */
function reference(bytes: Buffer): Verdict {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8').replace(/^\)\]\}'[^\n]*\n/, ''));
  } catch {
    return 'json';
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return 'object';
  const map = json as Record<string, unknown>;
  if (map.version !== 3) return 'version';
  if (Array.isArray(map.sections)) return null;
  if (typeof map.mappings !== 'string') return 'mappings';
  if (!Array.isArray(map.sources)) return 'sources';
  return null;
}

function verdict(message: string | null): Verdict {
  if (message === null) return null;
  if (message.startsWith('not valid JSON')) return 'json';
  if (message === 'not a JSON object') return 'object';
  if (/version/.test(message)) return 'version';
  if (/mappings/.test(message)) return 'mappings';
  if (/sources/.test(message)) return 'sources';
  throw new Error(`unexpected message: ${message}`);
}

/** The check over bytes in one piece. */
function sourceMapProblem(bytes: Buffer): string | null {
  const check = new SourceMapCheck();
  check.write(bytes);
  return check.result();
}

/** Feeds `bytes` in chunks cut at random places (or every `every` bytes). */
function checkInChunks(bytes: Buffer, random: () => number, every?: number): string | null {
  const check = new SourceMapCheck();
  for (let at = 0; at < bytes.length; ) {
    const size = every ?? 1 + Math.floor(random() * 40);
    check.write(bytes.subarray(at, at + size));
    at += size;
  }
  return check.result();
}

function prng(seed: number) {
  return () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
}

const CASES: Array<[string, Verdict]> = [
  ['{"version":3,"sources":["a.ts"],"names":[],"mappings":"AAAA"}', null],
  [')]}\'\n{"version":3,"sources":[],"mappings":""}', null],
  [')]}\' anything here\n {"version":3,"sources":[],"mappings":""}', null],
  [' \t\r\n{"version":3.0,"sources":[],"mappings":""}\n ', null],
  ['{"version":3e0,"sources":[],"mappings":"","version":3}', null],
  ['{"version":30E-1,"sources":[],"mappings":""}', null],
  ['{"\\u0076ersion":3,"sources":[],"mappings":""}', null],
  ['{"version":3,"sections":[]}', null],
  ['{"version":3,"sections":[{"offset":{"line":0,"column":0},"map":{"version":3}}]}', null],
  ['{"version":3,"sources":[],"mappings":"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00 é ✓"}', null],
  ['{"version":3,"sources":[null,true,false,-0,1.5e+10,[],{}],"mappings":""}', null],
  ['{"version":"3","sources":[],"mappings":""}', 'version'],
  ['{"version":3,"version":2,"sources":[],"mappings":""}', 'version'],
  ['{"sources":[],"mappings":""}', 'version'],
  ['{"version":3,"sources":[]}', 'mappings'],
  ['{"version":3,"sources":{},"mappings":""}', 'sources'],
  ['{"version":3,"sections":{},"sources":[],"mappings":""}', null],
  ['{"a":{"version":3},"version":3,"mappings":"","sources":[]}', null],
  ['{"a":{"version":2,"sources":1}, "version":3,"mappings":"","sources":[]}', null],
  ['[{"version":3}]', 'object'],
  ['"x"', 'object'],
  ['3', 'object'],
  ['null', 'object'],
  ['', 'json'],
  [' ', 'json'],
  [")]}'", 'json'],
  [')]}\'{"version":3}', 'json'],
  [')', 'json'],
  ['{not json', 'json'],
  ['{"version":3,}', 'json'],
  ['{"version":3 "sources":[]}', 'json'],
  ['{"a":[1,]}', 'json'],
  ['{"a":[,1]}', 'json'],
  ['{"a":01}', 'json'],
  ['{"a":1.}', 'json'],
  ['{"a":.5}', 'json'],
  ['{"a":+1}', 'json'],
  ['{"a":-}', 'json'],
  ['{"a":1e}', 'json'],
  ['{"a":1e+}', 'json'],
  ['{"a":tru}', 'json'],
  ['{"a":nul}', 'json'],
  ['{"a":NaN}', 'json'],
  ["{'a':1}", 'json'],
  ['{"a":"\\x"}', 'json'],
  ['{"a":"\\u12g4"}', 'json'],
  ['{"a":"tab\there"}', 'json'],
  ['{"a":1}}', 'json'],
  ['{"a":1} {}', 'json'],
  ['{"a":1', 'json'],
  ['{"a":"open', 'json'],
  ['{"a"', 'json'],
  ['\ufeff{"version":3,"sources":[],"mappings":""}', 'json'],
  ['{"version":3,"sources":[],"mappings":""}\u0000', 'json'],
  ['{"version":3,"sources":[],"mappings":"" ,}', 'json'],
  ['['.repeat(10) + ']'.repeat(10), 'object'],
];

test('agrees with JSON.parse and the sourcemap rules on hand-picked inputs, whole and cut into chunks', () => {
  const random = prng(1);
  for (const [text, expected] of CASES) {
    const bytes = Buffer.from(text);
    assert.equal(reference(bytes), expected, `the reference itself, on ${JSON.stringify(text)}`);
    assert.equal(verdict(sourceMapProblem(bytes)), expected, JSON.stringify(text));
    assert.equal(verdict(checkInChunks(bytes, random, 1)), expected, `byte by byte: ${JSON.stringify(text)}`);
    assert.equal(verdict(checkInChunks(bytes, random)), expected, `random chunks: ${JSON.stringify(text)}`);
  }
});

/** A random JSON text, mostly valid, in the shapes that matter here. */
function randomDocument(random: () => number): string {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
  const str = () => JSON.stringify(pick(['', 'a', 'AAAA,CAAC', 'é✓', '\u0000\n"\\', 'version', 'sources', '\ud83d\ude00']));
  const num = () => pick(['0', '-0', '3', '3.0', '3e0', '0.3e1', '-1.5E+3', '2', '12345678901234567890']);
  const value = (depth: number): string => {
    const r = random();
    if (depth > 3 || r < 0.3) return pick([str(), num(), 'true', 'false', 'null']);
    if (r < 0.6) return `[${Array.from({ length: Math.floor(random() * 4) }, () => value(depth + 1)).join(',')}]`;
    const keys = ['version', 'sources', 'mappings', 'sections', 'names', 'x', 've\\u0072sion'];
    return `{${Array.from({ length: Math.floor(random() * 5) }, () => `"${pick(keys)}":${value(depth + 1)}`).join(',')}}`;
  };
  const fields = [
    '"version":' + pick(['3', '3', '3.0', '2', '"3"']),
    '"sources":' + pick(['[]', '["a.ts"]', '{}']),
    '"mappings":' + pick(['"AAAA"', '""', '1']),
    '"x":' + value(1),
  ];
  if (random() < 0.2) fields.push('"sections":' + pick(['[]', '{}']));
  const doc = random() < 0.8 ? `{${fields.sort(() => random() - 0.5).join(pick([',', ' , ', ',\n']))}}` : value(0);
  return (random() < 0.1 ? ")]}'\n" : '') + doc;
}

function mutate(bytes: Buffer, random: () => number): Buffer {
  const at = Math.floor(random() * (bytes.length + 1));
  const junk = Buffer.from([[0x22, 0x2c, 0x7d, 0x5d, 0x3a, 0x5c, 0x30, 0x65, 0x2d, 0x20, 0x01, 0xff][Math.floor(random() * 12)]!]);
  const r = random();
  if (r < 0.33) return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
  if (r < 0.66) return Buffer.concat([bytes.subarray(0, at), junk, bytes.subarray(at)]);
  return Buffer.concat([bytes.subarray(0, at), junk, bytes.subarray(at + 1)]);
}

test('agrees with the reference on 4 000 random documents and as many mutations of them', () => {
  const random = prng(42);
  const seen = new Set<Verdict>();
  for (let i = 0; i < 4000; i++) {
    const doc = Buffer.from(randomDocument(random));
    for (const bytes of [doc, mutate(doc, random)]) {
      const expected = reference(bytes);
      seen.add(expected);
      assert.equal(verdict(checkInChunks(bytes, random)), expected, bytes.toString());
    }
  }
  assert.deepEqual([...seen].sort(), [null, 'json', 'mappings', 'object', 'sources', 'version'].sort(), 'every verdict was exercised');
});

test('a real esbuild map passes, fed in 1-byte and 64 KiB chunks', async () => {
  const { dist } = await buildApp();
  const map = await readFile(join(dist, 'static/js/app.js.map'));
  assert.equal(sourceMapProblem(map), null);
  assert.equal(checkInChunks(map, Math.random, 1), null);
  assert.equal(checkInChunks(map, Math.random, 65536), null);
  assert.match(sourceMapProblem(map.subarray(0, map.length - 2)) ?? '', /^not valid JSON \(unexpected end of data/);
});

test('says where the JSON breaks, and refuses nesting deeper than the limit without growing', () => {
  assert.equal(sourceMapProblem(Buffer.from('{"version":3,}')), "not valid JSON (expected a key string, got '}' at byte 13)");
  assert.equal(
    sourceMapProblem(Buffer.from('{"a":"x\ny"}')),
    'not valid JSON (unescaped control character byte 0x0a in a string at byte 7)',
  );
  const deep = Buffer.from('['.repeat(MAX_MAP_NESTING + 1));
  assert.equal(sourceMapProblem(deep), `not valid JSON (nested deeper than ${MAX_MAP_NESTING} levels at byte ${MAX_MAP_NESTING})`);
});
