import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yauzl from 'yauzl';
import { expandBraces, globToRegExp } from '../../src/cli/glob.ts';
import { addMapScripts, checkSelection, checkZip, packZip, selectFiles } from '../../src/cli/pack.ts';
import { zipEntries } from '../helpers/fixtures.ts';
import { statePath } from '../../src/cli/state.ts';
import { render } from '../../src/cli/symbolicate.ts';

test('glob: **, *, ?, {a,b}, and bare patterns match at any depth', () => {
  const m = (p: string, path: string) => globToRegExp(p).test(path);
  assert.ok(m('**/*.map', 'a.map') && m('**/*.map', 'static/js/a.js.map'));
  assert.ok(!m('**/*.map', 'a.map.txt'));
  assert.ok(m('*.map', 'deep/er/x.map'), 'no slash: any depth');
  assert.ok(m('static/*.js', 'static/a.js') && !m('static/*.js', 'static/js/a.js'));
  assert.ok(m('static/**/*.js', 'static/a.js') && m('static/**/*.js', 'static/js/x/a.js'));
  assert.ok(m('static/**', 'static/js/a.js') && !m('static/**', 'other/a.js'));
  assert.ok(m('js/?.js', 'js/a.js') && !m('js/?.js', 'js/ab.js'));
  assert.ok(m('**/*.{js,map}', 'a/b.js') && m('**/*.{js,map}', 'a/b.js.map') && !m('**/*.{js,map}', 'a/b.css'));
  assert.ok(m('{static,assets}/**/*.{js{,.map},css}', 'assets/x/y.js.map'));
  assert.ok(m('a+b(c)/$x.js', 'a+b(c)/$x.js'), 'regex characters are literal');
  assert.ok(m('./dist/*.js', 'dist/a.js'));
  assert.deepEqual(expandBraces('a{b,c{d,e}}f'), ['abf', 'acdf', 'acef']);
  assert.deepEqual(expandBraces('x{y}z{1,2}'), ['x{y}z1', 'x{y}z2']);
});

async function tree(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mapvault-pack-'));
  for (const [p, text] of Object.entries(files)) {
    await mkdir(join(dir, p, '..'), { recursive: true });
    await writeFile(join(dir, p), text);
  }
  return dir;
}

test('selection: --include, --strip-prefix, node_modules skipped, sorted zip paths', async () => {
  const dir = await tree({
    'dist/static/js/b.js': 'b',
    'dist/static/js/b.js.map': '{}',
    'dist/static/js/a.js.map': '{}',
    'dist/index.html': '<html>',
    'node_modules/x/x.js.map': '{}',
    'other/c.js.map': '{}',
  });
  const sel = await selectFiles(dir, ['**/*.map'], 'dist/');
  assert.deepEqual(
    sel.files.map((f) => f.name),
    ['static/js/a.js.map', 'static/js/b.js.map'],
  );
  assert.equal(sel.outsidePrefix, 1);
  const withJs = await selectFiles(dir, ['**/*.map', 'static/**/*.js'], './dist');
  assert.deepEqual(
    withJs.files.map((f) => f.name),
    ['static/js/a.js.map', 'static/js/b.js', 'static/js/b.js.map'],
  );
  const all = await selectFiles(dir, ['**/*.map']);
  assert.deepEqual(
    all.files.map((f) => f.name),
    ['dist/static/js/a.js.map', 'dist/static/js/b.js.map', 'other/c.js.map'],
  );
});

test('each selected map brings its generated script: beside it, named by its `file`, or naming it by sourceMappingURL', async () => {
  const map = (extra = '') => `{"version":3,"sources":["a.ts"],"names":[],"mappings":"AAAA"${extra}}`;
  const dir = await tree({
    'dist/js/beside.js': 'a()',
    'dist/js/beside.js.map': map(),
    'dist/js/module.mjs': 'b()',
    'dist/js/module.mjs.map': map(),
    'dist/js/hashed.3f2a.js': 'c()',
    'dist/maps/hashed.map': map(',"file":"../js/hashed.3f2a.js"'),
    'dist/js/commented.1b.cjs': 'd()\n//# sourceMappingURL=../maps/commented.map\n',
    'dist/maps/commented.map': map(),
    'dist/js/selected.js': 'e()',
    'dist/js/selected.js.map': map(),
    'dist/maps/alone.js.map': map(',"file":"https://cdn.example.com/alone.js"'),
    'dist/js/unrelated.js': 'f()',
    'outside/x.js': 'g()',
    'outside/x.js.map': map(),
  });
  const sel = await selectFiles(dir, ['**/*.map', 'js/selected.js'], 'dist/');
  assert.deepEqual(await addMapScripts(sel), { added: 4, withoutScript: ['dist/maps/alone.js.map'] });
  assert.deepEqual(
    sel.files.map((f) => f.name),
    [
      'js/beside.js',
      'js/beside.js.map',
      'js/commented.1b.cjs',
      'js/hashed.3f2a.js',
      'js/module.mjs',
      'js/module.mjs.map',
      'js/selected.js',
      'js/selected.js.map',
      'maps/alone.js.map',
      'maps/commented.map',
      'maps/hashed.map',
    ],
  );
  // Idempotent: nothing more to add.
  assert.deepEqual(await addMapScripts(sel), { added: 0, withoutScript: ['dist/maps/alone.js.map'] });
});

