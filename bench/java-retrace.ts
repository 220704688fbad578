/**
 * Android: retracing a 50-frame Java stack against a ~30 MB ProGuard mapping (the size of a large
 * app's), side by side with ProGuard's own ReTrace (Debian's proguard-cli 6.2.2 on the machine's JDK).
 *
 *   npm run bench:java -- [--runs N] [--quick]
 *
 * Each run uploads the mapping under a new version (the merge indexes it as it streams), then:
 *  - first resolution after upload: one parse_stack over HTTP, nothing cached;
 *  - floor: `java -jar retrace.jar mapping.txt trace.txt`, wall time (what Guance's agent runs);
 *  - warm: the same parse_stack again (median of 100), each call followed by an authenticated
 *    /whoami round trip (median of 100): what HTTP, the key check and JSON cost alone then.
 * The mapping is synthetic but shaped like R8/ProGuard output (packages, inner classes, overloads
 * sharing obfuscated names, line ranges, inline chains); it is generated once into .bench-work.
 * Both answers are checked: every app frame resolved, and the same frames as ReTrace's.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync, statSync, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import yazl from 'yazl';
import { CACHE, MiB, ROOT, Report, callApi, log, parseArgs, removeDir, startMapvault, tempDir, uploadZip } from './lib.ts';
import { prng } from './fixtures.ts';

const opts = parseArgs();
const WARM_CALLS = 100;
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[xs.length >> 1]!;
const dir = join(CACHE, 'java');
mkdirSync(dir, { recursive: true });
const targetBytes = (opts.quick ? 3 : 30) * MiB;
const mappingPath = join(dir, `mapping-${targetBytes / MiB}m.txt`);
const tracePath = join(dir, `trace-${targetBytes / MiB}m.txt`);

/** Writes the mapping and a 50-frame trace into it (deterministic). */
function generate(): void {
  const rand = prng(7);
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
  const types = ['int', 'void', 'boolean', 'java.lang.String', 'java.util.List', 'android.os.Bundle', 'long'];
  const lines: string[] = ['# compiler: R8', '# {"id":"com.android.tools.r8.mapping","version":"2.2"}'];
  const frames: string[] = [];
  let bytes = 0;
  let c = 0;
  const out: string[] = [];
  while (bytes < targetBytes) {
    const pkg = `com.example.feature${c % 97}.sub${c % 13}`;
    const cls = `${pkg}.Screen${c}${c % 5 === 0 ? '$Inner' : ''}`;
    const obf = `${String.fromCharCode(97 + (c % 26))}${(c / 26) | 0}.${String.fromCharCode(97 + ((c >> 3) % 26))}`;
    lines.push(`${cls} -> ${obf}:`, `# {"id":"sourceFile","fileName":"Screen${c}.kt"}`, `    ${pick(types)} field${c} -> a`);
    let line = 1;
    for (let m = 0; m < 14; m++) {
      const obfName = String.fromCharCode(97 + (m % 9)); // overloads share names
      const len = 2 + Math.floor(rand() * 12);
      const orig = 10 + Math.floor(rand() * 400);
      const args = m % 3 === 0 ? '' : `${pick(types)},int`;
      lines.push(`    ${line}:${line + len - 1}:${pick(types)} method${m}(${args}):${orig}:${orig + len - 1} -> ${obfName}`);
      if (m % 4 === 1) {
        // an inline chain: a helper from another class, then the caller's call site
        lines.push(
          `    ${line + len}:${line + len + 2}:void com.example.util.Helpers${c % 50}.check${m}(int):${20 + m}:${22 + m} -> ${obfName}`,
        );
        lines.push(`    ${line + len}:${line + len + 2}:${pick(types)} method${m}(${args}):${orig + 1} -> ${obfName}`);
        if (frames.length < 50 && rand() < 0.02) frames.push(`\tat ${obf}.${obfName}(SourceFile:${line + len + 1})`);
      } else if (frames.length < 50 && rand() < 0.01) frames.push(`\tat ${obf}.${obfName}(SourceFile:${line + 1})`);
      line += len + 3;
    }
    for (const l of lines) bytes += l.length + 1;
    out.push(lines.join('\n'));
    lines.length = 0;
    c++;
  }
  writeFileSync(mappingPath, `${out.join('\n')}\n`);
  const trace = [
    'java.lang.IllegalStateException: boom',
    ...frames.slice(0, 45),
    '\tat android.os.Handler.dispatchMessage(Handler.java:106)',
    '\tat android.os.Looper.loop(Looper.java:223)',
    '\tat android.app.ActivityThread.main(ActivityThread.java:7656)',
    '\tat java.lang.reflect.Method.invoke(Native Method)',
    '\tat com.android.internal.os.ZygoteInit.main(ZygoteInit.java:947)',
  ];
  if (frames.length < 45) throw new Error(`only ${frames.length} frames generated`);
  writeFileSync(tracePath, `${trace.join('\n')}\n`);
}

