/**
 * The reliable link's options, their defaults and their validation.
 *
 * Guarantees: `resolveOptions` returns complete options or throws `SteadfastError('bad-argument')`
 * naming the first bad field; every bound is a positive integer (units in the names).
 */

import { SteadfastError } from '../../../core/errors.ts';
import { CONGESTION_DEFAULTS, validateCongestion, type CongestionOptions } from '../congestion.ts';
import type { NodeId } from '../../../core/ids.ts';
import type { Effect, Mode } from './wire.ts';

/**
 * Watches the sending side for the application (the runtime's send acknowledgements): called
 * synchronously from inside the engine's `handle*`, it must only record (never call back into
 * the engine). It changes nothing the engine does or emits.
 */
export interface SendObserver {
  /** A `send` command to `to` was given sequence number `seq` (its id at this sender). */
  sent(to: NodeId, seq: number): void;
  /**
   * The receiver acknowledged `seq` (retransmitting modes only): it has the message, and for
   * exactly-once it has applied it durably. Once per message per incarnation of this sender, also
   * for messages recovered from the durable send buffer.
   */
  acked(to: NodeId, seq: number): void;
}

export interface ReliableOptions {
  /** Most messages in flight (sent, not acked) per peer. */
  readonly sendWindowMax: number;
  /** Most messages waiting for window space per peer; beyond it `send` throws `buffer-full`. */
  readonly sendQueueMax: number;
  /** Out-of-order seqs remembered per sender above the watermark. */
  readonly dedupWindowMax: number;
  /** Most selective-ack ranges per ack. */
  readonly sackMax: number;
  readonly rtoInitialMs: number;
  readonly rtoMinMs: number;
  readonly rtoMaxMs: number;
  /** Clock granularity G of RFC 6298. */
  readonly clockGranularityMs: number;
  /** Retransmission deadlines are stretched by a random factor in [1, 1 + jitterRatio]. */
  readonly jitterRatio: number;
  /** Delay acks by up to this long to batch them (0: ack at once). */
  readonly ackDelayMs: number;
  /**
   * How long the receiver may keep waiting for an at-most-once message that was overtaken by later
   * ones (reordering); after it, a late arrival is dropped, which at-most-once allows.
   */
  readonly lateHorizonMs: number;
  /** Seq numbers reserved per durable write. */
  readonly seqBlock: number;
  /** Exactly-once application keys are remembered this long (like NATS JetStream's 2 minutes). */
  readonly keyWindowMs: number;
  /** Most application keys remembered; the oldest is forgotten first when full. */
  readonly keyMax: number;
  /** Mode of a `send` that names none. */
  readonly defaultMode: Mode;
  readonly effect?: Effect;
  /** Receiver window advertised in acks, in messages (undefined: off, no `wnd` sent). */
  readonly receiveWindowMax?: number;
  /** Congestion control (undefined: off). */
  readonly congestion?: Partial<CongestionOptions>;
  /** Told of each send's seq and of each ack (the runtime's accepted/delivered; default none). */
  readonly observer?: SendObserver;
  /**
   * The durable inbox (inbox.ts; undefined: off): every exactly-once message stays in durable
   * state until the application acks it (`inbox-ack`), at most this many at once; a message
   * arriving while it is full is not acknowledged (its sender retransmits it later).
   */
  readonly inboxMax?: number;
}

export const RELIABLE_DEFAULTS: ReliableOptions = {
  sendWindowMax: 256,
  sendQueueMax: 100_000,
  dedupWindowMax: 4096,
  sackMax: 64,
  rtoInitialMs: 200,
  rtoMinMs: 100,
  rtoMaxMs: 5_000,
  clockGranularityMs: 1,
  jitterRatio: 0.1,
  ackDelayMs: 0,
  lateHorizonMs: 1000,
  seqBlock: 1024,
  keyWindowMs: 120_000,
  keyMax: 100_000,
  defaultMode: 'pl',
};

/** The defaults with `opts` over them, validated. */
export function resolveOptions(opts: Partial<ReliableOptions>): ReliableOptions {
  const o = { ...RELIABLE_DEFAULTS, ...opts };
  for (const [name, v] of Object.entries({
    sendWindowMax: o.sendWindowMax,
    sendQueueMax: o.sendQueueMax,
    dedupWindowMax: o.dedupWindowMax,
    sackMax: o.sackMax,
    seqBlock: o.seqBlock,
    keyMax: o.keyMax,
  })) {
    if (!Number.isInteger(v) || v < 1) {
      throw new SteadfastError('bad-argument', `${name} must be a positive integer, got ${v}`);
    }
  }
  if (!(o.rtoMinMs > 0 && o.rtoMinMs <= o.rtoInitialMs && o.rtoInitialMs <= o.rtoMaxMs)) {
    throw new SteadfastError('bad-argument', 'need 0 < rtoMinMs ≤ rtoInitialMs ≤ rtoMaxMs');
  }
  if (
    o.receiveWindowMax !== undefined &&
    (!Number.isInteger(o.receiveWindowMax) || o.receiveWindowMax < 1)
  ) {
    throw new SteadfastError(
      'bad-argument',
      `receiveWindowMax must be a positive integer, got ${o.receiveWindowMax}`,
    );
  }
  if (o.inboxMax !== undefined && (!Number.isInteger(o.inboxMax) || o.inboxMax < 1)) {
    throw new SteadfastError(
      'bad-argument',
      `inboxMax must be a positive integer, got ${o.inboxMax}`,
    );
  }
  if (o.congestion !== undefined) validateCongestion({ ...CONGESTION_DEFAULTS, ...o.congestion });
  return o;
}
