import type { FastifyInstance } from 'fastify';
import { declaration, ok } from '../envelope.ts';
import type { SourceMapService } from '../../sourcemaps/sourcemap-service.ts';

/** The limits a client checks before sending anything (the web console does). */
export interface PublicLimits {
  maxPartBytes: number;
  maxParts: number;
  archiveMaxBytes: number;
  archiveMaxEntries: number;
  maxStackBytes: number;
  maxFrames: number;
  quotaUploadBytes: number;
  quotaStoredBytes: number;
}

/** The key's workspace and its apps (API.md §9), mapvault's additions for the web console. */
export async function appRoutes(app: FastifyInstance, deps: { sourcemaps: SourceMapService; limits: PublicLimits }) {
  const { sourcemaps, limits } = deps;

  app.get('/whoami', async (req, reply) => {
    const usage = await sourcemaps.usage(req.workspace);
    return ok(req, reply, { workspace: req.workspace, declaration: declaration(req.workspace), usage, limits });
  });

  app.get('/apps', async (req, reply) => {
    const apps = await sourcemaps.listApps(req.workspace);
    // Times in unix seconds, like `list`'s createAt.
    return ok(
      req,
      reply,
      apps.map((a) => ({
        appId: a.appId,
        sourcemapCount: a.sourcemapCount,
        size: a.size,
        latestCreateAt: Math.floor(a.latestCreatedAt / 1000),
      })),
    );
  });
}
