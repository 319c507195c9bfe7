/**
 * The payload codec: protocol messages as MessagePack, encoded by msgpack.ts and decoded by
 * msgpack-decode.ts (both ours, written for the hot path).
 *
 * Messages are PLAIN DATA so that the simulator and the checkers can record, duplicate, corrupt,
 * compare and replay them byte for byte: `null`, booleans, numbers, strings, `Uint8Array`, arrays
 * of plain data and plain objects (prototype `Object.prototype` or `null`) with string keys.
 * No classes (`Date`, `Map`, `Set`, class instances), no `bigint`, functions or symbols, no
 * `undefined` at the top level or inside arrays (holes included), no key `__proto__`, no string
 * or key that starts with U+FEFF (see `startsWithBom`), nesting at most `PAYLOAD_MAX_DEPTH` deep.
 *
 * Guarantees:
 * - `encodePayload` throws `SteadfastError('bad-argument')` for anything that is not plain data,
 *   so a message that would not survive a round trip is caught at the sender, not on the wire.
 *   An object property whose value is `undefined` is omitted (as if the property were absent).
 *   Its bytes are exactly @msgpack/msgpack's (msgpack.ts).
 * - `decodePayload(encodePayload(v))` is deep-equal to `v` (up to omitted `undefined` properties;
 *   a `Uint8Array` subclass such as `Buffer` comes back as a plain `Uint8Array`, an object with a
 *   null prototype as an ordinary object, and -0 as 0).
 * - `decodePayload` never throws; bytes that are not exactly one MessagePack value of plain data
 *   (extension types such as timestamps included, str/bin/array/map lengths over
 *   `FRAME_MAX_BYTES` too) are a 'bad-payload' `DecodeError` whose detail says what and at which
 *   byte. It accepts and rejects exactly what @msgpack/msgpack's `Decoder` followed by a
 *   plain-data walk did, with deep-equal results (msgpack-decode.ts lists the fine print:
 *   lenient UTF-8 of the library, number keys, duplicate keys); a bug in the decoder would be an
 *   'internal' `DecodeError`, not an exception.
 * - A `Uint8Array` inside a decoded value is a view into the `bytes` passed to `decodePayload`
 *   (of the same class: a `Buffer` gives `Buffer` views).
 * Assumes: callers treat decoded values as immutable, and do not mutate `bytes` afterwards.
 */

import { SteadfastError } from './errors.ts';
import type { DecodeError } from './frame.ts';
import { FRAME_MAX_BYTES } from './frame.ts';
import type { PlainDecodeResult } from './msgpack-decode.ts';
import { PlainDecoder } from './msgpack-decode.ts';
import { NOT_PLAIN, PAYLOAD_MAX_DEPTH, PlainEncoder, utf8Count } from './msgpack.ts';

export { PAYLOAD_MAX_DEPTH };

// One encoder and one decoder for the module: `encode` copies out an exact-size result, and both
// make a fresh instance if re-entered, so sharing them is safe and saves a buffer per call.
// The decoder checks plain data as it decodes (no second walk) and limits every str, bin, ext,
// array and map length to FRAME_MAX_BYTES.
const encoder = new PlainEncoder();
const decoder = new PlainDecoder(FRAME_MAX_BYTES);

/**
 * Our decoder, like @msgpack/msgpack's, decodes strings over 200 bytes with a default
 * `TextDecoder`, which strips a leading byte order mark, so such a string would not survive the
 * round trip.
 */
function startsWithBom(s: string): boolean {
  return s.charCodeAt(0) === 0xfeff;
}

/** Why a value is not plain data: where (keys and indices from the top) and what. */
interface NotPlain {
  readonly path: (string | number)[];
  readonly why: string;
}

function bad(why: string): NotPlain {
  return { path: [], why };
}

/**
 * Why `value` is not plain data, or `undefined` if it is. The path is built only on the way back
 * from a failure: a plain value (the common case, checked on every encode) allocates nothing.
 */
