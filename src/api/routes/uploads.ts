import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Multipart } from '@fastify/multipart';
import { declaration, ok } from '../envelope.ts';
import { identityProperties, toIdentity, uploadIdBody, uploadIdSchema } from '../schemas.ts';
import { ApiError } from '../../errors.ts';
import type { UploadService } from '../../uploads/upload-service.ts';
import type { ScratchDir } from '../../storage/scratch.ts';
import { SizeLimitExceededError, writeStreamToFile, type WrittenFile } from '../../storage/write-file.ts';
import { isUploadIdShape } from '../../util/ids.ts';
import { metrics } from '../../metrics/metrics.ts';
import { fileDigester, type DigestFollower } from '../../util/file-digests.ts';
import { clientGoneSignal } from '../client-gone.ts';

interface Deps {
  uploads: UploadService;
  scratch: ScratchDir;
  maxPartBytes: number;
  maxParts: number;
}

/** The sharded upload protocol (API.md §1–§5), one handler per verb. */
export async function uploadRoutes(app: FastifyInstance, deps: Deps): Promise<void> {
  const { uploads } = deps;

  app.post<{ Body: { appId: string; version?: string; env?: string; needCover?: boolean } }>(
    '/multipart_upload_init',
    {
      schema: {
        body: { type: 'object', required: ['appId'], properties: { ...identityProperties, needCover: { type: 'boolean' } } },
      },
    },
    async (req, reply) => {
      const result = await uploads.init(toIdentity(req.workspace, req.body), req.body.needCover ?? false);
      return ok(req, reply, { ...result, declaration: declaration(req.workspace) });
    },
  );

  app.post('/upload_part', async (req, reply) => {
    const received = await receivePart(req, deps);
    const part = await uploads.acceptPart(req.workspace, received);
    return ok(req, reply, {
      chunkIndex: String(part.chunkIndex),
      declaration: declaration(req.workspace),
      uploadId: received.uploadId,
      size: part.size,
      md5: part.md5,
      sha256: part.sha256,
    });
  });

  const partList = async (req: FastifyRequest, reply: FastifyReply, uploadId: string) => {
    const { task, parts } = await uploads.listParts(req.workspace, uploadId);
    const { appId, version, env, needCover, expiresAt } = task;
    return ok(req, reply, {
      chunkIndexs: parts.map((p) => p.chunkIndex),
      declaration: declaration(req.workspace),
      uploadId,
      parts: parts.map(({ chunkIndex, size, md5, sha256, uploadedAt }) => ({ chunkIndex, size, md5, sha256, uploadedAt })),
      appId,
      version,
      env,
      needCover,
      expiresAt,
    });
  };
  app.post<{ Body: { uploadId: string } }>('/part_list', { schema: { body: uploadIdBody } }, async (req, reply) =>
    partList(req, reply, req.body.uploadId),
  );
  app.get<{ Querystring: { uploadId: string } }>('/part_list', { schema: { querystring: uploadIdBody } }, async (req, reply) =>
    partList(req, reply, req.query.uploadId),
  );

  // The public clients probe these three paths in this order.
  for (const path of ['/upload_cancel', '/multipart_upload_cancel', '/cancel_upload']) {
    app.post<{ Body: { uploadId: string } }>(path, { schema: { body: uploadIdBody } }, async (req, reply) => {
      await uploads.cancel(req.workspace, req.body.uploadId);
      return ok(req, reply, true);
    });
  }

  // `part_meage` is Guance's historical misspelling; the others are what clients probe next.
  for (const path of ['/part_merge', '/part_meage', '/merge_file', '/merge_parts']) {
    app.post<{ Body: { uploadId: string; chunkIndexs?: number[] } }>(
      path,
      {
        schema: {
          body: {
            type: 'object',
            required: ['uploadId'],
            properties: {
              uploadId: uploadIdSchema,
              chunkIndexs: { type: 'array', maxItems: deps.maxParts, items: { type: 'integer', minimum: 0, maximum: deps.maxParts - 1 } },
            },
          },
        },
      },
      async (req, reply) =>
        ok(
          req,
          reply,
          await metrics.timeMerge(() => uploads.merge(req.workspace, req.body.uploadId, req.body.chunkIndexs, clientGoneSignal(reply))),
        ),
    );
  }
}

