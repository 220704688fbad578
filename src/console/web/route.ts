import { useEffect, useState } from 'preact/hooks';

/**
 * Hash routes, so every view has a shareable URL and the server serves one page:
 * `#/<view>?<params>`. Resolution inputs go in the fragment (never sent to a server); the key never does.
 */
export type View = 'apps' | 'app' | 'sourcemap' | 'file' | 'resolve' | 'upload';
const VIEWS: View[] = ['apps', 'app', 'sourcemap', 'file', 'resolve', 'upload'];

export interface Route {
  view: View;
  params: URLSearchParams;
}

export function parseRoute(hash: string): Route {
  const [path = '', search = ''] = hash.replace(/^#\/?/, '').split(/\?(.*)/s);
  const view = VIEWS.includes(path as View) ? (path as View) : 'apps';
  return { view, params: new URLSearchParams(search) };
}

export function href(view: View, params: Record<string, string | number | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return `#/${view}${s ? `?${s}` : ''}`;
}

export const navigate = (view: View, params: Record<string, string | number | undefined> = {}, replace = false) => {
  const url = href(view, params);
  if (replace) history.replaceState(null, '', url);
  else location.hash = url;
  if (replace) window.dispatchEvent(new HashChangeEvent('hashchange'));
};

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return route;
}

/** A sourcemap identity from route params (`app`, `version`, `env`). */
export const identityOf = (p: URLSearchParams) => ({ appId: p.get('app') ?? '', version: p.get('version') ?? '', env: p.get('env') ?? '' });
export const identityParams = (i: { appId: string; version: string; env: string }) => ({ app: i.appId, version: i.version, env: i.env });
