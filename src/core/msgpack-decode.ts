/**
 * A MessagePack decoder for plain data (see payload.ts), written for the hot path: every frame a
 * node receives goes through it. It decodes one value and checks the plain-data rules in the same
 * walk, instead of @msgpack/msgpack's `Decoder` followed by a second walk over the result.
 *
 * Guarantees:
 * - `decode` never throws for any input: bytes that are not exactly one MessagePack value of plain
 *   data are an `{ ok: false, detail }` saying what is wrong and at which byte offset.
 * - For every input it accepts or rejects exactly what payload.ts accepted or rejected before
 *   this decoder existed (@msgpack/msgpack 3.1.3's `Decoder` with every max*Length option set to
 *   `maxLength`, then the plain-data walk), and an accepted value is deep-equal to that one.
 *   Property-tested against it (msgpack-decode.test.ts). In detail:
 *   - formats: nil, booleans, every int/uint/float format (uint 64 and int 64 as the nearest
 *     double, `high * 2 ** 32 + low`, never a bigint), str, bin, arrays and maps; the byte 0xc1,
 *     every extension type (timestamps included), a missing or truncated value and any byte after
 *     the value are rejected; so is a str, bin, ext, array or map length over `maxLength`;
 *   - a bin is a `subarray` view into the input (a `Buffer` input gives `Buffer` views);
 *   - strings decode as the library decodes them, invalid UTF-8 included: up to 200 bytes by its
 *     lenient JS decoder (no validation; overlong forms and encoded surrogates decoded
 *     arithmetically; a stray byte taken as a Latin-1 char; a sequence cut short by the end of
 *     the string reads on into the following bytes, and past the end of the input as 0), over
 *     200 bytes by a default `TextDecoder` (U+FFFD for invalid bytes; one leading BOM stripped);
 *   - map keys are strings or numbers (a number key becomes the property `String(n)`; any other
 *     key type is rejected); a later duplicate key overwrites the earlier value; the key
 *     `__proto__` is rejected; maps decode to ordinary objects, properties in insertion order;
 *   - the plain-data rules of the walk apply to the value that is returned: a string or key that
 *     starts with U+FEFF, an extension value, or an array or map nested deeper than
 *     `PAYLOAD_MAX_DEPTH` is rejected if it is part of the result, and is not if a later
 *     duplicate key overwrote it (the rules judge the decoded value, which does not hold it).
 *     Such a value must still be well-formed MessagePack.
 * - It never recurses deeper than `PAYLOAD_MAX_DEPTH` levels (a deeper value is checked by a loop
 *   with an explicit stack), and never allocates in proportion to a declared length that the
 *   remaining bytes cannot hold.
 * How: a recursive fast pass assumes plain data and builds the result; at the first string or key
 *   with a leading U+FEFF, extension value or over-deep container it gives up (`RETRY`), and an
 *   exact pass decodes again, carrying such values as `Taint`s that a duplicate key can overwrite
 *   (the rare path: only for bad input). ASCII strings up to 16 bytes (keys, mostly) come from a
 *   direct-mapped cache by a hash of their bytes, so a repeated key is not rebuilt; longer ASCII
 *   strings go through `TextDecoder` (the same string as the JS decoder's, faster from ~20
 *   bytes); only non-ASCII strings up to 200 bytes take the lenient JS decoding. No DataView:
 *   floats go through a scratch buffer (the library makes a DataView per decode).
 * Differs from the library (known, on purpose): the library caches map keys of 1..16 bytes by
 *   their bytes alone (`CachedKeyDecoder`, shared, random replacement), so a key whose last UTF-8
 *   sequence is cut short (and so reads on into the next bytes) decodes to whatever an earlier
 *   decode with other following bytes cached: history-dependent. This decoder is deterministic
 *   and gives what the library gives without that cache (`keyDecoder: null`); for every other
 *   key (all valid UTF-8, so all that `encodePayload` writes) the two are the same.
 * Assumes: nothing beyond the ECMAScript globals and the WHATWG `TextDecoder`; the input is not
 * modified during a call. No user code runs during a decode, so a call cannot be re-entered; if
 * it were, the nested call would get a decoder of its own.
 */

import { PAYLOAD_MAX_DEPTH } from './msgpack.ts';

export type PlainDecodeResult =
  { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly detail: string };

/** Unwinds a failed decode (this very object; the decoder holds what and where). */
const FAILED: Error = new Error('msgpack-decode: failed');
/** Unwinds the fast pass when the exact pass is needed (this very object). */
const RETRY: Error = new Error('msgpack-decode: retry');

