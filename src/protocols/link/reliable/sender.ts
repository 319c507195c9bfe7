/**
 * The sending half of the reliable link: sequence numbers and their durable reservation, the
 * send buffer (in flight + waiting), the window limits, retransmission on timeout and loss
 * detection (RACK), and what an ack settles.
 *
 * Timeout (RFC 6298, rtt.ts): on a timeout only the LOWEST expired message is resent; the other
 * expired ones get a new (backed-off) deadline without being resent. When acks resume, RACK
 * (`detectLoss`) resends at once every message sent a reordering window before the one acked, so
 * real losses are repaired one round trip after the probe, and a spurious timeout (the round trip
 * stretched past the RTO: a long group commit at either end does that) sends one message twice
 * instead of a whole window. TCP does the same: on RTO it resends the first unacked segment, and
 * loss recovery does the rest. Every retransmission deadline is stretched by up to `jitterRatio`
 * (never shortened) with the injected Rng, so retries of many nodes do not synchronise.
 *
 * Round trips: at most one exact sample per ack, from the `ts` it echoes (RFC 7323's RTTM), and
 * only when the echo MATCHES a transmission this sender made of a message the ack newly settles
 * (its first or its latest transmission: the echo names which one, so a retransmitted message is
 * timed without Karn's ambiguity). An ack without a matching echo gives no sample: one that
 * settles nothing, one that echoes nothing (it answers only duplicates: the receiver never
 * echoes a duplicate's ts, receiver.ts), or one whose echo names no transmission of what it
 * settles. Together: an attacker replaying captured frames (authentic: it needs no key) cannot
 * move SRTT or the RTO. Before, the receiver echoed the earliest frame of an ack window,
 * duplicates included, so each ack answering a replayed frame fed a sample of seconds and the
 * RTO sat at its maximum; the sender's matching alone still let a YOUNG replay (a duplicate of a
 * message whose ack was lost) add the attacker's delay to a matched sample. No per-message
 * fallback: per-message samples are correlated (an ack covering hundreds of messages would feed
 * hundreds of near-equal values, so the RTO forgets earlier variance), and under ack loss their
 * age is not a round trip.
 *
 * Stale acks: an ack whose `cum` is below one already received (reordered, or replayed) still
 * settles what it covers, but its receiver window and its D-SACK flag are old news and ignored
 * (as TCP ignores a window update older than SND.WL1): a replayed old D-SACK would otherwise
 * widen the reordering window and slow loss detection. Selective ranges at or below what is
 * already settled are skipped, not walked, so a flood of replayed old acks costs little.
 *
 * Limits on what is in flight: never beyond the receiver's dedup window above its watermark (it
 * would drop the message unacked); with a receiver window, never more than its advertised `wnd`
 * above that watermark; with congestion control, never more than cwnd in flight. The watermark
 * is max(cumAcked, floor − 1): after a restart our seqs jump past a gap, and an edge counted
 * from the last `cum` would stay below them for ever — no frame could carry the floor that moves
 * the receiver past the gap.
 */

import { assert } from '../../../core/errors.ts';
import type { DurableWrite } from '../../../core/protocol.ts';
import type { Rng } from '../../../core/rng.ts';
import { seqKey, txKey } from './durable-keys.ts';
import type { ReliableOptions } from './options.ts';
import type { LinkCounters, LinkOut } from './out.ts';
import type { InFlight, Peer, SendState } from './peer.ts';
import { POLICY } from './policy.ts';
import { onWire, type AckMsg, type DataMsg } from './wire.ts';

/** Cap of the RACK reordering multiplier (RFC 8985 §6.2 doubles it per D-SACK). */
const REORDER_MULT_MAX = 256;
/** Loss-detection retransmissions after which the reordering multiplier halves again. */
const RACK_HALVE_AFTER = 16;
/** RACK's reordering window is this fraction of the smallest RTT (RFC 8985: minRTT / 4). */
const REORDER_FRACTION_OF_MIN_RTT = 1 / 4;

export class SenderHalf {
  /** Bound on amoRecent per peer: half the receiver's window, so the floor never lags past it. */
  private readonly amoRecentMax: number;

  constructor(
    private readonly opts: ReliableOptions,
    private readonly rng: Rng,
    private readonly counters: LinkCounters,
    private readonly out: LinkOut,
  ) {
    this.amoRecentMax = Math.max(1, Math.floor(opts.dedupWindowMax / 2));
  }

