import type { FastifyReply } from 'fastify';
import { ApiError } from '../errors.ts';

/**
 * Aborts when the connection closes before the answer is sent: the client went away, or the server
 * cut the connection (request or idle timeout). Passed to the identity lock (merge, delete,
 * upload_file_content), so an abandoned request stops waiting instead of taking the lock later and
 * doing the work for nobody while live requests queue behind it.
 */
export function clientGoneSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  const res = reply.raw;
  res.once('close', () => {
    if (res.writableFinished) return;
    // Nobody reads this answer; the code says why the work was not done (the identity was busy).
    controller.abort(
      new ApiError(
        'Merge.InProgress',
        'the client went away while waiting for another merge, delete or file write of this sourcemap; nothing was done',
      ),
    );
  });
  return controller.signal;
}
