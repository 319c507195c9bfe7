// Lint fixture (test/lint.test.ts): unseeded randomness, which protocol code must not use.
export function jitterMs(maxMs: number): number {
  return Math.floor(Math.random() * maxMs);
}
