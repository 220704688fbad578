/**
 * Checks of internal invariants, where the code relies on a value being there (an index kept in
 * range by a loop, a regex group that always takes part in a match, a row a query always returns).
 * A failure is a bug in mapvault, never a property of the input: it is reported as an internal
 * error (500 Server.Internal), not as a bad request. In hot loops the check costs nothing once
 * the JIT has seen the value is always there.
 */
export class InternalError extends Error {
  constructor(message: string) {
    super(`internal error: ${message}`);
    this.name = 'InternalError';
  }
}

/** `value`, which the caller knows is neither undefined nor null; `what` names it in the error. */
export function defined<T>(value: T, what: string): NonNullable<T> {
  if (value === undefined || value === null) throw new InternalError(`${what} is missing`);
  return value;
}

/** `list[i]`, which the caller keeps in range (and whose elements are never undefined). */
export function at<T>(list: ArrayLike<T>, i: number): T {
  const value = list[i];
  if (value === undefined) throw new InternalError(`index ${i} is out of range (length ${list.length})`);
  return value;
}
