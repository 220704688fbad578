/**
 * The catalog the list and part_list benches read, written through the Catalog interface (so the
 * same rows land in SQLite or PostgreSQL): app "big" gets `sourcemaps - 10` sourcemaps, app
 * "small" 10, and task `uploadId` (app "parts") gets `parts` parts. No blob is written.
 */
import { randomBytes } from 'node:crypto';
import type { Catalog } from '../src/catalog/catalog.ts';
import { partKey, retiredTree, treePrefix } from '../src/storage/blob-keys.ts';
import { WORKSPACE } from './lib.ts';

const hex = (n: number) => randomBytes(n).toString('hex');

export async function seedCatalog(catalog: Catalog, opts: { sourcemaps: number; parts: number; uploadId: string }): Promise<void> {
  const now = Date.now();
  for (let i = 0; i < opts.sourcemaps; i++) {
    const revisionId = `rev${String(i).padStart(6, '0')}${hex(4)}`;
    const r = await catalog.publishSourceMap({
      sourcemap: {
        workspace: WORKSPACE,
        appId: i < 10 ? 'small' : 'big',
        version: `1.${Math.floor(i / 100)}.${i % 100}`,
        env: i % 2 ? 'prod' : 'staging',
        revisionId,
        createdAt: now - (opts.sourcemaps - i) * 1000,
        size: 1_000_000 + i,
        sha256: hex(32),
        fileCount: 12,
        mapCount: 6,
        warnings: [],
      },
      files: [],
      replace: false,
      stagingPrefix: treePrefix(revisionId),
      retire: (old) => retiredTree(old, now),
    });
    if (!r.ok) throw new Error(`seed: ${r.reason}`);
  }
  await catalog.createUpload({
    workspace: WORKSPACE,
    appId: 'parts',
    version: '1.0.0',
    env: 'prod',
    uploadId: opts.uploadId,
    needCover: false,
    createdAt: now,
    expiresAt: now + 30 * 86_400_000,
  });
  for (let i = 0; i < opts.parts; i++) {
    const part = {
      chunkIndex: i,
      size: 1024 * 1024,
      md5: hex(16),
      sha256: hex(32),
      uploadedAt: now,
      blobKey: partKey(opts.uploadId, i, 'seeded'),
    };
    const r = await catalog.putPart(WORKSPACE, opts.uploadId, part, now);
    if (!r.ok) throw new Error('seed: putPart refused');
  }
}
