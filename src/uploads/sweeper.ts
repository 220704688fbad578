import type { FastifyBaseLogger } from 'fastify';
import type { Catalog } from '../catalog/catalog.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { uploadPrefix } from '../storage/blob-keys.ts';

/**
 * Background maintenance: expires unfinished upload tasks, and deletes queued blob prefixes
 * (expired or cancelled parts, replaced trees once their grace period is over, staging trees of
 * merges that died). `sweep(now)` is the whole job, so tests drive it with an injected clock.
 */
export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;

  constructor(private readonly o: { catalog: Catalog; blobs: BlobStore; now: () => number; intervalMs: number; log: FastifyBaseLogger }) {}

  start(): void {
    this.timer = setInterval(() => this.kick(), this.o.intervalMs);
    this.timer.unref();
  }

  /** Runs a sweep now, or right after the one in progress. Errors are logged, never thrown. */
  kick(now?: number): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.sweep(now ?? this.o.now());
        } catch (err) {
          this.o.log.error({ err }, 'sweep failed');
        }
      } while (this.again);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  /**
   * Only garbage that is due, also right at startup: other nodes may be mid-merge into a staging
   * prefix or still reading a retired tree, and only the due time says they are done.
   */
  async sweep(now: number): Promise<{ expired: string[]; collected: string[] }> {
    const expired = await this.o.catalog.expireUploads(now, (id) => ({ prefix: uploadPrefix(id), dueAt: now }));
    // Merge leases and quota reservations that ran out (their process died without ending them).
    await this.o.catalog.releaseLeases(now);
    if (expired.length) this.o.log.info({ expired: expired.length }, 'expired upload tasks');
    const collected: string[] = [];
    for (;;) {
      const due = await this.o.catalog.dueGarbage(now, 100);
      for (const g of due) {
        // A prefix ends in '/'; anything else is one blob (a file replaced by upload_file_content).
        if (g.prefix.endsWith('/')) await this.o.blobs.deletePrefix(g.prefix);
        else await this.o.blobs.delete(g.prefix);
        await this.o.catalog.removeGarbage(g.prefix);
        collected.push(g.prefix);
      }
      if (due.length < 100) break;
    }
    return { expired, collected };
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
