/**
 * Which stored files are ProGuard/R8 mappings, and where a mapping's lookup index is stored.
 * Guance's Android layout: `mapping.txt` at the zip's root or under `<appId>-<env>-<version>/`.
 */

export const MAPPING_FILE_NAME = 'mapping.txt';

export function isMappingPath(path: string): boolean {
  return path === MAPPING_FILE_NAME || path.endsWith(`/${MAPPING_FILE_NAME}`);
}

/**
 * The blob key (relative to the tree prefix) of a mapping's lookup index. Uploaded paths can never
 * start with a drive-letter-like `X:` segment (archive/entry-path.ts refuses them), so this key
 * cannot collide with an uploaded file; it is not a catalog file, so file_tree does not list it,
 * and it is deleted with the tree.
 */
export function mappingIndexKey(path: string): string {
  return `J:java-index/${path}`;
}

/** What file_tree says a stored file is. */
export function fileKind(path: string): 'sourcemap' | 'proguard-mapping' | 'file' {
  if (isMappingPath(path)) return 'proguard-mapping';
  return path.endsWith('.map') ? 'sourcemap' : 'file';
}