  /** A new message to `peer` (the command was validated): sent at once, or queued. */
  send(now: number, peer: Peer, msg: DataMsg): void {
    const tx = peer.tx;
    const policy = POLICY[msg.mode];
    if (!policy.retransmit) {
      // Sent once, never buffered: the floor moves past it at once.
      this.counters.sent++;
      tx.amoRecent.push({ seq: msg.seq, at: now });
      if (tx.amoRecent.length - tx.amoHead > this.amoRecentMax) tx.amoHead++;
      this.out.send(peer.id, onWire(msg, this.floor(now, tx), now));
      return;
    }
    if (policy.durableBuffer) {
      // Lazy: the frame need not wait for it (only for the seq reservation, an ordinary persist).
      // If a crash loses it, the message is in doubt — maybe delivered, never resent — as when
      // a crash cuts the command short (see LAZY PERSISTS in core/protocol.ts).
      this.out.persistLazy([{ key: txKey(peer.id, msg.seq), value: msg }]);
      this.counters.persists++;
    }
    tx.waiting.push({ seq: msg.seq, msg });
    this.pump(now, peer);
  }

  /** The next seq to `peer`, reserving a new durable block first when the last one is used up. */
  takeSeq(peer: Peer): number {
    const tx = peer.tx;
    if (tx.nextSeq >= tx.reservedUpTo) {
      tx.reservedUpTo = tx.nextSeq + this.opts.seqBlock;
      this.out.persist([{ key: seqKey(peer.id), value: tx.reservedUpTo }]);
      this.counters.persists++;
    }
    assert(tx.nextSeq < tx.reservedUpTo, 'sender: every seq handed out is reserved');
    return tx.nextSeq++;
  }

  /** A send buffer recovered at start: resend in seq order through the normal window. */
  resume(now: number, peer: Peer): void {
    const tx = peer.tx;
    const sorted = tx.waiting
      .slice(tx.waitingHead)
      .filter((w) => w !== undefined)
      .sort((a, b) => a.seq - b.seq);
    tx.waiting.length = 0;
    tx.waitingHead = 0;
    tx.waiting.push(...sorted);
    this.pump(now, peer);
  }

  /**
   * Lowest seq not yet settled on the sending side: the smallest in flight or waiting, or an
   * at-most-once message sent less than `lateHorizonMs` ago (it may still arrive late, reordered;
   * once the horizon has passed the receiver stops waiting for it).
   */
  floor(now: number, tx: SendState): number {
    let f = tx.nextSeq;
    for (const s of tx.inFlight.keys()) {
      if (s < f) f = s;
      break; // seq order: the first is the smallest
    }
    const w = tx.waiting[tx.waitingHead];
    if (w !== undefined && w.seq < f) f = w.seq;
    const recent = tx.amoRecent;
    while (
      tx.amoHead < recent.length &&
      (recent[tx.amoHead]?.at ?? 0) + this.opts.lateHorizonMs < now
    ) {
      tx.amoHead++;
    }
    if (tx.amoHead === recent.length && tx.amoHead > 0) {
      recent.length = 0;
      tx.amoHead = 0;
    }
    const oldest = recent[tx.amoHead];
    if (oldest !== undefined && oldest.seq < f) f = oldest.seq;
    return f;
  }

