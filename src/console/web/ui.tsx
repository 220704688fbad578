import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';
import { api, ServerError, type Identity, type WhoAmI } from './api.ts';
import { count, identityLabel } from './format.ts';

export interface Session extends WhoAmI {
  signOut(): void;
  /** Re-reads usage after a change (upload, delete). */
  refresh(): void;
}
export const SessionContext = createContext<Session | null>(null);
export const useSession = (): Session => {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession() outside SessionContext.Provider (the signed-in app)');
  return session;
};

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload(): void;
}

/** Runs `load` when `deps` change; the latest call wins. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({
    data: undefined,
    error: null,
    loading: true,
  });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let current = true;
    setState((s) => ({ ...s, loading: true, error: null }));
    load().then(
      (data) => current && setState({ data, error: null, loading: false }),
      (error) => current && setState({ data: undefined, error, loading: false }),
    );
    return () => {
      current = false;
    };
  }, [...deps, tick]);
  return { ...state, reload: useCallback(() => setTick((t) => t + 1), []) };
}

/** An error as the user should read it: the server's message, its code and traceId for support. */
export function Problem({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div class="problem" role="alert">
      {title && <strong>{title}: </strong>}
      {message}
      {error instanceof ServerError && (
        <span class="muted">
          {' '}
          ({error.errorCode}
          {error.traceId ? `, trace ${error.traceId}` : ''})
        </span>
      )}
    </div>
  );
}

export const Loading = ({ what }: { what: string }) => (
  <p class="muted" role="status">
    Loading {what}…
  </p>
);

/** The view's heading; it takes focus when the view opens, so keyboard and screen-reader users start there. */
export function Heading({ title }: { title: string }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    ref.current?.focus();
    document.title = `${title} · mapvault`;
  }, [title]);
  return (
    <h1 tabIndex={-1} ref={ref}>
      {title}
    </h1>
  );
}

/**
 * Deletes a sourcemap after a modal confirmation that names it (a native <dialog>: focus moves
 * into it, Escape cancels, focus returns to the button).
 */
export function DeleteButton({ identity, onDeleted }: { identity: Identity; onDeleted(): void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const session = useSession();
  const label = identityLabel(identity);
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await api.delete(identity);
      dialog.current?.close();
      session.refresh();
      onDeleted();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button
        type="button"
        class="danger"
        onClick={() => {
          setError(null);
          dialog.current?.showModal();
        }}
      >
        Delete<span class="visually-hidden"> {label}</span>
      </button>
      <dialog ref={dialog} aria-labelledby="delete-title" class="confirm">
        <h2 id="delete-title">Delete the sourcemap {label}?</h2>
        <p>Its files are removed for good; stacks of this version will no longer resolve.</p>
        <Problem error={error} />
        <div class="actions">
          <button type="button" onClick={() => dialog.current?.close()} autofocus>
            Keep it
          </button>
          <button type="button" class="danger" onClick={confirm} disabled={busy}>
            {busy ? 'Deleting…' : `Delete ${label}`}
          </button>
        </div>
      </dialog>
    </>
  );
}

/** Previous/next paging for long lists, announced to screen readers. */
export function Pager({
  page,
  pages,
  total,
  onPage,
  label,
}: {
  page: number;
  pages: number;
  total: number;
  onPage(p: number): void;
  label: string;
}) {
  if (pages <= 1) return null;
  return (
    <nav class="pager" aria-label={`${label} pages`}>
      <button type="button" onClick={() => onPage(0)} disabled={page === 0}>
        First
      </button>
      <button type="button" onClick={() => onPage(page - 1)} disabled={page === 0}>
        Previous
      </button>
      <span role="status">
        Page {page + 1} of {pages} ({count(total)} {label})
      </span>
      <button type="button" onClick={() => onPage(page + 1)} disabled={page >= pages - 1}>
        Next
      </button>
      <button type="button" onClick={() => onPage(pages - 1)} disabled={page >= pages - 1}>
        Last
      </button>
    </nav>
  );
}

/** Saves a Blob under a file name (the only way to download with a header-borne key). */
export function saveBlob(blob: Blob, name: string) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Copies text; falls back to a selected textarea where the Clipboard API is unavailable (plain http). */
export async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.className = 'offscreen';
  document.body.append(area);
  area.select();
  const ok = document.execCommand('copy');
  area.remove();
  if (!ok) throw new Error('the browser refused to copy');
}
