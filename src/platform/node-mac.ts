/**
 * Node's implementation of the injected authentication primitive (`src/core/mac.ts`).
 *
 * Guarantees: `hmacSha256` is HMAC-SHA-256 (RFC 2104 / FIPS 198-1) with a 32-byte tag.
 * `pairKeyRing(secret)` derives one key per unordered pair of node ids {a, b}: with (lo, hi) the
 * two ids sorted by UTF-16 code unit order, key = HMAC-SHA-256(secret, "steadfast-pair:" + lo +
 * "\0" + hi) (UTF-8). So `keys(a, b)` equals `keys(b, a)`, and distinct pairs get independent keys.
 * Assumes: `secret` is a high-entropy cluster secret (at least 32 random bytes) known to every
 * node; node ids contain no NUL character (else two different pairs could share a key). A node
 * that knows the cluster secret can derive every pair's key, so this protects against outsiders
 * and corruption, not against a member node that turns malicious.
 */

import { createHmac } from 'node:crypto';
import { SteadfastError } from '../core/errors.ts';
import type { KeyRing, Mac } from '../core/mac.ts';

/** HMAC-SHA-256 with a 32-byte tag. */
export const hmacSha256: Mac = {
  tagBytes: 32,
  sign(key: Uint8Array, data: Uint8Array): Uint8Array {
    const digest = createHmac('sha256', key).update(data).digest();
    return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
  },
};

/**
 * A key ring that derives the key of the unordered pair {from, to} from one cluster secret, and
 * caches it. The ring is pure: it copies `secret`, and the same pair always yields the same key.
 */
export function pairKeyRing(secret: Uint8Array): KeyRing {
  if (!(secret instanceof Uint8Array) || secret.length === 0) {
    throw new SteadfastError('bad-argument', 'pairKeyRing: secret must be a non-empty Uint8Array');
  }
  const master = Uint8Array.from(secret);
  const cache = new Map<string, Uint8Array>();
  return (from: string, to: string): Uint8Array | undefined => {
    const [lo, hi] = from < to ? [from, to] : [to, from];
    const label = `steadfast-pair:${lo}\0${hi}`;
    let key = cache.get(label);
    if (key === undefined) {
      key = hmacSha256.sign(master, new TextEncoder().encode(label));
      cache.set(label, key);
    }
    return key;
  };
}
