// Lint fixture (test/lint.test.ts): draws random bytes from the global crypto instead of the
// injected Rng, which protocol code must not do.
export function randomNonce(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(16));
}
