/**
 * `mapvault upload`: package a build directory (or take a zip), then init → parts in parallel →
 * merge, using only the documented Guance API so it works against any compatible endpoint.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, stat, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createReadStream } from 'node:fs';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { Option, type Command } from 'commander';
import { ApiError, type Body, type Client, type Envelope } from './client.ts';
import {
  action,
  addConnectionOptions,
  CliError,
  describeError,
  formatBytes,
  identity,
  log,
  makeClient,
  numberIn,
  plural,
  requireConnection,
  warn,
  withEnv,
  type Connection,
  type ConnectionOptions,
} from './common.ts';
import { addMapScripts, checkSelection, checkZip, hashFile, isZipFile, normalizePrefix, packZip, selectFiles } from './pack.ts';
import { createProgress } from './progress.ts';
import { MappingIndexBuilder } from '../symbolicate/java/index-writer.ts';
import { MAPPING_FILE_NAME } from '../symbolicate/java/mapping-file.ts';
import { defaultStateDir, loadState, removeState, saveState, statePath, type UploadState } from './state.ts';

const MiB = 1024 * 1024;
const MAX_PARTS = 10_000;
const DEFAULT_INCLUDE = ['**/*.map'];
const MERGE_PATHS = ['/part_merge', '/part_meage', '/merge_file', '/merge_parts'];
const CANCEL_PATHS = ['/upload_cancel', '/multipart_upload_cancel', '/cancel_upload'];

interface UploadOptions extends ConnectionOptions {
  needCover: boolean;
  concurrency: number;
  partSizeMb: number;
  include: string[];
  /** false with --no-scripts: the maps' generated scripts are not added to the selection. */
  scripts: boolean;
  stripPrefix?: string;
  stateDir: string;
  checksum: 'sha256' | 'md5';
  cancelOnError: boolean;
  progress: boolean;
  allowEmptyVersion: boolean;
}

/**
 * A mistyped DF_VERSION must not give a green job whose stacks never resolve: an empty version or
 * env is refused unless asked for (as sentry-cli requires a release, datadog-ci a release version).
 */
function requireVersion(conn: Connection, allowEmpty: boolean): void {
  if (allowEmpty) return;
  const missing = [
    ...(conn.version ? [] : ['--version (or MAPVAULT_VERSION / DF_VERSION)']),
    ...(conn.env ? [] : ['--env (or MAPVAULT_ENV / DF_ENV)']),
  ];
  if (missing.length > 0) {
    throw new CliError(
      `missing ${missing.join(' and ')}: stacks are resolved against the exact appId, version and env; pass --allow-empty-version to upload with an empty one on purpose`,
    );
  }
}

interface InitContent {
  uploadId?: string;
  existsSameFile?: boolean;
  existsOldTask?: boolean;
}
interface PartListContent {
  chunkIndexs?: number[];
  parts?: { chunkIndex: number; size?: number; sha256?: string; md5?: string }[];
}
interface MergeContent {
  fileCount?: number;
  mapCount?: number;
  size?: number;
  sha256?: string;
  warnings?: string[];
}

export function registerUpload(program: Command): void {
  const cmd = program
    .command('upload')
    .description(
      'upload the sourcemaps of a build directory, with their generated scripts (zipped on the fly), or a ready zip, in parallel resumable parts',
    )
    .argument('<source>', 'build output directory, a .zip laid out like the script URLs, or an Android mapping.txt');
  addConnectionOptions(cmd)
    .option('--need-cover', 'replace an existing sourcemap with the same appId/version/env', false)
    .option('--concurrency <n>', 'parts uploaded at the same time', numberIn(1, 32), 4)
    .option('--part-size-mb <MiB>', 'part size in MiB, fractions allowed (0.0625 to 10)', numberIn(0.0625, 10, false), 10)
    .option(
      '--include <glob>',
      "files of the directory to pack (repeatable; replaces the default; e.g. add '**/*.js')",
      (v: string, prev: string[]) => [...(prev === DEFAULT_INCLUDE ? [] : prev), v],
      DEFAULT_INCLUDE,
    )
    .option(
      '--no-scripts',
      'leave out the generated script (.js/.mjs/.cjs) of each map, uploaded by default: without it the server cannot recover original function names',
    )
    .option('--strip-prefix <prefix>', 'path prefix removed from the zip paths (files outside it are left out), e.g. dist/')
    .option('--state-dir <dir>', 'where resume state is kept', defaultStateDir())
    .addOption(new Option('--checksum <algo>', 'part checksum sent to the server').choices(['sha256', 'md5']).default('sha256'))
    .option('--cancel-on-error', 'on failure or Ctrl-C, cancel the server-side task instead of keeping it resumable', false)
    .option('--no-progress', 'plain log lines instead of a progress bar, even on a terminal')
    .option(
      '--allow-empty-version',
      'upload even when --version or --env is empty (stacks then resolve only when sent with the same empty values)',
      false,
    );
  withEnv(cmd).action(action(upload));
}

