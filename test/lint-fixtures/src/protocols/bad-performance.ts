// Lint fixture (test/lint.test.ts): reads the monotonic clock, which protocol code must not do.
export function monotonicNow(): number {
  return performance.now();
}
