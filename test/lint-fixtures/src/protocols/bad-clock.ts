// Lint fixture (test/lint.test.ts): reads the wall clock, which protocol code must not do.
export function stampedNow(): number {
  return Date.now();
}
