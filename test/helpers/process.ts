import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { KEY_A, KEY_B } from './server.ts';
import { API_PREFIX } from '../../src/server.ts';

const BIN = new URL('../../bin/mapvault', import.meta.url).pathname;

export interface ServerProcess {
  proc: ChildProcess;
  url: string;
  api: string;
  /** kill -9: no shutdown hooks, no flushing. */
  kill9(): Promise<void>;
}

/** Starts the real `mapvault serve` as a child process on a random port over `dataDir`. */
export async function spawnServer(dataDir: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const proc = spawn(process.execPath, [BIN, 'serve'], {
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      MAPVAULT_DATA_DIR: dataDir,
      MAPVAULT_API_KEYS: `${KEY_A}=workspace-a,${KEY_B}=workspace-b`,
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk;
      const m = /mapvault listening on (http:\/\/[^\s"]+)/.exec(output);
      if (m) {
        proc.stderr!.off('data', onData);
        resolve(m[1]!);
      }
    };
    proc.stderr!.on('data', onData);
    proc.stdout!.on('data', (c: Buffer) => (output += c));
    proc.once('exit', (code) => reject(new Error(`server exited with ${code} before listening:\n${output}`)));
  });
  proc.stdout!.resume();
  proc.stderr!.resume();
  return {
    proc,
    url,
    api: url + API_PREFIX,
    async kill9() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      proc.kill('SIGKILL');
      await exited;
    },
  };
}
