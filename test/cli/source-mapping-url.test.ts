// One rule for "which sourceMappingURL does this script have": the CLI's upload checks (a
// directory, a ready-made zip) and the server's resolver must pick the same map for the same
// script. Each script below is given with the map the rule picks (ECMA-426 §11.1.2: the comment
// must be among the script's last lines, only blank lines and other line comments after it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkSelection, checkZip, packZip, selectFiles } from '../../src/cli/pack.ts';
import { StackResolver } from '../../src/symbolicate/index.ts';
import { MemTree } from '../symbolicate/fixtures.ts';

/** A one-segment map of line 1, column 1 to `<name>.ts`, with its own debug ID (the CLI names the map it pairs through it). */
const map = (name: string, debugId: string) =>
  JSON.stringify({ version: 3, sources: [`${name}.ts`], names: [], mappings: 'AAAA', debugId });
const MAPS = {
  'js/old.js.map': map('old', '11111111-1111-4111-8111-111111111111'),
  'js/new.js.map': map('new', '22222222-2222-4222-8222-222222222222'),
};
const inline = `data:application/json;base64,${Buffer.from(map('inline', '33333333-3333-4333-8333-333333333333')).toString('base64')}`;

/** The script, and the map the rule picks: a file, the inline one, or none. */
const CASES: { what: string; script: string; picks: 'js/old.js.map' | 'js/new.js.map' | 'inline' | null }[] = [
  {
    what: 'several comments: the last one',
    script: 'a()\n//# sourceMappingURL=old.js.map\n//# sourceMappingURL=new.js.map\n',
    picks: 'js/new.js.map',
  },
  { what: 'the old //@ form', script: 'a()\n//@ sourceMappingURL=new.js.map', picks: 'js/new.js.map' },
  { what: 'trailing whitespace and blank lines', script: 'a()\n//# sourceMappingURL=new.js.map \t\n\n  \n\n', picks: 'js/new.js.map' },
  {
    what: 'CRLF line ends, a debugId comment after it',
    script: 'a()\r\n//# sourceMappingURL=new.js.map\r\n//# debugId=x\r\n',
    picks: 'js/new.js.map',
  },
  {
    what: 'a comment inside a string on the last line',
    script: '//# sourceMappingURL=old.js.map\nvar s = "//# sourceMappingURL=new.js.map";\n',
    picks: null,
  },
  { what: 'code after the comment', script: 'a()\n//# sourceMappingURL=old.js.map\nb();\n', picks: null },
  { what: 'a block comment is not the line comment', script: 'a()\n/*# sourceMappingURL=new.js.map */\n', picks: null },
  {
    what: 'a data: URL after a file comment',
    script: `a()\n//# sourceMappingURL=old.js.map\n//# sourceMappingURL=${inline}\n`,
    picks: 'inline',
  },
  { what: 'a percent-encoded reference', script: 'a()\n//# sourceMappingURL=n%65w.js.map\n', picks: 'js/new.js.map' },
  {
    what: '../ past the upload root (clamped at the root, as URLs are)',
    script: 'a()\n//# sourceMappingURL=../../js/new.js.map\n',
    picks: 'js/new.js.map',
  },
  {
    what: 'a file comment after a data: URL',
    script: `a()\n//# sourceMappingURL=${inline}\n//# sourceMappingURL=old.js.map\n`,
    picks: 'js/old.js.map',
  },
];

/** The map the CLI pairs with js/app.js: its debug-ID check names it (the script carries no debug ID). */
function cliPick(warnings: string[]): string | null {
  const named = warnings.filter((w) => w.includes('js/app.js has none')).map((w) => w.slice(0, w.indexOf(':')));
  assert.ok(named.length <= 1, warnings.join('\n'));
  return named[0] ?? null;
}

/** The map the server resolves js/app.js's frames with: the one whose source the frame resolves to. */
async function serverPick(resolver: StackResolver, script: string): Promise<string | null> {
  const tree = new MemTree(`t-${Math.random()}`, { ...MAPS, 'js/app.js': script });
  const r = await resolver.resolve(tree, { stack: 'Error: x\n    at f (https://cdn.example.com/js/app.js:1:1)' });
  const source = r.frames[0]?.source ?? null;
  return source === null ? null : source === 'inline.ts' ? 'inline' : `js/${source.replace(/\.ts$/, '')}.js.map`;
}

test('the CLI (directory and zip checks) and the server pick the same sourceMappingURL', async () => {
  const resolver = new StackResolver({ workers: 1 });
  try {
    for (const c of CASES) {
      const dir = await mkdtemp(join(tmpdir(), 'mapvault-smurl-'));
      await mkdir(join(dir, 'js'));
      for (const [p, text] of Object.entries({ ...MAPS, 'js/app.js': c.script })) await writeFile(join(dir, p), text);
      const sel = await selectFiles(dir, ['**/*']);
      const fromDir = cliPick(await checkSelection(sel));
      const zipPath = join(dir, 'upload.zip');
      await packZip(sel.files, zipPath);
      const fromZip = cliPick((await checkZip(zipPath)).warnings);
      const fromServer = await serverPick(resolver, c.script);
      assert.equal(fromServer, c.picks, `${c.what}: server`);
      // The CLI checks only maps that are files: an inline map is not paired with anything.
      const expectedCli = c.picks === 'inline' ? null : c.picks;
      assert.equal(fromDir, expectedCli, `${c.what}: CLI, directory`);
      assert.equal(fromZip, expectedCli, `${c.what}: CLI, zip`);
    }
  } finally {
    await resolver.close();
  }
});
