/**
 * Which stored files are ProGuard/R8 mappings (their lookup index's key: storage/blob-keys.ts).
 * Guance's Android layout: `mapping.txt` at the zip's root or under `<appId>-<env>-<version>/`.
 */

export const MAPPING_FILE_NAME = 'mapping.txt';

export function isMappingPath(path: string): boolean {
  return path === MAPPING_FILE_NAME || path.endsWith(`/${MAPPING_FILE_NAME}`);
}

/** What file_tree says a stored file is. */
export function fileKind(path: string): 'sourcemap' | 'proguard-mapping' | 'file' {
  if (isMappingPath(path)) return 'proguard-mapping';
  return path.endsWith('.map') ? 'sourcemap' : 'file';
}
