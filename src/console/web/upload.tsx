import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type MergeResult } from './api.ts';
import { bytes, identityLabel, plural } from './format.ts';
import { href, identityOf, identityParams } from './route.ts';
import { checkBeforeSend, checkBeforeZip, Refused, resumeRecord, runUpload, type ResumeRecord } from './upload-engine.ts';
import type { ZipMessage, ZipRequest } from './zip-worker.ts';
import { Heading, Problem, useSession } from './ui.tsx';

type Source = { kind: 'zip'; name: string; file: File } | { kind: 'folder'; name: string; files: Array<{ path: string; file: File }> };

/** FNV-1a over a string: a cheap, stable fingerprint of a folder's file list. */
function fnv(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16);
}

function fingerprintOf(source: Source, selected: Array<{ path: string; file: File }>): string {
  if (source.kind === 'zip') return `zip:${source.name}:${source.file.size}:${source.file.lastModified}`;
  return `folder:${source.name}:${fnv(
    selected
      .map((f) => `${f.path}\u0000${f.file.size}\u0000${f.file.lastModified}`)
      .sort()
      .join('\n'),
  )}`;
}

/** Reads a dropped folder (recursively) into files with paths relative to it. */
async function readDropped(entry: FileSystemEntry): Promise<Array<{ path: string; file: File }>> {
  const out: Array<{ path: string; file: File }> = [];
  const base = entry.fullPath.replace(/\/?$/, '/');
  const walk = async (e: FileSystemEntry): Promise<void> => {
    if (e.isFile) {
      const file = await new Promise<File>((resolve, reject) => (e as FileSystemFileEntry).file(resolve, reject));
      out.push({ path: e.fullPath.slice(base.length), file });
    } else if (e.isDirectory) {
      const reader = (e as FileSystemDirectoryEntry).createReader();
      for (;;) {
        // readEntries returns at most 100 entries per call.
        const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
        if (batch.length === 0) break;
        for (const child of batch) await walk(child);
      }
    }
  };
  await walk(entry);
  return out;
}

function zipInWorker(
  files: Array<{ path: string; file: File }>,
  onProgress: (done: number, total: number) => void,
  signal: AbortSignal,
): Promise<Blob> {
  return new Promise((resolve, reject) => {
    const worker = new Worker('zip-worker.js', { type: 'module', name: 'mapvault-zip' });
    const stop = () => {
      worker.terminate();
      reject(new DOMException('cancelled', 'AbortError'));
    };
    signal.addEventListener('abort', stop, { once: true });
    worker.onmessage = (e: MessageEvent<ZipMessage>) => {
      const m = e.data;
      if (m.type === 'progress') return onProgress(m.doneBytes, m.totalBytes);
      signal.removeEventListener('abort', stop);
      worker.terminate();
      if (m.type === 'done') resolve(m.zip);
      else reject(new Error(`zipping failed: ${m.message}`));
    };
    worker.onerror = (e) => {
      worker.terminate();
      reject(new Error(`zipping failed: ${e.message}`));
    };
    worker.postMessage({ files } satisfies ZipRequest);
  });
}

const isMapOrScript = (path: string, withScripts: boolean) => /\.map$/i.test(path) || (withScripts && /\.(m|c)?js$/i.test(path));

