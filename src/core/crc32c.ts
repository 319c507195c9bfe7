/**
 * CRC32C (Castagnoli): the checksum on every wire frame.
 *
 * Guarantees: `crc32c` is the standard CRC-32C of RFC 3720 (reflected polynomial 0x82F63B78,
 * initial value and final xor 0xFFFFFFFF), returned as an unsigned 32-bit number. Over any
 * codeword shorter than 2^31 bits (so any frame) it detects every error of 1 to 3 flipped bits,
 * every odd number of flipped bits (the generator has an x+1 factor) and every burst of up to 32
 * bits; other errors slip through with probability about 2^-32. It is
 * slicing-by-8 (eight 256-entry tables, 8 KiB built once at module load) and allocates nothing per
 * call.
 * Assumes: nothing about the caller; it is pure and uses no platform API.
 * It is NOT a defence against an adversary: anyone can recompute it. Authenticity is `mac.ts`.
 */

import { SteadfastError } from './errors.ts';

const POLY = 0x82f63b78;

/** `TABLES[k * 256 + b]`: the CRC of byte `b` followed by `k` zero bytes. */
const TABLES: Uint32Array = (() => {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n] ?? 0;
    for (let k = 1; k < 8; k++) {
      c = (t[c & 0xff] ?? 0) ^ (c >>> 8);
      t[k * 256 + n] = c >>> 0;
    }
  }
  return t;
})();

/**
 * CRC32C of `bytes[start, end)` (the whole array by default), as an unsigned 32-bit number.
 * Throws `SteadfastError('bad-argument')` if the range is not `0 <= start <= end <= length`.
 */
export function crc32c(bytes: Uint8Array, start = 0, end: number = bytes.length): number {
  if (
    !Number.isInteger(start) ||
    !Number.isInteger(end) ||
    start < 0 ||
    start > end ||
    end > bytes.length
  ) {
    throw new SteadfastError(
      'bad-argument',
      `crc32c: bad range [${start}, ${end}) of ${bytes.length} bytes`,
    );
  }
  // Every index below is in bounds (i < end <= length, table indices < 2048), so `?? 0` never
  // fires; it only satisfies noUncheckedIndexedAccess without a `!`.
  const t = TABLES;
  let crc = ~0;
  let i = start;
  const end8 = end - ((end - start) & 7);
  while (i < end8) {
    const b0 = bytes[i] ?? 0;
    const b1 = bytes[i + 1] ?? 0;
    const b2 = bytes[i + 2] ?? 0;
    const b3 = bytes[i + 3] ?? 0;
    const lo = crc ^ (b0 | (b1 << 8) | (b2 << 16) | (b3 << 24));
    crc =
      (t[1792 + (lo & 0xff)] ?? 0) ^
      (t[1536 + ((lo >>> 8) & 0xff)] ?? 0) ^
      (t[1280 + ((lo >>> 16) & 0xff)] ?? 0) ^
      (t[1024 + (lo >>> 24)] ?? 0) ^
      (t[768 + (bytes[i + 4] ?? 0)] ?? 0) ^
      (t[512 + (bytes[i + 5] ?? 0)] ?? 0) ^
      (t[256 + (bytes[i + 6] ?? 0)] ?? 0) ^
      (t[bytes[i + 7] ?? 0] ?? 0);
    i += 8;
  }
  while (i < end) {
    crc = (t[(crc ^ (bytes[i] ?? 0)) & 0xff] ?? 0) ^ (crc >>> 8);
    i++;
  }
  return ~crc >>> 0;
}
