import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Builds the web console from the current sources into a fresh directory (as `npm install`'s
 * prepare step does into build/console) and returns it, for MAPVAULT_CONSOLE_DIR. Each test file
 * builds its own copy, so files running in parallel never see a half-written build.
 */
export function buildConsole(): string {
  const out = mkdtempSync(join(tmpdir(), 'mapvault-console-'));
  const r = spawnSync(process.execPath, ['scripts/build-console.mjs', '--out', out], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building the console failed:\n${r.stderr}`);
  return out;
}
