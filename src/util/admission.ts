/**
 * At most `max` tasks at once; the others wait in line, each for at most `maxWaitMs`, then are
 * turned away with the error `busy()` builds. Bounds the disk and memory that heavy work (merges)
 * can take at the same time, while a short burst still goes through.
 */
export class Admission {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly max: number,
    private readonly maxWaitMs: number,
    private readonly busy: () => Error,
  ) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) await this.wait();
    else this.running++;
    try {
      return await work();
    } finally {
      // Hand the slot straight to the next in line, or free it.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  private wait(): Promise<void> {
    return new Promise((resolve, reject) => {
      const admit = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(admit), 1);
        reject(this.busy());
      }, this.maxWaitMs);
      this.waiting.push(admit);
    });
  }
}
