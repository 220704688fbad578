/**
 * Stack resolution engine (API.md §8 POST /parse_stack). The HTTP route builds a TreeSource for
 * the stored (appId, version, env) tree and calls StackResolver.resolve; invalidateTree when that
 * sourcemap is replaced or deleted.
 */
export { StackResolver, DEFAULT_WORKER_THRESHOLD_BYTES } from './resolver.ts';
export type { StackResolverOptions } from './resolver.ts';
export { checkStackLimits, DEFAULT_STACK_LIMITS } from './limits.ts';
export type { StackLimits } from './limits.ts';
export { DEFAULT_CACHE_BYTES } from './map-cache.ts';
export { parseFrameLine } from './frames.ts';
export type { ParsedFrame } from './frames.ts';
export { urlPath, conventionalMapPath, findSourceMappingURL, resolveMapRef, suffixMatch } from './locate.ts';
export { InvalidSourceMapError } from './sourcemap.ts';
export type { SourceContext } from './sourcemap.ts';
export type {
  TreeSource,
  FrameInput,
  ResolveInput,
  ResolveResult,
  FrameResult,
  FrameMatch,
  UnresolvedReason,
  DebugIdFinder,
  DebugIdLocation,
} from './types.ts';