/** A value the plain-data rules reject, carried by the exact pass until it is known to survive. */
class Taint {
  constructor(
    readonly why: string,
    readonly at: number,
  ) {}
}

const EMPTY = new Uint8Array(0);
/** @msgpack/msgpack decodes strings over this many bytes with `TextDecoder`, shorter in JS. */
const TEXT_DECODER_THRESHOLD = 200;
const textDecoder = new TextDecoder();
/** ASCII strings up to this many bytes go through the cache, which has 2 ** CACHE_BITS slots. */
const CACHE_LENGTH_MAX = 16;
const CACHE_BITS = 10;

// Floats through a scratch buffer instead of a DataView per decode.
const scratch = new Uint8Array(8);
const f64 = new Float64Array(scratch.buffer);
const f32 = new Float32Array(scratch.buffer);
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

export class PlainDecoder {
  private bytes: Uint8Array = EMPTY;
  private pos = 0;
  /** The exact pass: values the walk rejects become `Taint`s instead of throwing `RETRY`. */
  private exact = false;
  private entered = false;
  private why = '';
  private at = 0;
  /** Direct-mapped cache of short ASCII strings, by a hash of their bytes ('' is empty). */
  private readonly cache: string[] = new Array<string>(1 << CACHE_BITS).fill('');
  /** Code units of a short non-ASCII string being decoded. */
  private readonly units: number[] = [];

  /** `maxLength`: the largest str, bin, ext, array or map length accepted. */
  constructor(private readonly maxLength: number) {}

  /** Decodes `bytes` as exactly one MessagePack value of plain data. Never throws. */
  decode(bytes: Uint8Array): PlainDecodeResult {
    if (this.entered) return new PlainDecoder(this.maxLength).decode(bytes);
    this.entered = true;
    this.bytes = bytes;
    try {
      let value: unknown;
      try {
        this.exact = false;
        this.pos = 0;
        value = this.value(0);
      } catch (e) {
        if (e !== RETRY) throw e;
        this.exact = true;
        this.pos = 0;
        value = this.value(0);
      }
      if (value instanceof Taint) return failure(value.why, value.at);
      if (this.pos !== bytes.length) {
        return failure(`${bytes.length - this.pos} byte(s) after the value`, this.pos);
      }
      return { ok: true, value };
    } catch (e) {
      if (e !== FAILED) throw e;
      return failure(this.why, this.at);
    } finally {
      this.bytes = EMPTY;
      this.entered = false;
    }
  }

  private fail(why: string, at: number): never {
    this.why = why;
    this.at = at;
    throw FAILED;
  }

  /** A value the plain-data walk rejects: the fast pass gives up, the exact pass carries it. */
  private violation(why: string, at: number): Taint {
    if (!this.exact) throw RETRY;
    return new Taint(why, at);
  }

  /** Fails unless `n` bytes from `p` are in the input. */
  private need(p: number, n: number, at: number): void {
    if (p + n > this.bytes.length) {
      this.fail(`truncated value (${n} byte(s) needed, ${this.bytes.length - p} left)`, at);
    }
  }

  private u8(p: number, at: number): number {
    this.need(p, 1, at);
    return this.bytes[p] ?? 0;
  }

  private u16(p: number, at: number): number {
    this.need(p, 2, at);
    const b = this.bytes;
    return ((b[p] ?? 0) << 8) | (b[p + 1] ?? 0);
  }

  private u32(p: number, at: number): number {
    this.need(p, 4, at);
    const b = this.bytes;
    return (
      (((b[p] ?? 0) << 24) | ((b[p + 1] ?? 0) << 16) | ((b[p + 2] ?? 0) << 8) | (b[p + 3] ?? 0)) >>>
      0
    );
  }

  /** The big-endian float of `n` (4 or 8) bytes at `p`, through the scratch buffer. */
  private float(p: number, n: number, at: number): number {
    this.need(p, n, at);
    const b = this.bytes;
    if (LITTLE_ENDIAN) for (let i = 0; i < n; i++) scratch[n - 1 - i] = b[p + i] ?? 0;
    else for (let i = 0; i < n; i++) scratch[i] = b[p + i] ?? 0;
    this.pos = p + n;
    return n === 8 ? (f64[0] ?? 0) : (f32[0] ?? 0);
  }

