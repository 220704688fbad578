import type { Catalog } from '../catalog/catalog.ts';
import { ApiError } from '../errors.ts';

/**
 * Per-workspace byte quotas (0 = unlimited). Both are decided inside catalog transactions, never by
 * reading usage and acting on it later: parts against `uploadBytes` in the transaction that attaches
 * them (Catalog.putPart), stored bytes by reservations taken before the bytes are written
 * (Catalog.reserveStored) and consumed by the transaction that publishes them.
 */
export class Quotas {
  constructor(
    private readonly catalog: Catalog,
    private readonly limits: { uploadBytes: number; storedBytes: number },
    private readonly now: () => number,
  ) {}

  /** For Catalog.putPart. */
  get uploadBytes(): number {
    return this.limits.uploadBytes;
  }

  /**
   * Grows reservation `reservationId` by `bytes`, for a write that replaces `credit` stored bytes
   * (the old tree or file). Throws Quota.Exceeded, changing nothing, when that would go over.
   */
  async reserveStored(workspace: string, reservationId: string, bytes: number, credit: number, leaseMs: number): Promise<void> {
    if (this.limits.storedBytes === 0) return;
    const now = this.now();
    // A writer that dies leaves its reservation: it stops counting when the lease runs out (merges renew it).
    const ok = await this.catalog.reserveStored({
      workspace,
      reservationId,
      bytes,
      limit: this.limits.storedBytes,
      credit,
      now,
      expiresAt: now + leaseMs,
    });
    if (!ok) throw Quotas.storedExceeded();
  }

  async release(reservationId: string): Promise<void> {
    if (this.limits.storedBytes > 0) await this.catalog.releaseReservation(reservationId);
  }

  uploadExceeded(incoming: number): ApiError {
    return new ApiError(
      'Quota.Exceeded',
      `workspace upload quota of ${this.limits.uploadBytes} bytes exceeded: the pending parts and this one (${incoming} bytes) would be more; merge or cancel uploads first`,
    );
  }

  static storedExceeded(): ApiError {
    return new ApiError('Quota.Exceeded', 'workspace storage quota exceeded: delete old sourcemaps or raise MAPVAULT_QUOTA_STORED_BYTES');
  }
}
