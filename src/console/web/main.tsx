import { render, type JSX } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ServerError, session, setAuthFailureListener, UnreachableError, type WhoAmI } from './api.ts';
import { href, useRoute, type View } from './route.ts';
import { Problem, SessionContext, type Session } from './ui.tsx';
import { AppsView, AppView, FileView, SourceMapView } from './browse.tsx';
import { ResolveView } from './resolve.tsx';
import { UploadView } from './upload.tsx';

function SignIn({ error, onSignedIn }: { error: unknown; onSignedIn(who: WhoAmI): void }) {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<unknown>(error);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setProblem(null);
    try {
      const who = await api.whoami(key.trim());
      session.save(key.trim());
      setKey('');
      onSignedIn(who);
    } catch (err) {
      setProblem(err);
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    document.title = 'Sign in · mapvault';
  }, []);
  return (
    <main class="signin">
      <h1>mapvault</h1>
      <p>
        Sign in with an API key of your workspace (the <code>DF-API-KEY</code> your CI uploads with). It stays in this browser tab only, and
        is sent as a header, never in a link.
      </p>
      <form onSubmit={submit}>
        <label for="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autocomplete="off"
          spellcheck={false}
          required
          value={key}
          onInput={(e) => setKey(e.currentTarget.value)}
          autofocus
        />
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <Problem error={problem} title="Sign-in failed" />
    </main>
  );
}

const NAV: Array<[View, string]> = [
  ['apps', 'Apps'],
  ['upload', 'Upload'],
  ['resolve', 'Resolve a stack'],
];

function App() {
  const route = useRoute();
  const [who, setWho] = useState<WhoAmI | null>(null);
  const [checking, setChecking] = useState(session.key() !== null);
  const [problem, setProblem] = useState<unknown>(null);

  const check = () => {
    setChecking(true);
    api
      .whoami()
      .then(
        (w) => {
          setWho(w);
          setProblem(null);
        },
        (e) => {
          if (e instanceof ServerError && e.errorCode === 'ft.InvalidAPIKey') session.clear();
          setProblem(e);
        },
      )
      .finally(() => setChecking(false));
  };
  useEffect(() => {
    // Any call refused for its key (revoked, or signed out in another window) ends the session here.
    setAuthFailureListener((e) => {
      session.clear();
      setWho(null);
      setProblem(e);
    });
    if (session.key()) check();
  }, []);

  const value = useMemo<Session | null>(
    () =>
      who && {
        ...who,
        signOut: () => {
          session.clear();
          setWho(null);
          setProblem(null);
        },
        refresh: () => void api.whoami().then(setWho, () => {}),
      },
    [who],
  );

  if (checking)
    return (
      <main>
        <p role="status">Checking your key…</p>
      </main>
    );
  if (!value) {
    if (problem instanceof UnreachableError && session.key()) {
      return (
        <main>
          <Problem error={problem} />
          <button type="button" onClick={check}>
            Try again
          </button>
        </main>
      );
    }
    return <SignIn error={problem} onSignedIn={setWho} />;
  }
  const views: Record<View, () => JSX.Element> = {
    apps: () => <AppsView />,
    app: () => <AppView params={route.params} />,
    sourcemap: () => <SourceMapView params={route.params} />,
    file: () => <FileView params={route.params} />,
    resolve: () => <ResolveView params={route.params} />,
    upload: () => <UploadView params={route.params} />,
  };
  const section = route.view === 'app' || route.view === 'sourcemap' || route.view === 'file' ? 'apps' : route.view;
  return (
    <SessionContext.Provider value={value}>
      <header class="top">
        <a class="brand" href={href('apps')}>
          mapvault
        </a>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([view, label]) => (
              <li key={view}>
                <a href={href(view)} aria-current={section === view ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="workspace">
          Workspace <strong data-testid="workspace">{value.workspace}</strong>
        </span>
        <button type="button" onClick={value.signOut}>
          Sign out
        </button>
      </header>
      <main id="main">{views[route.view]()}</main>
    </SessionContext.Provider>
  );
}

const root = document.getElementById('root');
if (!root) throw new Error('the page has no #root element'); // index.html has one
render(<App />, root);