  /** One value at `this.pos`, `depth` containers deep; leaves `this.pos` after it. */
  private value(depth: number): unknown {
    const b = this.bytes;
    const p = this.pos;
    if (p >= b.length) this.fail('truncated: a value is missing', p);
    const h = b[p] ?? 0;
    if (h < 0x80) {
      this.pos = p + 1;
      return h;
    }
    if (h >= 0xe0) {
      this.pos = p + 1;
      return h - 0x100;
    }
    if (h < 0xa0) return h < 0x90 ? this.map(h, p, depth) : this.array(h, p, depth);
    if (h < 0xc0) return this.str(h & 0x1f, p + 1, p);
    switch (h) {
      case 0xc0:
        this.pos = p + 1;
        return null;
      case 0xc2:
        this.pos = p + 1;
        return false;
      case 0xc3:
        this.pos = p + 1;
        return true;
      case 0xc4:
        return this.bin(this.u8(p + 1, p), p + 2, p);
      case 0xc5:
        return this.bin(this.u16(p + 1, p), p + 3, p);
      case 0xc6:
        return this.bin(this.u32(p + 1, p), p + 5, p);
      case 0xc7:
        return this.ext(this.u8(p + 1, p), p + 2, p);
      case 0xc8:
        return this.ext(this.u16(p + 1, p), p + 3, p);
      case 0xc9:
        return this.ext(this.u32(p + 1, p), p + 5, p);
      case 0xca:
        return this.float(p + 1, 4, p);
      case 0xcb:
        return this.float(p + 1, 8, p);
      case 0xcc:
        this.need(p + 1, 1, p);
        this.pos = p + 2;
        return b[p + 1] ?? 0;
      case 0xcd:
        this.need(p + 1, 2, p);
        this.pos = p + 3;
        return ((b[p + 1] ?? 0) << 8) | (b[p + 2] ?? 0);
      case 0xce:
        this.pos = p + 5;
        return this.u32(p + 1, p);
      case 0xcf:
        this.need(p + 1, 8, p);
        this.pos = p + 9;
        return this.u32(p + 1, p) * 0x100000000 + this.u32(p + 5, p);
      case 0xd0:
        this.need(p + 1, 1, p);
        this.pos = p + 2;
        return ((b[p + 1] ?? 0) << 24) >> 24;
      case 0xd1:
        this.need(p + 1, 2, p);
        this.pos = p + 3;
        return ((((b[p + 1] ?? 0) << 8) | (b[p + 2] ?? 0)) << 16) >> 16;
      case 0xd2:
        this.pos = p + 5;
        return this.u32(p + 1, p) | 0;
      case 0xd3:
        this.need(p + 1, 8, p);
        this.pos = p + 9;
        return (this.u32(p + 1, p) | 0) * 0x100000000 + this.u32(p + 5, p);
      case 0xd4:
        return this.ext(1, p + 1, p);
      case 0xd5:
        return this.ext(2, p + 1, p);
      case 0xd6:
        return this.ext(4, p + 1, p);
      case 0xd7:
        return this.ext(8, p + 1, p);
      case 0xd8:
        return this.ext(16, p + 1, p);
      case 0xd9:
        return this.str(this.u8(p + 1, p), p + 2, p);
      case 0xda:
        return this.str(this.u16(p + 1, p), p + 3, p);
      case 0xdb:
        return this.str(this.u32(p + 1, p), p + 5, p);
      case 0xdc:
      case 0xdd:
        return this.array(h, p, depth);
      case 0xde:
      case 0xdf:
        return this.map(h, p, depth);
      default:
        return this.fail(`reserved type byte 0x${hex(h)}`, p);
    }
  }

  /**
   * The length of the array or map whose head byte `h` is at `p`, checked against `maxLength`
   * and against the bytes left (an item takes at least one byte); moves `this.pos` to its items.
   */
  private count(h: number, p: number): number {
    let n: number;
    let start: number;
    if (h < 0xa0) {
      n = h & 0x0f;
      start = p + 1;
    } else if (h === 0xdc || h === 0xde) {
      n = this.u16(p + 1, p);
      start = p + 3;
    } else {
      n = this.u32(p + 1, p);
      start = p + 5;
    }
    const isMap = h < 0x90 || h >= 0xde;
    const what = isMap ? 'map' : 'array';
    if (n > this.maxLength) {
      this.fail(`${what} of ${n} entries (at most ${this.maxLength})`, p);
    }
    const least = isMap ? 2 * n : n;
    if (least > this.bytes.length - start) {
      this.fail(`truncated ${what} of ${n} entries (${this.bytes.length - start} byte(s) left)`, p);
    }
    this.pos = start;
    return n;
  }

