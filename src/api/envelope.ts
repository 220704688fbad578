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

/**
 * Like `ok`, for answers that embed JSON text the database already built: each `raw[name]` is
 * spliced in verbatim where `content[name]` would be, instead of being parsed and re-serialized.
 */
export function okWithRawJson(req: FastifyRequest, reply: FastifyReply, content: Record<string, unknown>, raw: Record<string, string>): FastifyReply {
  const marker = (name: string) => `\u0000raw:${name}`;
  let text = JSON.stringify(envelope(req, 200, { ...content, ...Object.fromEntries(Object.keys(raw).map((k) => [k, marker(k)])) }));
  for (const [name, json] of Object.entries(raw)) {
    // JSON.stringify writes the marker's NUL as \u0000, which no other string in the answer can contain unescaped.
    text = text.replace(JSON.stringify(marker(name)), () => json);
  }
  return reply.code(200).type('application/json; charset=utf-8').send(text);
}

/** Guance returns a workspace description with every upload answer; ours names the workspace. */
export function declaration(workspace: string): Record<string, unknown> {
  return { organization: workspace };
}
