import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** `<host>~<pid>~<random>`: the scratch dir of one server process. */
const NODE_DIR = /^(.+)~(\d+)~[0-9a-f]+$/;

/**
 * Local scratch space for work in progress (a part being received, a merged zip being
 * verified). Each server process works in a directory of its own under `dir`, named after its
 * host and pid. At startup a process removes only what belongs to processes that are gone: the
 * directories of dead pids on this host, and loose files of releases before per-process dirs.
 * Another live process on the same data dir (a second node) keeps its files.
 */
export class ScratchDir {
  private constructor(readonly dir: string) {}

  static async open(dir: string): Promise<ScratchDir> {
    await mkdir(dir, { recursive: true });
    const host = hostname();
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const node = NODE_DIR.exec(entry.name);
      const dead = node ? node[1] === host && !isAlive(Number(node[2])) : true;
      if (dead) await rm(join(dir, entry.name), { recursive: true, force: true });
    }
    const own = join(dir, `${host}~${process.pid}~${randomBytes(4).toString('hex')}`);
    await mkdir(own);
    return new ScratchDir(own);
  }

  newPath(suffix = ''): string {
    return join(this.dir, randomBytes(12).toString('hex') + suffix);
  }

  async remove(path: string): Promise<void> {
    await rm(path, { force: true });
  }

  /** Removes this process's directory (at shutdown). */
  async close(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
