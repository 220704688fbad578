import { useMemo, useState } from 'preact/hooks';
import { api, fetchFile, type FileEntry, type Identity, type SourceMapEntry } from './api.ts';
import { bytes, count, dateTime, fileKind, identityLabel, KIND_LABEL, plural } from './format.ts';
import { href, identityOf, identityParams, navigate } from './route.ts';
import { CodeView } from './code.tsx';
import { DeleteButton, Heading, Loading, Pager, Problem, saveBlob, useLoad, useSession } from './ui.tsx';

const PAGE_SIZE = 50;

export function AppsView() {
  const session = useSession();
  const apps = useLoad(() => api.apps(), []);
  return (
    <>
      <Heading title="Apps" />
      <p>
        Workspace <strong>{session.workspace}</strong> stores {bytes(session.usage.storedBytes)} of sourcemaps
        {session.limits.quotaStoredBytes > 0 && <> (quota {bytes(session.limits.quotaStoredBytes)})</>}.
      </p>
      {apps.loading && <Loading what="apps" />}
      <Problem error={apps.error} />
      {apps.data && apps.data.length === 0 && (
        <p>
          No sourcemaps yet. <a href={href('upload')}>Upload a build</a> from this page, or with the CLI from your CI.
        </p>
      )}
      {apps.data && apps.data.length > 0 && (
        <table>
          <caption class="visually-hidden">Apps of the workspace</caption>
          <thead>
            <tr>
              <th scope="col">App</th>
              <th scope="col" class="num">
                Sourcemaps
              </th>
              <th scope="col" class="num">
                Storage
              </th>
              <th scope="col">Last upload</th>
            </tr>
          </thead>
          <tbody>
            {apps.data.map((a) => (
              <tr key={a.appId}>
                <th scope="row">
                  <a href={href('app', { app: a.appId })}>{a.appId}</a>
                </th>
                <td class="num">{count(a.sourcemapCount)}</td>
                <td class="num">{bytes(a.size)}</td>
                <td>{dateTime(a.latestCreateAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

/** An app's sourcemaps, newest first, filtered by text and paged (10 000 versions stay light). */
export function AppView({ params }: { params: URLSearchParams }) {
  const appId = params.get('app') ?? '';
  const filter = params.get('q') ?? '';
  const page = Number(params.get('page') ?? 0) || 0;
  const list = useLoad(() => api.list(appId), [appId]);
  const matching = useMemo(() => {
    const needle = filter.trim().toLowerCase();
    const all = list.data ?? [];
    return needle ? all.filter((s) => s.version.toLowerCase().includes(needle) || s.env.toLowerCase().includes(needle)) : all;
  }, [list.data, filter]);
  const pages = Math.max(1, Math.ceil(matching.length / PAGE_SIZE));
  const current = Math.min(page, pages - 1);
  const shown = matching.slice(current * PAGE_SIZE, (current + 1) * PAGE_SIZE);
  const total = (list.data ?? []).reduce((n, s) => n + s.size, 0);
  const go = (q: string, p: number) => navigate('app', { app: appId, q: q || undefined, page: p || undefined }, true);
  return (
    <>
      <Heading title={`App ${appId}`} />
      <p class="toolbar">
        {list.data && (
          <span>
            {plural(list.data.length, 'sourcemap')}, {bytes(total)}.
          </span>
        )}
        <a href={href('upload', { app: appId })}>Upload a build</a>
        <a href={href('resolve', { app: appId })}>Resolve a stack</a>
      </p>
      <div class="field inline">
        <label for="version-filter">Filter by version or env</label>
        <input id="version-filter" type="search" value={filter} onInput={(e) => go(e.currentTarget.value, 0)} />
      </div>
      {list.loading && <Loading what="sourcemaps" />}
      <Problem error={list.error} />
      {list.data && (
        <>
          <p role="status" class="muted">
            {filter ? `${plural(matching.length, 'sourcemap')} match “${filter}”.` : ''}
          </p>
          <table class="versions">
            <caption class="visually-hidden">Sourcemaps of {appId}, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Env</th>
                <th scope="col">Uploaded</th>
                <th scope="col" class="num">
                  Files
                </th>
                <th scope="col" class="num">
                  Maps
                </th>
                <th scope="col" class="num">
                  Size
                </th>
                <th scope="col">Warnings</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((s) => (
                <VersionRow key={`${s.version}\u0000${s.env}`} s={s} onDeleted={list.reload} />
              ))}
            </tbody>
          </table>
          <Pager page={current} pages={pages} total={matching.length} label="sourcemaps" onPage={(p) => go(filter, p)} />
        </>
      )}
    </>
  );
}

function VersionRow({ s, onDeleted }: { s: SourceMapEntry; onDeleted(): void }) {
  const id = { appId: s.appId, version: s.version, env: s.env };
  return (
    <tr>
      <th scope="row">
        <a href={href('sourcemap', identityParams(id))}>{s.version || <em>(none)</em>}</a>
      </th>
      <td>{s.env || <em>(none)</em>}</td>
      <td>{dateTime(s.createAt)}</td>
      <td class="num">{count(s.fileCount)}</td>
      <td class="num">{count(s.mapCount)}</td>
      <td class="num">{bytes(s.size)}</td>
      <td>
        {s.warnings.length > 0 ? (
          <span class="warn" title={s.warnings.join('\n')}>
            {plural(s.warnings.length, 'warning')}
          </span>
        ) : (
          '–'
        )}
      </td>
      <td class="actions">
        <a href={href('resolve', identityParams(id))}>
          Resolve<span class="visually-hidden"> a stack with {identityLabel(id)}</span>
        </a>
        <DeleteButton identity={id} onDeleted={onDeleted} />
      </td>
    </tr>
  );
}

interface Folder {
  name: string;
  path: string;
  folders: Map<string, Folder>;
  files: FileEntry[];
  count: number;
}

function buildTree(files: FileEntry[]): Folder {
  const root: Folder = { name: '', path: '', folders: new Map(), files: [], count: 0 };
  for (const f of files) {
    const parts = f.path.split('/');
    let dir = root;
    root.count++;
    for (const part of parts.slice(0, -1)) {
      let next = dir.folders.get(part);
      if (!next) dir.folders.set(part, (next = { name: part, path: `${dir.path}${part}/`, folders: new Map(), files: [], count: 0 }));
      next.count++;
      dir = next;
    }
    dir.files.push(f);
  }
  return root;
}

function FolderView({ folder, id }: { folder: Folder; id: Identity }) {
  return (
    <ul class="tree">
      {[...folder.folders.values()].map((sub) => (
        <li key={sub.path}>
          <details open>
            <summary>
              <span aria-hidden="true">📁 </span>
              {sub.name}/ <span class="muted">({plural(sub.count, 'file')})</span>
            </summary>
            <FolderView folder={sub} id={id} />
          </details>
        </li>
      ))}
      {folder.files.map((f) => {
        const name = f.path.slice(f.path.lastIndexOf('/') + 1);
        const kind = fileKind(f.path);
        return (
          <li key={f.path} class="file">
            <a href={href('file', { ...identityParams(id), path: f.path })}>{name}</a>
            <span class={`kind kind-${kind}`}>{KIND_LABEL[kind]}</span>
            <span class="muted">{bytes(f.size)}</span>
            <DownloadButton id={id} path={f.path} />
          </li>
        );
      })}
    </ul>
  );
}

export function DownloadButton({ id, path }: { id: Identity; path: string }) {
  const [error, setError] = useState<unknown>(null);
  const name = path.slice(path.lastIndexOf('/') + 1);
  return (
    <>
      <button
        type="button"
        class="small"
        onClick={async () => {
          setError(null);
          try {
            saveBlob(await fetchFile(id, path), name);
          } catch (e) {
            setError(e);
          }
        }}
      >
        Download<span class="visually-hidden"> {path}</span>
      </button>
      <Problem error={error} />
    </>
  );
}

export function SourceMapView({ params }: { params: URLSearchParams }) {
  const id = identityOf(params);
  const key = JSON.stringify(id);
  const tree = useLoad(() => api.fileTree(id), [key]);
  const entry = useLoad(async () => (await api.list(id.appId)).find((s) => s.version === id.version && s.env === id.env), [key]);
  const folder = useMemo(() => tree.data && buildTree(tree.data.files), [tree.data]);
  const s = entry.data;
  return (
    <>
      <Heading title={`Sourcemap ${identityLabel(id)}`} />
      <p class="toolbar">
        <a href={href('app', { app: id.appId })}>All versions of {id.appId}</a>
        <a href={href('resolve', identityParams(id))}>Resolve a stack with this sourcemap</a>
        <DeleteButton identity={id} onDeleted={() => navigate('app', { app: id.appId })} />
      </p>
      {s && (
        <dl class="facts">
          <dt>Uploaded</dt>
          <dd>{dateTime(s.createAt)}</dd>
          <dt>Files</dt>
          <dd>
            {s.fileCount.toLocaleString('en')} ({plural(s.mapCount, 'map')})
          </dd>
          <dt>Size</dt>
          <dd>{bytes(s.size)}</dd>
          {s.sha256 && (
            <>
              <dt>Archive sha256</dt>
              <dd>
                <code>{s.sha256}</code>
              </dd>
            </>
          )}
        </dl>
      )}
      {s && s.warnings.length > 0 && (
        <section aria-labelledby="warnings-title">
          <h2 id="warnings-title">Warnings</h2>
          <ul class="warnings">
            {s.warnings.map((w) => (
              <li key={w}>{w}</li>
            ))}
          </ul>
        </section>
      )}
      <h2>Files</h2>
      {tree.loading && <Loading what="files" />}
      <Problem error={tree.error} />
      {folder && <FolderView folder={folder} id={id} />}
    </>
  );
}

interface MapFacts {
  version: unknown;
  file?: string;
  debugId?: string;
  sources: Array<{ index: number; name: string; content: string | null; ignored: boolean }>;
}

/** The parts of a sourcemap (plain or index map) the console shows. */
function mapFacts(json: Record<string, unknown>): MapFacts {
  const sources: MapFacts['sources'] = [];
  const add = (m: Record<string, unknown>) => {
    const names = Array.isArray(m.sources) ? (m.sources as unknown[]) : [];
    const contents = Array.isArray(m.sourcesContent) ? (m.sourcesContent as unknown[]) : [];
    const ignore = new Set(
      (Array.isArray(m.ignoreList) ? m.ignoreList : Array.isArray(m.x_google_ignoreList) ? m.x_google_ignoreList : []) as number[],
    );
    const root = typeof m.sourceRoot === 'string' && m.sourceRoot ? m.sourceRoot.replace(/\/?$/, '/') : '';
    names.forEach((n, i) =>
      sources.push({
        index: sources.length,
        name: root + String(n),
        content: typeof contents[i] === 'string' ? (contents[i] as string) : null,
        ignored: ignore.has(i),
      }),
    );
  };
  if (Array.isArray(json.sections)) {
    for (const s of json.sections as Array<{ map?: Record<string, unknown> }>) if (s.map) add(s.map);
  } else {
    add(json);
  }
  const debugId = json.debugId ?? json.debug_id;
  return {
    version: json.version,
    file: typeof json.file === 'string' ? json.file : undefined,
    debugId: typeof debugId === 'string' ? debugId : undefined,
    sources,
  };
}

const TEXT_LIMIT = 5 * 1024 * 1024;

export function FileView({ params }: { params: URLSearchParams }) {
  const id = identityOf(params);
  const path = params.get('path') ?? '';
  const sourceIndex = params.get('source');
  const highlight = Number(params.get('line') ?? 0) || undefined;
  const kind = fileKind(path);
  const file = useLoad(async () => {
    const blob = await fetchFile(id, path);
    if (blob.size > TEXT_LIMIT && kind !== 'map') return { size: blob.size, text: null as string | null };
    return { size: blob.size, text: await blob.text() };
  }, [JSON.stringify(id), path]);
  const facts = useMemo(() => {
    if (kind !== 'map' || !file.data?.text) return null;
    try {
      return mapFacts(JSON.parse(file.data.text));
    } catch (e) {
      return e as Error;
    }
  }, [file.data, kind]);
  const source = facts && !(facts instanceof Error) && sourceIndex !== null ? facts.sources[Number(sourceIndex)] : undefined;
  const fileParams = { ...identityParams(id), path };
  return (
    <>
      <Heading title={source ? `Source ${source.name}` : `File ${path}`} />
      <p class="toolbar">
        <a href={href('sourcemap', identityParams(id))}>Files of {identityLabel(id)}</a>
        {source && <a href={href('file', fileParams)}>Back to {path}</a>}
        <DownloadButton id={id} path={path} />
      </p>
      {file.loading && <Loading what={path} />}
      <Problem error={file.error} />
      {file.data && (
        <p class="muted">
          {KIND_LABEL[kind]}, {bytes(file.data.size)}
        </p>
      )}
      {facts instanceof Error && (
        <p class="problem" role="alert">
          This .map file is not valid JSON: {facts.message}
        </p>
      )}
      {facts && !(facts instanceof Error) && !source && (
        <>
          <dl class="facts">
            <dt>Format version</dt>
            <dd>{String(facts.version)}</dd>
            {facts.file && (
              <>
                <dt>Generated file</dt>
                <dd>
                  <code>{facts.file}</code>
                </dd>
              </>
            )}
            <dt>Debug ID</dt>
            <dd>{facts.debugId ? <code>{facts.debugId}</code> : 'none'}</dd>
            <dt>Sources</dt>
            <dd>{facts.sources.length.toLocaleString('en')}</dd>
            <dt>Sources content</dt>
            <dd>
              {facts.sources.every((s) => s.content !== null)
                ? 'yes, for every source'
                : facts.sources.some((s) => s.content !== null)
                  ? `for ${facts.sources.filter((s) => s.content !== null).length} of ${facts.sources.length} sources`
                  : 'no (stack resolution shows positions but no source lines)'}
            </dd>
          </dl>
          <h2>Sources</h2>
          <ol class="sources">
            {facts.sources.map((s) => (
              <li key={s.index}>
                {s.content !== null ? <a href={href('file', { ...fileParams, source: s.index })}>{s.name}</a> : <span>{s.name}</span>}
                {s.ignored && <span class="kind">library (ignoreList)</span>}
                {s.content === null && <span class="muted"> (no content)</span>}
              </li>
            ))}
          </ol>
        </>
      )}
      {source &&
        (source.content !== null ? (
          <CodeView text={source.content} label={source.name} highlight={highlight} />
        ) : (
          <p>This source has no content in the map.</p>
        ))}
      {kind !== 'map' &&
        file.data &&
        (file.data.text === null ? (
          <p>Too large to show here ({bytes(file.data.size)}); download it instead.</p>
        ) : (
          <CodeView text={file.data.text} label={path} highlight={highlight} />
        ))}
    </>
  );
}