  private array(h: number, p: number, depth: number): unknown {
    const n = this.count(h, p);
    if (depth >= PAYLOAD_MAX_DEPTH) return this.tooDeep(p);
    const a = new Array<unknown>(n);
    for (let i = 0; i < n; i++) a[i] = this.value(depth + 1);
    if (this.exact) for (const v of a) if (v instanceof Taint) return v;
    return a;
  }

  private map(h: number, p: number, depth: number): unknown {
    const n = this.count(h, p);
    if (depth >= PAYLOAD_MAX_DEPTH) return this.tooDeep(p);
    const obj: Record<string, unknown> = {};
    let bom: Taint | undefined;
    for (let i = 0; i < n; i++) {
      const at = this.pos;
      const k = this.key();
      if (typeof k === 'string' && k.charCodeAt(0) === 0xfeff) {
        bom ??= this.violation('a key starts with U+FEFF', at);
      }
      obj[k] = this.value(depth + 1);
    }
    if (this.exact) {
      if (bom !== undefined) return bom;
      // Only what survived the duplicate keys counts: the plain-data rules judge the result.
      for (const k in obj) {
        const v = obj[k];
        if (v instanceof Taint) return v;
      }
    }
    return obj;
  }

  /** A map key: a string (not `__proto__`) or a number; anything else fails. */
  private key(): string | number {
    const b = this.bytes;
    const p = this.pos;
    if (p >= b.length) this.fail('truncated: a map key is missing', p);
    const h = b[p] ?? 0;
    let k: string;
    if (h >= 0xa0 && h < 0xc0) k = this.text(h & 0x1f, p + 1, p);
    else if (h === 0xd9) k = this.text(this.u8(p + 1, p), p + 2, p);
    else if (h === 0xda) k = this.text(this.u16(p + 1, p), p + 3, p);
    else if (h === 0xdb) k = this.text(this.u32(p + 1, p), p + 5, p);
    else if (h < 0x80 || h >= 0xe0 || (h >= 0xca && h <= 0xd3)) return this.value(0) as number;
    else return this.fail(`a map key must be a string or a number (type byte 0x${hex(h)})`, p);
    if (k === '__proto__') this.fail('the map key __proto__', p);
    return k;
  }

  private str(n: number, start: number, at: number): unknown {
    const s = this.text(n, start, at);
    if (s.charCodeAt(0) === 0xfeff) return this.violation('a string starts with U+FEFF', at);
    return s;
  }

  /** The string of `n` bytes at `start` (a str whose head is at `at`), as the library has it. */
  private text(n: number, start: number, at: number): string {
    if (n > this.maxLength) this.fail(`string of ${n} bytes (at most ${this.maxLength})`, at);
    this.need(start, n, at);
    this.pos = start + n;
    if (n > TEXT_DECODER_THRESHOLD) {
      return textDecoder.decode(this.bytes.subarray(start, start + n));
    }
    const b = this.bytes;
    const end = start + n;
    if (n <= CACHE_LENGTH_MAX) {
      let hash = n;
      for (let i = start; i < end; i++) {
        const c = b[i] ?? 0;
        if (c >= 0x80) return this.lenientUtf8(start, n);
        hash = Math.imul(hash ^ c, 0x01000193);
      }
      const slot = hash >>> (32 - CACHE_BITS);
      const hit = this.cache[slot] ?? '';
      if (hit.length === n && sameAscii(hit, b, start)) return hit;
      let s = '';
      for (let i = start; i < end; i++) s += String.fromCharCode(b[i] ?? 0);
      this.cache[slot] = s;
      return s;
    }
    for (let i = start; i < end; i++) if ((b[i] ?? 0) >= 0x80) return this.lenientUtf8(start, n);
    // ASCII: TextDecoder gives the same string as the JS decoder would, faster at this length.
    return textDecoder.decode(b.subarray(start, end));
  }