function notPlain(value: unknown, depth: number): NotPlain | undefined {
  switch (typeof value) {
    case 'boolean':
    case 'number':
      return undefined;
    case 'string':
      return startsWithBom(value) ? bad('starts with U+FEFF') : undefined;
    case 'object':
      break;
    default:
      return bad(`is of type ${typeof value}`);
  }
  if (value === null || value instanceof Uint8Array) return undefined;
  if (depth >= PAYLOAD_MAX_DEPTH) return bad(`is nested deeper than ${PAYLOAD_MAX_DEPTH}`);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const r = notPlain(value[i] as unknown, depth + 1);
      if (r !== undefined) {
        r.path.unshift(i);
        return r;
      }
    }
    return undefined;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
    return bad(`is not a plain object (${typeof name === 'string' ? name : 'unknown class'})`);
  }
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (key === '__proto__') return bad('has the key __proto__');
    if (startsWithBom(key)) return bad('has a key that starts with U+FEFF');
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined) continue;
    const r = notPlain(v, depth + 1);
    if (r !== undefined) {
      r.path.unshift(key);
      return r;
    }
  }
  return undefined;
}

/** `payload.a[3].b is …`: the message of a `NotPlain`. */
function describe(r: NotPlain): string {
  let path = 'payload';
  for (const p of r.path) path += typeof p === 'number' ? `[${p}]` : `.${p}`;
  return `${path} ${r.why}`;
}

/** Throws `SteadfastError('bad-argument')` unless `value` is plain data. */
function checkPlain(value: unknown, atDepth = 0): void {
  const r = notPlain(value, atDepth);
  if (r !== undefined) throw new SteadfastError('bad-argument', `not plain data: ${describe(r)}`);
}

/** Encodes plain data; throws `SteadfastError('bad-argument')` for anything else. */
export function encodePayload(value: unknown): Uint8Array {
  try {
    return encoder.encode(value);
  } catch (e) {
    if (e !== NOT_PLAIN) throw e;
    // The encoder stops at the first value that is not plain; describe it (path and why).
    checkPlain(value);
    throw new SteadfastError('bad-argument', 'not plain data: payload');
  }
}

/**
 * The exact length of `encodePayload(value)`, computed without encoding (no copy, no allocation):
 * what a size limit needs. Throws as `encodePayload` does for anything that is not plain data.
 * `atDepth`: how deep the value will sit in the message that carries it (1 for a field of the
 * message), so that the nesting limit counts the levels around it.
 */
export function payloadSize(value: unknown, atDepth = 0): number {
  checkPlain(value, atDepth);
  return sizeOf(value);
}

/** MessagePack size of plain data, by the format choices of @msgpack/msgpack's Encoder. */
function sizeOf(value: unknown): number {
  switch (typeof value) {
    case 'boolean':
      return 1;
    case 'number':
      return numberSize(value);
    case 'string': {
      const n = utf8Count(value);
      return n + (n < 32 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5);
    }
    default:
      break;
  }
  if (value === null || value === undefined) return 1;
  if (value instanceof Uint8Array) {
    const n = value.byteLength;
    return n + (n < 0x100 ? 2 : n < 0x10000 ? 3 : 5);
  }
  if (Array.isArray(value)) {
    let total = value.length < 16 ? 1 : value.length < 0x10000 ? 3 : 5;
    for (const v of value as unknown[]) total += sizeOf(v);
    return total;
  }
  let count = 0;
  let total = 0;
  const obj = value as Record<string, unknown>;
  for (const key in obj) {
    if (!Object.hasOwn(obj, key)) continue;
    const v = obj[key];
    if (v === undefined) continue; // ignoreUndefined
    count++;
    total += sizeOf(key) + sizeOf(v);
  }
  return total + (count < 16 ? 1 : count < 0x10000 ? 3 : 5);
}

function numberSize(n: number): number {
  if (!Number.isSafeInteger(n)) return 9; // float 64
  if (n >= 0) return n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x100000000 ? 5 : 9;
  return n >= -0x20 ? 1 : n >= -0x80 ? 2 : n >= -0x8000 ? 3 : n >= -0x80000000 ? 5 : 9;
}

export type PayloadResult =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: DecodeError };

/** Decodes one MessagePack value of plain data (msgpack-decode.ts). Never throws. */
export function decodePayload(bytes: Uint8Array): PayloadResult {
  let r: PlainDecodeResult;
  try {
    r = decoder.decode(bytes);
  } catch (e) {
    return {
      ok: false,
      error: { code: 'internal', detail: `decodePayload: unexpected ${String(e)}` },
    };
  }
  return r.ok ? r : { ok: false, error: { code: 'bad-payload', detail: r.detail } };
}