if (!existsSync(mappingPath) || !existsSync(tracePath)) {
  log(`generating a ${targetBytes / MiB} MiB mapping`);
  generate();
}
const mappingBytes = statSync(mappingPath).size;
const stack = (await import('node:fs')).readFileSync(tracePath, 'utf8');
log(`mapping: ${(mappingBytes / MiB).toFixed(1)} MiB, trace: ${stack.split('\n').filter((l) => l.includes('\tat ')).length} frames`);

const proguardLib =
  process.env.MAPVAULT_TEST_PROGUARD ??
  /export MAPVAULT_TEST_PROGUARD=(\S+)/.exec(
    execFileSync(join(ROOT, 'scripts/services/proguard.sh'), ['start'], { encoding: 'utf8' }),
  )?.[1];
if (!proguardLib) throw new Error('ProGuard not available (scripts/services/proguard.sh start)');

const zipPath = join(dir, 'mapping.zip');
{
  const z = new yazl.ZipFile();
  z.addFile(mappingPath, 'bench-prod-1/mapping.txt', { compressionLevel: 3 });
  z.end();
  await pipeline(z.outputStream as Readable, createWriteStream(zipPath));
}

/** Frames as `at class.method(:line)`: ReTrace 6.2.2 ignores R8's sourceFile metadata, so file names differ. */
const frameKeys = (text: string) =>
  text
    .split('\n')
    .map((l) =>
      l
        .trim()
        .replace(/^<OR> /, '')
        .replace(/\([^:()]*(:\d+)?\)$/, '($1)'),
    )
    .filter((l) => l.startsWith('at '));

const data = await tempDir('java');
const mv = await startMapvault(data, { prof: opts.prof });
const report = new Report('Android: Java retrace (50 frames, ~30 MB mapping)', opts);
try {
  const first: number[] = [],
    retrace: number[] = [],
    warm: number[] = [],
    whoami: number[] = [],
    merge: number[] = [];
  for (let run = 0; run < opts.runs; run++) {
    const version = `v${run}-${Date.now()}`;
    const up = await uploadZip(mv.api, zipPath, statSync(zipPath).size, { appId: 'bench', env: 'prod', version });
    merge.push(up.mergeMs);
    let t = performance.now();
    const answer = await callApi<{ stack: string; frames: Array<{ resolved: boolean; class: string }> }>(mv.api, '/parse_stack', {
      appId: 'bench',
      env: 'prod',
      version,
      stack,
    });
    first.push(performance.now() - t);
    t = performance.now();
    const reference = execFileSync('java', ['-jar', join(proguardLib, 'retrace.jar'), mappingPath, tracePath], {
      encoding: 'utf8',
      maxBuffer: 64 * MiB,
    });
    retrace.push(performance.now() - t);
    const appFrames = answer.frames.filter(
      (f) => !f.class.startsWith('android.') && !f.class.startsWith('java.') && !f.class.startsWith('com.android.'),
    );
    if (appFrames.some((f) => !f.resolved)) throw new Error('an app frame was not resolved');
    if (JSON.stringify(frameKeys(answer.stack)) !== JSON.stringify(frameKeys(reference)))
      throw new Error('mapvault and ReTrace disagree on the frames');
    // Warm: 100 parse_stack calls, each followed by an authenticated /whoami round trip (for scale:
    // what HTTP, the key check and JSON cost alone at that moment), so both see the same load.
    const w: number[] = [];
    const h: number[] = [];
    for (let k = 0; k < WARM_CALLS; k++) {
      let t2 = performance.now();
      await callApi(mv.api, '/parse_stack', { appId: 'bench', env: 'prod', version, stack });
      w.push(performance.now() - t2);
      t2 = performance.now();
      await callApi(mv.api, '/whoami');
      h.push(performance.now() - t2);
    }
    warm.push(median(w));
    whoami.push(median(h));
    log(
      `run ${run + 1}: merge ${up.mergeMs.toFixed(0)} ms, first ${first.at(-1)!.toFixed(0)} ms, ReTrace ${retrace.at(-1)!.toFixed(0)} ms, warm ${warm.at(-1)!.toFixed(1)} ms, /whoami ${whoami.at(-1)!.toFixed(1)} ms`,
    );
  }
  report.ratioRow('first parse_stack after upload vs ReTrace wall time', 'ms', first, retrace, 0.25);
  report.absoluteRow(`warm parse_stack (median of ${WARM_CALLS})`, 'ms', warm, null, 10, '≤ 10 ms');
  report.absoluteRow(`authenticated /whoami round trip (median of ${WARM_CALLS}, interleaved, for scale)`, 'ms', whoami, null, null, '–');
  report.absoluteRow('merge of the mapping zip (indexing included)', 'ms', merge, null, null, '–');
} finally {
  await mv.stop();
  if (!opts.keep) await removeDir(data);
}
report.finish();
