/**
 * Least-recently-used map bounded by the total `cost` (bytes) of its values. A value costing more
 * than the whole budget is not kept. Map iteration order is the LRU order, oldest first.
 */
export class ByteLru<V> {
  private readonly entries = new Map<string, { value: V; cost: number }>();
  private total = 0;

  constructor(readonly maxBytes: number) {}

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.total;
  }

  get(key: string): V | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    this.entries.delete(key); // move to the young end
    this.entries.set(key, hit);
    return hit.value;
  }

  set(key: string, value: V, cost: number): void {
    this.delete(key);
    if (cost > this.maxBytes) return;
    this.entries.set(key, { value, cost });
    this.total += cost;
    for (const [k, e] of this.entries) {
      if (this.total <= this.maxBytes) break;
      this.entries.delete(k);
      this.total -= e.cost;
    }
  }

  delete(key: string): boolean {
    const old = this.entries.get(key);
    if (!old) return false;
    this.entries.delete(key);
    this.total -= old.cost;
    return true;
  }

  deleteWhere(match: (key: string) => boolean): void {
    for (const key of [...this.entries.keys()]) if (match(key)) this.delete(key);
  }

  clear(): void {
    this.entries.clear();
    this.total = 0;
  }
}
