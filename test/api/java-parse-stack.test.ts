/**
 * Android through the real API: a zip in Guance's layout (`<appId>-<env>-<version>/mapping.txt`)
 * is merged (the mapping checked and indexed as it streams), listed by file_tree with its kind,
 * and Java stacks in the JVM, logcat and Guance SDK shapes come back retraced by parse_stack.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, uploadZip, type TestServer } from '../helpers/server.ts';
import { zipEntries } from '../helpers/fixtures.ts';

const dir = join(import.meta.dirname, '../fixtures/java');
const mapping = readFileSync(join(dir, 'mapping.txt'));
const traces = readFileSync(join(dir, 'traces.txt'), 'utf8').split('=====\n');
const paymentTrace = traces[0]!;
const id = { appId: 'shop', version: '2.4.0', env: 'prod' };
let s: TestServer;

before(async () => {
  s = await startServer();
  const merged = await uploadZip(s, await zipEntries({ 'shop-prod-2.4.0/mapping.txt': mapping }), id);
  assert.equal(merged.status, 200, JSON.stringify(merged.body));
  assert.deepEqual(merged.body.content.warnings, []);
  assert.equal(merged.body.content.mapCount, 1);
});
after(() => s.close());

test('file_tree lists the mapping with its kind, and not its lookup index', async () => {
  const r = await s.post('/file_tree', id);
  assert.equal(r.status, 200);
  assert.deepEqual(
    r.body.content.files.map((f: any) => [f.path, f.kind]),
    [['shop-prod-2.4.0/mapping.txt', 'proguard-mapping']],
  );
});

test('a JVM stack is retraced: inline chains innermost first, headers de-obfuscated, JDK lines byte for byte', async () => {
  const r = await s.post('/parse_stack', { ...id, stack: paymentTrace });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const { stack, frames } = r.body.content;
  assert.match(
    stack,
    /^com\.example\.shop\.Checkout\$PaymentException: payment refused\n\tat com\.example\.shop\.Checkout\.pay\(Checkout\.java:14\)\n\tat com\.example\.shop\.Main\.lambda\$main\$0\(Main\.java:11\)\n/,
  );
  assert.match(
    stack,
    /\nCaused by: java\.lang\.IllegalArgumentException: negative amount -1\n\tat com\.example\.shop\.Checkout\.validate\(Checkout\.java:20\)\n\tat com\.example\.shop\.Checkout\.pay\(Checkout\.java:12\)\n\tat com\.example\.shop\.Main\.lambda\$main\$0\(Main\.java:11\)\n\t\.\.\. 1 more\n/,
  );
  const top = frames[0];
  assert.equal(top.class, 'com.example.shop.Main');
  assert.equal(top.method, 'j');
  assert.equal(top.sourceFile, 'SourceFile');
  assert.equal(top.resolved, true);
  assert.deepEqual(top.chain[0], { class: 'com.example.shop.Checkout', method: 'pay', line: 14, sourceFile: 'Checkout.java' });
});

test('logcat lines keep their prefix on every rewritten line; platform "android" forces the Java path', async () => {
  const logcat = paymentTrace
    .trimEnd()
    .split('\n')
    .map((l) => `12-01 10:00:00.123  4321  4321 E AndroidRuntime: ${l}`)
    .join('\n');
  const r = await s.post('/parse_stack', { ...id, stack: logcat, platform: 'android' });
  assert.equal(r.status, 200);
  const lines = r.body.content.stack.split('\n');
  assert.equal(lines[0], '12-01 10:00:00.123  4321  4321 E AndroidRuntime: com.example.shop.Checkout$PaymentException: payment refused');
  assert.equal(lines[1], '12-01 10:00:00.123  4321  4321 E AndroidRuntime: \tat com.example.shop.Checkout.pay(Checkout.java:14)');
  assert.ok(lines.every((l: string) => l.startsWith('12-01 10:00:00.123  4321  4321 E AndroidRuntime: ')));
});

test('Guance SDK shape (ART: Unknown Source:N, frames without lines, CRLF) and ambiguity in alternatives', async () => {
  const stack = [
    'java.lang.NumberFormatException: For input string: "x1"',
    '\tat java.lang.Integer.parseInt(Integer.java:797)',
    '\tat com.example.shop.Main.a(Unknown Source:32)',
    '\tat com.example.shop.Main.b(Unknown Source)',
    '\tat android.os.Handler.dispatchMessage(Handler.java:106)',
    '\tat com.android.internal.os.ZygoteInit.main(Native Method)',
  ].join('\r\n');
  const r = await s.post('/parse_stack', { ...id, stack });
  assert.equal(r.status, 200);
  const { frames, stack: out } = r.body.content;
  assert.equal(frames.length, 5);
  assert.deepEqual(
    frames[1].alternatives.map((c: any[]) => c.map((o) => o.method)),
    [['twoLambdasOnOneLine'], ['lambda$twoLambdasOnOneLine$8'], ['lambda$twoLambdasOnOneLine$7']],
  );
  assert.equal(frames[2].alternatives.length, 2);
  assert.equal(frames[3].resolved, false);
  assert.equal(frames[3].reason, 'NoMapping');
  const outLines = out.split('\r\n');
  assert.equal(outLines[2], '\tat com.example.shop.Main.twoLambdasOnOneLine(Main.java:32)');
  assert.equal(outLines[3], '\t<OR> at com.example.shop.Main.lambda$twoLambdasOnOneLine$8(Main.java:32)');
  // Lines the mapping does not cover come back byte for byte (here with their CR).
  assert.ok(
    out.endsWith(
      '\r\n\tat android.os.Handler.dispatchMessage(Handler.java:106)\r\n\tat com.android.internal.os.ZygoteInit.main(Native Method)',
    ),
  );
});

test('without a stored mapping every frame is NoSourceMap and the stack comes back byte for byte', async () => {
  const r = await s.post('/parse_stack', { appId: 'shop', version: 'none', env: 'prod', stack: paymentTrace });
  assert.equal(r.status, 200);
  assert.equal(r.body.content.stack, paymentTrace);
  assert.ok(r.body.content.frames.every((f: any) => f.reason === 'NoSourceMap'));
});

test('a mapping.txt that is not a mapping is merged with a clear warning, and parse_stack says why', async () => {
  const other = { appId: 'shop', version: 'broken', env: 'prod' };
  const merged = await uploadZip(s, await zipEntries({ 'mapping.txt': '{"version":3,"sources":[]}\n' }), other);
  assert.equal(merged.status, 200);
  assert.equal(merged.body.content.mapCount, 0);
  assert.match(merged.body.content.warnings[0], /^mapping\.txt: not a ProGuard\/R8 mapping \(line 1 is not a class line/);
  const r = await s.post('/parse_stack', { ...other, stack: paymentTrace });
  assert.match(r.body.content.frames[0].detail, /mapping\.txt is not a ProGuard\/R8 mapping/);
});

test('platform "android" needs a stack; an unknown platform is refused', async () => {
  const a = await s.post('/parse_stack', { ...id, platform: 'android', frames: [{ url: 'x.js', line: 1, column: 1 }] });
  assert.equal(a.status, 400);
  assert.equal(a.body.errorCode, 'Param.Invalid');
  const b = await s.post('/parse_stack', { ...id, platform: 'ios', stack: paymentTrace });
  assert.equal(b.status, 400);
});

test('a field named in an ART NullPointerException message is retraced, and listed in fields[]', async () => {
  const stack =
    "java.lang.NullPointerException: Attempt to read from field 'java.util.List com.example.shop.a.a' on a null object reference\n\tat com.example.shop.Main.main(SourceFile:8)";
  const r = await s.post('/parse_stack', { ...id, stack });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(
    r.body.content.stack.split('\n')[0],
    "java.lang.NullPointerException: Attempt to read from field 'java.util.List com.example.shop.Cart.items' on a null object reference",
  );
  assert.deepEqual(
    r.body.content.fields.map((f: any) => [f.class, f.field, f.originalClass, f.names]),
    [['com.example.shop.a', 'a', 'com.example.shop.Cart', ['items']]],
  );
});
