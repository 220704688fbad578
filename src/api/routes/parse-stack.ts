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
import { normalizeDebugId } from '../../symbolicate/debug-id.ts';
import { defined } from '../../util/invariant.ts';

/** Script URLs with debug IDs per request (a page loads at most a few hundred scripts). */
const MAX_DEBUG_IDS = 1000;
const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

interface DebugMeta {
  images?: Array<{ type?: string; code_file?: string; debug_id?: string }>;
}

/**
 * The request's script URL → debug ID pairs, from Datadog's shape (`debugIds`) and Sentry's
 * (`debug_meta.images` of type `sourcemap`); normalized to lower case.
 */
function requestDebugIds(debugIds: Record<string, string> | undefined, meta: DebugMeta | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [url, id] of Object.entries(debugIds ?? {}))
    out[url] = defined(normalizeDebugId(id), 'a debug ID of the shape the schema checked');
  (meta?.images ?? []).forEach((image, i) => {
    if (image.type !== 'sourcemap') return; // native images and the like: not ours
    const id = normalizeDebugId(image.debug_id);
    if (!image.code_file || !id) {
      throw new ApiError(
        'Param.Invalid',
        `debug_meta.images[${i}]: a "sourcemap" image needs "code_file" (the script URL) and "debug_id" (a UUID)`,
      );
    }
    out[image.code_file] = id;
  });
  return out;
}

/** Stack resolution against the stored tree (API.md §8). */
export async function parseStackRoutes(
  app: FastifyInstance,
  deps: { sourcemaps: SourceMapService; resolver: StackResolver; java: JavaResolver },
) {
  const { java } = deps;
  app.post<{
    Body: IdentityInput & {
      stack?: string;
      frames?: FrameInput[];
      platform?: 'web' | 'android';
      debugIds?: Record<string, string>;
      debug_meta?: DebugMeta;
    };
  }>(
    '/parse_stack',
    {
      schema: {
        body: {
          type: 'object',
          required: ['appId'],
          properties: {
            ...identityProperties,
            stack: { type: 'string' },
            platform: { type: 'string', enum: ['web', 'android'] },
            // Datadog's `_dd.debug_ids` entries: script URL → debug ID.
            debugIds: {
              type: 'object',
              maxProperties: MAX_DEBUG_IDS,
              propertyNames: { maxLength: 4096 },
              additionalProperties: { type: 'string', pattern: UUID_PATTERN },
            },
            // Sentry's event field; images of other types are ignored.
            debug_meta: {
              type: 'object',
              properties: {
                images: {
                  type: 'array',
                  maxItems: MAX_DEBUG_IDS,
                  items: {
                    type: 'object',
                    properties: {
                      type: { type: 'string' },
                      code_file: { type: 'string', maxLength: 4096 },
                      debug_id: { type: 'string', maxLength: 64 },
                    },
                  },
                },
              },
            },
            frames: {
              type: 'array',
              items: {
                type: 'object',
                required: ['url', 'line', 'column'],
                properties: {
                  url: { type: 'string', minLength: 1 },
                  line: { type: 'integer', minimum: 1 },
                  column: { type: 'integer', minimum: 0 },
                  functionName: { type: ['string', 'null'] },
                },
              },
            },
          },
        },
      },
    },
    async (req, reply) => {
      const debugIds = requestDebugIds(req.body.debugIds, req.body.debug_meta);
      const input = { stack: req.body.stack, frames: req.body.frames, debugIds };
      // Size and shape first: a 10 MB stack is refused before any map is touched.
      checkStackLimits(input, deps.resolver.limits);
      // Android: Java/Kotlin stacks are retraced with the stored ProGuard/R8 mapping (symbolicate/java).
      const { platform } = req.body;
      if (platform === 'android' || (platform === undefined && input.stack !== undefined && looksLikeJavaStack(input.stack))) {
        if (input.stack === undefined)
          throw new ApiError('Param.Invalid', 'platform "android" takes a "stack" (frames[] are JavaScript frames)');
        const tree = await deps.sourcemaps.tree(toIdentity(req.workspace, req.body));
        const retraced = await java.resolve(tree, input.stack, deps.resolver.limits.maxFrames);
        metrics.javaFrames(retraced.frames);
        return ok(req, reply, retraced);
      }
      // No stored sourcemap is not an error: every frame comes back unresolved with reason NoSourceMap.
      const tree = await deps.sourcemaps.tree(toIdentity(req.workspace, req.body));
      try {
        const result = await deps.resolver.resolve(tree, input, deps.sourcemaps.debugIdFinder(req.workspace));
        metrics.framesResolved(result.frames);
        return ok(req, reply, result);
      } catch (e) {
        // Cold-load budget exhausted (503): tell the client when to come back.
        if (isApiError(e) && e.errorCode === 'Server.Busy') reply.header('retry-after', String(deps.resolver.admission.retryAfterSeconds));
        throw e;
      }
    },
  );
}
