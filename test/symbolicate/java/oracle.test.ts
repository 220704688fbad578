/**
 * Differential test against ProGuard's own ReTrace, on a real program (test/fixtures/java/src)
 * obfuscated by ProGuard 6.2.2 and run on a JVM (regenerate.sh records mapping.txt, traces.txt and
 * ReTrace's answer). Without ProGuard the recorded answer is the oracle; with
 * MAPVAULT_TEST_PROGUARD set, ReTrace runs live on the traces and on shapes derived from them
 * (logcat prefix, frames without line numbers, `Unknown Source:N`).
 *
 * Compared frame by frame: each `at` line and exception header of ReTrace's output against ours,
 * with our `<OR> ` marker removed (ReTrace prints alternatives as plain extra `at` lines).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildMappingIndex } from '../../../src/symbolicate/java/index-writer.ts';
import { JavaMappingIndex } from '../../../src/symbolicate/java/index-reader.ts';
import { retraceJava } from '../../../src/symbolicate/java/retrace.ts';
import { service } from '../../helpers/services.ts';

const dir = join(import.meta.dirname, '../../fixtures/java');
const mappingBytes = readFileSync(join(dir, 'mapping.txt'));
const traces = readFileSync(join(dir, 'traces.txt'), 'utf8');
const built = await buildMappingIndex(mappingBytes);
const index = new JavaMappingIndex(built.index!);
const ours = (stack: string) => retraceJava(stack, { index, label: 'mapping.txt' }, 10_000);

/**
 * The lines to compare: frames and headers, without the logcat prefix, indentation or our `<OR> `
 * marker. ReTrace prints a frame's extra lines with the part they share with the line above blanked
 * out (its `trim`); those are filled back in from the line above first.
 */
function comparable(text: string, ignoreLines = false): string[] {
  const out: string[] = [];
  let prev = '';
  for (const raw of text.split('\n')) {
    let l = raw.replace(/^E AndroidRuntime: /, '');
    const n = l.length - l.trimStart().length;
    if (n > 0 && !/^(at |<OR> |\.\.\. |Caused by|Suppressed)/.test(l.slice(n)) && prev.length >= n) l = prev.slice(0, n) + l.slice(n);
    prev = l;
    l = l.trimStart().replace(/^<OR> /, '');
    if (l === '' || l === '=====') continue;
    out.push(ignoreLines ? l.replace(/(\.(?:java|kt)):\d+\)/, '$1)') : l);
  }
  return out;
}

const variants: Record<string, (t: string) => string> = {
  'JVM printStackTrace': (t) => t,
  'logcat (E AndroidRuntime: prefix)': (t) =>
    t
      .split('\n')
      .map((l) => (l === '=====' || l === '' ? l : `E AndroidRuntime: ${l}`))
      .join('\n'),
  'frames without line numbers (Unknown Source)': (t) => t.replace(/\(SourceFile:\d+\)/g, '(Unknown Source)'),
  'ART Unknown Source:N': (t) => t.replace(/\(SourceFile:(\d+)\)/g, '(Unknown Source:$1)'),
};

describe('Java retrace equals the recorded ProGuard ReTrace answer', () => {
  test('the mapping indexes without warnings', () => {
    assert.equal(built.notMapping, null);
    assert.deepEqual(built.warnings, []);
    assert.ok(built.classCount >= 6);
  });

  test('every frame and header of the recorded traces', () => {
    const expected = readFileSync(join(dir, 'retraced-by-proguard.txt'), 'utf8');
    const r = ours(traces);
    assert.deepEqual(comparable(r.stack), comparable(expected));
    // The structured frames say the same as the text: chains flattened, in order.
    const fromFrames = r.frames.flatMap((f) =>
      f.resolved ? (f.alternatives ?? [f.chain!]).flat().map((o) => `${o.class}.${o.method}`) : [],
    );
    const fromText = comparable(r.stack)
      .filter((l) => l.startsWith('at com.example'))
      .map((l) => l.slice(3, l.indexOf('(')));
    assert.deepEqual(fromFrames, fromText);
  });

  test('inlined chains are innermost first; moved members keep their own class; headers are de-obfuscated', () => {
    const r = ours(traces);
    const causedAt = traces.split('\n').findIndex((l) => l.startsWith('Caused by:')) + 1;
    const pay = r.frames.find((f) => f.raw === traces.split('\n')[causedAt])!;
    assert.deepEqual(
      pay.chain!.map((o) => `${o.class}.${o.method}:${o.line}`),
      ['com.example.shop.Checkout.validate:20', 'com.example.shop.Checkout.pay:12', 'com.example.shop.Main.lambda$main$0:11'],
    );
    assert.equal(pay.alternatives, undefined);
    assert.match(r.stack, /^com\.example\.shop\.Checkout\$PaymentException: payment refused$/m);
    const check = r.frames.find((f) => f.class === 'com.example.shop.a' && f.line === 1016)!;
    assert.equal(check.originalClass, 'com.example.shop.Cart');
    assert.deepEqual(check.chain, [{ class: 'com.example.shop.Inventory', method: 'check', line: 16, sourceFile: 'Inventory.java' }]);
    // JDK frames with a module prefix come back byte for byte.
    assert.match(r.stack, /^\tat java\.base\/java\.lang\.Integer\.parseInt\(Integer\.java:668\)$/m);
  });

  test('two lambdas on one line and frames without line numbers give alternatives', () => {
    const lambda = ours('\tat com.example.shop.Main.a(SourceFile:32)').frames[0]!;
    assert.deepEqual(
      lambda.alternatives!.map((c) => c.map((o) => o.method)),
      [['twoLambdasOnOneLine'], ['lambda$twoLambdasOnOneLine$8'], ['lambda$twoLambdasOnOneLine$7']],
    );
    const noLine = ours('\tat com.example.shop.Main.b(Unknown Source)').frames[0]!;
    assert.equal(noLine.alternatives!.length, 2);
    assert.deepEqual(
      noLine.chain!.map((o) => o.method),
      ['anonymousListener'],
    );
  });
});

