import type { FastifyInstance } from 'fastify';
import { ok } from '../envelope.ts';
import { identityProperties, toIdentity, type IdentityInput } from '../schemas.ts';
import type { SourceMapService } from '../../sourcemaps/sourcemap-service.ts';
import { checkStackLimits, type FrameInput, type StackResolver } from '../../symbolicate/index.ts';
import { metrics } from '../../metrics/metrics.ts';

/** Stack resolution against the stored tree (API.md §8). */
export async function parseStackRoutes(app: FastifyInstance, deps: { sourcemaps: SourceMapService; resolver: StackResolver }) {
  app.post<{ Body: IdentityInput & { stack?: string; frames?: FrameInput[] } }>('/parse_stack', {
    schema: {
      body: {
        type: 'object', required: ['appId'],
        properties: {
          ...identityProperties,
          stack: { type: 'string' },
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
    // No stored sourcemap is not an error: every frame comes back unresolved with reason NoSourceMap.
    const tree = await deps.sourcemaps.tree(toIdentity(req.workspace, req.body));
    const result = await deps.resolver.resolve(tree, input);
    metrics.framesResolved(result.frames);
    return ok(req, reply, result);
  });
}