async function upload(source: string, o: UploadOptions, cmd: Command): Promise<void> {
  const conn = requireConnection(o);
  requireVersion(conn, o.allowEmptyVersion);
  const client = makeClient(conn, o.retries);
  const ac = new AbortController();
  // First Ctrl-C stops cleanly (task kept, or cancelled with --cancel-on-error); a second one exits at once.
  const onSignal = (signal: NodeJS.Signals) => (ac.signal.aborted ? process.exit(130) : ac.abort(signal));
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  const tmp = await mkdtemp(join(tmpdir(), 'mapvault-upload-'));
  const run: Run = { conn, client, o, signal: ac.signal, uploadId: '', statePath: '', onServer: 0, parts: 0 };
  try {
    const zip =
      basename(source) === MAPPING_FILE_NAME
        ? await packMapping(source, conn, tmp, ac.signal)
        : await prepare(source, o, cmd, tmp, ac.signal);
    await send(run, zip);
  } catch (err) {
    throw await failure(run, err);
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    await rm(tmp, { recursive: true, force: true });
    await client.close();
  }
}

interface Zip {
  path: string;
  size: number;
  sha256: string;
}

interface Run {
  conn: Connection;
  client: Client;
  o: UploadOptions;
  signal: AbortSignal;
  uploadId: string;
  statePath: string;
  /** Parts known to be on the server, for the interruption message. */
  onServer: number;
  parts: number;
}

/**
 * Android: a ProGuard/R8 `mapping.txt`, checked as the server will check it, zipped in Guance's
 * layout (`<appId>-<env>-<version>/mapping.txt`).
 */
async function packMapping(
  source: string,
  conn: { appId: string; version: string; env: string },
  tmp: string,
  signal: AbortSignal,
): Promise<Zip> {
  const st = await stat(source).catch(() => null);
  if (!st?.isFile()) throw new CliError(`${source}: no such file`);
  // Checked by the server's own builder, its index spilled to `tmp` (memory stays flat) and dropped.
  const builder = new MappingIndexBuilder({
    spill: {
      newPath: (suffix = '') => join(tmp, `index-${randomBytes(8).toString('hex')}${suffix}`),
      remove: (p) => rm(p, { force: true }),
    },
  });
  try {
    for await (const chunk of createReadStream(source)) {
      builder.write(chunk as Buffer);
      if (builder.full) await builder.drain();
    }
  } catch (err) {
    await builder.discard();
    throw err;
  }
  const checked = await builder.finish();
  if (checked.indexPath !== null) await rm(checked.indexPath, { force: true });
  if (checked.notMapping !== null) throw new CliError(`${source} is not a ProGuard/R8 mapping: ${checked.notMapping}`);
  for (const w of checked.warnings) warn(`${source}: ${w}`);
  const name = `${conn.appId}-${conn.env}-${conn.version}/${MAPPING_FILE_NAME}`;
  const path = join(tmp, 'mapping.zip');
  const { size, sha256 } = await packZip([{ abs: source, rel: MAPPING_FILE_NAME, name, size: st.size }], path, signal);
  log(
    `packed ${source} (${checked.classCount} classes, ${formatBytes(st.size)}) as ${name} into a ${formatBytes(size)} zip, sha256 ${sha256.slice(0, 16)}`,
  );
  return { path, size, sha256 };
}

