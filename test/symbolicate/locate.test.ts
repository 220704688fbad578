import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SuffixIndex,
  conventionalMapPath,
  findSourceMappingURL,
  resolveMapRef,
  suffixMatch,
  urlPath,
} from '../../src/symbolicate/locate.ts';

test('urlPath: host, query and fragment ignored; schemes, relative URLs, percent-decoding', () => {
  const cases: [string, string | null][] = [
    ['https://cdn.example.com/static/js/app.3f2a.js?v=1', 'static/js/app.3f2a.js'],
    ['https://cdn.example.com:8443/static/js/app.js#frag', 'static/js/app.js'],
    ['http://user@cdn.example.com/a/b.js?x=1#y', 'a/b.js'],
    ['webpack://app/./src/x.js', 'src/x.js'],
    ['webpack:///./src/x.js', 'src/x.js'],
    ['webpack-internal:///./src/x.js', 'src/x.js'],
    ['file:///home/u/proj/dist/app.js', 'home/u/proj/dist/app.js'],
    ['//cdn.example.com/static/a.js', 'static/a.js'],
    ['/static/js/app.js', 'static/js/app.js'],
    ['static/js/app.js', 'static/js/app.js'],
    ['./a/../b/./c.js', 'b/c.js'],
    ['https://x.test/static/js/my%20app%2Bv2.js', 'static/js/my app+v2.js'],
    ['https://x.test/a/%2e%2e/%2e%2e/%2e%2e/b.js', 'b.js'],
    ['https://x.test/bad%zzescape.js', 'bad%zzescape.js'],
    ['C:\\build\\app.js', 'C:/build/app.js'],
    ['https://x.test/', null],
    ['https://x.test', null],
  ];
  for (const [url, want] of cases) assert.equal(urlPath(url), want, url);
  assert.equal(conventionalMapPath('https://cdn.example.com/static/js/app.3f2a.js?v=1'), 'static/js/app.3f2a.js.map');
});

test('findSourceMappingURL: the last comment wins, //@ accepted, must end its line', () => {
  assert.equal(findSourceMappingURL('a()\n//# sourceMappingURL=app.js.map\n'), 'app.js.map');
  assert.equal(findSourceMappingURL('a()\r\n//# sourceMappingURL=one.map\r\nb()\r\n//@ sourceMappingURL=two.map'), 'two.map');
  assert.equal(findSourceMappingURL('var s = "//# sourceMappingURL=fake.map in a string";\n'), null);
  assert.equal(findSourceMappingURL('x()'), null);
  const inline = 'data:application/json;charset=utf-8;base64,eyJ2ZXJzaW9uIjozfQ==';
  assert.equal(findSourceMappingURL(`x()\n//# sourceMappingURL=${inline}\n`), inline);
});

test('resolveMapRef: relative to the script, root-relative, absolute URLs, data: URLs', () => {
  assert.deepEqual(resolveMapRef('static/js/app.js', 'app.js.map'), { kind: 'path', path: 'static/js/app.js.map' });
  assert.deepEqual(resolveMapRef('static/js/app.js', '../../maps/app.js.map?v=2'), { kind: 'path', path: 'maps/app.js.map' });
  assert.deepEqual(resolveMapRef('static/js/app.js', '/maps/app.js.map'), { kind: 'path', path: 'maps/app.js.map' });
  assert.deepEqual(resolveMapRef('app.js', 'https://maps.internal/x/app.js.map'), { kind: 'path', path: 'x/app.js.map' });
  assert.deepEqual(resolveMapRef('a/app.js', 'my%20app.js.map'), { kind: 'path', path: 'a/my app.js.map' });
  const json = '{"version":3,"sources":[],"names":[],"mappings":""}';
  for (const ref of [
    `data:application/json;base64,${Buffer.from(json).toString('base64')}`,
    `data:application/json;charset=utf-8;base64,${Buffer.from(json).toString('base64')}`,
    `data:application/json,${encodeURIComponent(json)}`,
  ]) {
    const r = resolveMapRef('static/js/app.js', ref);
    assert.equal(r?.kind, 'inline', ref);
    assert.equal(r.kind === 'inline' && r.bytes.toString(), json);
  }
  assert.equal(resolveMapRef('static/js/app.js', 'data:application/json;base64'), null);
});

