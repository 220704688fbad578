/**
 * The sourcemap row the migration tests write into an older schema, and what `listSourceMaps`
 * answers for it once migrated: one fixture for the SQLite and PostgreSQL catalogs.
 */
export const OLD_SOURCEMAP_VALUES = `('w', 'app', '1.0', 'prod', 'r1', 1700000000500, 42, 'ab', 3, 2, '["bad map"]')`;

export const MIGRATED_SOURCEMAP = {
  workspace: 'w',
  appId: 'app',
  version: '1.0',
  env: 'prod',
  revisionId: 'r1',
  createdAt: 1700000000500,
  size: 42,
  fileCount: 3,
  mapCount: 2,
  sha256: 'ab',
  warnings: ['bad map'],
  treeVersion: 0,
};