/** Turns a directory into a deterministic zip in `tmp`, or checks a given zip. */
async function prepare(source: string, o: UploadOptions, cmd: Command, tmp: string, signal: AbortSignal): Promise<Zip> {
  const st = await stat(source).catch(() => null);
  if (!st) throw new CliError(`${source}: no such directory or file`);
  if (st.isFile()) {
    if (!(await isZipFile(source))) throw new CliError(`${source} is neither a directory nor a zip file`);
    if (cmd.getOptionValueSource('include') === 'cli' || o.stripPrefix)
      warn('--include and --strip-prefix apply to directories; the zip is uploaded as it is');
    const check = await checkZip(source);
    for (const w of check.warnings) warn(w);
    const { size, sha256 } = await hashFile(source);
    log(
      `zip ${source}: ${plural(check.entries, 'file')} (${plural(check.maps, 'sourcemap')}), ${formatBytes(size)}, sha256 ${sha256.slice(0, 16)}`,
    );
    return { path: source, size, sha256 };
  }
  if (!st.isDirectory()) throw new CliError(`${source} is neither a directory nor a zip file`);

  const sel = await selectFiles(source, o.include, o.stripPrefix);
  const prefix = normalizePrefix(o.stripPrefix);
  if (sel.outsidePrefix) log(`${plural(sel.outsidePrefix, 'matching file')} outside --strip-prefix ${prefix} left out`);
  if (sel.files.length === 0) {
    throw new CliError(`no files in ${source}${prefix ? ` under ${prefix}` : ''} match --include ${o.include.join(' ')}`);
  }
  if (o.scripts) {
    // Function names (originalFunction) are recovered from the scripts, at merge time.
    const { added } = await addMapScripts(sel);
    if (added > 0) log(`added ${plural(added, 'generated script')} of the maps (--no-scripts leaves them out)`);
  }
  for (const w of await checkSelection(sel)) warn(w);
  const maps = sel.files.filter((f) => f.name.endsWith('.map')).length;
  if (maps === 0) warn(`no .map files among the ${plural(sel.files.length, 'file')} to upload`);
  const path = join(tmp, 'sourcemap.zip');
  const { size, sha256 } = await packZip(sel.files, path, signal);
  const raw = sel.files.reduce((n, f) => n + f.size, 0);
  log(
    `packed ${plural(sel.files.length, 'file')} (${plural(maps, 'sourcemap')}, ${formatBytes(raw)}) from ${source} into a ${formatBytes(size)} zip, sha256 ${sha256.slice(0, 16)}`,
  );
  return { path, size, sha256 };
}

