/** Display helpers shared by the views. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  for (; v >= 1024 && i < units.length - 1; i++) v /= 1024;
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

// One formatter each: toLocaleString(…) builds a new Intl formatter per call, which costs
// milliseconds per page of 50 rows (bench/console.ts).
const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const COUNT = new Intl.NumberFormat('en');

/** Unix seconds as a local date and time. */
export const dateTime = (unixSeconds: number) => DATE_TIME.format(unixSeconds * 1000);

/** A count with thousands separators (1,234). */
export const count = (n: number) => COUNT.format(n);

/** An identity as people say it: `shop 1.2.3 (prod)`, with empty parts named. */
export const identityLabel = (i: { appId: string; version: string; env: string }) =>
  `${i.appId} ${i.version || '(no version)'} ${i.env ? `(${i.env})` : '(no env)'}`;

export type FileKind = 'map' | 'script' | 'other';
export const fileKind = (path: string): FileKind => (/\.map$/i.test(path) ? 'map' : /\.(m|c)?js$/i.test(path) ? 'script' : 'other');
export const KIND_LABEL: Record<FileKind, string> = { map: 'sourcemap', script: 'script', other: 'other' };

export const plural = (n: number, one: string, many = `${one}s`) => `${count(n)} ${n === 1 ? one : many}`;