test('the zip is deterministic (same bytes on every run) and holds the selected paths', async () => {
  const dir = await tree({ 'static/js/app.js.map': '{"version":3,"sources":[],"names":[],"mappings":""}', 'static/js/app.js': 'x()' });
  const sel = await selectFiles(dir, ['**/*']);
  const out = await mkdtemp(join(tmpdir(), 'mapvault-zipout-'));
  const a = await packZip(sel.files, join(out, 'a.zip'));
  await utimes(join(dir, 'static/js/app.js'), new Date(2021, 5, 1), new Date(2021, 5, 1)); // a new mtime must not change the bytes
  const b = await packZip((await selectFiles(dir, ['**/*'])).files, join(out, 'b.zip'));
  assert.equal(a.sha256, b.sha256);
  assert.deepEqual(await readFile(join(out, 'a.zip')), await readFile(join(out, 'b.zip')));
  const zip = await yauzl.openPromise(join(out, 'a.zip'), { lazyEntries: true });
  const names: string[] = [];
  for await (const e of zip.eachEntry()) names.push(e.fileName);
  assert.deepEqual(names, ['static/js/app.js', 'static/js/app.js.map']);
});

test('checks: invalid maps, non-sourcemap JSON, sourceMappingURL outside the upload', async () => {
  const dir = await tree({
    'js/a.js': 'a()\n//# sourceMappingURL=a.js.map',
    'js/a.js.map': '{"version":3,"sources":[],"mappings":""}',
    'js/b.js': 'b()\n//# sourceMappingURL=/maps/b.js.map',
    'js/c.js': 'c()\n//# sourceMappingURL=data:application/json;base64,e30=',
    'js/d.js.map': '[1,2]',
    'js/e.js.map': 'nope',
  });
  const warnings = await checkSelection(await selectFiles(dir, ['**/*.map']));
  assert.equal(warnings.length, 3, warnings.join('\n'));
  assert.equal(warnings[0], 'js/d.js.map: not a JSON object', 'the same check as the server merge');
  assert.match(warnings[1]!, /^js\/e\.js\.map: not valid JSON/);
  assert.equal(warnings[2], 'js/b.js: its sourceMappingURL /maps/b.js.map (maps/b.js.map) is not in the upload');
});

test('state files are keyed by endpoint, identity, zip sha256 and part size', () => {
  const key = { endpoint: 'http://a/api/v1/rum_sourcemap', appId: 'x', version: '1', env: '', zipSha256: 'f'.repeat(64), partSize: 10 };
  const p = statePath('/s', key);
  assert.match(p, /^\/s\/upload-[0-9a-f]{32}\.json$/);
  for (const change of [
    { endpoint: 'http://b' },
    { appId: 'y' },
    { version: '2' },
    { env: 'e' },
    { zipSha256: '0'.repeat(64) },
    { partSize: 11 },
  ]) {
    assert.notEqual(statePath('/s', { ...key, ...change }), p);
  }
});

test('render: the rewritten stack with project paths, reasons on unresolved frames, context when asked', () => {
  const input = 'Error: x\n    at a (https://h/app.js:1:10)\n    at b (https://h/other.js:1:5)\n';
  const result = {
    stack: 'Error: x\n    at a (../../src/a.ts:3:7)\n    at b (https://h/other.js:1:5)\n',
    frames: [
      {
        raw: '    at a (https://h/app.js:1:10)',
        resolved: true,
        source: '../../src/a.ts',
        originalLine: 3,
        originalColumn: 7,
        context: { pre: [], line: '  boom();', post: [] },
      },
      { raw: '    at b (https://h/other.js:1:5)', resolved: false, reason: 'NoSourceMap', detail: 'no map at other.js.map' },
    ],
  } as unknown as Parameters<typeof render>[1];
  assert.equal(
    render(input, result, false),
    'Error: x\n    at a (src/a.ts:3:7)\n    at b (https://h/other.js:1:5)  # not resolved: no map at other.js.map\n',
  );
  assert.equal(
    render(input, result, true),
    'Error: x\n    at a (src/a.ts:3:7)\n        | boom();\n    at b (https://h/other.js:1:5)  # not resolved: no map at other.js.map\n',
  );
});

test('checks: scripts and maps whose debug IDs disagree, in a directory and in a zip', async () => {
  const A = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
    B = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
  const map = (id?: string) => JSON.stringify({ version: 3, sources: [], mappings: '', ...(id ? { debugId: id } : {}) });
  const files = {
    'js/same.js': `s()\n//# debugId=${A}\n//# sourceMappingURL=same.js.map`,
    'js/same.js.map': map(A),
    'js/none.js': 'n()\n//# sourceMappingURL=none.js.map',
    'js/none.js.map': map(),
    'js/script-only.js': `x()\n//# debugId=${A}\n//# sourceMappingURL=maps/script-only.map`,
    'js/maps/script-only.map': map(),
    'js/map-only.js': 'y()\n',
    'js/map-only.js.map': map(B), // esbuild's external maps: no sourceMappingURL, `<script>.map`
    'js/differ.js': `z()\n//# debugId=${A}\n//# sourceMappingURL=differ.js.map`,
    'js/differ.js.map': JSON.stringify({ version: 3, sources: [], mappings: '', debug_id: B }),
  };
  const expected = [
    `js/differ.js: its debug ID ${A} differs from its map js/differ.js.map's (${B}), so frames reported with it will not find the map; run \`mapvault inject\` on the build output before deploying it`,
    `js/map-only.js.map: it has debug ID ${B} but its script js/map-only.js has none, so the browser reports no ID for it; run \`mapvault inject\` on the build output before deploying it`,
    `js/script-only.js: it has debug ID ${A} but its map js/maps/script-only.map has none, so frames reported with that ID will not find the map; run \`mapvault inject\` on the build output before deploying it`,
  ];
  const dir = await tree(files);
  assert.deepEqual((await checkSelection(await selectFiles(dir, ['**/*.map']))).sort(), expected);
  const zipPath = join(dir, 'build.zip');
  await writeFile(zipPath, await zipEntries(files));
  assert.deepEqual((await checkZip(zipPath)).warnings.sort(), expected);
});
