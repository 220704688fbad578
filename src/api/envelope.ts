import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Guance's response envelope, used for every JSON answer, success or failure. */
export interface Envelope {
  code: number;
  content: unknown;
  errorCode: string;
  message: string;
  success: boolean;
  traceId: string;
}

export function envelope(req: FastifyRequest, code: number, content: unknown, errorCode = '', message = ''): Envelope {
  return { code, content, errorCode, message, success: code < 400, traceId: req.id };
}

export function ok(req: FastifyRequest, reply: FastifyReply, content: unknown): FastifyReply {
  return reply.code(200).send(envelope(req, 200, content));
}

/** UTF-8 JSON the database already built, placed into an answer verbatim instead of parsed and re-serialized. */
export class RawJson {
  constructor(readonly bytes: Buffer) {}
}

/**
 * Like `ok`, for content that is, or has top-level fields that are, RawJson. The raw bytes are
 * streamed between the envelope's pieces as they are: a 10 000-row answer is neither parsed,
 * re-serialized nor copied into one buffer (see docs/BENCHMARKS.md, target 5).
 */
export function okRaw(req: FastifyRequest, reply: FastifyReply, content: RawJson | Record<string, unknown>): FastifyReply {
  const chunks: Array<string | Buffer> = [];
  if (content instanceof RawJson) {
    chunks.push(content.bytes);
  } else {
    let separator = '{';
    for (const [key, value] of Object.entries(content)) {
      if (value === undefined) continue;
      chunks.push(`${separator}${JSON.stringify(key)}:`, value instanceof RawJson ? value.bytes : JSON.stringify(value));
      separator = ',';
    }
    chunks.push(separator === '{' ? '{}' : '}');
  }
  const { code, content: _, ...rest } = envelope(req, 200, null);
  const parts = [`{"code":${code},"content":`, ...chunks, `,${JSON.stringify(rest).slice(1)}`].map((c) =>
    typeof c === 'string' ? Buffer.from(c) : c,
  );
  const length = parts.reduce((n, b) => n + b.length, 0);
  return reply
    .code(200)
    .type('application/json; charset=utf-8')
    .header('content-length', String(length))
    .send(Readable.from(parts, { objectMode: false }));
}

/** Guance returns a workspace description with every upload answer; ours names the workspace. */
export function declaration(workspace: string): Record<string, unknown> {
  return { organization: workspace };
}
