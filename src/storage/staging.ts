import { CatalogUnavailableError, type Catalog } from '../catalog/catalog.ts';
import type { Quotas } from '../catalog/quotas.ts';
import type { BlobStore } from './blob-store.ts';

/**
 * What a failed write leaves of its staging prefix (a merge's tree, a single file) is removed:
 * its blobs, its garbage entry and its quota reservation. Not when the catalog dropped out: the
 * publish may have committed, so the staging entry (removed by a commit, due later otherwise)
 * decides, never this process.
 */
export async function abandonStaging(
  o: { blobs: BlobStore; catalog: Catalog; quotas: Quotas },
  staging: string,
  reservationId: string,
  failure: unknown,
): Promise<void> {
  if (failure instanceof CatalogUnavailableError) return;
  await o.blobs.deletePrefix(staging);
  await o.catalog.removeGarbage(staging);
  await o.quotas.release(reservationId);
}
