/**
 * The seam between function-name recovery (names/, built at merge from the minified script and
 * its map) and the precomputed lookup index (index/, which stores the ranges and answers lookups).
 *
 * One function-like scope of the *generated* (minified) script, with the original name a developer
 * reads in source (`Cart.subtotal`, `new Cart`, `get Cart.total`, `<anonymous>`). Positions are
 * 0-based generated line and column (UTF-16 code units, as in sourcemaps); the end is exclusive.
 * Ranges nest (a closure lies inside its function) and never partially overlap.
 */
export interface FunctionRange {
  startLine: number;
  startColumn: number;
  endLine: number;
  endColumn: number;
  name: string;
  /**
   * The original name is not known: the name stands on a minified identifier the map does not
   * name (the generated text stood in: `o` of `function o`, `i` of `i.add`). The resolver then
   * prefers the name at the caller's call site (docs/API.md "originalFunction").
   */
  provisional?: true;
}
