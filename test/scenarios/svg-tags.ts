/**
 * Element queries for the scenario tests, on top of the shared tag reader in test/viz: find the
 * drop, the crash, the duplicate, the corruption as elements (classes and data attributes
 * documented in src/viz/svg.ts), not as pixels.
 */

import { tags, type Tag } from '../viz/svg-parse.ts';

export { tags, type Tag };

/** Tags having every one of the given classes and every given attribute value. */
export function find(
  all: readonly Tag[],
  classes: readonly string[],
  attrs: Readonly<Record<string, string>> = {},
): Tag[] {
  return all.filter(
    (t) =>
      classes.every((c) => t.classes.has(c)) &&
      Object.entries(attrs).every(([k, v]) => t.attrs.get(k) === v),
  );
}