async function send(run: Run, zip: Zip): Promise<void> {
  const { conn, client, o, signal } = run;
  if (zip.size > 500 * MiB) warn(`the zip is ${formatBytes(zip.size)}; Guance documents a 500 MB limit`);
  const partSize = Math.floor(o.partSizeMb * MiB);
  const count = Math.ceil(zip.size / partSize);
  if (count > MAX_PARTS)
    throw new CliError(`${count} parts of ${formatBytes(partSize)} exceed the API's ${MAX_PARTS}; raise --part-size-mb`);
  run.parts = count;

  const endpoint = client.origin + client.base;
  run.statePath = statePath(o.stateDir, {
    endpoint,
    appId: conn.appId,
    version: conn.version,
    env: conn.env,
    zipSha256: zip.sha256,
    partSize,
  });
  let state = await loadState(run.statePath);
  let listed: PartListContent = {};
  if (state && state.needCover !== o.needCover) {
    log(
      `the interrupted upload ${state.uploadId} was started with${state.needCover ? '' : 'out'} --need-cover; cancelling it and starting over`,
    );
    await cancelTask(client, state.uploadId);
    await removeState(run.statePath);
    state = null;
  }
  if (state) {
    // Resume: never init again while the saved task is alive (init would answer "" for an existing version).
    try {
      listed = (await client.call<PartListContent>('/part_list', { json: { uploadId: state.uploadId }, signal })).content ?? {};
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
      log(`the saved upload ${state.uploadId} is gone from the server (expired, cancelled or merged); starting a new one`);
      await removeState(run.statePath);
      state = null;
    }
  }
  if (!state) {
    const body: Record<string, unknown> = { appId: conn.appId, needCover: o.needCover };
    if (conn.version) body.version = conn.version;
    if (conn.env) body.env = conn.env;
    const init = (await client.call<InitContent>('/multipart_upload_init', { json: body, signal })).content ?? {};
    if (!init.uploadId) throw alreadyExists(conn);
    if (init.existsOldTask) log('note: the server has another unfinished upload for this appId/version/env');
    state = {
      uploadId: init.uploadId,
      endpoint,
      appId: conn.appId,
      version: conn.version,
      env: conn.env,
      zipSha256: zip.sha256,
      size: zip.size,
      partSize,
      needCover: o.needCover,
      createdAt: new Date().toISOString(),
    } satisfies UploadState;
    await saveState(run.statePath, state);
  }
  run.uploadId = state.uploadId;

  const fh = await open(zip.path, 'r');
  try {
    const partLength = (i: number) => Math.min(partSize, zip.size - i * partSize);
    const done = await verifiedParts(fh, listed, count, partSize, partLength);
    const missing = [...Array(count).keys()].filter((i) => !done.has(i));
    run.onServer = done.size;
    if (done.size)
      log(`resuming upload ${run.uploadId}: skipped ${done.size} of ${count} parts already on the server, uploading ${missing.length}`);
    else
      log(
        `uploading ${formatBytes(zip.size)} as ${plural(count, 'part')} of up to ${formatBytes(partSize)}, ${Math.min(o.concurrency, count)} at a time (upload ${run.uploadId})`,
      );
    await sendParts(
      run,
      fh,
      missing,
      partLength,
      [...done].reduce((n, i) => n + partLength(i), 0),
      zip.size,
    );
  } finally {
    await fh.close();
  }

  const merged = await merge(client, run.uploadId, signal);
  await removeState(run.statePath);
  run.uploadId = ''; // consumed: nothing left to resume or cancel
  printSummary(conn, merged, zip);
}

/**
 * The listed parts that match ours. mapvault lists each part's size and sha256, so a part left
 * by a different input (or damaged) is sent again; Guance lists indexes only, which are trusted.
 */
async function verifiedParts(
  fh: FileHandle,
  listed: PartListContent,
  count: number,
  partSize: number,
  partLength: (i: number) => number,
): Promise<Set<number>> {
  const detail = new Map((listed.parts ?? []).map((p) => [p.chunkIndex, p]));
  const done = new Set<number>();
  for (const i of listed.chunkIndexs ?? []) {
    if (!Number.isInteger(i) || i < 0 || i >= count) continue;
    const d = detail.get(i);
    if (d?.size !== undefined && d.size !== partLength(i)) continue;
    if (d?.sha256) {
      const buf = await readPart(fh, i, partSize, partLength(i));
      if (createHash('sha256').update(buf).digest('hex') !== d.sha256.toLowerCase()) continue;
    }
    done.add(i);
  }
  return done;
}

async function readPart(fh: FileHandle, i: number, partSize: number, len: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(len);
  const { bytesRead } = await fh.read(buf, 0, len, i * partSize);
  if (bytesRead !== len) throw new Error(`short read of part ${i}: the zip changed while uploading`);
  return buf;
}

/** N workers take the missing parts in order; the first failure stops the others. */
async function sendParts(
  run: Run,
  fh: FileHandle,
  missing: number[],
  partLength: (i: number) => number,
  doneBytes: number,
  total: number,
): Promise<void> {
  const { client, o } = run;
  const partSize = Math.floor(o.partSizeMb * MiB);
  const progress = createProgress({
    total,
    done: doneBytes,
    parts: run.parts,
    partsDone: run.parts - missing.length,
    bar: o.progress && process.stderr.isTTY === true,
  });
  const stop = new AbortController();
  const signal = AbortSignal.any([run.signal, stop.signal]);
  let next = 0;
  let firstError: unknown;
  const worker = async () => {
    for (let i = missing[next++]; i !== undefined && !signal.aborted; i = missing[next++]) {
      const data = await readPart(fh, i, partSize, partLength(i));
      const sum = createHash(o.checksum).update(data).digest('hex');
      let counted = 0;
      const body = partBody(run.uploadId, i, o.checksum, sum, data, (n) => {
        counted += n;
        progress.add(n);
      });
      await client.call('/upload_part', {
        body,
        signal,
        onAttemptFailed: () => {
          progress.add(-counted); // the next attempt sends these bytes again
          counted = 0;
        },
      });
      run.onServer++;
      progress.partDone(i, data.length);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(o.concurrency, missing.length) }, () =>
      worker().catch((err) => {
        firstError ??= err;
        stop.abort();
      }),
    ),
  );
  progress.stop();
  if (firstError !== undefined) throw run.signal.aborted ? run.signal.reason : firstError;
}