export function UploadView({ params }: { params: URLSearchParams }) {
  const session = useSession();
  const [pending, setPending] = useState<ResumeRecord | null>(() => resumeRecord.get());
  const initial = identityOf(params);
  const [form, setForm] = useState({
    ...(initial.appId || !pending ? initial : pending.identity),
    needCover: pending && !initial.appId ? pending.needCover : false,
    withScripts: false,
    partSizeMiB: pending && !initial.appId ? pending.partSize / 1048576 : session.limits.maxPartBytes / 1048576,
  });
  const [source, setSource] = useState<Source | null>(null);
  const [phase, setPhase] = useState<'idle' | 'zipping' | 'sending' | 'done'>('idle');
  const [progress, setProgress] = useState({ sent: 0, total: 0 });
  const [status, setStatus] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [result, setResult] = useState<{ merge: MergeResult; skipped: number } | null>(null);
  const [dragging, setDragging] = useState(false);
  const abort = useRef<AbortController | null>(null);
  const uploadId = useRef('');
  const summary = useRef<HTMLElement>(null);

  useEffect(() => {
    if (result) summary.current?.focus();
  }, [result]);
  useEffect(() => () => abort.current?.abort(), []);

  const choose = (s: Source | null) => {
    setSource(s);
    setError(null);
    setResult(null);
    setPhase('idle');
  };
  const onZipInput = (e: Event) => {
    const file = (e.currentTarget as HTMLInputElement).files?.[0];
    if (file) choose({ kind: 'zip', name: file.name, file });
  };
  const onFolderInput = (e: Event) => {
    const list = [...((e.currentTarget as HTMLInputElement).files ?? [])];
    const [first] = list;
    if (first === undefined) return;
    const root = first.webkitRelativePath.split('/')[0] ?? 'folder';
    choose({ kind: 'folder', name: root, files: list.map((file) => ({ path: file.webkitRelativePath.slice(root.length + 1), file })) });
  };
  const onDrop = async (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    const item = e.dataTransfer?.items[0];
    const entry = item?.webkitGetAsEntry();
    if (entry?.isDirectory) return choose({ kind: 'folder', name: entry.name, files: await readDropped(entry) });
    const file = e.dataTransfer?.files[0];
    if (!file) return;
    if (!/\.zip$/i.test(file.name)) return setError(new Refused(`${file.name} is not a .zip: drop a .zip file or a folder of sourcemaps.`));
    choose({ kind: 'zip', name: file.name, file });
  };

  const selected = source?.kind === 'folder' ? source.files.filter((f) => isMapOrScript(f.path, form.withScripts)) : [];
  const start = async (e: Event) => {
    e.preventDefault();
    if (!source) return setError(new Refused('Choose a .zip file or a folder first.'));
    setError(null);
    setResult(null);
    const controller = new AbortController();
    abort.current = controller;
    const identity = { appId: form.appId.trim(), version: form.version.trim(), env: form.env.trim() };
    const partSize = Math.round(form.partSizeMiB * 1048576);
    try {
      if (partSize < 65536 || partSize > session.limits.maxPartBytes) {
        throw new Refused(`The part size must be between 0.0625 and ${session.limits.maxPartBytes / 1048576} MiB.`);
      }
      let zip: Blob;
      if (source.kind === 'folder') {
        if (selected.length === 0)
          throw new Refused(`The folder ${source.name} has no .map files${form.withScripts ? ' or .js files' : ''}. Nothing was sent.`);
        checkBeforeZip(selected, session.limits);
        setPhase('zipping');
        setStatus(`Zipping ${plural(selected.length, 'file')} in the browser…`);
        zip = await zipInWorker(selected, (done, total) => setProgress({ sent: done, total }), controller.signal);
      } else {
        zip = source.file;
      }
      checkBeforeSend(zip.size, partSize, session, form.needCover);
      setPhase('sending');
      const { result: merge, skippedParts } = await runUpload({
        identity,
        needCover: form.needCover,
        zip,
        name: source.name,
        fingerprint: fingerprintOf(source, selected),
        partSize,
        concurrency: 4,
        signal: controller.signal,
        onProgress: (sent, total) => setProgress({ sent, total }),
        onStatus: setStatus,
        onUploadId: (id) => {
          uploadId.current = id;
        },
      });
      setResult({ merge, skipped: skippedParts });
      setPending(null);
      setPhase('done');
      setStatus('');
      session.refresh();
    } catch (err) {
      setPhase('idle');
      setStatus('');
      if (err instanceof DOMException && err.name === 'AbortError') return;
      setError(err);
      setPending(resumeRecord.get());
    }
  };
  const cancel = async () => {
    abort.current?.abort();
    const id = uploadId.current || pending?.uploadId;
    resumeRecord.clear();
    setPending(null);
    setPhase('idle');
    setProgress({ sent: 0, total: 0 });
    setStatus(id ? 'Upload cancelled; its parts are deleted from the server.' : 'Cancelled.');
    if (id) await api.cancel(id).catch(() => {}); // already gone (merged, expired) is fine
    uploadId.current = '';
  };

  const busy = phase === 'zipping' || phase === 'sending';
  const pct = progress.total ? Math.floor((progress.sent / progress.total) * 100) : 0;
  const set = (k: 'appId' | 'version' | 'env') => (e: Event) => setForm({ ...form, [k]: (e.currentTarget as HTMLInputElement).value });
  return (
    <>
      <Heading title="Upload sourcemaps" />
      {pending && !busy && (
        <div class="notice" role="status">
          An upload of <strong>{pending.name}</strong> ({bytes(pending.size)}) to {identityLabel(pending.identity)} was interrupted. Choose
          the same {pending.name.endsWith('.zip') ? 'file' : 'folder'} again and press Upload to send only the missing parts, or{' '}
          <button type="button" class="small" onClick={cancel}>
            discard it
          </button>
          .
        </div>
      )}
      <form onSubmit={start} class="upload-form">
        <div class="row">
          <div class="field">
            <label for="upload-app">App ID</label>
            <input
              id="upload-app"
              required
              pattern="[A-Za-z0-9_.\-]+"
              maxLength={128}
              value={form.appId}
              onInput={set('appId')}
              disabled={busy}
            />
          </div>
          <div class="field">
            <label for="upload-version">Version</label>
            <input id="upload-version" maxLength={128} value={form.version} onInput={set('version')} disabled={busy} />
          </div>
          <div class="field">
            <label for="upload-env">Env</label>
            <input id="upload-env" maxLength={128} value={form.env} onInput={set('env')} disabled={busy} />
          </div>
        </div>
        <div
          class={`dropzone${dragging ? ' dragging' : ''}`}
          onDragOver={(e) => {
            e.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={onDrop}
        >
          <p id="drop-help">
            Drop a <strong>.zip</strong> or a <strong>build folder</strong> here (a folder is zipped in the browser: its <code>.map</code>{' '}
            files, at their paths inside it), or choose one:
          </p>
          <div class="row">
            <div class="field">
              <label for="upload-zip">A .zip file</label>
              <input
                id="upload-zip"
                type="file"
                accept=".zip,application/zip"
                onChange={onZipInput}
                disabled={busy}
                aria-describedby="drop-help"
              />
            </div>
            <div class="field">
              <label for="upload-folder">A folder</label>
              <input
                id="upload-folder"
                type="file"
                {...{ webkitdirectory: true }}
                multiple
                onChange={onFolderInput}
                disabled={busy}
                aria-describedby="drop-help"
              />
            </div>
          </div>
          {source && (
            <p class="chosen" role="status">
              Chosen: <strong>{source.name}</strong>{' '}
              {source.kind === 'zip'
                ? `(${bytes(source.file.size)})`
                : `(folder: ${plural(selected.length, 'file')} to zip, ${bytes(selected.reduce((n, f) => n + f.file.size, 0))}; ${source.files.length - selected.length} left out)`}
            </p>
          )}
        </div>
        <fieldset class="options">
          <legend>Options</legend>
          <label>
            <input
              type="checkbox"
              checked={form.needCover}
              onChange={(e) => setForm({ ...form, needCover: e.currentTarget.checked })}
              disabled={busy}
            />{' '}
            Replace an existing sourcemap of this version
          </label>
          <label>
            <input
              type="checkbox"
              checked={form.withScripts}
              onChange={(e) => setForm({ ...form, withScripts: e.currentTarget.checked })}
              disabled={busy}
            />{' '}
            From a folder, also include <code>.js</code> files (so maps can be found by their <code>sourceMappingURL</code>)
          </label>
          <div class="field inline">
            <label for="upload-part-size">Part size (MiB)</label>
            <input
              id="upload-part-size"
              type="number"
              min={0.0625}
              max={session.limits.maxPartBytes / 1048576}
              step="any"
              value={form.partSizeMiB}
              onInput={(e) => setForm({ ...form, partSizeMiB: Number(e.currentTarget.value) })}
              disabled={busy}
            />
          </div>
        </fieldset>
        <div class="actions">
          <button type="submit" disabled={busy}>
            Upload
          </button>
          {busy && (
            <button type="button" onClick={cancel}>
              Cancel upload
            </button>
          )}
        </div>
      </form>
      {(busy || phase === 'done') && (
        <div class="progress">
          <label for="upload-progress">{phase === 'zipping' ? 'Zipping' : 'Upload progress'}</label>
          <progress id="upload-progress" max={100} value={phase === 'done' ? 100 : pct} />
          <span data-testid="progress-text">
            {phase === 'done' ? 100 : pct} %{progress.total ? ` (${bytes(progress.sent)} of ${bytes(progress.total)})` : ''}
          </span>
        </div>
      )}
      <p role="status" class="muted">
        {status}
      </p>
      <Problem error={error} title="Upload failed" />
      {error && resumeRecord.get() && !(error instanceof Refused) && (
        <p>The parts already sent are kept: press Upload again to resume (after a reload, choose the same file first).</p>
      )}
      {result && (
        <section class="summary" aria-labelledby="summary-title" tabIndex={-1} ref={summary}>
          <h2 id="summary-title">Uploaded {identityLabel(result.merge)}</h2>
          <dl class="facts">
            <dt>Files</dt>
            <dd>{result.merge.fileCount.toLocaleString('en')}</dd>
            <dt>Maps</dt>
            <dd>{result.merge.mapCount.toLocaleString('en')}</dd>
            <dt>Size</dt>
            <dd>{bytes(result.merge.size)}</dd>
            <dt>Archive sha256</dt>
            <dd>
              <code>{result.merge.sha256}</code>
            </dd>
            {result.skipped > 0 && (
              <>
                <dt>Resumed</dt>
                <dd>{plural(result.skipped, 'part')} were already on the server</dd>
              </>
            )}
          </dl>
          {result.merge.warnings.length > 0 ? (
            <>
              <h3>{plural(result.merge.warnings.length, 'warning')}</h3>
              <ul class="warnings">
                {result.merge.warnings.map((w) => (
                  <li key={w}>{w}</li>
                ))}
              </ul>
            </>
          ) : (
            <p>No warnings.</p>
          )}
          <p class="toolbar">
            <a href={href('sourcemap', identityParams(result.merge))}>Browse its files</a>
            <a href={href('resolve', identityParams(result.merge))}>Resolve a stack with it</a>
          </p>
        </section>
      )}
    </>
  );
}