  /**
   * @msgpack/msgpack's JS UTF-8 decoding of `n` bytes at `start` (n <= 200), invalid input
   * included: no validation; a lead byte takes its continuation bytes' low six bits whatever they
   * are, reading past the string (and as 0 past the input) when the string ends first.
   */
  private lenientUtf8(start: number, n: number): string {
    const b = this.bytes;
    const units = this.units;
    units.length = 0;
    const end = start + n;
    let i = start;
    while (i < end) {
      const c = b[i++] ?? 0;
      if (c < 0x80) {
        units.push(c);
      } else if ((c & 0xe0) === 0xc0) {
        units.push(((c & 0x1f) << 6) | ((b[i++] ?? 0) & 0x3f));
      } else if ((c & 0xf0) === 0xe0) {
        const c2 = (b[i++] ?? 0) & 0x3f;
        const c3 = (b[i++] ?? 0) & 0x3f;
        units.push(((c & 0x0f) << 12) | (c2 << 6) | c3);
      } else if ((c & 0xf8) === 0xf0) {
        const c2 = (b[i++] ?? 0) & 0x3f;
        const c3 = (b[i++] ?? 0) & 0x3f;
        const c4 = (b[i++] ?? 0) & 0x3f;
        const cp = ((c & 0x07) << 18) | (c2 << 12) | (c3 << 6) | c4;
        if (cp > 0xffff) {
          const v = cp - 0x10000;
          units.push(0xd800 | ((v >>> 10) & 0x3ff), 0xdc00 | (v & 0x3ff));
        } else {
          units.push(cp);
        }
      } else {
        units.push(c); // a continuation byte or 0xf8..0xff on its own: as Latin-1
      }
    }
    return String.fromCharCode(...units);
  }

  private bin(n: number, start: number, at: number): Uint8Array {
    if (n > this.maxLength) this.fail(`bin of ${n} bytes (at most ${this.maxLength})`, at);
    this.need(start, n, at);
    this.pos = start + n;
    return this.bytes.subarray(start, start + n);
  }

  /** An extension of `n` data bytes whose type byte is at `typeAt`: never plain data. */
  private ext(n: number, typeAt: number, at: number): Taint {
    if (n > this.maxLength) this.fail(`extension of ${n} bytes (at most ${this.maxLength})`, at);
    this.need(typeAt, 1 + n, at);
    const type = ((this.bytes[typeAt] ?? 0) << 24) >> 24;
    // The library decodes type -1 as a timestamp, and throws for a size it does not know.
    if (type === -1 && n !== 4 && n !== 8 && n !== 12) {
      this.fail(`timestamp extension of ${n} bytes (4, 8 or 12)`, at);
    }
    this.pos = typeAt + 1 + n;
    return this.violation(`extension type ${type} (not plain data)`, at);
  }

  /**
   * An array or map nested deeper than `PAYLOAD_MAX_DEPTH` (its head at `at`, `this.pos` at its
   * first item): the fast pass gives up; the exact pass checks that it is well-formed with a loop
   * (no recursion, however deep) and carries it as a `Taint`, since a duplicate key may yet
   * overwrite it.
   */
  private tooDeep(at: number): Taint {
    const taint = this.violation(`nested deeper than ${PAYLOAD_MAX_DEPTH}`, at);
    const b = this.bytes;
    // Items left in each open container (a map's entries count two items: key, value).
    const left: number[] = [];
    const inMap: boolean[] = [];
    const h0 = b[at] ?? 0;
    const n0 = this.count(h0, at);
    left.push(h0 < 0x90 || h0 >= 0xde ? 2 * n0 : n0);
    inMap.push(h0 < 0x90 || h0 >= 0xde);
    for (;;) {
      const top = left.length - 1;
      const l = left[top] ?? 0;
      if (l === 0) {
        left.pop();
        inMap.pop();
        if (left.length === 0) return taint;
        continue;
      }
      left[top] = l - 1;
      if (inMap[top] === true && l % 2 === 0) {
        this.key();
        continue;
      }
      const p = this.pos;
      if (p >= b.length) this.fail('truncated: a value is missing', p);
      const h = b[p] ?? 0;
      if ((h >= 0x80 && h < 0xa0) || (h >= 0xdc && h <= 0xdf)) {
        const n = this.count(h, p);
        const isMap = h < 0x90 || h >= 0xde;
        left.push(isMap ? 2 * n : n);
        inMap.push(isMap);
      } else {
        this.value(0); // a scalar: no recursion
      }
    }
  }
}

function failure(why: string, at: number): PlainDecodeResult {
  return { ok: false, detail: `${why} at byte ${at}` };
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}

/** Whether the ASCII string `s` equals the bytes at `start` (its length already matched). */
function sameAscii(s: string, b: Uint8Array, start: number): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) !== b[start + i]) return false;
  return true;
}
