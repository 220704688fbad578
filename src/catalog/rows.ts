import type { ApiKeyRecord, FileRecord, PartRecord, SourceMapRecord, UploadTask } from './catalog.ts';

/**
 * The catalog's rows as both SQL backends return them (same column names in SQLite and PostgreSQL),
 * and the one mapping from a row to its record.
 */
export interface SourceMapRow {
  workspace: string;
  app_id: string;
  version: string;
  env: string;
  revision_id: string;
  created_at: number;
  size: number;
  sha256: string;
  file_count: number;
  map_count: number;
  warnings: string;
  tree_version: number;
}
export interface UploadRow {
  upload_id: string;
  workspace: string;
  app_id: string;
  version: string;
  env: string;
  /** SQLite has no boolean type: 0/1 there, a boolean in PostgreSQL. */
  need_cover: number | boolean;
  created_at: number;
  expires_at: number;
}
export interface PartRow {
  chunk_index: number;
  size: number;
  md5: string;
  sha256: string;
  uploaded_at: number;
  blob_key: string;
}
export interface FileRow {
  path: string;
  size: number;
  sha256: string;
  blob_key: string | null;
  debug_id?: string | null;
}

export const toSourceMap = (r: SourceMapRow): SourceMapRecord => ({
  workspace: r.workspace,
  appId: r.app_id,
  version: r.version,
  env: r.env,
  revisionId: r.revision_id,
  createdAt: r.created_at,
  size: r.size,
  sha256: r.sha256,
  fileCount: r.file_count,
  mapCount: r.map_count,
  warnings: JSON.parse(r.warnings) as string[],
  treeVersion: r.tree_version,
});
export const toUpload = (r: UploadRow): UploadTask => ({
  uploadId: r.upload_id,
  workspace: r.workspace,
  appId: r.app_id,
  version: r.version,
  env: r.env,
  needCover: r.need_cover === true || r.need_cover === 1,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
});
export const toPart = (r: PartRow): PartRecord => ({
  chunkIndex: r.chunk_index,
  size: r.size,
  md5: r.md5,
  sha256: r.sha256,
  uploadedAt: r.uploaded_at,
  blobKey: r.blob_key,
});
export const toFile = (r: FileRow): FileRecord => ({
  path: r.path,
  size: r.size,
  sha256: r.sha256,
  ...(r.blob_key ? { blobKey: r.blob_key } : {}),
  ...(r.debug_id ? { debugId: r.debug_id } : {}),
});
export interface ApiKeyRow {
  key_hash: string;
  workspace: string;
  source: string;
  created_at: number;
  last_used_at: number | null;
}
export const toApiKey = (r: ApiKeyRow): ApiKeyRecord => ({
  keyHash: r.key_hash,
  workspace: r.workspace,
  source: r.source,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
});
