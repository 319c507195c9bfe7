/**
 * What the halves of the engine share: the outputs they may emit (the endpoint's output queue,
 * in program order) and the counters they keep.
 */

import type { NodeId } from '../../../core/ids.ts';
import type { DurableWrite } from '../../../core/protocol.ts';
import type { LinkTimer } from './timers.ts';
import type { ReliableDeliver, ReliableMsg } from './wire.ts';

export interface LinkOut {
  send(to: NodeId, msg: ReliableMsg): void;
  setTimer(timer: LinkTimer, at: number): void;
  cancelTimer(timer: LinkTimer): void;
  deliver(d: ReliableDeliver): void;
  persist(writes: readonly DurableWrite[]): void;
  /** A persist later outputs need not wait for (see LAZY PERSISTS in core/protocol.ts). */
  persistLazy(writes: readonly DurableWrite[]): void;
}

/** Event counters of one endpoint (monotonic, except the peak). */
export interface LinkCounters {
  sent: number;
  retransmissions: number;
  fastRetransmissions: number;
  delivered: number;
  duplicatesDropped: number;
  keyDuplicatesDropped: number;
  outOfWindowDropped: number;
  malformedDropped: number;
  acksSent: number;
  persists: number;
  inFlightPeak: number;
}

export function newCounters(): LinkCounters {
  return {
    sent: 0,
    retransmissions: 0,
    fastRetransmissions: 0,
    delivered: 0,
    duplicatesDropped: 0,
    keyDuplicatesDropped: 0,
    outOfWindowDropped: 0,
    malformedDropped: 0,
    acksSent: 0,
    persists: 0,
    inFlightPeak: 0,
  };
}

/** What `ReliableEndpoint.stats()` returns. */
export type ReliableStats = Readonly<
  LinkCounters & {
    inFlight: number;
    waiting: number;
    /** Dedup state: one watermark per sender plus its out-of-order seqs. */
    dedupEntries: number;
    keys: number;
    /** The largest RTO and SRTT, the smallest minimum RTT over the peers. */
    rtoMsMax: number;
    srttMsMax: number;
    minRttMs: number;
    /** With an inbox only: messages held, and messages dropped unacked while it was full. */
    inbox?: number;
    inboxFullDropped?: number;
    /** With congestion control only: summed window, worst loss baseline, episodes. */
    cwnd?: number;
    lossBaseline?: number;
    congestionEpisodes?: number;
  }
>;
