/**
 * Hostile mappings and stacks, crafted byte by byte: work stays bounded by the bytes present and
 * every refusal is said plainly. A damaged lookup index fails with InvalidJavaIndexError only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  MAX_CLASS_BYTES,
  MAX_GROUP_LINES,
  MAX_INLINE_DEPTH,
  MAX_MAPPING_LINE_BYTES,
  MappingIndexBuilder,
  buildMappingIndex,
} from '../../../src/symbolicate/java/index-writer.ts';
import { InvalidJavaIndexError, JavaMappingIndex } from '../../../src/symbolicate/java/index-reader.ts';
import { retraceJava } from '../../../src/symbolicate/java/retrace.ts';

const open = async (text: string | Buffer) => {
  const built = await buildMappingIndex(Buffer.isBuffer(text) ? text : Buffer.from(text));
  return { built, index: built.index ? new JavaMappingIndex(built.index) : null };
};

test('a multi-MB line is skipped (never buffered), with a warning, and the lines after it still count', async () => {
  const b = new MappingIndexBuilder();
  b.write(Buffer.from('a.B -> c:\n    1:1:void m():5 -> a\n    '));
  const junk = Buffer.alloc(1024 * 1024, 0x78);
  for (let i = 0; i < 8; i++) b.write(junk); // 8 MiB without a newline
  b.write(Buffer.from('\n    2:2:void n():6 -> b\n'));
  const r = await b.finish();
  assert.match(r.warnings[0]!, new RegExp(`line 3 is longer than ${MAX_MAPPING_LINE_BYTES} bytes and was skipped`));
  const index = new JavaMappingIndex(r.index!);
  assert.equal(retraceJava('\tat c.b(SourceFile:2)', { index, label: 'm' }, 10).stack, '\tat a.B.n(B.java:6)');
});

test('huge line numbers are refused in the mapping and in frames; absurd ranges cost nothing', async () => {
  const { built, index } = await open('a.B -> c:\n    1:99999999999:void huge() -> a\n    1:2147483647:void wide():1:2147483647 -> b\n');
  assert.match(built.warnings.join('\n'), /line 2 is not a mapping line \(line number out of range\)/);
  const r = retraceJava('\tat c.b(SourceFile:2147483647)\n\tat c.b(SourceFile:99999999999999999999)', { index: index!, label: 'm' }, 10);
  assert.equal(r.frames[0]!.chain![0]!.line, 2147483647);
  assert.equal(r.frames[1]!.reason, 'BadFrame');
  assert.equal(r.stack.split('\n')[1], '\tat c.b(SourceFile:99999999999999999999)');
});

test(`inline chains deeper than ${MAX_INLINE_DEPTH} frames are cut, with a warning`, async () => {
  const lines = ['a.B -> c:'];
  for (let i = 0; i < 5000; i++) lines.push(`    1:1:void m${i}():${i + 1} -> a`);
  const { built, index } = await open(lines.join('\n'));
  assert.match(built.warnings[0]!, new RegExp(`inline chain deeper than ${MAX_INLINE_DEPTH} frames was cut`));
  assert.equal(retraceJava('\tat c.a(SourceFile:1)', { index: index!, label: 'm' }, 10).frames[0]!.chain!.length, MAX_INLINE_DEPTH);
});

test(`more than ${MAX_GROUP_LINES} lines for one member name are cut, with a warning`, async () => {
  const lines = ['a.B -> c:'];
  for (let i = 0; i < MAX_GROUP_LINES + 10; i++) lines.push(`    ${i + 1}:${i + 1}:void m${i}() -> a`);
  const { built, index } = await open(lines.join('\n'));
  assert.match(built.warnings[0]!, /method name a of c has more than 20000 mapping lines/);
  assert.equal(retraceJava(`\tat c.a(SourceFile:${MAX_GROUP_LINES + 5})`, { index: index!, label: 'm' }, 10).frames[0]!.resolved, false);
});

test('bytes that are not UTF-8 are counted in a warning; the rest of the mapping works', async () => {
  const bytes = Buffer.concat([
    Buffer.from('a.B -> c:\n    1:1:void caf'),
    Buffer.from([0xe9, 0xff]),
    Buffer.from('():3 -> a\n    2:2:void ok():4 -> b\n'),
  ]);
  const { built, index } = await open(bytes);
  assert.match(built.warnings.join('\n'), /1 line\(s\) are not valid UTF-8/);
  assert.equal(retraceJava('\tat c.b(SourceFile:2)', { index: index!, label: 'm' }, 10).frames[0]!.chain![0]!.method, 'ok');
});

test(`a class with more than ${MAX_CLASS_BYTES} bytes of member lines is cut (it is held whole while built), with a warning`, async () => {
  const b = new MappingIndexBuilder();
  b.write(Buffer.from('a.Big -> c:\n    1:1:void first():5 -> a\n'));
  // 16-character member names: ~30 encoded bytes a line, so 400 000 lines pass the cap.
  for (let k = 0; k < 40; k++) {
    const lines: string[] = [];
    for (let i = 0; i < 10_000; i++) lines.push(`    void m${String(k * 10_000 + i).padStart(15, '0')}() -> b${k}x${i}`);
    b.write(Buffer.from(`${lines.join('\n')}\n`));
  }
  b.write(Buffer.from('a.After -> d:\n    1:1:void after():9 -> a\n'));
  const r = await b.finish();
  assert.ok(
    r.warnings.some((w) => w.includes(`class c has more than ${MAX_CLASS_BYTES} bytes of member lines; the rest of the class is ignored`)),
    r.warnings.join('\n'),
  );
  assert.ok(r.index!.length < MAX_CLASS_BYTES * 1.2, `${r.index!.length}`);
  const index = new JavaMappingIndex(r.index!);
  const out = retraceJava('\tat c.a(SourceFile:1)\n\tat d.a(SourceFile:1)', { index, label: 'm' }, 10).stack;
  assert.equal(out, '\tat a.Big.first(Big.java:5)\n\tat a.After.after(After.java:9)');
});

test('files that are not mappings are refused with the reason: JSON, binary, member line first, empty', async () => {
  assert.match((await open('{"version":3}')).built.notMapping!, /line 1 is not a class line/);
  assert.match(
    (await open(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0]))).built.notMapping!,
    /line 1 is not a class line/,
  );
  assert.match((await open('    1:1:void m() -> a\n')).built.notMapping!, /member line before any class line/);
  assert.equal((await open('')).built.notMapping, 'the file is empty');
  assert.equal((await open('# only a comment\n\n')).built.notMapping, 'the file is empty');
});

test('a damaged or foreign index fails with InvalidJavaIndexError, never out of bounds', async () => {
  const lines = ['# {"id":"com.android.tools.r8.mapping","version":"2.2"}'];
  for (let c = 0; c < 50; c++) {
    lines.push(`p.C${c} -> c${c}:`, '# {"id":"sourceFile","fileName":"C.kt"}');
    for (let m = 0; m < 20; m++) lines.push(`    ${m + 1}:${m + 1}:void m${m}():${m + 10} -> ${String.fromCharCode(97 + (m % 5))}`);
  }
  const good = (await buildMappingIndex(Buffer.from(lines.join('\n')))).index!;
  let rejected = 0;
  for (let round = 0; round < 300; round++) {
    const bad = Buffer.from(good);
    for (let k = 0; k < 4; k++) bad[Math.floor(Math.random() * bad.length)] = randomBytes(1)[0]!;
    if (round % 10 === 0) bad.writeUInt32LE(0xffffffff, bad.length - 64 + 4 * (round % 6));
    try {
      const index = new JavaMappingIndex(bad);
      for (let c = 0; c < 50; c += 7) retraceJava(`\tat c${c}.a(SourceFile:1)\nc${c}: boom`, { index, label: 'm' }, 10);
    } catch (e) {
      assert.ok(e instanceof InvalidJavaIndexError, String(e));
      rejected++;
    }
  }
  assert.ok(rejected > 0);
  assert.throws(
    () => new JavaMappingIndex(Buffer.from('not an index at all, long enough to have a footer............................')),
    InvalidJavaIndexError,
  );
});

test('a stack of pathological lines parses in linear time and comes back byte for byte', async () => {
  const { index } = await open('a.B -> c:\n    1:1:void m() -> a\n');
  const nasty = [
    `${'\tat '.repeat(20_000)}x`,
    `${'a.'.repeat(50_000)}(`,
    `${': '.repeat(50_000)}`,
    `\tat ${'a'.repeat(100_000)}.b(${'('.repeat(10)}`,
  ].join('\n');
  const r = retraceJava(nasty, { index: index!, label: 'm' }, 10);
  assert.equal(r.stack, nasty);
});
