/** Upload progress: a byte bar with rate and ETA on a terminal, one plain line per part elsewhere (CI logs). */
import cliProgress from 'cli-progress';
import { formatBytes, log } from './common.ts';

export interface Progress {
  /** Bytes handed to the network (negative to take back a failed attempt's bytes). */
  add(bytes: number): void;
  partDone(index: number, bytes: number): void;
  stop(): void;
}

export function createProgress(o: { total: number; done: number; parts: number; partsDone: number; bar: boolean }): Progress {
  const started = Date.now();
  const base = o.done; // skipped (already uploaded) bytes do not count towards the rate
  let sent = o.done,
    partsDone = o.partsDone;
  const rate = () => (sent - base) / Math.max(0.001, (Date.now() - started) / 1000);
  const eta = () => {
    const r = rate();
    return r > 0 ? `${Math.ceil((o.total - sent) / r)}s` : '?';
  };

  if (o.bar) {
    const bar = new cliProgress.SingleBar(
      {
        format: 'uploading [{bar}] {percentage}% | {sentH}/{totalH} | {rateH}/s | ETA {eta_formatted} | parts {partsDone}/{parts}',
        stream: process.stderr,
        hideCursor: true,
        barsize: 30,
        etaBuffer: 50,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
    const payload = () => ({
      sentH: formatBytes(sent),
      totalH: formatBytes(o.total),
      rateH: formatBytes(Math.round(rate())),
      partsDone,
      parts: o.parts,
    });
    bar.start(o.total, sent, payload());
    return {
      add(n) {
        sent += n;
        bar.update(sent, payload());
      },
      partDone() {
        partsDone++;
        bar.update(sent, payload());
      },
      stop: () => bar.stop(),
    };
  }

  return {
    add(n) {
      sent += n;
    },
    partDone(index, bytes) {
      partsDone++;
      const pct = Math.floor((sent / o.total) * 100);
      log(
        `part ${index + 1}/${o.parts} uploaded (${formatBytes(bytes)}) · ${partsDone}/${o.parts} parts, ${formatBytes(sent)} of ${formatBytes(o.total)} (${pct}%) · ${formatBytes(Math.round(rate()))}/s · ETA ${eta()}`,
      );
    },
    stop() {},
  };
}
