/**
 * The wire frame: one addressed, optionally checksummed and authenticated message.
 *
 * Layout (integers big-endian):
 *
 *     u32  bodyLength       bytes after this field, so the frame can be streamed over TCP
 *     u8   magic 0x53 ('S')
 *     u8   version 1
 *     u8   flags            bit0 = CRC32C present, bit1 = MAC tag present, other bits 0
 *     u8   fromLength (1..255), then the sender's node id in UTF-8
 *     u8   toLength (1..255), then the receiver's node id in UTF-8
 *     u32  payloadLength, then the payload
 *     u32  crc32c of every byte from bodyLength through the payload        (if bit0)
 *     tag  mac.sign(keys(from, to), every byte from bodyLength through the crc, if any)  (if bit1)
 *
 * Guarantees:
 * - `decodeFrame` never throws and never reads outside its input, for any input; a malformed,
 *   corrupted or forged frame is a `DecodeError` value. It accepts exactly one whole frame: a
 *   short buffer is 'truncated', trailing bytes are 'length-mismatch'.
 * - Receiver policy: with `opts.checksum` a frame without a CRC is rejected ('checksum-missing');
 *   with `opts.auth` a frame without a tag is rejected ('auth-missing'). A CRC that is present is
 *   ALWAYS verified, even when `opts.checksum` is false (a frame is never accepted with a CRC
 *   known to be wrong). A tag that is present when `opts.auth` is not set cannot be verified and
 *   is skipped (it must be non-empty); such a receiver accepts unauthenticated frames anyway.
 * - The CRC is checked before the tag, so a corrupted authenticated frame reports
 *   'checksum-mismatch' and a well-formed forgery reports 'auth-failed'.
 * - Zero copy: a decoded payload is a VIEW into the input bytes (copying it would cost an
 *   off-heap allocation per frame). The caller must not mutate or reuse the input array (e.g. a
 *   ring buffer in a stream reader) while the frame is in use; copy the payload if it must be.
 * - `encodeFrame` makes one allocation of the exact size (plus the tag the `Mac` returns) and
 *   produces a frame that `decodeFrame` with the same options accepts and maps back to an equal
 *   `Frame`.
 * Assumes: the `Mac` and `KeyRing` in `opts.auth` honour `mac.ts` (sender and receiver share the
 * key of the pair). The decoder does not check that `to` is the local node: the caller must, or a
 * frame authenticated for another pair member could be accepted. Freshness (replay) is not the
 * frame's job; the link protocol's sequence numbers handle it.
 */

import { crc32c } from './crc32c.ts';
import { SteadfastError } from './errors.ts';
import type { KeyRing, Mac } from './mac.ts';
import { tagsEqual } from './mac.ts';
import type { DropReason } from './trace.ts';
import { allocBytes } from './slab.ts';

/** An addressed message. `from` and `to` are node ids (1..255 bytes of UTF-8 each). */
export interface Frame {
  readonly from: string;
  readonly to: string;
  readonly payload: Uint8Array;
}

/** What a sender adds to a frame and what a receiver demands of one. */
export interface FrameOptions {
  /** Send a CRC32C; as a receiver, reject frames that have none. */
  readonly checksum: boolean;
  /** Sign with `mac`; as a receiver, reject frames without a valid tag. */
  readonly auth?: { readonly mac: Mac; readonly keys: KeyRing };
  /**
   * The CRC-32C implementation (default: `crc32c.ts`, portable JavaScript). A host may inject a
   * faster one computing the very same function (src/platform/native-crc32c.ts); frames do not
   * change.
   */
  readonly crc32c?: Crc32c;
}

/** CRC-32C of `bytes[start, end)`, as `crc32c.ts` defines it. */
export type Crc32c = (bytes: Uint8Array, start: number, end: number) => number;

export type DecodeErrorCode =
  | 'truncated'
  | 'too-large'
  | 'bad-magic'
  | 'bad-version'
  | 'bad-flags'
  | 'bad-node-id'
  | 'length-mismatch'
  | 'checksum-missing'
  | 'checksum-mismatch'
  | 'auth-missing'
  | 'auth-unknown-key'
  | 'auth-failed'
  | 'bad-payload'
  /** A bug in steadfast or a throwing `Mac`/`KeyRing`, reported rather than thrown. */
  | 'internal';

/** Why bytes from the network were rejected: a value, never an exception. */
export interface DecodeError {
  readonly code: DecodeErrorCode;
  readonly detail: string;
}

/** The trace's drop reason for a frame rejected with `code`: corruption, forgery, or junk. */
export function dropReasonOf(code: DecodeErrorCode): DropReason {
  if (code.startsWith('checksum')) return 'checksum';
  if (code.startsWith('auth')) return 'auth';
  return 'malformed';
}

