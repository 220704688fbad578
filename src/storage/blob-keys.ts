/**
 * The blob key layout: every key mapvault writes to the BlobStore is spelled here, and only here.
 *
 *   uploads/<uploadId>/<chunk, 6 digits>-<random>          an uploaded part, until merged or expired
 *   trees/<revisionId>/<path>                               a file of a merged tree
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
/** Where a mapping.txt's lookup index is stored, relative to the tree prefix. */
export const mappingIndexPath = (mappingPath: string): string => `J:java-index/${mappingPath}`;

/**
 * First path segment reserved for files written one at a time into a tree (upload_file_content),
 * at `trees/<revision>/.mapvault-files/<random>/<path>`; no archive entry or filename may use it.
 */
export const SINGLE_FILES_SEGMENT = '.mapvault-files';
export function refuseReservedPath(path: string): void {
  if (path === SINGLE_FILES_SEGMENT || path.startsWith(`${SINGLE_FILES_SEGMENT}/`)) {
    throw new ApiError('Archive.UnsafePath', `Unsafe path ${JSON.stringify(path)}: "${SINGLE_FILES_SEGMENT}" is reserved by mapvault`, { path });
  }
}
/** The key of a file written on its own into an existing tree; `random` makes it new. */
export const singleFileKey = (revisionId: string, random: string, path: string): string =>
  `${treePrefix(revisionId)}${SINGLE_FILES_SEGMENT}/${random}/${path}`;
/** The prefix a single-file key lives under, `trees/<revision>/.mapvault-files/<random>/`. */
export const singleFilePrefix = (key: string): string => `${key.split('/').slice(0, 4).join('/')}/`;

/** Where a file's bytes are: its own key if it was written alone, else its place in the merged tree. */
export const fileBlobKey = (revisionId: string, f: FileRecord): string => f.blobKey ?? treePrefix(revisionId) + f.path;
/** A replaced or deleted tree, collected once readers that already resolved it have finished. */
export const retiredTree = (revisionId: string, dueAt: number): GarbageEntry => ({ prefix: treePrefix(revisionId), dueAt, revisionId });
/** A replaced file's blob, collected once readers that already resolved it have finished. */
export const retiredFile = (revisionId: string, f: FileRecord, dueAt: number): GarbageEntry =>
  ({ prefix: f.blobKey ? singleFilePrefix(f.blobKey) : treePrefix(revisionId) + f.path, dueAt });
