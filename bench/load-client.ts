/**
 * Closed-loop load generator, run in its own process so it does not share an event loop with the
 * bench or the server: `concurrency` workers, each with its own keep-alive socket
 * (node:http Agent, not fetch), POST pre-serialized JSON bodies round-robin and read the answers.
 *
 *   node --import tsx bench/load-client.ts '<json options>'
 *   options: { url, headers?, bodiesFile, concurrency, warmupMs, durationMs, framesPerBody, parseEvery? }
 *
 * Prints one JSON line: requests and frames completed inside the measured window (and in all,
 * warm-up included, for CPU per request), frames/s,
 * errors, and a check that sampled answers really resolved every frame.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { percentile } from './lib.ts';

interface Options {
  url: string;
  headers?: Record<string, string>;
  /** JSON file: an array of request bodies (strings). */
  bodiesFile: string;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  framesPerBody: number;
  /** Parse every answer and check its frames, as an SDK-like client would (default: 1 in 50). */
  parseEvery?: boolean;
}

const o = JSON.parse(process.argv[2]!) as Options;
const bodies = (JSON.parse(readFileSync(o.bodiesFile, 'utf8')) as string[]).map((b) => Buffer.from(b));
const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
const url = new URL(o.url);

function post(body: Buffer): Promise<{ status: number; text: Buffer }> {
  return new Promise((res, rej) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent,
        headers: { ...o.headers, 'content-type': 'application/json', 'content-length': body.length },
      },
      (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => res({ status: r.statusCode ?? 0, text: Buffer.concat(chunks) }));
        r.on('error', rej);
      },
    );
    req.on('error', rej);
    req.end(body);
  });
}

const start = performance.now();
const measureFrom = start + o.warmupMs;
const stopAt = measureFrom + o.durationMs;
let requests = 0,
  allRequests = 0,
  errors = 0,
  sampled = 0,
  sampledResolved = 0,
  sampledFrames = 0,
  next = 0;
const latencies: number[] = [];
let firstError = '';

async function worker(w: number): Promise<void> {
  let n = 0;
  for (;;) {
    const t0 = performance.now();
    if (t0 >= stopAt) return;
    const body = bodies[next++ % bodies.length]!;
    try {
      const r = await post(body);
      const t1 = performance.now();
      allRequests++;
      if (r.status !== 200) {
        errors++;
        firstError ||= `HTTP ${r.status}: ${r.text.toString().slice(0, 300)}`;
        continue;
      }
      // Throughput = answers completed inside the window.
      if (t1 >= measureFrom && t1 <= stopAt) {
        requests++;
        latencies.push(t1 - t0);
      }
      // Check a sample of answers, or every one for the SDK-like client shape.
      if (o.parseEvery || (n++ + w) % 50 === 0) {
        const frames = (JSON.parse(r.text.toString()) as { content: { frames: Array<{ resolved: boolean }> } }).content.frames;
        sampled++;
        sampledFrames += frames.length;
        sampledResolved += frames.filter((f) => f.resolved).length;
      }
    } catch (err) {
      errors++;
      firstError ||= String(err);
    }
  }
}

await Promise.all(Array.from({ length: o.concurrency }, (_, w) => worker(w)));
agent.destroy();
const seconds = o.durationMs / 1000;
process.stdout.write(
  JSON.stringify({
    requests,
    allRequests,
    frames: requests * o.framesPerBody,
    framesPerSecond: (requests * o.framesPerBody) / seconds,
    requestsPerSecond: requests / seconds,
    errors,
    firstError,
    sampled,
    sampledFrames,
    sampledResolved,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  }) + '\n',
);