const proguard = service('MAPVAULT_TEST_PROGUARD', 'scripts/services/proguard.sh');

describe('Java retrace equals ProGuard ReTrace run live', { skip: proguard.skip }, () => {
  for (const [name, make] of Object.entries(variants)) {
    test(name, () => {
      const work = mkdtempSync(join(tmpdir(), 'mapvault-retrace-'));
      try {
        const input = make(traces);
        writeFileSync(join(work, 'trace.txt'), input);
        const reference = execFileSync(
          'java',
          ['-jar', join(proguard.value, 'retrace.jar'), join(dir, 'mapping.txt'), join(work, 'trace.txt')],
          { encoding: 'utf8' },
        );
        const mine = ours(input).stack;
        // Without a line in the frame ReTrace prints none; ours may know it (an inlined call site).
        const noLines = name.includes('without line');
        assert.deepEqual(comparable(mine, noLines), comparable(reference, noLines));
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    });
  }
});

/**
 * Field names: ReTrace 6.2.2 leaves them alone by default and maps them when its regex has
 * `%t %c.%f`. Every field of the real mapping, named in ART's NullPointerException messages (read
 * and write, in a header, a `Caused by:` and a logcat line), against ReTrace with that regex.
 */
const FIELD_REGEX = String.raw`(?:.*?\bat\s+%c\.%m\s*\(%s(?::%l)?\)\s*(?:~\[.*\])?)|(?:.*?Attempt to (?:read from|write to) field '%t %c\.%f' on a null object reference)|(?:(?:.*?[:"]\s+)?%c(?::.*)?)`;

describe('field names in messages equal ProGuard ReTrace run live (with a %f regex)', { skip: proguard.skip }, () => {
  test('every field of the mapping, read and written, in headers, Caused by and logcat lines', () => {
    const lines: string[] = [];
    let cls = '';
    const typeObf = new Map<string, string>();
    for (const l of mappingBytes.toString('utf8').split('\n')) {
      const c = /^(\S+) -> (\S+):$/.exec(l);
      if (c) typeObf.set(c[1]!, c[2]!);
    }
    for (const l of mappingBytes.toString('utf8').split('\n')) {
      const c = /^(\S+) -> (\S+):$/.exec(l);
      if (c) cls = c[2]!;
      const f = /^ {4}([^\s(:]+) ([^\s(]+) -> (\S+)$/.exec(l);
      if (!f) continue;
      const type = typeObf.get(f[1]!) ?? f[1]!; // as a runtime message names it: obfuscated
      lines.push(`java.lang.NullPointerException: Attempt to read from field '${type} ${cls}.${f[3]}' on a null object reference`);
      lines.push(
        `Caused by: java.lang.NullPointerException: Attempt to write to field '${type} ${cls}.${f[3]}' on a null object reference`,
      );
      lines.push(
        `E AndroidRuntime: java.lang.NullPointerException: Attempt to read from field 'boolean ${cls}.${f[3]}' on a null object reference`,
      );
    }
    assert.ok(lines.length >= 9, `${lines.length} lines`);
    const work = mkdtempSync(join(tmpdir(), 'mapvault-retrace-'));
    try {
      writeFileSync(join(work, 'trace.txt'), `${lines.join('\n')}\n`);
      const reference = execFileSync(
        'java',
        ['-jar', join(proguard.value, 'retrace.jar'), '-regex', FIELD_REGEX, join(dir, 'mapping.txt'), join(work, 'trace.txt')],
        { encoding: 'utf8' },
      );
      const mine = ours(lines.join('\n'));
      assert.deepEqual(mine.stack.split('\n'), reference.trimEnd().split('\n'));
      assert.equal(mine.fields!.length, lines.length);
      assert.deepEqual(
        mine.fields!.map((f) => f.resolved),
        lines.map((l) => !l.includes("'boolean ")),
      );
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
