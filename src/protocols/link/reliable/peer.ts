/**
 * Per-peer state of the reliable link, one half per direction: what this node sends to the peer
 * (`SendState`) and what it has received from it (`RecvState`).
 *
 * Invariants (asserted where they change, in sender.ts and receiver.ts):
 *   - `inFlight` iterates in ascending seq order (Map insertion order): messages enter it from
 *     the head of `waiting`, which is in seq order, and leave it in any order;
 *   - nextSeq ≤ reservedUpTo: every seq handed out lies below the durable reservation;
 *   - the receiver's watermark never decreases, and its window holds only seqs above it.
 */

import type { NodeId } from '../../../core/ids.ts';
import { CongestionWindow, type CongestionOptions } from '../congestion.ts';
import { RttEstimator, type RttBounds } from './rtt.ts';
import { SeqWindow } from './seq-window.ts';
import type { DataMsg } from './wire.ts';

export interface InFlight {
  readonly seq: number;
  readonly msg: DataMsg;
  readonly firstSentAt: number;
  transmissions: number;
  /** When it is resent unless acked (its retransmission deadline). */
  deadlineAt: number;
  /** When the latest transmission left (RACK's per-packet send time). */
  lastSentAt: number;
}

export interface Waiting {
  readonly seq: number;
  readonly msg: DataMsg;
}

export interface SendState {
  nextSeq: number;
  /** Seqs below this are reserved in durable state (never reused after a crash). */
  reservedUpTo: number;
  /** Sent, not yet acked, in ascending seq order. */
  readonly inFlight: Map<number, InFlight>;
  /** The highest seq ever moved into flight (each one must exceed it: the order invariant). */
  highestSentSeq: number;
  /** Accepted, waiting for window space, in seq order (an array with a moving head). */
  readonly waiting: (Waiting | undefined)[];
  waitingHead: number;
  readonly rtt: RttEstimator;
  /** Highest cumulative ack received: the receiver's watermark as far as we know. */
  cumAcked: number;
  /** Latest send time of any message acked so far (RACK: anything sent before it is suspect). */
  rackSentAt: number;
  /** When the `rto` timer is armed for (undefined: disarmed). */
  rtoTimerAt: number | undefined;
  /** Congestion window (when congestion control is on). */
  readonly cc: CongestionWindow | undefined;
  /**
   * The peer's advertised receiver window, in seqs above its watermark (undefined: none known).
   * The send limit is max(cumAcked, floor − 1) + sendWnd: relative to the watermark the peer will
   * have once it sees our floor, so a gap in our seqs (a restart skips the rest of a reserved
   * block) never counts against the window.
   */
  sendWnd: number | undefined;
  /** At-most-once messages sent within the last lateHorizonMs (bounded), oldest first. */
  readonly amoRecent: { readonly seq: number; readonly at: number }[];
  amoHead: number;
  /** RACK reordering window multiplier, doubled on each D-SACK (RFC 8985 §6.2). */
  reorderMult: number;
  /** Loss-detection retransmissions since the last D-SACK (every RACK_HALVE_AFTER halve it). */
  rackSinceDup: number;
}

export interface RecvState {
  /** Every seq ≤ watermark from this sender is settled. */
  watermark: number;
  /** Seqs in (watermark, watermark + dedupWindowMax] received out of order. */
  readonly window: SeqWindow;
  /** An ack is owed and the `ack` timer is armed (ackDelayMs > 0). */
  ackOwed: boolean;
  /** The ack owed answers a duplicate arrival (D-SACK). */
  ackDup: boolean;
  /** `ts` of the earliest data frame the owed ack answers (undefined: none carried one). */
  tsEcho: number | undefined;
}

export interface Peer {
  readonly id: NodeId;
  readonly tx: SendState;
  readonly rx: RecvState;
}

export function newPeer(
  id: NodeId,
  rtt: RttBounds,
  congestion: Partial<CongestionOptions> | undefined,
  receiveWindowMax: number | undefined,
): Peer {
  return {
    id,
    tx: {
      nextSeq: 1,
      reservedUpTo: 1,
      inFlight: new Map(),
      highestSentSeq: 0,
      waiting: [],
      waitingHead: 0,
      rtt: new RttEstimator(rtt),
      cumAcked: 0,
      rackSentAt: Number.NEGATIVE_INFINITY,
      rtoTimerAt: undefined,
      cc: congestion === undefined ? undefined : new CongestionWindow(congestion),
      sendWnd: receiveWindowMax,
      amoRecent: [],
      amoHead: 0,
      reorderMult: 1,
      rackSinceDup: 0,
    },
    rx: {
      watermark: 0,
      window: new SeqWindow(),
      ackOwed: false,
      ackDup: false,
      tsEcho: undefined,
    },
  };
}

/** Messages waiting for window space. */
export function waitingCount(tx: SendState): number {
  return tx.waiting.length - tx.waitingHead;
}
