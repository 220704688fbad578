import type { FastifyInstance } from 'fastify';
import { ok } from '../envelope.ts';
import { isApiError } from '../../errors.ts';
import { identityProperties, toIdentity, type IdentityInput } from '../schemas.ts';
import type { SourceMapService } from '../../sourcemaps/sourcemap-service.ts';
import { checkStackLimits, type FrameInput, type StackResolver } from '../../symbolicate/index.ts';
import type { JavaResolver } from '../../symbolicate/java/java-resolver.ts';
import { looksLikeJavaStack } from '../../symbolicate/java/stack.ts';
import { ApiError } from '../../errors.ts';
import { metrics } from '../../metrics/metrics.ts';

/** Stack resolution against the stored tree (API.md §8). */
export async function parseStackRoutes(app: FastifyInstance, deps: { sourcemaps: SourceMapService; resolver: StackResolver; java: JavaResolver }) {
  const { java } = deps;
  app.post<{ Body: IdentityInput & { stack?: string; frames?: FrameInput[]; platform?: 'web' | 'android' } }>('/parse_stack', {
    schema: {
      body: {
        type: 'object', required: ['appId'],
        properties: {
          ...identityProperties,
          stack: { type: 'string' },
          platform: { type: 'string', enum: ['web', 'android'] },
          frames: {
            type: 'array',
            items: {
              type: 'object', required: ['url', 'line', 'column'],
              properties: {
                url: { type: 'string', minLength: 1 }, line: { type: 'integer', minimum: 1 },
                column: { type: 'integer', minimum: 0 }, functionName: { type: ['string', 'null'] },
              },
            },
          },
        },
      },
    },
  }, async (req, reply) => {
    const input = { stack: req.body.stack, frames: req.body.frames };
    // Size and shape first: a 10 MB stack is refused before any map is touched.
    checkStackLimits(input, deps.resolver.limits);
    // Android: Java/Kotlin stacks are retraced with the stored ProGuard/R8 mapping (symbolicate/java).
    const { platform } = req.body;
    if (platform === 'android' || (platform === undefined && input.stack !== undefined && looksLikeJavaStack(input.stack))) {
      if (input.stack === undefined) throw new ApiError('Param.Invalid', 'platform "android" takes a "stack" (frames[] are JavaScript frames)');
      const tree = await deps.sourcemaps.tree(toIdentity(req.workspace, req.body));
      return ok(req, reply, await java.resolve(tree, input.stack, deps.resolver.limits.maxFrames));
    }
    // No stored sourcemap is not an error: every frame comes back unresolved with reason NoSourceMap.
    const tree = await deps.sourcemaps.tree(toIdentity(req.workspace, req.body));
    try {
      const result = await deps.resolver.resolve(tree, input);
      metrics.framesResolved(result.frames);
      return ok(req, reply, result);
    } catch (e) {
      // Cold-load budget exhausted (503): tell the client when to come back.
      if (isApiError(e) && e.errorCode === 'Server.Busy') reply.header('retry-after', String(deps.resolver.admission.retryAfterSeconds));
      throw e;
    }
  });
}
