/**
 * Why a `.map` file is not a usable sourcemap, or null when it is. Checked at merge time so
 * the uploader learns about it (as a warning) instead of at resolution time.
 */
export function sourceMapProblem(bytes: Buffer): string | null {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8').replace(/^\)\]\}'[^\n]*\n/, ''));
  } catch (err) {
    return `not valid JSON (${(err as Error).message})`;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return 'not a JSON object';
  const map = json as Record<string, unknown>;
  if (map.version !== 3) return `unsupported sourcemap version ${JSON.stringify(map.version)} (expected 3)`;
  if (Array.isArray(map.sections)) return null;
  if (typeof map.mappings !== 'string') return 'missing "mappings" string';
  if (!Array.isArray(map.sources)) return 'missing "sources" array';
  return null;
}
