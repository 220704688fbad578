/**
 * Field lines of a mapping: parsed, indexed, and used for the field named in ART's
 * NullPointerException messages, as ProGuard ReTrace 6.2.2 maps them when given a `%t %c.%f`
 * regex (the expected texts below are its output on this mapping): the field of that obfuscated
 * name whose original type is the message's type (de-obfuscated); several such fields are
 * ambiguous (the text shows the first, `fields[].names` lists all); an unknown field keeps its
 * name, an unknown class keeps the whole message. HotSpot's `Cannot read field "a" because …`
 * names no class, so neither ReTrace nor mapvault can map it: it comes back byte for byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildMappingIndex } from '../../../src/symbolicate/java/index-writer.ts';
import { JavaMappingIndex } from '../../../src/symbolicate/java/index-reader.ts';
import { retraceJava } from '../../../src/symbolicate/java/retrace.ts';

const mapping = [
  'com.example.shop.Cart -> com.example.shop.a:',
  '    int first -> a',
  '    int second -> a',
  '    long third -> a',
  '    java.util.List items -> b',
  '    1:1:void add(int):5 -> a',
  'com.example.shop.Checkout -> com.example.shop.b:',
  '    com.example.shop.Cart cart -> a',
  '    com.example.shop.Cart[] carts -> b',
  '',
].join('\n');

async function retrace(stack: string) {
  const built = await buildMappingIndex(Buffer.from(mapping));
  assert.deepEqual(built.warnings, []);
  return retraceJava(stack, { index: new JavaMappingIndex(built.index!), label: 'mapping.txt' }, 100);
}

const NPE = 'java.lang.NullPointerException: Attempt to';

test('a field message is retraced as ReTrace does with %t %c.%f: by name and original type', async () => {
  const input = [
    `${NPE} read from field 'java.util.List com.example.shop.a.b' on a null object reference`,
    `\tE AndroidRuntime: ${NPE} write to field 'com.example.shop.a com.example.shop.b.a' on a null object reference`,
    `Caused by: ${NPE} read from field 'com.example.shop.a[] com.example.shop.b.b' on a null object reference\r`,
    `${NPE} read from field 'long com.example.shop.a.a' on a null object reference`,
    '\tat com.example.shop.a.a(SourceFile:1)',
  ].join('\n');
  const r = await retrace(input);
  assert.equal(
    r.stack,
    [
      `${NPE} read from field 'java.util.List com.example.shop.Cart.items' on a null object reference`,
      `\tE AndroidRuntime: ${NPE} write to field 'com.example.shop.Cart com.example.shop.Checkout.cart' on a null object reference`,
      `Caused by: ${NPE} read from field 'com.example.shop.Cart[] com.example.shop.Checkout.carts' on a null object reference\r`,
      `${NPE} read from field 'long com.example.shop.Cart.third' on a null object reference`,
      '\tat com.example.shop.Cart.add(Cart.java:5)',
    ].join('\n'),
  );
  assert.deepEqual(r.fields![1], {
    raw: `\tE AndroidRuntime: ${NPE} write to field 'com.example.shop.a com.example.shop.b.a' on a null object reference`,
    class: 'com.example.shop.b',
    field: 'a',
    type: 'com.example.shop.a',
    resolved: true,
    originalClass: 'com.example.shop.Checkout',
    originalType: 'com.example.shop.Cart',
    names: ['cart'],
  });
  assert.equal(r.frames.length, 1);
});

test('two fields of one name and type are ambiguous; an unknown field or class is kept', async () => {
  const input = [
    `${NPE} read from field 'int com.example.shop.a.a' on a null object reference`,
    `${NPE} read from field 'boolean com.example.shop.a.a' on a null object reference`,
    `${NPE} read from field 'int[] com.example.shop.a.a' on a null object reference`,
    `${NPE} read from field 'int com.example.shop.z.a' on a null object reference`,
    `${NPE} read from field 'int com.example.shop.b.q' on a null object reference`,
  ].join('\n');
  const r = await retrace(input);
  assert.deepEqual(r.stack.split('\n'), [
    `${NPE} read from field 'int com.example.shop.Cart.first' on a null object reference`,
    `${NPE} read from field 'boolean com.example.shop.Cart.a' on a null object reference`,
    `${NPE} read from field 'int[] com.example.shop.Cart.a' on a null object reference`,
    `${NPE} read from field 'int com.example.shop.z.a' on a null object reference`,
    `${NPE} read from field 'int com.example.shop.Checkout.q' on a null object reference`,
  ]);
  assert.deepEqual(
    r.fields!.map((f) => [f.resolved, f.originalClass, f.names]),
    [
      [true, 'com.example.shop.Cart', ['first', 'second']],
      [false, 'com.example.shop.Cart', []],
      [false, 'com.example.shop.Cart', []],
      [false, null, []],
      [false, 'com.example.shop.Checkout', []],
    ],
  );
});

test('HotSpot helpful NullPointerException messages name no class: byte for byte', async () => {
  const input = 'java.lang.NullPointerException: Cannot read field "a" because "<local1>" is null\n\tat com.example.shop.a.a(SourceFile:1)';
  const r = await retrace(input);
  assert.equal(r.stack.split('\n')[0], 'java.lang.NullPointerException: Cannot read field "a" because "<local1>" is null');
  assert.equal(r.fields, undefined);
});

test('an index without field groups (built before fields were indexed) is not read: its magic is older', async () => {
  const built = await buildMappingIndex(Buffer.from(mapping));
  const old = Buffer.from(built.index!);
  old.write('MVJIDX01', 0, 'latin1');
  old.write('MVJIDX01', old.length - 8, 'latin1');
  assert.throws(() => new JavaMappingIndex(old), /bad magic/);
});
