/**
 * The spilled index build (the merge's: records and sorted runs of the class table in the scratch
 * dir) against the in-memory one: byte-identical indexes and the same warnings, with tiny run and
 * fan-in limits so a few thousand classes make hundreds of runs merged in several passes; and no
 * file is left in the spill dir, whether the build finishes, is refused, or is discarded.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MappingIndexBuilder, buildMappingIndex } from '../../../src/symbolicate/java/index-writer.ts';
import { JavaMappingIndex } from '../../../src/symbolicate/java/index-reader.ts';
import { retraceJava } from '../../../src/symbolicate/java/retrace.ts';
import { ScratchDir } from '../../../src/storage/scratch.ts';

const root = await mkdtemp(join(tmpdir(), 'mapvault-spill-'));
const scratch = await ScratchDir.open(root);
after(() => rm(root, { recursive: true, force: true }));

/** Classes in scrambled order, some mapped twice, names with multi-byte UTF-8 (sorted by bytes). */
function mapping(classes: number): string {
  const lines = ['# {"id":"com.android.tools.r8.mapping","version":"2.2"}'];
  for (let i = 0; i < classes; i++) {
    const k = (i * 7919) % classes;
    const obf = k % 11 === 0 ? `é${k}.a` : `${String.fromCharCode(97 + (k % 26))}${k}.b`;
    lines.push(`com.example.C${k}${i % 97 === 0 ? 'Twice' : ''} -> ${obf}:`, `# {"id":"sourceFile","fileName":"C${k}.kt"}`);
    lines.push(`    int f${k} -> a`, `    1:4:void run(int):${10 + k}:${13 + k} -> a`, `    5:5:void other():${k} -> b`);
    if (i % 97 === 0) lines.push(`com.example.Again${k} -> ${obf}:`, '    1:4:void wrong():1:4 -> a');
  }
  return `${lines.join('\n')}\n`;
}

async function spilled(bytes: Buffer, limits: { runEntries: number; fanIn: number }) {
  const b = new MappingIndexBuilder({ spill: scratch, spillLimits: limits });
  for (let at = 0; at < bytes.length; at += 4096) {
    b.write(bytes.subarray(at, at + 4096));
    if (b.full) await b.drain();
  }
  return b.finish();
}

test('a spilled build writes the very bytes of the in-memory build, over several merge passes', async () => {
  const bytes = Buffer.from(mapping(3000));
  const inMemory = await buildMappingIndex(bytes);
  assert.ok(inMemory.index);
  assert.ok(
    inMemory.warnings.some((w) => /is mapped twice; the later mapping is ignored/.test(w)),
    inMemory.warnings.join('\n'),
  );
  for (const limits of [
    { runEntries: 7, fanIn: 3 },
    { runEntries: 100, fanIn: 64 },
    { runEntries: 32_768, fanIn: 64 },
  ]) {
    const r = await spilled(bytes, limits);
    assert.equal(r.index, null);
    assert.ok(r.indexPath);
    const file = await readFile(r.indexPath);
    await scratch.remove(r.indexPath);
    assert.ok(file.equals(inMemory.index), `limits ${JSON.stringify(limits)}: ${file.length} vs ${inMemory.index.length} bytes`);
    assert.deepEqual([r.warnings, r.classCount, r.lineCount], [inMemory.warnings, inMemory.classCount, inMemory.lineCount]);
    assert.deepEqual(await readdir(scratch.dir), [], 'runs and the table file are removed');
  }
  // First mapping wins: a duplicated class resolves to its first class line.
  const index = new JavaMappingIndex(inMemory.index);
  assert.equal(retraceJava('\tat é0.a.a(SourceFile:2)', { index, label: 'm' }, 5).stack, '\tat com.example.C0Twice.run(C0.kt:11)');
});

test('a refused or abandoned spilled build leaves nothing in the spill dir', async () => {
  const refused = await spilled(Buffer.from('{"version":3}\n'), { runEntries: 7, fanIn: 3 });
  assert.deepEqual([refused.indexPath, refused.index], [null, null]);
  assert.match(refused.notMapping!, /not a class line/);

  const b = new MappingIndexBuilder({ spill: scratch, spillLimits: { runEntries: 7, fanIn: 3 } });
  b.write(Buffer.from(mapping(500)));
  await b.drain();
  assert.ok((await readdir(scratch.dir)).length > 0);
  await b.discard();
  assert.deepEqual(await readdir(scratch.dir), []);
});
