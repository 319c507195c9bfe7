/**
 * Time as the protocol core sees it.
 *
 * Guarantees: an `Instant` is a point on one node's monotonic clock, in milliseconds. It is a
 * branded number so that a duration (a plain `number` ending in `Ms`) cannot be passed where a
 * point in time is expected by accident.
 * Assumes: the driver supplies `now` on every input; the core never reads a clock. In the
 * simulator the clock is virtual (starts at 0); in the runtime it is the host's monotonic clock.
 */

declare const instantBrand: unique symbol;

/** A point in time in milliseconds on the driver's monotonic clock. */
export type Instant = number & { readonly [instantBrand]: true };

/** Makes an `Instant` from a count of milliseconds. */
export function instant(ms: number): Instant {
  return ms as Instant;
}

/** `t + durationMs`. */
export function addMs(t: Instant, durationMs: number): Instant {
  return (t + durationMs) as Instant;
}

/** `later - earlier` in milliseconds. */
export function elapsedMs(earlier: Instant, later: Instant): number {
  return later - earlier;
}
