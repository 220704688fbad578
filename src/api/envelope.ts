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

/** Guance returns a workspace description with every upload answer; ours names the workspace. */
export function declaration(workspace: string): Record<string, unknown> {
  return { organization: workspace };
}
