/** Display helpers shared by the views. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  for (; v >= 1024 && i < units.length - 1; i++) v /= 1024;
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** Unix seconds as a local date and time. */
export const dateTime = (unixSeconds: number) =>
  new Date(unixSeconds * 1000).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** An identity as people say it: `shop 1.2.3 (prod)`, with empty parts named. */
export const identityLabel = (i: { appId: string; version: string; env: string }) =>
  `${i.appId} ${i.version || '(no version)'} ${i.env ? `(${i.env})` : '(no env)'}`;

export type FileKind = 'map' | 'script' | 'other';
export const fileKind = (path: string): FileKind =>
  /\.map$/i.test(path) ? 'map' : /\.(m|c)?js$/i.test(path) ? 'script' : 'other';
export const KIND_LABEL: Record<FileKind, string> = { map: 'sourcemap', script: 'script', other: 'other' };

export const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString('en')} ${n === 1 ? one : many}`;