  /** Moves waiting messages into flight, within the limits (module header), and sends them. */
  pump(now: number, peer: Peer): void {
    const tx = peer.tx;
    // The floor is the same for every message this call sends: each one moves from the head of
    // `waiting` into `inFlight`, so the lowest seq of the two together does not change.
    const floor = this.floor(now, tx);
    const watermark = Math.max(tx.cumAcked, floor - 1);
    let limit = watermark + this.opts.dedupWindowMax;
    if (tx.sendWnd !== undefined && watermark + tx.sendWnd < limit) {
      limit = watermark + tx.sendWnd;
    }
    const inFlightMax = Math.min(this.opts.sendWindowMax, tx.cc?.window() ?? Infinity);
    while (tx.inFlight.size < inFlightMax && tx.waitingHead < tx.waiting.length) {
      const w = tx.waiting[tx.waitingHead];
      assert(w !== undefined, 'sender: the head of waiting is a message');
      if (w.seq > limit) break;
      tx.waiting[tx.waitingHead++] = undefined;
      assert(w.seq > tx.highestSentSeq, 'sender: inFlight is in ascending seq order');
      tx.highestSentSeq = w.seq;
      const deadlineAt = now + this.jittered(tx.rtt.rtoMs);
      tx.inFlight.set(w.seq, {
        seq: w.seq,
        msg: w.msg,
        firstSentAt: now,
        transmissions: 1,
        deadlineAt,
        lastSentAt: now,
      });
      this.counters.sent++;
      this.out.send(peer.id, onWire(w.msg, floor, now));
      if (tx.rtoTimerAt === undefined || deadlineAt < tx.rtoTimerAt) {
        tx.rtoTimerAt = deadlineAt;
        this.out.setTimer({ kind: 'rto', peer: peer.id }, deadlineAt);
      }
    }
    if (tx.waitingHead === tx.waiting.length && tx.waitingHead > 0) {
      tx.waiting.length = 0;
      tx.waitingHead = 0;
    }
    assert(tx.inFlight.size <= this.opts.sendWindowMax, 'sender: in flight ≤ sendWindowMax');
    if (tx.inFlight.size > this.counters.inFlightPeak) {
      this.counters.inFlightPeak = tx.inFlight.size;
    }
  }

  private jittered(ms: number): number {
    return Math.max(1, Math.round(ms * (1 + this.opts.jitterRatio * this.rng.next())));
  }

  /** The `rto` timer fired: resend the lowest expired message, back off, re-arm (header). */
  onTimeout(now: number, peer: Peer): void {
    const tx = peer.tx;
    tx.rtoTimerAt = undefined;
    let earliest = Number.POSITIVE_INFINITY;
    let probed = false;
    for (const e of tx.inFlight.values()) {
      if (e.deadlineAt > now) {
        if (e.deadlineAt < earliest) earliest = e.deadlineAt;
        continue;
      }
      tx.rtt.backoff(now);
      e.deadlineAt = now + this.jittered(tx.rtt.rtoMs);
      if (e.deadlineAt < earliest) earliest = e.deadlineAt;
      if (probed) continue; // inFlight iterates in seq order: the first expired is the lowest
      probed = true;
      e.transmissions++;
      e.lastSentAt = now;
      tx.cc?.onLost(1);
      this.counters.retransmissions++;
      this.out.send(peer.id, onWire(e.msg, this.floor(now, tx), now));
    }
    if (earliest !== Number.POSITIVE_INFINITY) {
      tx.rtoTimerAt = earliest;
      this.out.setTimer({ kind: 'rto', peer: peer.id }, earliest);
    }
  }

  /** An ack from `peer`: settle what it covers, time the round trip, detect loss, send more. */
  onAck(now: number, peer: Peer, ack: AckMsg): void {
    const tx = peer.tx;
    const cumBefore = tx.cumAcked;
    const stale = ack.cum < cumBefore; // the module header: window and D-SACK ignored
    if (ack.cum > tx.cumAcked) tx.cumAcked = ack.cum;
    let opened = false;
    if (ack.wnd !== undefined && !stale) {
      if (tx.sendWnd === undefined || ack.wnd > tx.sendWnd || ack.cum > cumBefore) opened = true;
      tx.sendWnd = ack.wnd;
    }
    if (ack.dup === true && !stale) {
      tx.reorderMult = Math.min(tx.reorderMult * 2, REORDER_MULT_MAX);
      tx.rackSinceDup = 0;
    }
    const acked = this.settle(tx, ack);
    if (acked.length === 0) {
      if (opened) this.pump(now, peer); // a window update alone
      return;
    }
    tx.cc?.onAcked(acked.length);
    const deletes: DurableWrite[] = [];
    const echoed = ack.ts !== undefined && ack.ts <= now;
    let sampled = false;
    for (const e of acked) {
      // One sample, from an echo naming a transmission of a message this ack settles (header).
      if (echoed && !sampled && (ack.ts === e.lastSentAt || ack.ts === e.firstSentAt)) {
        tx.rtt.sample(now - ack.ts);
        sampled = true;
      }
      // RACK: an ack for a transmission sent at lastSentAt, if it cannot be an ack of an earlier
      // transmission: with an echo, every frame this ack answers was sent at or after it; without,
      // it came back no faster than the fastest round trip seen. (The min-RTT test alone misfires
      // when commits stretch round trips far beyond the minimum: an original acked late would make
      // a fresh retransmission look delivered, and every message sent before it look lost.)
      if (
        e.lastSentAt > tx.rackSentAt &&
        (e.transmissions === 1 ||
          (echoed ? ack.ts >= e.lastSentAt : now - e.lastSentAt >= tx.rtt.minRttMs))
      ) {
        tx.rackSentAt = e.lastSentAt;
      }
      if (POLICY[e.msg.mode].durableBuffer)
        deletes.push({ key: txKey(peer.id, e.seq), value: null });
      this.opts.observer?.acked(peer.id, e.seq);
    }
    this.detectLoss(now, peer);
    this.pump(now, peer);
    if (tx.inFlight.size === 0 && tx.rtoTimerAt !== undefined) {
      tx.rtoTimerAt = undefined;
      this.out.cancelTimer({ kind: 'rto', peer: peer.id });
    }
    // The send-buffer deletes go LAST, and lazy: nothing depends on them being durable (a crash
    // that loses them only resends acked messages, which the receiver's dedup absorbs), so no
    // output, of this turn or a later one, waits for them.
    if (deletes.length > 0) {
      this.out.persistLazy(deletes);
      this.counters.persists++;
    }
  }

