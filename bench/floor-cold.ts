/**
 * The cold-resolution floor, run in a fresh process (so the JIT is as cold as a restarted server):
 * read the map file, JSON.parse it, new TraceMap, and the first originalPositionFor (which decodes
 * the mappings) — trace-mapping's own time-to-first-answer. Then the same again in the same
 * process (JIT warm, as for a server that just got a new version).
 *
 *   node --import tsx bench/floor-cold.ts <file.map> <line> <column 1-based>
 *
 * Prints one JSON line: { coldMs, warmMs }.
 */
import { readFileSync } from 'node:fs';
import { TraceMap, originalPositionFor } from '@jridgewell/trace-mapping';

const [file, lineArg, colArg] = process.argv.slice(2);
if (!file || !lineArg || !colArg) throw new Error('usage: floor-cold.ts <file.map> <line> <column>');
const line = Number(lineArg),
  column = Number(colArg) - 1;

function once(): number {
  const t0 = performance.now();
  const json = JSON.parse(readFileSync(file!, 'utf8')) as ConstructorParameters<typeof TraceMap>[0];
  const map = new TraceMap(json);
  const p = originalPositionFor(map, { line, column });
  const ms = performance.now() - t0;
  if (p.source === null) throw new Error(`no mapping at ${line}:${column + 1}`);
  return ms;
}

const coldMs = once();
const warmMs = once();
process.stdout.write(JSON.stringify({ coldMs, warmMs }) + '\n');
