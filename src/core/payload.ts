/**
 * The payload codec: protocol messages as MessagePack (`@msgpack/msgpack`).
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
 * - `decodePayload(encodePayload(v))` is deep-equal to `v` (up to omitted `undefined` properties;
 *   a `Uint8Array` subclass such as `Buffer` comes back as a plain `Uint8Array`, an object with a
 *   null prototype as an ordinary object, and -0 as 0).
 * - `decodePayload` never throws; bytes that are not exactly one MessagePack value of plain data
 *   (extension types such as timestamps included) are a 'bad-payload' `DecodeError`.
 * - A `Uint8Array` inside a decoded value is a view into the `bytes` passed to `decodePayload`.
 * Assumes: callers treat decoded values as immutable, and do not mutate `bytes` afterwards.
 */

import { Decoder, Encoder } from '@msgpack/msgpack';
import { SteadfastError } from './errors.ts';
import type { DecodeError } from './frame.ts';
import { FRAME_MAX_BYTES } from './frame.ts';

/** Deepest nesting of arrays and objects a payload may have. */
export const PAYLOAD_MAX_DEPTH = 64;

// One encoder and one decoder for the module: `encode` copies out an exact-size result, and both
// clone themselves if re-entered, so sharing them is safe and saves a 2 KiB buffer per call.
const encoder = new Encoder({ ignoreUndefined: true });
const decoder = new Decoder({
  maxStrLength: FRAME_MAX_BYTES,
  maxBinLength: FRAME_MAX_BYTES,
  maxArrayLength: FRAME_MAX_BYTES,
  maxMapLength: FRAME_MAX_BYTES,
  maxExtLength: FRAME_MAX_BYTES,
});

/**
 * @msgpack/msgpack decodes strings over 200 bytes with a default `TextDecoder`, which strips a
 * leading byte order mark, so such a string would not survive the round trip.
 */
function startsWithBom(s: string): boolean {
  return s.charCodeAt(0) === 0xfeff;
}

/** Why `value` is not plain data (a path and a reason), or `undefined` if it is. */
function notPlain(value: unknown, path: string, depth: number): string | undefined {
  switch (typeof value) {
    case 'boolean':
    case 'number':
      return undefined;
    case 'string':
      return startsWithBom(value) ? `${path} starts with U+FEFF` : undefined;
    case 'object':
      break;
    default:
      return `${path} is of type ${typeof value}`;
  }
  if (value === null || value instanceof Uint8Array) return undefined;
  if (depth >= PAYLOAD_MAX_DEPTH) return `${path} is nested deeper than ${PAYLOAD_MAX_DEPTH}`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const why = notPlain(value[i] as unknown, `${path}[${i}]`, depth + 1);
      if (why !== undefined) return why;
    }
    return undefined;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
    return `${path} is not a plain object (${typeof name === 'string' ? name : 'unknown class'})`;
  }
  for (const key of Object.keys(value)) {
    if (key === '__proto__') return `${path} has the key __proto__`;
    if (startsWithBom(key)) return `${path} has a key that starts with U+FEFF`;
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined) continue;
    const why = notPlain(v, `${path}.${key}`, depth + 1);
    if (why !== undefined) return why;
  }
  return undefined;
}

/** Encodes plain data; throws `SteadfastError('bad-argument')` for anything else. */
export function encodePayload(value: unknown): Uint8Array {
  const why = notPlain(value, 'payload', 0);
  if (why !== undefined) throw new SteadfastError('bad-argument', `not plain data: ${why}`);
  return encoder.encode(value);
}

export type PayloadResult =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: DecodeError };

/** Decodes one MessagePack value of plain data. Never throws. */
export function decodePayload(bytes: Uint8Array): PayloadResult {
  let value: unknown;
  try {
    value = decoder.decode(bytes);
  } catch (e) {
    return { ok: false, error: { code: 'bad-payload', detail: errorMessage(e) } };
  }
  let why: string | undefined;
  try {
    why = notPlain(value, 'payload', 0);
  } catch (e) {
    why = errorMessage(e);
  }
  if (why !== undefined) return { ok: false, error: { code: 'bad-payload', detail: why } };
  return { ok: true, value };
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
