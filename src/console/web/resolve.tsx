import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, type AppSummary, type Frame, type Identity, type Resolution } from './api.ts';
import { identityLabel, plural } from './format.ts';
import { href, identityOf, identityParams, navigate } from './route.ts';
import { copyText, Heading, Pager, Problem, useLoad, useSession } from './ui.tsx';

/** Stacks longer than this stay out of the shareable link (browsers cap URL lengths). */
const MAX_STACK_IN_URL = 8 * 1024;
/**
 * Frames shown at once: each resolved frame is ~40 DOM nodes with its source lines, so a 1 000-frame
 * stack in one go blocks the page for seconds (bench/console.ts); a page of 100 renders well under 1 s.
 */
const FRAMES_PER_PAGE = 100;

const REASONS: Record<string, string> = {
  NoSourceMap: 'No usable sourcemap was found for this script.',
  NoMapping:
    'The sourcemap has no mapping at this line and column: the position is outside the code it describes (a different build, or generated code).',
  BadFrame: 'This line looks like a frame but carries no file position (native or eval code), so there is nothing to look up.',
};

/** Library frames: the server says so when it knows (ignoreList); otherwise anything from node_modules. */
export const isLibrary = (f: Frame) =>
  typeof f.inApp === 'boolean' ? !f.inApp : /(^|[/\\])node_modules[/\\]/.test(f.source ?? f.url ?? '');

export const functionOf = (f: Frame) => f.originalFunction ?? f.name ?? f.functionName ?? null;

/** What a newer server says about how the map was matched: a sentence, the closest names, or fields. */
function MatchInfo({ match }: { match: unknown }) {
  if (match === undefined || match === null) return null;
  if (typeof match === 'string') return <p class="match">Map: {match}</p>;
  if (Array.isArray(match)) return <Closest names={match.map(String)} />;
  if (typeof match !== 'object') return null;
  const m = match as Record<string, unknown>;
  const closest = [m.closest, m.candidates, m.closestNames, m.suggestions].find(Array.isArray) as unknown[] | undefined;
  const scalar = Object.entries(m).filter(([, v]) => ['string', 'number', 'boolean'].includes(typeof v));
  return (
    <>
      {scalar.length > 0 && (
        <p class="match">
          Map found by:{' '}
          {scalar.map(([k, v], i) => (
            <span key={k}>
              {i > 0 ? ', ' : ''}
              {k} <code>{String(v)}</code>
            </span>
          ))}
        </p>
      )}
      {closest && closest.length > 0 && (
        <Closest names={closest.map((c) => (typeof c === 'string' ? c : ((c as { path?: string })?.path ?? JSON.stringify(c))))} />
      )}
    </>
  );
}

const Closest = ({ names }: { names: string[] }) => (
  <div class="match">
    Closest stored files:{' '}
    <ul>
      {names.map((n) => (
        <li key={n}>
          <code>{n}</code>
        </li>
      ))}
    </ul>
  </div>
);

function FrameView({ f, n, minified }: { f: Frame; n: number; minified: boolean }) {
  const fn = minified ? f.functionName : functionOf(f);
  const where =
    !minified && f.resolved ? `${f.source}:${f.originalLine}:${f.originalColumn}` : f.url ? `${f.url}:${f.line}:${f.column}` : f.raw.trim();
  const library = isLibrary(f);
  return (
    <li class={`frame${f.resolved ? '' : ' unresolved'}${library ? ' library' : ''}`} data-frame={n}>
      <div class="frame-head">
        <code class="fn">{fn || '<anonymous>'}</code>
        <span class="at"> at </span>
        <code class="where">{where}</code>
        {library && <span class="kind">library</span>}
        {!f.resolved && <span class="kind kind-unresolved">unresolved</span>}
      </div>
      {!minified && !f.resolved && (
        <div class="why">
          <p>{REASONS[f.reason ?? ''] ?? `Not resolved (${f.reason ?? 'no reason given'}).`}</p>
          {f.detail && <p class="detail">{f.detail}</p>}
          <MatchInfo match={f.match} />
        </div>
      )}
      {!minified && f.resolved && f.context && f.originalLine !== null && (
        <pre class="context" aria-label={`Source around line ${f.originalLine}`}>
          {f.context.pre.map((l, i, pre) => (
            <span key={`p${i}`}>
              <span class="ln" aria-hidden="true">
                {(f.originalLine ?? 0) - pre.length + i}
              </span>
              {l}
              {'\n'}
            </span>
          ))}
          <mark>
            <span class="ln" aria-hidden="true">
              {f.originalLine}
            </span>
            {f.context.line}
            {'\n'}
          </mark>
          {f.context.post.map((l, i) => (
            <span key={`q${i}`}>
              <span class="ln" aria-hidden="true">
                {(f.originalLine ?? 0) + 1 + i}
              </span>
              {l}
              {'\n'}
            </span>
          ))}
        </pre>
      )}
      {!minified && f.resolved && !f.context && <p class="muted">The map has no source text for this file.</p>}
    </li>
  );
}

