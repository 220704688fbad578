import type { Catalog } from '../catalog/catalog.ts';
import { ApiError } from '../errors.ts';

/** Per-workspace byte quotas (0 = unlimited), checked before bytes are accepted. */
export class Quotas {
  constructor(private readonly catalog: Catalog, private readonly limits: { uploadBytes: number; storedBytes: number }) {}

  async checkUpload(workspace: string, incoming: number): Promise<void> {
    if (this.limits.uploadBytes === 0) return;
    const { uploadBytes } = await this.catalog.usage(workspace);
    if (uploadBytes + incoming > this.limits.uploadBytes) {
      throw new ApiError('Quota.Exceeded', `workspace upload quota of ${this.limits.uploadBytes} bytes exceeded: ${uploadBytes} bytes of parts are pending, this part adds ${incoming}`);
    }
  }

  /** How many bytes a new tree may hold, given that it replaces one of `replacing` bytes. */
  async storedHeadroom(workspace: string, replacing: number): Promise<number> {
    if (this.limits.storedBytes === 0) return Number.POSITIVE_INFINITY;
    const { storedBytes } = await this.catalog.usage(workspace);
    return this.limits.storedBytes - (storedBytes - replacing);
  }

  static storedExceeded(): ApiError {
    return new ApiError('Quota.Exceeded', 'workspace storage quota exceeded: delete old sourcemaps or raise MAPVAULT_QUOTA_STORED_BYTES');
  }
}
