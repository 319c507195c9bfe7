/**
 * A faster host implementation of the frame checksum: CRC-32C through `@node-rs/crc32` (a native
 * addon; on x86-64 it uses the SSE 4.2 `crc32` instruction), injected into frames as
 * `FrameOptions.crc32c`. Every frame is checksummed twice (sender and receiver); the portable
 * JavaScript version (`src/core/crc32c.ts`, slicing-by-8) costs about 2 µs per 1 KiB frame in node
 * 20 on this project's machines, the addon about 0.6 µs, most of it the call itself — so ranges
 * under `NATIVE_MIN_BYTES` (acks, small frames) stay in JavaScript.
 *
 * Guarantees: `nativeCrc32c()` returns a function equal to `crc32c` of `src/core/crc32c.ts` on
 * every input (property-tested), or `undefined` when the addon cannot be loaded on this platform
 * (it is an optional prebuilt binary), in which case callers keep the JavaScript version. It never
 * throws.
 * Assumes: the range arguments are valid (frame.ts computes them; the JavaScript version checks).
 */

import { createRequire } from 'node:module';
import { crc32c } from '../core/crc32c.ts';
import type { Crc32c } from '../core/frame.ts';

/** Below this many bytes the JavaScript version is faster than a call into the addon. */
export const NATIVE_MIN_BYTES = 256;

let memo: { readonly fn: Crc32c | undefined } | undefined;

/** The addon's CRC-32C (loaded once per process), or undefined if it does not load here. */
export function nativeCrc32c(): Crc32c | undefined {
  memo ??= { fn: loadNativeCrc32c(() => createRequire(import.meta.url)('@node-rs/crc32')) };
  return memo.fn;
}

/** Wraps the `crc32c` export of the module `load` returns; undefined if it throws or has none. */
export function loadNativeCrc32c(load: () => unknown): Crc32c | undefined {
  let fn: ((input: Uint8Array) => number) | undefined;
  try {
    const mod = load() as { crc32c?: unknown } | undefined;
    const f = mod?.crc32c;
    if (typeof f === 'function') fn = f as (input: Uint8Array) => number;
  } catch {
    return undefined;
  }
  if (fn === undefined) return undefined;
  const native = fn;
  return (bytes, start, end) =>
    end - start < NATIVE_MIN_BYTES
      ? crc32c(bytes, start, end)
      : native(bytes.subarray(start, end)) >>> 0;
}