export type DecodeResult =
  | { readonly ok: true; readonly frame: Frame; readonly size: number }
  | { readonly ok: false; readonly error: DecodeError };

/**
 * Largest frame in bytes, length prefix and tag included (1 MiB). Bounds the memory one frame can
 * make a receiver buffer: a stream reader drops the connection when `frameLengthPrefix` exceeds it.
 */
export const FRAME_MAX_BYTES = 1024 * 1024;

export const FRAME_MAGIC = 0x53;
export const FRAME_VERSION = 1;
const FLAG_CRC = 1;
const FLAG_TAG = 2;
const PREFIX_BYTES = 4;
const CRC_BYTES = 4;
/** Bytes of a frame other than the node ids, payload, crc and tag. */
const FIXED_BYTES = PREFIX_BYTES + 3 + 1 + 1 + 4;
const MAX_ID_BYTES = 255;

const utf8Encoder = new TextEncoder();
// ignoreBOM: keep a leading U+FEFF instead of stripping it, so that decoding is one-to-one.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Encoded node ids, so that encoding a frame does not re-encode them. Bounded; cleared when full. */
const idCache = new Map<string, Uint8Array>();
const ID_CACHE_MAX = 1024;

function encodeNodeId(id: string, field: string): Uint8Array {
  const cached = idCache.get(id);
  if (cached !== undefined) return cached;
  if (typeof id !== 'string' || id.length === 0) {
    throw new SteadfastError('bad-argument', `frame: ${field} must be a non-empty string`);
  }
  const bytes = utf8Encoder.encode(id);
  if (bytes.length > MAX_ID_BYTES) {
    throw new SteadfastError(
      'bad-argument',
      `frame: ${field} is ${bytes.length} bytes of UTF-8, at most ${MAX_ID_BYTES} allowed`,
    );
  }
  // A lone surrogate would be encoded as U+FFFD and decode to a different id.
  if (decodeUtf8(bytes, 0, bytes.length) !== id) {
    throw new SteadfastError('bad-argument', `frame: ${field} is not well-formed Unicode`);
  }
  if (idCache.size >= ID_CACHE_MAX) idCache.clear();
  idCache.set(id, bytes);
  return bytes;
}

/** Strict UTF-8 decoding of `bytes[start, end)`; `undefined` if it is not valid UTF-8. */
function decodeUtf8(bytes: Uint8Array, start: number, end: number): string | undefined {
  let ascii = '';
  for (let i = start; i < end; i++) {
    const b = bytes[i] ?? 0;
    if (b >= 0x80) {
      try {
        return utf8Decoder.decode(bytes.subarray(start, end));
      } catch {
        return undefined;
      }
    }
    ascii += String.fromCharCode(b);
  }
  return ascii;
}

function keyFor(keys: KeyRing, from: string, to: string): Uint8Array | undefined {
  const key = keys(from, to);
  return key instanceof Uint8Array ? key : undefined;
}

/**
 * Encodes `frame`. Local misuse throws `SteadfastError`: 'bad-argument' for an empty node id, one
 * over 255 bytes of UTF-8 or not well-formed, a payload that is not a `Uint8Array`, a pair without
 * a key, or a `Mac` whose tag is not `tagBytes` long; 'frame-too-large' over `FRAME_MAX_BYTES`.
 */
export function encodeFrame(frame: Frame, opts: FrameOptions): Uint8Array {
  const payload = frame.payload;
  if (!(payload instanceof Uint8Array)) {
    throw new SteadfastError('bad-argument', 'frame: payload must be a Uint8Array');
  }
  const room = frameRoom(frame.from, frame.to, opts);
  const size = room.before + payload.length + room.after;
  checkFrameSize(size); // before allocating
  const out = allocBytes(size);
  out.set(payload, room.before);
  return sealFrame(out, frame.from, frame.to, opts, room);
}

/** How many bytes a frame from `from` to `to` puts before its payload and after it. */
export interface FrameRoom {
  readonly before: number;
  readonly after: number;
}

/**
 * The room a frame needs around its payload: lets a caller encode the payload straight into the
 * frame's buffer (one allocation, no copy) and then `sealFrame` it. Throws as `encodeFrame` does
 * for bad node ids and a bad `Mac`.
 */
export function frameRoom(from: string, to: string, opts: FrameOptions): FrameRoom {
  const before = FIXED_BYTES + encodeNodeId(from, 'from').length + encodeNodeId(to, 'to').length;
  let tagBytes = 0;
  if (opts.auth !== undefined) {
    tagBytes = opts.auth.mac.tagBytes;
    if (!Number.isInteger(tagBytes) || tagBytes <= 0) {
      throw new SteadfastError('bad-argument', `frame: bad mac.tagBytes ${tagBytes}`);
    }
  }
  return { before, after: (opts.checksum ? CRC_BYTES : 0) + tagBytes };
}