test('suffixMatch: longest segment-wise suffix, ties by shortest path then name', () => {
  const files = ['dist/assets/app.js.map', 'other/app.js.map', 'x/assets2/app.js.map', 'dist/assets/app.js', 'zassets/app.js.map'];
  assert.equal(suffixMatch('assets/app.js.map', files), 'dist/assets/app.js.map');
  assert.equal(suffixMatch('static/js/app.js.map', files), 'other/app.js.map'); // only the file name matches: shortest wins
  assert.equal(suffixMatch('q/app.js.map', ['b/app.js.map', 'a/app.js.map']), 'a/app.js.map');
  assert.equal(suffixMatch('static/js/nope.js.map', files), null);
  assert.equal(suffixMatch('assets/app.js.map', ['assets/app.js']), null); // only .map files count
});

test('findSourceMappingURL reads only the tail: blank and comment lines skipped, code ends the search', () => {
  assert.equal(
    findSourceMappingURL('a()\n//# sourceMappingURL=app.js.map\n//# debugId=85314830-023f-4cf1-a267-535f4e37bb17\n\n'),
    'app.js.map',
  );
  assert.equal(findSourceMappingURL('a()\n//# sourceMappingURL=app.js.map\nb()\n'), null); // code after the comment
  assert.equal(findSourceMappingURL('a()\r//# sourceMappingURL=cr.map'), 'cr.map'); // a lone CR ends a line too
  assert.equal(findSourceMappingURL(Buffer.from('a()\n//# sourceMappingURL=bytes.map \t\n')), 'bytes.map');
  assert.equal(findSourceMappingURL('//# sourceMappingURL=a b'), null); // a value with a space is not one
  assert.equal(findSourceMappingURL(`//# sourceMappingURL=far.map\n${'//\n'.repeat(40)}`), null); // past the tail window
});

/** The scan suffixMatch used to be (every file, every time): the reference for SuffixIndex. */
function scanSuffixMatch(mapPath: string, files: readonly string[]): string | null {
  const want = mapPath.split('/');
  let best: string | null = null;
  let bestN = 0;
  for (const f of files) {
    if (!f.endsWith('.map')) continue;
    const segs = f.split('/').filter((s) => s !== '' && s !== '.');
    let n = 0;
    while (n < want.length && n < segs.length && want[want.length - 1 - n] === segs[segs.length - 1 - n]) n++;
    if (n === 0) continue;
    if (n > bestN || (n === bestN && best !== null && (f.length < best.length || (f.length === best.length && f < best)))) {
      best = f;
      bestN = n;
    }
  }
  return best;
}

test("SuffixIndex gives the scan's answer on random trees (differential, 20 000 queries)", () => {
  let seed = 42;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const seg = () => ['a', 'b', 'c', 'js', 'static', 'app.js.map', 'x.js.map', 'app.js'][rnd(8)]!;
  const path = () => Array.from({ length: 1 + rnd(5) }, seg).join('/');
  for (let t = 0; t < 200; t++) {
    const files = Array.from({ length: rnd(60) }, path);
    const index = new SuffixIndex(files);
    for (let q = 0; q < 100; q++) {
      const want = `${path()}/${['app.js.map', 'x.js.map', 'y.js.map'][rnd(3)]}`;
      assert.equal(index.match(want), scanSuffixMatch(want, files), `${want} in ${JSON.stringify(files)}`);
    }
  }
});

test('debug IDs: read from maps (debugId, debug_id) and script tails; derived deterministically from content', async () => {
  const { debugIdFromContent, mapDebugId, normalizeDebugId, scriptDebugId } = await import('../../src/symbolicate/debug-id.ts');
  const id = '85314830-023F-4CF1-A267-535F4E37BB17';
  assert.equal(mapDebugId({ debugId: id }), id.toLowerCase());
  assert.equal(mapDebugId({ debug_id: id }), id.toLowerCase());
  assert.equal(mapDebugId({ debugId: 'not-a-uuid', debug_id: id }), id.toLowerCase());
  assert.equal(mapDebugId({ debugId: 42 }), null);
  assert.equal(scriptDebugId(`a()\n//# debugId=${id}\n//# sourceMappingURL=a.js.map\n`), id.toLowerCase());
  assert.equal(scriptDebugId(`a()\n//# sourceMappingURL=a.js.map\n//# debugId=${id}`), id.toLowerCase());
  assert.equal(scriptDebugId(`//# debugId=${id}\nb()\n`), null); // code after it
  assert.equal(normalizeDebugId(`${id}x`), null);
  const a = debugIdFromContent('{"version":3}');
  assert.equal(a, debugIdFromContent('{"version":3}'));
  assert.notEqual(a, debugIdFromContent('{"version":3} '));
  assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});