  /** Removes from flight what `ack` covers (cumulative prefix, then selective ranges). */
  private settle(tx: SendState, ack: AckMsg): InFlight[] {
    // inFlight is in seq order (Map insertion order), so the cumulative part is a prefix.
    const acked: InFlight[] = [];
    for (const e of tx.inFlight.values()) {
      if (e.seq > ack.cum) break;
      acked.push(e);
    }
    for (const e of acked) tx.inFlight.delete(e.seq);
    const sack = ack.sack;
    // Seqs up to cumAcked are settled already: a stale (or replayed) ack's ranges below it are
    // skipped, not walked.
    const settledUpTo = Math.max(ack.cum, tx.cumAcked);
    for (let i = 0; i + 1 < sack.length; i += 2) {
      const first = Math.max(sack[i] ?? 0, settledUpTo + 1);
      // A range can only cover what this sender has in flight: bound the walk by the window.
      const last = Math.min(sack[i + 1] ?? 0, first + this.opts.sendWindowMax);
      for (let seq = first; seq <= last; seq++) {
        const e = tx.inFlight.get(seq);
        if (e === undefined) continue;
        tx.inFlight.delete(seq);
        acked.push(e);
      }
    }
    return acked;
  }

  /**
   * Time-based loss detection after RACK (RFC 8985): a message still unacked although a message
   * sent more than a reordering window after it has been acked is deemed lost and resent at once,
   * instead of waiting for its RTO. Unlike a duplicate-ack count, this also catches a lost
   * retransmission (a later send gets acked), so one unlucky retransmission does not stall the
   * window for a whole RTO. The walk is in seq order and stops at the first first-transmission
   * that is not yet suspect: first transmissions leave in seq order, so none after it is either.
   */
  private detectLoss(now: number, peer: Peer): void {
    const tx = peer.tx;
    if (tx.rackSentAt === Number.NEGATIVE_INFINITY) return;
    // reo_wnd = min(reorderMult · minRTT/4, SRTT), at least 1 ms (RFC 8985).
    const minRtt = tx.rtt.minRttMs;
    const base = Number.isFinite(minRtt) ? minRtt * REORDER_FRACTION_OF_MIN_RTT : 1;
    const reorderMs = Math.max(
      1,
      Math.min(tx.reorderMult * base, tx.rtt.srttMs ?? Number.POSITIVE_INFINITY),
    );
    const before = tx.rackSentAt - reorderMs;
    for (const e of tx.inFlight.values()) {
      if (e.lastSentAt >= before) {
        if (e.transmissions === 1) break;
        continue;
      }
      e.transmissions++;
      e.lastSentAt = now;
      e.deadlineAt = now + this.jittered(tx.rtt.rtoMs);
      tx.cc?.onLost(1);
      this.counters.fastRetransmissions++;
      if (++tx.rackSinceDup >= RACK_HALVE_AFTER) {
        tx.rackSinceDup = 0;
        tx.reorderMult = Math.max(1, tx.reorderMult / 2);
      }
      this.counters.retransmissions++;
      this.out.send(peer.id, onWire(e.msg, this.floor(now, tx), now));
    }
  }
}
