import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Local scratch space for work in progress (a part being received, a merged zip being
 * verified). Wiped at startup: anything here belongs to a request that died with the process.
 */
export class ScratchDir {
  private constructor(readonly dir: string) {}

  static async open(dir: string): Promise<ScratchDir> {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    return new ScratchDir(dir);
  }

  newPath(suffix = ''): string {
    return join(this.dir, randomBytes(12).toString('hex') + suffix);
  }

  async remove(path: string): Promise<void> {
    await rm(path, { force: true });
  }
}