/**
 * Completes a frame in place: `bytes` holds the payload at `[room.before, length - room.after)`
 * (room = `frameRoom(from, to, opts)`); writes the header, CRC and tag around it and returns
 * `bytes`, then equal to `encodeFrame({ from, to, payload }, opts)`. Throws as `encodeFrame` does.
 * A caller that already has the room passes it (the same value: it depends on ids and options).
 */
export function sealFrame(
  bytes: Uint8Array,
  from: string,
  to: string,
  opts: FrameOptions,
  room: FrameRoom = frameRoom(from, to, opts),
): Uint8Array {
  const fromBytes = encodeNodeId(from, 'from');
  const toBytes = encodeNodeId(to, 'to');
  const auth = opts.auth;
  let key: Uint8Array | undefined;
  if (auth !== undefined) {
    key = keyFor(auth.keys, from, to);
    if (key === undefined) {
      throw new SteadfastError('bad-argument', `frame: no key for ${from} -> ${to}`);
    }
  }
  const size = bytes.length;
  const payloadLength = size - room.before - room.after;
  if (payloadLength < 0) throw new SteadfastError('bad-argument', 'frame: no room for the payload');
  checkFrameSize(size);
  const payloadEnd = room.before + payloadLength;
  const crcEnd = payloadEnd + (opts.checksum ? CRC_BYTES : 0);
  writeU32(bytes, 0, size - PREFIX_BYTES);
  bytes[4] = FRAME_MAGIC;
  bytes[5] = FRAME_VERSION;
  bytes[6] = (opts.checksum ? FLAG_CRC : 0) | (auth !== undefined ? FLAG_TAG : 0);
  let p = 7;
  bytes[p++] = fromBytes.length;
  bytes.set(fromBytes, p);
  p += fromBytes.length;
  bytes[p++] = toBytes.length;
  bytes.set(toBytes, p);
  p += toBytes.length;
  writeU32(bytes, p, payloadLength);
  if (opts.checksum) writeU32(bytes, payloadEnd, (opts.crc32c ?? crc32c)(bytes, 0, payloadEnd));
  if (auth !== undefined && key !== undefined) {
    const tag = auth.mac.sign(key, bytes.subarray(0, crcEnd));
    if (tag.length !== auth.mac.tagBytes) {
      throw new SteadfastError(
        'bad-argument',
        `frame: mac returned ${tag.length} bytes, not tagBytes = ${auth.mac.tagBytes}`,
      );
    }
    bytes.set(tag, crcEnd);
  }
  return bytes;
}

function checkFrameSize(size: number): void {
  if (size > FRAME_MAX_BYTES) {
    throw new SteadfastError(
      'frame-too-large',
      `frame: ${size} bytes, at most ${FRAME_MAX_BYTES} allowed`,
    );
  }
}

function writeU32(bytes: Uint8Array, p: number, v: number): void {
  bytes[p] = v >>> 24;
  bytes[p + 1] = (v >>> 16) & 0xff;
  bytes[p + 2] = (v >>> 8) & 0xff;
  bytes[p + 3] = v & 0xff;
}

function fail(code: DecodeErrorCode, detail: string): DecodeResult {
  return { ok: false, error: { code, detail } };
}

function readU32(bytes: Uint8Array, p: number): number {
  return (
    (((bytes[p] ?? 0) << 24) |
      ((bytes[p + 1] ?? 0) << 16) |
      ((bytes[p + 2] ?? 0) << 8) |
      (bytes[p + 3] ?? 0)) >>>
    0
  );
}

/**
 * Decodes exactly one frame occupying all of `bytes`. Never throws: anything wrong with the bytes
 * is an `{ ok: false, error }`. On success `size` is the frame's length (`bytes.length`) and
 * `frame.payload` is a view into `bytes` (see the module header).
 */
export function decodeFrame(bytes: Uint8Array, opts: FrameOptions): DecodeResult {
  try {
    return decode(bytes, opts);
  } catch (e) {
    return fail('internal', `decodeFrame: unexpected ${String(e)}`);
  }
}

