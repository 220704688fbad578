/**
 * The mapping format beyond what ProGuard 6.2.2 writes, from mapping excerpts written after the
 * examples of R8's retrace specification (doc/retrace.md) and ProGuard's format description.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildMappingIndex } from '../../../src/symbolicate/java/index-writer.ts';
import { JavaMappingIndex } from '../../../src/symbolicate/java/index-reader.ts';
import { parseMappingLine } from '../../../src/symbolicate/java/mapping-line.ts';
import { retraceJava } from '../../../src/symbolicate/java/retrace.ts';

async function retrace(mapping: string, stack: string) {
  const built = await buildMappingIndex(Buffer.from(mapping));
  assert.ok(built.index, built.notMapping ?? '');
  return { ...retraceJava(stack, { index: new JavaMappingIndex(built.index), label: 'mapping.txt' }, 1000), warnings: built.warnings };
}

test('member lines: ranges, single original line, no lines, moved members, fields, CRLF', async () => {
  assert.deepEqual(parseMappingLine('    1:3:void m(int,java.lang.String):10:12 -> a'), {
    kind: 'method',
    obfStart: 1,
    obfEnd: 3,
    hasObfRange: true,
    returnType: 'void',
    originalClass: null,
    name: 'm',
    args: 'int,java.lang.String',
    origStart: 10,
    origEnd: 12,
    hasOrigLine: true,
    obfName: 'a',
  });
  const caller = parseMappingLine('    4:4:void com.other.Caller.run(example.Foo):2 -> a');
  assert.equal(
    caller.kind === 'method' && `${caller.originalClass}|${caller.name}|${caller.origStart}:${caller.origEnd}`,
    'com.other.Caller|run|2:2',
  );
  const bare = parseMappingLine('    void onEvent(java.lang.String) -> a');
  assert.equal(bare.kind === 'method' && `${bare.hasObfRange}|${bare.obfStart}|${bare.origStart}`, 'false|0|0');
  assert.equal(parseMappingLine('    java.util.List items -> a').kind, 'field');
  assert.deepEqual(parseMappingLine('com.example.Foo -> a.b:'), { kind: 'class', original: 'com.example.Foo', obfuscated: 'a.b' });
  assert.equal(parseMappingLine('    1:99999999999:void m() -> a').kind, 'invalid');
  const r = await retrace('com.example.Foo -> a:\r\n    1:3:void m():10:12 -> a\r\n', '\tat a.a(SourceFile:2)');
  assert.equal(r.stack, '\tat com.example.Foo.m(Foo.java:11)');
});

test('inline chains with multi-line original ranges map the line inside the innermost range', async () => {
  const m = [
    'com.example.Foo -> a:',
    '    1:4:void inner():10:13 -> a',
    '    1:4:void outer():20 -> a',
    '    5:6:void other():30:31 -> a',
  ].join('\n');
  const r = await retrace(m, '\tat a.a(SourceFile:3)');
  assert.deepEqual(r.frames[0]!.chain, [
    { class: 'com.example.Foo', method: 'inner', line: 12, sourceFile: 'Foo.java' },
    { class: 'com.example.Foo', method: 'outer', line: 20, sourceFile: 'Foo.java' },
  ]);
  assert.equal(r.stack, '\tat com.example.Foo.inner(Foo.java:12)\n\tat com.example.Foo.outer(Foo.java:20)');
});

test('overloads sharing an obfuscated name without lines are alternatives; constructors, <clinit>, $hash names, bridges', async () => {
  const m = [
    'com.example.Foo -> a:',
    '    void run(int) -> a',
    '    void run(java.lang.String) -> a',
    '    1:2:void <init>() -> <init>',
    '    3:4:void <clinit>() -> <clinit>',
    '    5:5:void compute(int) -> compute$a1b2c3d4',
    '    6:6:java.lang.Object get() -> b',
    '    7:7:int access$000(com.example.Foo):40:40 -> c',
  ].join('\n');
  const r = await retrace(
    m,
    [
      '\tat a.a(SourceFile:9)',
      '\tat a.<init>(SourceFile:2)',
      '\tat a.<clinit>(SourceFile:3)',
      '\tat a.compute$a1b2c3d4(SourceFile:5)',
      '\tat a.c(SourceFile:7)',
    ].join('\n'),
  );
  assert.deepEqual(
    r.frames[0]!.alternatives!.map((c) => c[0]!.method),
    ['run', 'run'],
  );
  assert.deepEqual(
    r.frames.slice(1).map((f) => `${f.chain![0]!.method}:${f.chain![0]!.line}`),
    ['<init>:2', '<clinit>:3', 'compute:5', 'access$000:40'],
  );
});

test('R8 sourceFile metadata names the source file (Kotlin)', async () => {
  const m = ['some.pkg.Class -> foo.a:', '# {"id":"sourceFile","fileName":"R8Test.kt"}', '    1:3:void m():10:12 -> a'].join('\n');
  assert.equal((await retrace(m, '\tat foo.a.a(SourceFile:2)')).stack, '\tat some.pkg.Class.m(R8Test.kt:11)');
});

test('R8 synthesized frames are left out of inline chains (version 1.0 and later only)', async () => {
  const body = [
    'some.pkg.Class -> foo.a:',
    '    4:4:void example.Foo.lambda$main$0():225 -> a',
    '    4:4:void run(example.Foo):2 -> a',
    "    # {'id':'com.android.tools.r8.synthesized'}",
    '    5:5:void example.Foo.lambda$main$1():228 -> a',
    '    5:5:void run(example.Foo):4 -> a',
    "    # {'id':'com.android.tools.r8.synthesized'}",
  ].join('\n');
  const v1 = await retrace(`# {"id":"com.android.tools.r8.mapping","version":"1.0"}\n${body}`, '\tat foo.a.a(SourceFile:4)');
  assert.equal(v1.stack, '\tat example.Foo.lambda$main$0(Foo.java:225)');
  // Without a version header the synthesized comment is an ordinary comment.
  const v0 = await retrace(body, '\tat foo.a.a(SourceFile:5)');
  assert.equal(v0.stack, '\tat example.Foo.lambda$main$1(Foo.java:228)\n\tat some.pkg.Class.run(Class.java:4)');
});

test('R8 rewriteFrame removes inner frames when the condition on the thrown exception holds', async () => {
  const m = [
    '# {"id":"com.android.tools.r8.mapping","version":"2.0"}',
    'com.example.Foo -> a:',
    '    1:1:void inlinee():42:42 -> m',
    '    1:1:void caller():10:10 -> m',
    '    # {"id":"com.android.tools.r8.rewriteFrame","conditions":["throws(Ljava/lang/NullPointerException;)"],"actions":["removeInnerFrames(1)"]}',
  ].join('\n');
  const npe = await retrace(m, 'java.lang.NullPointerException\n\tat a.m(SourceFile:1)');
  assert.equal(npe.stack, 'java.lang.NullPointerException\n\tat com.example.Foo.caller(Foo.java:10)');
  const other = await retrace(m, 'java.lang.IllegalStateException: x\n\tat a.m(SourceFile:1)');
  assert.equal(
    other.stack,
    'java.lang.IllegalStateException: x\n\tat com.example.Foo.inlinee(Foo.java:42)\n\tat com.example.Foo.caller(Foo.java:10)',
  );
  // Only the first frame of the exception: the same position deeper in the stack keeps its chain.
  const deeper = await retrace(m, 'java.lang.NullPointerException\n\tat x.y(Z.java:1)\n\tat a.m(SourceFile:1)');
  assert.equal(deeper.frames[1]!.chain!.length, 2);
});

test('R8 outlines: the outline frame goes, its position is retraced through the outlineCallsite', async () => {
  const m = [
    "# { id: 'com.android.tools.r8.mapping', version: '2.0' }".replace(/(\w+):/g, '"$1":').replace(/'/g, '"'),
    'outline.Class -> a:',
    '    1:2:int outline() -> a',
    '# {"id":"com.android.tools.r8.outline"}',
    'some.Class -> b:',
    '    1:1:void foo.bar.Baz.qux():42:42 -> s',
    '    4:4:int foo.bar.baz.outlineCaller(int):98:98 -> s',
    '    5:5:int outlineCaller(int):24:24 -> s',
    '    27:27:int outlineCaller(int):0:0 -> s',
    '# {"id":"com.android.tools.r8.outlineCallsite","positions":{"1":4,"2":5},"outline":"La;a()I"}',
  ].join('\n');
  const r = await retrace(m, 'java.io.IOException: INVALID_SENDER\n\tat a.a(:2)\n\tat b.s(:27)');
  assert.equal(r.stack, 'java.io.IOException: INVALID_SENDER\n\tat some.Class.outlineCaller(Class.java:24)');
  assert.deepEqual(
    r.frames.map((f) => f.resolved),
    [true, true],
  );
});

test('R8 residualsignature is read; catch-all ranges; members without lines keep the frame line', async () => {
  const m = [
    '# {"id":"com.android.tools.r8.mapping","version":"2.2"}',
    'com.example.Foo -> a:',
    '    0:65535:void single():12:12 -> a',
    '    # {"id":"com.android.tools.r8.residualsignature","signature":"()V"}',
    '    void noLines() -> b',
  ].join('\n');
  const built = await buildMappingIndex(Buffer.from(m));
  const index = new JavaMappingIndex(built.index!);
  assert.equal(index.classFor('a')!.members('a')![0]!.residualSignature, '()V');
  const r = retraceJava('\tat a.a(SourceFile:300)\n\tat a.b(SourceFile:7)', { index, label: 'm' }, 10);
  assert.equal(r.stack, '\tat com.example.Foo.single(Foo.java:12)\n\tat com.example.Foo.noLines(Foo.java:7)');
});

test('a newer mapping version is warned about; its newer metadata is ignored', async () => {
  const r = await retrace(
    '# {"id":"com.android.tools.r8.mapping","version":"99.0"}\na.B -> c:\n    1:1:void m() -> a\n',
    '\tat c.a(SourceFile:1)',
  );
  assert.match(r.warnings[0]!, /mapping version 99\.0 is newer than 2\.2/);
  assert.equal(r.stack, '\tat a.B.m(B.java:1)');
});

test('R8: a member without an obfuscated range and an original span is ambiguous over the span (bounded)', async () => {
  const m = ['com.example.Main -> a:', '    void method1(java.lang.String):42:44 -> a', '    void huge():1:100000 -> b'].join('\n');
  for (const stack of ['\tat a.a(Unknown Source:1)', '\tat a.a(Unknown Source)']) {
    const r = await retrace(m, stack);
    assert.deepEqual(
      r.frames[0]!.alternatives!.map((c) => c.map((o) => `${o.method}:${o.line}`)),
      [['method1:42'], ['method1:43'], ['method1:44']],
    );
    assert.equal(
      r.stack,
      '\tat com.example.Main.method1(Main.java:42)\n\t<OR> at com.example.Main.method1(Main.java:43)\n\t<OR> at com.example.Main.method1(Main.java:44)',
    );
  }
  // A span wider than the alternatives cap is not expanded: one candidate, line unknown.
  const wide = (await retrace(m, '\tat a.b(Unknown Source:7)')).frames[0]!;
  assert.equal(wide.alternatives, undefined);
  assert.deepEqual(wide.chain, [{ class: 'com.example.Main', method: 'huge', line: null, sourceFile: 'Main.java' }]);
});

test('R8: a line picks the ranges holding it, else the base mappings, else the class only (best effort)', async () => {
  const m = [
    'some.Class -> b:',
    '    1:3:void method2():11:13 -> a',
    '    4:4:void method2():10:10 -> a',
    'com.example.Main -> c:',
    '    1:5:void foo() -> b',
    '    void bar() -> b',
  ].join('\n');
  const r = await retrace(m, ['\tat b.a(:27)', '\tat c.b(SourceFile:3)', '\tat c.b(SourceFile:9)'].join('\n'));
  assert.deepEqual(
    r.frames.map((f) => f.resolved),
    [false, true, true],
  );
  assert.equal(r.frames[0]!.originalClass, 'some.Class');
  // Inside foo's range the base member bar is no candidate (ProGuard's ReTrace would list it too).
  assert.equal(r.frames[1]!.alternatives, undefined);
  assert.equal(
    r.stack,
    ['\tat some.Class.a(Class.java:27)', '\tat com.example.Main.foo(Main.java:3)', '\tat com.example.Main.bar(Main.java:9)'].join('\n'),
  );
});

test('R8: a frame without a line prefers the base mappings (no range, 0:0, or a range holding 0)', async () => {
  const m = [
    'com.example.Main -> foo.a:',
    '    0:0:void method1(java.lang.String):42:42 -> a',
    '    0:0:void main(java.lang.String[]):28 -> a',
    '    1:1:void main(java.lang.String[]):153 -> a',
    '    1:5:void foo() -> b',
    '    void bar() -> b',
    '    1:5:void first() -> c',
    '    6:9:void second() -> c',
  ].join('\n');
  const r = await retrace(m, ['\tat foo.a.a(Unknown Source)', '\tat foo.a.b(Unknown Source)', '\tat foo.a.c(Unknown Source)'].join('\n'));
  assert.equal(r.frames[0]!.alternatives, undefined);
  assert.deepEqual(
    r.frames[0]!.chain!.map((o) => `${o.method}:${o.line}`),
    ['method1:42', 'main:28'],
  );
  assert.deepEqual(
    r.frames[1]!.chain!.map((o) => `${o.method}:${o.line}`),
    ['bar:null'],
  );
  assert.equal(r.frames[1]!.alternatives, undefined);
  // Without a base mapping every range stays a candidate (as ProGuard's ReTrace lists them).
  assert.deepEqual(
    r.frames[2]!.alternatives!.map((c) => c[0]!.method),
    ['first', 'second'],
  );
});
