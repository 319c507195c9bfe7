/**
 * The three kinds of error (after h11, quinn and TigerBeetle):
 *
 * 1. The remote misbehaving (a malformed, corrupted or forged frame) never throws out of a
 *    `handle*` method or a decoder: it is a value (`DecodeError`), dropped and counted.
 * 2. Local misuse (a bad argument, a full buffer, a command the protocol does not know) throws a
 *    `SteadfastError` with a stable `code`.
 * 3. A broken invariant is an `assert` that stays on in production and throws `AssertionFailed`.
 */

export type ErrorCode =
  | 'bad-argument'
  | 'buffer-full'
  | 'unknown-peer'
  | 'unknown-command'
  | 'frame-too-large'
  | 'not-running'
  /** A protocol emitted a message that cannot be encoded (not plain data, too large): a bug. */
  | 'unencodable';

/** Local misuse: thrown synchronously to the caller that made the mistake. */
export class SteadfastError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'SteadfastError';
    this.code = code;
  }
}

/** A broken invariant: a bug in steadfast, never the remote's fault. */
export class AssertionFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AssertionFailed';
  }
}

/** Always-on assertion. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionFailed(message);
}