function decode(bytes: Uint8Array, opts: FrameOptions): DecodeResult {
  const n = bytes.length;
  if (n < PREFIX_BYTES) return fail('truncated', `${n} bytes, no length prefix`);
  const size = PREFIX_BYTES + readU32(bytes, 0);
  if (size > FRAME_MAX_BYTES) {
    return fail('too-large', `declared ${size} bytes, at most ${FRAME_MAX_BYTES} allowed`);
  }
  if (n < size) return fail('truncated', `${n} of ${size} bytes`);
  if (n > size) return fail('length-mismatch', `${n - size} bytes after a ${size}-byte frame`);
  // From here on every read is checked against `size`, which equals `n`.
  if (size < FIXED_BYTES + 2) return fail('length-mismatch', `${size} bytes is below the minimum`);
  // `?? 0` below never fires (the index is in bounds); it stands in for a forbidden `!`.
  const magic = bytes[4] ?? 0;
  if (magic !== FRAME_MAGIC) return fail('bad-magic', `magic ${magic}`);
  const version = bytes[5] ?? 0;
  if (version !== FRAME_VERSION) return fail('bad-version', `version ${version}`);
  const flags = bytes[6] ?? 0;
  if ((flags & ~(FLAG_CRC | FLAG_TAG)) !== 0)
    return fail('bad-flags', `flags 0x${flags.toString(16)}`);
  const hasCrc = (flags & FLAG_CRC) !== 0;
  const hasTag = (flags & FLAG_TAG) !== 0;
  if (opts.checksum && !hasCrc) return fail('checksum-missing', 'frame has no CRC');
  const auth = opts.auth;
  if (auth !== undefined && !hasTag) return fail('auth-missing', 'frame has no tag');

  let p = 7;
  const fromLength = bytes[p++] ?? 0;
  if (fromLength === 0) return fail('bad-node-id', 'empty sender id');
  const fromStart = p;
  p += fromLength;
  if (p + 1 > size) return fail('length-mismatch', 'sender id overruns the frame');
  const toLength = bytes[p++] ?? 0;
  if (toLength === 0) return fail('bad-node-id', 'empty receiver id');
  const toStart = p;
  p += toLength;
  if (p + 4 > size) return fail('length-mismatch', 'receiver id overruns the frame');
  const payloadLength = readU32(bytes, p);
  p += 4;
  const payloadStart = p;
  const payloadEnd = payloadStart + payloadLength;
  const crcEnd = payloadEnd + (hasCrc ? CRC_BYTES : 0);
  if (crcEnd > size) return fail('length-mismatch', 'payload overruns the frame');
  const tagBytes = size - crcEnd;
  if (hasTag) {
    if (auth !== undefined) {
      const expected = auth.mac.tagBytes;
      if (tagBytes !== expected) {
        return fail('length-mismatch', `${tagBytes} bytes after the CRC, tag is ${expected}`);
      }
    } else if (tagBytes === 0) {
      return fail('length-mismatch', 'tag flag set but no tag');
    }
  } else if (tagBytes !== 0) {
    return fail('length-mismatch', `${tagBytes} unaccounted bytes after the payload`);
  }

  if (hasCrc) {
    const expected = readU32(bytes, payloadEnd);
    const actual = (opts.crc32c ?? crc32c)(bytes, 0, payloadEnd);
    if (expected !== actual) {
      return fail(
        'checksum-mismatch',
        `crc 0x${actual.toString(16)} != 0x${expected.toString(16)}`,
      );
    }
  }

  const from = decodeUtf8(bytes, fromStart, fromStart + fromLength);
  if (from === undefined) return fail('bad-node-id', 'sender id is not valid UTF-8');
  const to = decodeUtf8(bytes, toStart, toStart + toLength);
  if (to === undefined) return fail('bad-node-id', 'receiver id is not valid UTF-8');

  if (auth !== undefined) {
    let key: Uint8Array | undefined;
    try {
      key = keyFor(auth.keys, from, to);
    } catch (e) {
      return fail('internal', `key ring threw: ${String(e)}`);
    }
    if (key === undefined) return fail('auth-unknown-key', `no key for ${from} -> ${to}`);
    let tag: Uint8Array;
    try {
      tag = auth.mac.sign(key, bytes.subarray(0, crcEnd));
    } catch (e) {
      return fail('internal', `mac threw: ${String(e)}`);
    }
    if (!tagsEqual(tag, bytes.subarray(crcEnd, size))) {
      return fail('auth-failed', `bad tag for ${from} -> ${to}`);
    }
  }

  return { ok: true, frame: { from, to, payload: bytes.subarray(payloadStart, payloadEnd) }, size };
}

/**
 * Stream framing: the total size of the frame starting at `bytes[offset]` (its length prefix plus
 * 4), or `undefined` if fewer than 4 bytes are available there. The size is not bounded here: a
 * stream reader must reject a size over `FRAME_MAX_BYTES` before buffering that much.
 * Throws `SteadfastError('bad-argument')` for an offset that is not an integer in [0, length].
 */
export function frameLengthPrefix(bytes: Uint8Array, offset: number): number | undefined {
  if (!Number.isInteger(offset) || offset < 0 || offset > bytes.length) {
    throw new SteadfastError('bad-argument', `frameLengthPrefix: bad offset ${offset}`);
  }
  if (bytes.length - offset < PREFIX_BYTES) return undefined;
  return PREFIX_BYTES + readU32(bytes, offset);
}
