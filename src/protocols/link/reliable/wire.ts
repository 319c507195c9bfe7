/**
 * The reliable link's wire messages and its application-facing command and delivery types.
 *
 * Guarantees: `isReliableMsg` accepts exactly the messages this module's types describe, with
 * every number a safe non-negative integer (times: finite ≥ 0) and an ack's selective-ack list
 * bounded (`SACK_LIST_MAX`), so a hostile frame can never make the engine walk unbounded ranges.
 * `onWire` builds the data message of one transmission with the same fields in the same order
 * as `{ ...m, floor, ts }`, so frames and traces are stable.
 * Assumes: messages are plain data (the frame codec guarantees it).
 */

import type { NodeId } from '../../../core/ids.ts';

/** Per-message guarantee mode; what each one does is the policy table in policy.ts. */
export type Mode = 'pl' | 'amo' | 'alo' | 'eo';

export const MODES: readonly Mode[] = ['pl', 'amo', 'alo', 'eo'];

/**
 * Longest selective-ack list a received ack may carry (2 numbers per range). Ours carry at most
 * 2 × sackMax; the bound only stops a hostile peer from sending a huge one.
 */
export const SACK_LIST_MAX = 4096;

/** A data message: field names are short because every frame carries them. */
export interface DataMsg {
  readonly type: 'data';
  readonly seq: number;
  /** Every seq below `floor` is acked or abandoned by the sender. */
  readonly floor: number;
  readonly mode: Mode;
  readonly payload: unknown;
  /** Application idempotency key (exactly-once only). */
  readonly key?: string;
  /**
   * The sender's clock (ms) when it sent THIS transmission; the receiver's ack echoes it, so
   * the sender times round trips exactly (RFC 7323's RTTM), retransmissions included.
   */
  readonly ts?: number;
}

export interface AckMsg {
  readonly type: 'ack';
  /** Every seq ≤ cum has been received. */
  readonly cum: number;
  /**
   * Selective acks: ranges of seqs above `cum` received out of order, as a flat list of
   * inclusive pairs [first1, last1, first2, last2, …] in ascending order (at most `sackMax`
   * ranges; when there are more, the lowest are kept: the holes nearest `cum` matter most).
   */
  readonly sack: readonly number[];
  /**
   * D-SACK (RFC 2883): set when the ack answers a duplicate arrival, so the sender learns a
   * retransmission was spurious and widens its reordering window.
   */
  readonly dup?: true;
  /** Receiver window: the sender may send seqs ≤ cum + wnd (absent: none advertised). */
  readonly wnd?: number;
  /** Echo of the `ts` of the earliest data frame this ack answers (see `DataMsg.ts`). */
  readonly ts?: number;
}

/** Wire messages of the engine. */
export type ReliableMsg = DataMsg | AckMsg;

export interface ReliableSend {
  readonly type: 'send';
  readonly to: NodeId;
  readonly payload: unknown;
  /** Default: the endpoint's `defaultMode`. */
  readonly mode?: Mode;
  /** Application idempotency key (exactly-once): a second message with the same key is not applied. */
  readonly key?: string;
}

/**
 * The application has taken inbox message `seq` from `from` for good (its own store holds its
 * effect): the receiver deletes it from the durable inbox (inbox.ts). Acking a message the inbox
 * does not hold (already acked) changes nothing.
 */
export interface ReliableInboxAck {
  readonly type: 'inbox-ack';
  readonly from: NodeId;
  readonly seq: number;
}

/** The engine's commands: a send, or an inbox acknowledgement (with `inboxMax` set). */
export type ReliableCommand = ReliableSend | ReliableInboxAck;

export interface ReliableDeliver {
  readonly type: 'deliver';
  readonly from: NodeId;
  readonly payload: unknown;
  readonly seq: number;
  readonly mode: Mode;
  /** The application state after this message's effect (when an effect is configured). */
  readonly state?: unknown;
  /**
   * Set when the message sits in the durable inbox (`inboxMax`, exactly-once): it stays there,
   * and is offered again after a restart, until the application gives its `inbox-ack`.
   */
  readonly inbox?: true;
  /** An inbox message offered again (at start), not for the first time. */
  readonly again?: true;
}

/**
 * An application effect applied atomically with the dedup mark (a pure reducer). Its state is
 * persisted under the key `app` in the same batch as the mark.
 */
export interface Effect {
  readonly init: unknown;
  apply(state: unknown, from: NodeId, payload: unknown): unknown;
}

export function isTime(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x) && x >= 0;
}

export function isSeq(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

export function isMode(x: unknown): x is Mode {
  return x === 'pl' || x === 'amo' || x === 'alo' || x === 'eo';
}

export function isReliableMsg(v: unknown): v is ReliableMsg {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Record<string, unknown>;
  if (m.type === 'data') {
    return (
      isSeq(m.seq) &&
      isSeq(m.floor) &&
      isMode(m.mode) &&
      'payload' in m &&
      (m.key === undefined || typeof m.key === 'string') &&
      (m.ts === undefined || isTime(m.ts))
    );
  }
  if (m.type === 'ack') {
    return (
      isSeq(m.cum) &&
      (m.dup === undefined || m.dup === true) &&
      Array.isArray(m.sack) &&
      m.sack.length <= SACK_LIST_MAX &&
      m.sack.length % 2 === 0 &&
      m.sack.every(isSeq) &&
      (m.wnd === undefined || isSeq(m.wnd)) &&
      (m.ts === undefined || isTime(m.ts))
    );
  }
  return false;
}

/**
 * The data message as it goes on the wire: `m` with this transmission's `floor` and `ts`. The
 * same fields in the same order as `{ ...m, floor, ts }`, built as literals: this runs once per
 * transmission, and a spread is several times slower.
 */
export function onWire(m: DataMsg, floor: number, ts: number): DataMsg {
  return m.key === undefined
    ? { type: 'data', seq: m.seq, floor, mode: m.mode, payload: m.payload, ts }
    : { type: 'data', seq: m.seq, floor, mode: m.mode, payload: m.payload, key: m.key, ts };
}