function Results({ result }: { result: Resolution }) {
  const [minified, setMinified] = useState(false);
  const [inAppOnly, setInAppOnly] = useState(false);
  const [oldestFirst, setOldestFirst] = useState(false);
  const [copied, setCopied] = useState<string>('');
  const [page, setPage] = useState(0);
  const frames = useMemo(() => {
    const numbered = result.frames.map((f, i) => ({ f, n: i + 1 }));
    const kept = inAppOnly ? numbered.filter(({ f }) => !isLibrary(f)) : numbered;
    return oldestFirst ? kept.slice().reverse() : kept;
  }, [result, inAppOnly, oldestFirst]);
  // A new answer or a changed filter or order starts again at the first page.
  useEffect(() => setPage(0), [frames]);
  const pages = Math.max(1, Math.ceil(frames.length / FRAMES_PER_PAGE));
  const current = Math.min(page, pages - 1);
  const shown = frames.slice(current * FRAMES_PER_PAGE, (current + 1) * FRAMES_PER_PAGE);
  const resolved = result.frames.filter((f) => f.resolved).length;
  const libraries = result.frames.filter(isLibrary).length;
  return (
    <section aria-labelledby="result-title">
      <h2 id="result-title">Resolved stack</h2>
      <p role="status">
        {plural(result.frames.length, 'frame')}: {resolved} resolved, {result.frames.length - resolved} unresolved
        {libraries > 0 && `, ${plural(libraries, 'library frame')}`}.
        {result.truncated && " Only the first frames were resolved (the server's frame limit)."}
      </p>
      <fieldset class="toggles">
        <legend>Show</legend>
        <label>
          <input type="checkbox" checked={minified} onChange={(e) => setMinified(e.currentTarget.checked)} /> Minified positions
        </label>
        <label>
          <input type="checkbox" checked={inAppOnly} onChange={(e) => setInAppOnly(e.currentTarget.checked)} /> In-app frames only
        </label>
        <label>
          <input type="checkbox" checked={oldestFirst} onChange={(e) => setOldestFirst(e.currentTarget.checked)} /> Oldest call first
        </label>
        <button
          type="button"
          onClick={() =>
            copyText(result.stack).then(
              () => setCopied('Resolved stack copied.'),
              (e) => setCopied(`Could not copy: ${e.message}`),
            )
          }
        >
          Copy resolved stack
        </button>
        <span role="status" class="muted">
          {copied}
        </span>
      </fieldset>
      <ol class="frames">
        {shown.map(({ f, n }) => (
          <FrameView key={n} f={f} n={n} minified={minified} />
        ))}
      </ol>
      <Pager page={current} pages={pages} total={frames.length} label="frames" onPage={setPage} />
    </section>
  );
}

export function ResolveView({ params }: { params: URLSearchParams }) {
  const session = useSession();
  const fromUrl = identityOf(params);
  const urlStack = params.get('stack') ?? '';
  const [form, setForm] = useState<Identity & { stack: string }>({ ...fromUrl, stack: urlStack });
  const [result, setResult] = useState<Resolution | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState('');
  const apps = useLoad<AppSummary[]>(() => api.apps(), []);

  const run = async (input: Identity & { stack: string }) => {
    setError(null);
    setResult(null);
    const size = new TextEncoder().encode(input.stack).length;
    if (size > session.limits.maxStackBytes) {
      setError(
        new Error(
          `The stack is ${size.toLocaleString('en')} bytes; the server accepts at most ${session.limits.maxStackBytes.toLocaleString('en')} (MAPVAULT_MAX_STACK_BYTES). Nothing was sent.`,
        ),
      );
      return;
    }
    setBusy(true);
    try {
      setResult(await api.parseStack({ appId: input.appId, version: input.version, env: input.env }, input.stack));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  // A shared link (inputs in the fragment) resolves on open.
  useEffect(() => {
    const stack = params.get('stack');
    setForm((f) => ({ ...identityOf(params), stack: stack ?? f.stack }));
    if (stack && params.get('app')) void run({ ...identityOf(params), stack });
  }, [params.toString()]);

  const submit = (e: Event) => {
    e.preventDefault();
    const inUrl = new TextEncoder().encode(form.stack).length <= MAX_STACK_IN_URL;
    setNote(inUrl ? '' : 'This stack is too long to keep in the link; the link keeps the app, version and env.');
    const next = { ...identityParams(form), stack: inUrl ? form.stack : undefined };
    // A changed link resolves through the effect above; otherwise resolve here.
    const changed = href('resolve', next) !== location.hash;
    if (changed) navigate('resolve', next);
    if (!changed || !inUrl) void run(form);
  };
  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.currentTarget as HTMLInputElement).value });
  return (
    <>
      <Heading title="Resolve a stack" />
      <form onSubmit={submit} class="resolve-form">
        <div class="row">
          <div class="field">
            <label for="resolve-app">App ID</label>
            <input
              id="resolve-app"
              list="resolve-apps"
              required
              pattern="[A-Za-z0-9_.\-]+"
              maxLength={128}
              value={form.appId}
              onInput={set('appId')}
            />
            <datalist id="resolve-apps">
              {apps.data?.map((a) => (
                <option key={a.appId} value={a.appId} />
              ))}
            </datalist>
          </div>
          <div class="field">
            <label for="resolve-version">Version</label>
            <input id="resolve-version" maxLength={128} value={form.version} onInput={set('version')} />
          </div>
          <div class="field">
            <label for="resolve-env">Env</label>
            <input id="resolve-env" maxLength={128} value={form.env} onInput={set('env')} />
          </div>
        </div>
        <div class="field">
          <label for="resolve-stack">Stack (Chrome, Firefox, Safari or Guance SDK format)</label>
          <textarea id="resolve-stack" rows={10} required spellcheck={false} value={form.stack} onInput={set('stack')} />
        </div>
        <button type="submit" disabled={busy}>
          {busy ? 'Resolving…' : 'Resolve'}
        </button>
        {form.appId && (
          <a class="aside" href={href('app', { app: form.appId })}>
            Sourcemaps of {form.appId}
          </a>
        )}
      </form>
      {note && <p class="muted">{note}</p>}
      <Problem error={error} title="Resolution failed" />
      {result && <p class="muted">Against {identityLabel(form)}.</p>}
      {result && <Results result={result} />}
    </>
  );
}
