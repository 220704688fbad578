/**
 * Input limits for one resolve request. Over the byte limit → ApiError 'Stack.TooLarge' (HTTP 413);
 * over the frame limit → not an error: the first `maxFrames` frames are resolved, later lines
 * pass through unchanged and the result carries `truncated: true`.
 */
import { ApiError } from '../errors.ts';
import type { ResolveInput } from './types.ts';

export interface StackLimits {
  /** Max UTF-8 bytes of `stack` (or of the rendered `frames`). */
  maxStackBytes: number;
  /** Max frames resolved per request. */
  maxFrames: number;
}

export const DEFAULT_STACK_LIMITS: Readonly<StackLimits> = { maxStackBytes: 1024 * 1024, maxFrames: 1000 };

function invalid(msg: string): never {
  throw new ApiError('Param.Invalid', msg);
}

/**
 * Validates the shape of a resolve input (ApiError 'Param.Invalid', naming the field) and its size
 * (ApiError 'Stack.TooLarge'). Call it before doing any work for the request; resolve() calls it too.
 */
export function checkStackLimits(input: unknown, limits: StackLimits = DEFAULT_STACK_LIMITS): asserts input is ResolveInput {
  if (!input || typeof input !== 'object') invalid('body must be an object with "stack" or "frames"');
  const { stack, frames } = input as Record<string, unknown>;
  if ((stack === undefined) === (frames === undefined)) invalid('give exactly one of "stack" and "frames"');
  let bytes = 0;
  if (stack !== undefined) {
    if (typeof stack !== 'string') invalid('"stack" must be a string');
    bytes = Buffer.byteLength(stack);
  } else {
    if (!Array.isArray(frames)) invalid('"frames" must be an array');
    frames.forEach((f: unknown, i) => {
      const fr = f as Record<string, unknown> | null;
      if (!fr || typeof fr !== 'object') invalid(`frames[${i}] must be an object`);
      if (typeof fr.url !== 'string' || fr.url === '') invalid(`frames[${i}].url must be a non-empty string`);
      if (!Number.isSafeInteger(fr.line) || (fr.line as number) < 1) invalid(`frames[${i}].line must be an integer >= 1`);
      if (!Number.isSafeInteger(fr.column) || (fr.column as number) < 0) invalid(`frames[${i}].column must be an integer >= 0`);
      if (fr.functionName !== undefined && fr.functionName !== null && typeof fr.functionName !== 'string') {
        invalid(`frames[${i}].functionName must be a string`);
      }
      // Size of the rendered `    at fn (url:line:col)` line.
      bytes += Buffer.byteLength(fr.url) + Buffer.byteLength((fr.functionName as string | undefined) ?? '') + 40;
    });
  }
  if (bytes > limits.maxStackBytes) {
    throw new ApiError('Stack.TooLarge', `stack is ${bytes} bytes; the limit is ${limits.maxStackBytes}`);
  }
}
