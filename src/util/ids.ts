import { randomBytes, randomUUID } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `length` chars of [A-Za-z0-9], uniformly random (rejection sampling avoids modulo bias). */
export function randomAlphanumeric(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += ALPHABET[byte % 62];
    }
  }
  return out;
}

/** 32 base62 chars ≈ 190 bits: unguessable, and within Guance's `[A-Za-z0-9]{≤64}` shape. */
export const newUploadId = (): string => randomAlphanumeric(32);
export const newRevisionId = (): string => randomAlphanumeric(24);
export const newTraceId = (): string => `TRACE-${randomUUID().toUpperCase()}`;
export const isUploadIdShape = (id: string): boolean => /^[A-Za-z0-9]{1,64}$/.test(id);
