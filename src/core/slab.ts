/**
 * Small byte arrays carved out of shared 64 KiB slabs: what every encoded frame and payload is
 * allocated from.
 *
 * Why: a fresh `Uint8Array(n)` of more than a few dozen bytes is an ArrayBuffer with a backing
 * store of its own: about 2.5 µs to allocate in node 20 (measured: 1,100 bytes), and work for the
 * garbage collector's helper threads to free — more than encoding the message costs. A view into
 * a slab costs a small heap object. Node's `Buffer.allocUnsafe` pools the same way (8 KiB).
 *
 * Guarantees: `allocBytes(n)` returns a zero-filled `Uint8Array` of length n that shares its
 * ArrayBuffer with no other live view's bytes (regions are never handed out twice). Requests over
 * `SLAB_BYTES / 8` get an ArrayBuffer of their own (then `byteOffset` is 0 and it may be
 * transferred). A slab is freed when the last view into it is; a long-lived small view keeps its
 * slab (at most 64 KiB) alive — acceptable for frames and payloads, which live for a round trip.
 * Assumes: callers never transfer or detach `bytes.buffer` of a view with `byteOffset` > 0 or a
 * shorter length than its buffer (async-storage transfers only exclusively-owned buffers).
 */

export const SLAB_BYTES = 64 * 1024;
const SHARED_MAX = SLAB_BYTES / 8;

let slab = new Uint8Array(SLAB_BYTES);
let used = 0;

export function allocBytes(n: number): Uint8Array {
  if (n > SHARED_MAX) return new Uint8Array(n);
  if (used + n > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    used = 0;
  }
  const out = slab.subarray(used, used + n);
  used += (n + 7) & ~7; // 8-byte aligned starts
  return out;
}
