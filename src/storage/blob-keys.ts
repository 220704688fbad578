/**
 * The blob key layout: every key mapvault writes to the BlobStore is spelled here, and only here.
 *
 *   uploads/<uploadId>/<chunk, 6 digits>-<random>          an uploaded part, until merged or expired
 *   trees/<revisionId>/.mapvault-files/archive.<6 digits>   a merged tree's archive, in segments whose concatenation
 *                                                           is the zip (the uploaded parts themselves, or one
 *                                                           segment); its files are read out of them (rows say
 *                                                           where: storage/tree-archive.ts)
 *   trees/<revisionId>/.mapvault-files/archive.zip          the same as one object, in trees merged before segments
 *   trees/<revisionId>/<path>                               a file of a tree merged before that layout, or the
 *                                                           first file of a sourcemap made by upload_file_content
 *   trees/<revisionId>/.mapvault-files/<random>/<path>      a file written on its own (upload_file_content)
 *   trees/<revisionId>/i:/<map path>.mvx                    a map's lookup index (symbolicate/index/layout.ts)
 *   trees/<revisionId>/J:java-index/<mapping path>          a mapping.txt's lookup index (symbolicate/java/)
 *
 * The index keys start with a drive-letter-like `X:` segment, which no uploaded path can have
 * (archive/entry-path.ts refuses them), and `.mapvault-files` is refused as an uploaded path's
 * first segment (refuseReservedPath): no upload can overwrite or pose as one of them. Everything
 * of a revision lives under its tree prefix, so deleting the prefix removes it all.
 */
import type { FileRecord, GarbageEntry } from '../catalog/catalog.ts';
import { ApiError } from '../errors.ts';

export const treePrefix = (revisionId: string): string => `trees/${revisionId}/`;
export const uploadPrefix = (uploadId: string): string => `uploads/${uploadId}/`;
/** An uploaded part's key; `random` keeps a resent part from replacing the one a merge may be reading. */
export const partKey = (uploadId: string, chunkIndex: number, random: string): string =>
  `${uploadPrefix(uploadId)}${String(chunkIndex).padStart(6, '0')}-${random}`;

/** Where a map's lookup index is stored, relative to the tree prefix (beside the map). */
export const mapIndexPath = (mapPath: string): string => `i:/${mapPath}.mvx`;
/** Whether a key is a map's lookup index (`trees/<revision>/i:/…`). */
export const isMapIndexKey = (key: string): boolean => key.startsWith('trees/') && key.split('/', 3)[2] === 'i:';
/** Where a mapping.txt's lookup index is stored, relative to the tree prefix. */
export const mappingIndexPath = (mappingPath: string): string => `J:java-index/${mappingPath}`;

/**
 * First path segment reserved for what mapvault itself keeps in a tree: the merged archive and
 * files written one at a time (upload_file_content), at `trees/<revision>/.mapvault-files/<random>/<path>`;
 * no archive entry or filename may use it.
 */
export const SINGLE_FILES_SEGMENT = '.mapvault-files';
/**
 * Where segment `index` of a merged tree's archive is stored, relative to the tree prefix (never a
 * random segment: it has a dot).
 */
export const treeArchiveSegmentPath = (index: number): string => `${SINGLE_FILES_SEGMENT}/archive.${String(index).padStart(6, '0')}`;
/** Where the archive of a tree merged before segments is stored, relative to the tree prefix (still read). */
export const TREE_ARCHIVE_PATH = `${SINGLE_FILES_SEGMENT}/archive.zip`;
export function refuseReservedPath(path: string): void {
  if (path === SINGLE_FILES_SEGMENT || path.startsWith(`${SINGLE_FILES_SEGMENT}/`)) {
    throw new ApiError('Archive.UnsafePath', `Unsafe path ${JSON.stringify(path)}: "${SINGLE_FILES_SEGMENT}" is reserved by mapvault`, {
      path,
    });
  }
}
/** The key of a file written on its own into an existing tree; `random` makes it new. */
export const singleFileKey = (revisionId: string, random: string, path: string): string =>
  `${treePrefix(revisionId)}${SINGLE_FILES_SEGMENT}/${random}/${path}`;
/** The prefix a single-file key lives under, `trees/<revision>/.mapvault-files/<random>/`. */
export const singleFilePrefix = (key: string): string => `${key.split('/').slice(0, 4).join('/')}/`;

/** A replaced or deleted tree, collected once readers that already resolved it have finished. */
export const retiredTree = (revisionId: string, dueAt: number): GarbageEntry => ({ prefix: treePrefix(revisionId), dueAt, revisionId });
/**
 * A replaced file's blob, collected once readers that already resolved it have finished; none for
 * a file in the tree's archive (its bytes go with the tree).
 */
export const retiredFile = (revisionId: string, f: FileRecord, dueAt: number): GarbageEntry | null => {
  if (f.blobKey === undefined) return { prefix: treePrefix(revisionId) + f.path, dueAt };
  // A row's blobKey is a key (they all start with `trees/`) or a place in the tree's archive.
  return f.blobKey.startsWith('trees/') ? { prefix: singleFilePrefix(f.blobKey), dueAt } : null;
};
