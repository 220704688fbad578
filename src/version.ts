/** This build's version: the `version` of the package.json beside `src/` or `dist/` (the same depth in both). */
import { readFileSync } from 'node:fs';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;
