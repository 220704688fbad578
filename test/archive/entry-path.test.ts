import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeRelativePath } from '../../src/archive/entry-path.ts';
import { ApiError } from '../../src/errors.ts';

test('normalizeRelativePath accepts and normalizes safe relative paths', () => {
  const good: Array<[string, string]> = [
    ['a.map', 'a.map'],
    ['static/js/app.3f2a.js.map', 'static/js/app.3f2a.js.map'],
    ['./a/./b.map', 'a/b.map'],
    ['a//b///c.js.map', 'a/b/c.js.map'],
    ['a/b/', 'a/b'],
    ['dir\\sub\\file.map', 'dir/sub/file.map'], // Windows separators
    ['.hidden/x..y.map', '.hidden/x..y.map'], // '..' inside a name is fine, only a whole '..' segment is not
    ['...', '...'],
    ['ab:c.map', 'ab:c.map'], // a colon that is not a drive letter
    ['中文/ファイル.js.map', '中文/ファイル.js.map'],
    ['x'.repeat(255), 'x'.repeat(255)],
    [`${'d/'.repeat(500)}f`, `${'d/'.repeat(500)}f`], // 1001 bytes
  ];
  for (const [input, expected] of good) assert.equal(normalizeRelativePath(input), expected, JSON.stringify(input));
});

test('normalizeRelativePath rejects unsafe paths with Archive.UnsafePath', () => {
  const bad: Array<[string, RegExp]> = [
    ['', /empty/],
    ['../evil.js.map', /'\.\.'/],
    ['a/../../evil.map', /'\.\.'/],
    ['a/..', /'\.\.'/],
    ['..', /'\.\.'/],
    ['..\\..\\x.map', /'\.\.'/],
    ['a\\..\\..\\x.map', /'\.\.'/],
    ['/abs.map', /absolute/],
    ['//server/share/x.map', /absolute/],
    ['\\abs.map', /absolute/],
    ['\\\\server\\share\\x.map', /absolute/],
    ['C:/x.map', /drive letter/],
    ['c:x.map', /drive letter/], // drive-relative on Windows
    ['C:\\x.map', /drive letter/],
    ['./C:/x.map', /drive letter/],
    ['a\u0000b.map', /NUL/],
    ['a\u0001b.map', /U\+0001/],
    ['a\nb.map', /U\+000A/],
    ['a\u007fb.map', /U\+007F/],
    ['a\u009bb.map', /U\+009B/],
    ['a\ud800b.map', /Unicode/],
    ['.', /does not name a file/],
    ['./', /does not name a file/],
    ['a'.repeat(5000), /5000 bytes.*1024/],
    [`${'d/'.repeat(512)}f`, /1025 bytes/],
    [`${'é'.repeat(513)}`, /1026 bytes/], // limit is in UTF-8 bytes, not characters
    [`a/${'x'.repeat(256)}/b.map`, /256-byte segment.*255/],
  ];
  for (const [input, why] of bad) {
    assert.throws(
      () => normalizeRelativePath(input),
      (err: unknown) => {
        assert.ok(err instanceof ApiError, `${JSON.stringify(input)} should throw an ApiError`);
        assert.equal(err.errorCode, 'Archive.UnsafePath');
        assert.equal(err.status, 422);
        assert.match(err.message, why, `message for ${JSON.stringify(input).slice(0, 40)}: ${err.message}`);
        assert.ok(err.message.length < 300, 'messages stay short even for huge names');
        return true;
      },
    );
  }
});
