/**
 * The blob key layout: every key mapvault writes to the BlobStore is spelled here, and only here.
 *
 *   uploads/<uploadId>/<chunk, 6 digits>-<random>          an uploaded part, until its task expires or is cancelled;
 *                                                           once merged, a segment of the tree's archive (the
 *                                                           concatenation of the parts is the zip, its files are
 *                                                           read out of them: storage/tree-archive.ts), kept
 *                                                           until that tree is collected
 *   trees/<revisionId>/.mapvault-files/archive.<6 digits>   a merged tree's archive as segments of its own: one
 *                                                           segment written from the concatenated parts when they
 *                                                           are too many to serve from, or the parts' copies in
 *                                                           trees merged before the parts were kept
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
 * of a revision lives under its tree prefix, but for the parts its archive is made of: the
 * revision id of a merge names its upload (`<uploadId>-<random>`), so retiring the tree retires
 * that upload's parts with it (retiredTree).
 */
import type { FileRecord, GarbageEntry } from '../catalog/catalog.ts';
import { ApiError } from '../errors.ts';

/** Where uploaded parts live, under their task's id. */
const UPLOADS = 'uploads/';
export const treePrefix = (revisionId: string): string => `trees/${revisionId}/`;
export const uploadPrefix = (uploadId: string): string => `${UPLOADS}${uploadId}/`;
/** An uploaded part's key; `random` keeps a resent part from replacing the one a merge may be reading. */
export const partKey = (uploadId: string, chunkIndex: number, random: string): string =>
  `${uploadPrefix(uploadId)}${String(chunkIndex).padStart(6, '0')}-${random}`;

/** Whether a key is an uploaded part (`uploads/<uploadId>/<chunk>-<random>`). */
export const isPartKey = (key: string): boolean => /^uploads\/[A-Za-z0-9]+\/\d{6}-[A-Za-z0-9]+$/.test(key);
/** A part's key without `uploads/` (`<uploadId>/<chunk>-<random>`): how an archive's file row names it. */
export const partKeyName = (key: string): string => {
  if (!isPartKey(key)) throw new Error(`not an uploaded part's key: ${JSON.stringify(key)}`);
  return key.slice(UPLOADS.length);
};
/** The key of the part `partKeyName` named; null when `name` names no part. */
export const partKeyOfName = (name: string): string | null => (isPartKey(UPLOADS + name) ? UPLOADS + name : null);

/**
 * The revision id of a tree merged from upload `uploadId`: the upload's id, so collecting the tree
 * can collect the parts its archive is made of, and a random tail, so two merges of one task (one
 * of them on a node whose lease ran out) never share a staging prefix.
 */
export const mergedRevisionId = (uploadId: string, random: string): string => `${uploadId}-${random}`;
/** The upload a merged revision's archive parts belong to (mergedRevisionId), or null for other revisions. */
const uploadOfRevision = (revisionId: string): string | null => /^([A-Za-z0-9]+)-[A-Za-z0-9]+$/.exec(revisionId)?.[1] ?? null;

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

/**
 * What a replaced or deleted tree leaves to collect once readers that already resolved it have
 * finished: its prefix and, for a merged tree, the upload parts its archive is made of.
 */
export const retiredTree = (revisionId: string, dueAt: number): GarbageEntry[] => {
  const uploadId = uploadOfRevision(revisionId);
  const tree: GarbageEntry = { prefix: treePrefix(revisionId), dueAt, revisionId };
  return uploadId === null ? [tree] : [tree, { prefix: uploadPrefix(uploadId), dueAt }];
};
/**
 * A replaced file's blob, collected once readers that already resolved it have finished; none for
 * a file in the tree's archive (its bytes go with the tree).
 */
export const retiredFile = (revisionId: string, f: FileRecord, dueAt: number): GarbageEntry | null => {
  if (f.blobKey === undefined) return { prefix: treePrefix(revisionId) + f.path, dueAt };
  // A row's blobKey is a key (they all start with `trees/`) or a place in the tree's archive.
  return f.blobKey.startsWith('trees/') ? { prefix: singleFilePrefix(f.blobKey), dueAt } : null;
};
