import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFrameLine } from '../../src/symbolicate/frames.ts';
import type { ParsedFrame } from '../../src/symbolicate/frames.ts';
import { renderV8Frame } from '../../src/symbolicate/frames.ts';

/** Asserts the parse and that `span` covers exactly `url:line:col`. */
function frame(raw: string, functionName: string | null, url: string, line: number, column: number): void {
  const f = parseFrameLine(raw);
  assert.ok(f, `not parsed: ${raw}`);
  assert.deepEqual({ fn: f.functionName, url: f.url, line: f.line, column: f.column }, { fn: functionName, url, line, column }, raw);
  assert.ok(f.span, raw);
  assert.equal(raw.slice(f.span[0], f.span[1]), `${url}:${line}:${column}`, raw);
}

function bad(raw: string, functionName: string | null): ParsedFrame {
  const f = parseFrameLine(raw);
  assert.ok(f, `not a frame: ${raw}`);
  assert.equal(f.span, null, raw);
  assert.equal(f.functionName, functionName, raw);
  return f;
}

test('V8 frames', () => {
  frame('    at handle (https://cdn.example.com/static/js/app.js:1:2345)', 'handle', 'https://cdn.example.com/static/js/app.js', 1, 2345);
  frame('    at https://cdn.example.com:8443/app.js?v=1:10:20', null, 'https://cdn.example.com:8443/app.js?v=1', 10, 20);
  frame('    at async run (file:///srv/app/dist/main.js:3:9)', 'async run', 'file:///srv/app/dist/main.js', 3, 9);
  frame('    at async https://x.test/a.js:4:5', null, 'https://x.test/a.js', 4, 5);
  frame('    at new Klass (https://x.test/a.js:1:77)', 'new Klass', 'https://x.test/a.js', 1, 77);
  frame('    at Object.<anonymous> (/srv/app/index.js:12:3)', 'Object.<anonymous>', '/srv/app/index.js', 12, 3);
  frame('    at Foo.bar [as baz] (https://x.test/a.js:1:2)', 'Foo.bar [as baz]', 'https://x.test/a.js', 1, 2);
  frame('    at fn (https://x.test/build(1)/a.js:3:4)', 'fn', 'https://x.test/build(1)/a.js', 3, 4);
  frame('    at node:internal/main:12:5', null, 'node:internal/main', 12, 5);
  frame('at noIndent (https://x.test/a.js:1:2)  ', 'noIndent', 'https://x.test/a.js', 1, 2);
});

test('V8 eval frames resolve the call site of eval()', () => {
  frame('    at eval (eval at <anonymous> (https://x.test/app.js:1:100), <anonymous>:1:1)', 'eval', 'https://x.test/app.js', 1, 100);
  // Shapes as printed by Node 20 for nested eval.
  frame(
    '    at eval (eval at inner (eval at outer (https://x.test/app.js:2:30)), <anonymous>:1:1)',
    'eval',
    'https://x.test/app.js',
    2,
    30,
  );
  frame('    at inner (eval at outer (https://x.test/app.js:2:30), <anonymous>:1:27)', 'inner', 'https://x.test/app.js', 2, 30);
  bad('    at eval (eval at <anonymous> (native), <anonymous>:1:1)', 'eval');
});

test('V8 frames without a usable location are BadFrame', () => {
  bad('    at foo (native)', 'foo');
  bad('    at Array.forEach (<anonymous>)', 'Array.forEach');
  bad('    at async Promise.all (index 0)', 'async Promise.all');
  bad('    at <anonymous>', null);
});

test('Firefox frames', () => {
  frame('handleClick@https://cdn.example.com/static/js/app.js:1:2345', 'handleClick', 'https://cdn.example.com/static/js/app.js', 1, 2345);
  frame('@https://cdn.example.com/static/js/app.js:1:50', null, 'https://cdn.example.com/static/js/app.js', 1, 50);
  frame('fn/<@https://x.test/a.js:1:2', 'fn/<', 'https://x.test/a.js', 1, 2);
  frame('si</subtotal/<@https://x.test/a.js:7:8', 'si</subtotal/<', 'https://x.test/a.js', 7, 8);
  frame(
    'promise callback*run@https://x.test/node_modules/@scope/a.js:1:2',
    'promise callback*run',
    'https://x.test/node_modules/@scope/a.js',
    1,
    2,
  );
  const f = bad('old@https://x.test/a.js:12', 'old'); // no column
  assert.equal(f.line, 12);
});

test('Safari frames', () => {
  frame('global code@https://x.test/a.js:1:9', 'global code', 'https://x.test/a.js', 1, 9);
  frame('validate@https://x.test/a.js:1:9', 'validate', 'https://x.test/a.js', 1, 9);
  bad('[native code]', null);
  bad('forEach@[native code]', 'forEach');
});

test('Guance web SDK frames', () => {
  frame(
    '  at handleClick @ https://cdn.example.com/static/js/app.js:1:2345',
    'handleClick',
    'https://cdn.example.com/static/js/app.js',
    1,
    2345,
  );
  frame('  at <anonymous> @ https://cdn.example.com/static/js/app.js:1:20', null, 'https://cdn.example.com/static/js/app.js', 1, 20);
  bad('  at foo @ native', 'foo');
});

test('non-frame lines', () => {
  for (const line of [
    'Error: boom',
    'TypeError: x is not a function',
    '',
    '   ',
    'Contact admin@example.com for help',
    'Uncaught (in promise)',
  ]) {
    assert.equal(parseFrameLine(line), null, line);
  }
});

test('renderV8Frame', () => {
  const f = renderV8Frame('https://x.test/a.js', 1, 2, 'fn');
  assert.equal(f.raw, '    at fn (https://x.test/a.js:1:2)');
  assert.equal(f.raw.slice(...f.span!), 'https://x.test/a.js:1:2');
  const g = renderV8Frame('https://x.test/a.js', 3, 4);
  assert.equal(g.raw, '    at https://x.test/a.js:3:4');
  assert.equal(g.raw.slice(...g.span!), 'https://x.test/a.js:3:4');
});
