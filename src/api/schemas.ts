import type { Identity } from '../catalog/catalog.ts';

/** JSON schemas shared by routes. The identity rules are API.md's. */

export const appIdSchema = { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.-]+$' } as const;
/** 0–128 chars; no `/`, `\` or NUL; not `.` or `..`. */
export const versionEnvSchema = { type: 'string', maxLength: 128, pattern: String.raw`^(?!\.\.?$)[^/\\\u0000]*$` } as const;
export const uploadIdSchema = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9]+$' } as const;

export const identityProperties = { appId: appIdSchema, version: versionEnvSchema, env: versionEnvSchema } as const;

export const identityBody = {
  type: 'object',
  required: ['appId'],
  properties: identityProperties,
} as const;

export const uploadIdBody = {
  type: 'object',
  required: ['uploadId'],
  properties: { uploadId: uploadIdSchema },
} as const;

export interface IdentityInput {
  appId: string;
  version?: string;
  env?: string;
}

/** A request's sourcemap identity: omitted version and env are the empty string (still part of it). */
export const toIdentity = (workspace: string, i: IdentityInput): Identity => ({
  workspace,
  appId: i.appId,
  version: i.version ?? '',
  env: i.env ?? '',
});