/**
 * Reads one multipart part request. Fields may come before or after the file (both are legal
 * multipart), so the file is streamed to scratch first and checked once every field is known.
 */
async function receivePart(req: FastifyRequest, deps: Deps) {
  if (!req.isMultipart()) {
    throw new ApiError(
      'Request.UnsupportedMediaType',
      'upload_part expects multipart/form-data with fields uploadId, chunkIndex and file "files"',
    );
  }
  const fields: Record<string, string> = {};
  let file: { written: WrittenFile; localPath: string } | undefined;
  let digests: DigestFollower | undefined;
  try {
    const parts: AsyncIterableIterator<Multipart> = req.parts({
      // One byte over the limit lets the writer see the overflow and stop the upload early.
      limits: { fileSize: deps.maxPartBytes + 1, files: 1, fields: 10, fieldSize: 1024, parts: 11 },
    });
    for await (const part of parts) {
      if (part.type === 'field') {
        fields[part.fieldname] = String(part.value);
      } else if (part.fieldname !== 'files') {
        part.file.resume();
        throw new ApiError('Param.Invalid', `files: unexpected file field "${part.fieldname}"; send the part as file field "files"`, {
          field: 'files',
        });
      } else {
        const localPath = deps.scratch.newPath('.part');
        // Only moved and counted here; a worker hashes the file as its bytes reach the disk (off this thread).
        const follower = (digests = fileDigester.follow(localPath, ['md5', 'sha256']));
        const written = await writeStreamToFile(part.file, localPath, {
          maxBytes: deps.maxPartBytes,
          md5: false,
          sha256: false,
          onWritten: (n) => follower.written(n),
        });
        file = { written, localPath };
      }
    }
    const uploadId = fields.uploadId ?? '';
    if (!isUploadIdShape(uploadId)) throw invalid('uploadId', 'must be 1-64 characters [A-Za-z0-9]');
    const index = fields.chunkIndex ?? '';
    if (!/^\d{1,9}$/.test(index)) throw invalid('chunkIndex', 'must be a non-negative integer written in decimal');
    const chunkIndex = Number(index);
    const md5 = fields.md5,
      sha256 = fields.sha256;
    if (md5 !== undefined && !/^[0-9a-fA-F]{32}$/.test(md5)) throw invalid('md5', 'must be 32 hex digits');
    if (sha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(sha256)) throw invalid('sha256', 'must be 64 hex digits');
    if (!file || !digests) throw invalid('files', 'the part file is missing');
    const { md5: partMd5, sha256: partSha256 } = await digests.finish(file.written.size);
    file.written = { ...file.written, md5: partMd5, sha256: partSha256 };
    return { uploadId, chunkIndex, file: file.written, localPath: file.localPath, md5, sha256 };
  } catch (err) {
    digests?.cancel();
    if (file) await deps.scratch.remove(file.localPath);
    throw malformedMultipart(err);
  }
}

/**
 * The multipart parser (busboy) reports a body it cannot read (no boundary, cut short, garbage)
 * with plain Errors; those are the client's fault. Our own errors, the framework's coded ones
 * (limits) and system errors (a full disk) keep their meaning.
 */
function malformedMultipart(err: unknown): unknown {
  const e = err as Error & { code?: string; syscall?: string };
  if (!(e instanceof Error) || e instanceof ApiError || e instanceof SizeLimitExceededError || e.syscall !== undefined) return err;
  if (e.code !== undefined && e.code !== 'FST_INVALID_MULTIPART_CONTENT_TYPE' && e.code !== 'ERR_STREAM_PREMATURE_CLOSE') return err;
  return new ApiError(
    'Param.Invalid',
    `malformed multipart/form-data body: ${e.message}; send fields uploadId, chunkIndex and file "files" with a boundary`,
  );
}

function invalid(field: string, what: string): ApiError {
  return new ApiError('Param.Invalid', `body.${field}: ${what}`, { field: `body.${field}` });
}
