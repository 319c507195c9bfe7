/**
 * The authentication primitive, injected so that the protocol core stays free of platform crypto.
 *
 * Guarantees: `tagsEqual` compares two tags in time that depends only on their lengths (which are
 * public), never on where they differ, so a forger cannot learn a valid tag byte by byte.
 * Assumes: the injected `Mac` is a PRF-style MAC (HMAC-SHA-256 in production, see
 * `src/platform/node-mac.ts`) that is deterministic, returns exactly `tagBytes` bytes, does not
 * retain or mutate its arguments, and does not throw for keys the `KeyRing` hands out. Keys come
 * from a `KeyRing`; steadfast uses ONE key per UNORDERED pair of nodes, so `keys(a, b)` and
 * `keys(b, a)` return the same key and both directions of a link are authenticated with it. A
 * frame's tag covers its `from` and `to` fields, so a frame cannot be re-addressed or reflected
 * back to its sender as if the peer had sent it, unless the receiver skips checking `to`.
 */

/** A message authentication code: `sign(key, data)` returns a tag of exactly `tagBytes` bytes. */
export interface Mac {
  readonly tagBytes: number;
  sign(key: Uint8Array, data: Uint8Array): Uint8Array;
}

/**
 * The key shared by the sender `from` and the receiver `to`, or `undefined` if the pair has none.
 * Steadfast's key rings are symmetric: `keys(a, b)` equals `keys(b, a)` (one key per unordered
 * pair). A key ring must be pure: same answer for the same pair every time, no throwing.
 */
export type KeyRing = (from: string, to: string) => Uint8Array | undefined;

/**
 * Constant-time tag comparison: true iff `a` and `b` have the same length and the same bytes. The
 * running time depends on the lengths only, never on the contents.
 */
export function tagsEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}