/**
 * One part as multipart/form-data, built by hand so the field order is exactly the public
 * clients' (uploadId, chunkIndex, checksum, then `files` named chunk_000000…) and the bytes can be
 * counted as they leave.
 */
function partBody(uploadId: string, index: number, algo: string, sum: string, data: Buffer, onBytes: (n: number) => void): Body {
  const boundary = `----mapvault${randomBytes(12).toString('hex')}`;
  const field = (name: string, value: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  const head = Buffer.from(
    field('uploadId', uploadId) +
      field('chunkIndex', String(index)) +
      field(algo, sum) +
      `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="chunk_${String(index).padStart(6, '0')}"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n',
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    length: head.length + data.length + tail.length,
    open: () =>
      Readable.from(
        (function* () {
          yield head;
          for (let off = 0; off < data.length; off += 256 * 1024) {
            const chunk = data.subarray(off, off + 256 * 1024);
            onBytes(chunk.length);
            yield chunk;
          }
          yield tail;
        })(),
        { objectMode: false },
      ),
  };
}

/** part_merge, then the other names compatible servers use, moving on only on HTTP 404. */
async function merge(client: Client, uploadId: string, signal: AbortSignal): Promise<MergeContent> {
  let first: unknown;
  for (const path of MERGE_PATHS) {
    try {
      const r: Envelope<MergeContent | null> = await client.call(path, { json: { uploadId }, signal, timeoutMs: 30 * 60_000 });
      return r.content ?? {};
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
      first ??= err;
    }
  }
  throw first;
}

/** upload_cancel and its aliases, in the public clients' order; true once one says success. */
async function cancelTask(client: Client, uploadId: string): Promise<boolean> {
  for (const path of CANCEL_PATHS) {
    try {
      await client.call(path, { json: { uploadId }, signal: AbortSignal.timeout(20_000) });
      return true;
    } catch {
      /* try the next name */
    }
  }
  return false;
}

function alreadyExists(c: Connection): CliError {
  return new CliError(`a sourcemap for ${identity(c)} already exists (SourceMap.AlreadyExists); pass --need-cover to replace it`);
}

/** The one line for a failed run, after cancelling the task (--cancel-on-error) or keeping it resumable. */
async function failure(run: Run, err: unknown): Promise<CliError> {
  const interrupted = run.signal.aborted;
  if (err instanceof ApiError && err.errorCode === 'SourceMap.AlreadyExists') err = alreadyExists(run.conn);
  let what = interrupted ? `interrupted (${String(run.signal.reason)})` : describeError(err);
  if (run.uploadId && run.o.cancelOnError) {
    const ok = await cancelTask(run.client, run.uploadId);
    await removeState(run.statePath);
    what += ok ? `; upload ${run.uploadId} cancelled` : `; cancelling upload ${run.uploadId} failed too`;
  } else if (run.uploadId) {
    what += `; ${run.onServer} of ${run.parts} parts are on the server, run the same command again to resume`;
  }
  return new CliError(what, interrupted ? 130 : 1);
}

function printSummary(c: Connection, m: MergeContent, zip: Zip): void {
  log(`merged: ${identity(c)}`);
  if (m.fileCount === undefined) {
    log(`  size:     ${formatBytes(zip.size)} zip, sha256 ${zip.sha256} (the server returned no summary)`);
    return;
  }
  const warnings = m.warnings ?? [];
  log(`  files:    ${m.fileCount}`);
  log(`  maps:     ${m.mapCount ?? '?'}`);
  log(`  size:     ${formatBytes(m.size ?? zip.size)} zip, sha256 ${m.sha256 ?? zip.sha256}`);
  log(`  warnings: ${warnings.length}`);
  for (const w of warnings) log(`    - ${w}`);
}
