/**
 * The receiving half of the reliable link: dedup with a contiguous watermark plus a bounded
 * out-of-order window, the mode's delivery rule (policy.ts), the application effect and its
 * durable record, idempotency keys, and acks (cumulative, selective, D-SACK, window, ts echo).
 *
 * Memory per sender: a watermark W (every seq ≤ W is settled) and the seqs in (W, W +
 * dedupWindowMax] seen out of order; a seq beyond that window is dropped unacked (the sender
 * retries once the window moves). Never a set of every id ever seen. Every data message carries
 * `floor` (every seq below it is acked or abandoned by the sender): W moves up to floor − 1, so a
 * gap left by a restarted sender or a lost at-most-once message never stalls it.
 *
 * Timestamp echo (RFC 7323's RTTM, with its rule that only a new segment updates TS.Recent): an
 * ack echoes the `ts` of the earliest NEW data frame it answers, never a duplicate's. A copy
 * that is seen again — a spurious retransmission, a network duplicate, or an old frame an
 * attacker captured and replays (it needs no key: the frame is authentic) — is acked without its
 * ts, so a replayed frame sent seconds ago cannot make the sender measure a round trip of
 * seconds (the sender also takes a sample only from an echo it can match: sender.ts).
 *
 * Order of outputs (the output-order contract): for a mode with `durableMark`, the mark, the
 * `applied` record, any idempotency key, the effect's state and (with `inboxMax`, inbox.ts) the
 * inbox entry are ONE persist, before the delivery and before the ack, so no crash makes the
 * message apply twice or be acked unapplied (or acked and not in the inbox).
 *
 * Inbox full: an exactly-once message that would go into a full inbox is dropped before it is
 * marked (no effect, no ack, counted as `inboxFullDropped`); its sender retransmits it.
 */

import { assert } from '../../../core/errors.ts';
import type { NodeId } from '../../../core/ids.ts';
import type { DurableWrite } from '../../../core/protocol.ts';
import { addMs, type Instant } from '../../../core/time.ts';
import { APP_KEY, APPLIED_KEY, rxKey } from './durable-keys.ts';
import { Inbox, type InboxEntry } from './inbox.ts';
import type { KeyTable } from './keys.ts';
import type { ReliableOptions } from './options.ts';
import type { LinkCounters, LinkOut } from './out.ts';
import type { Peer, RecvState } from './peer.ts';
import { POLICY } from './policy.ts';
import type { AckMsg, DataMsg } from './wire.ts';

export class ReceiverHalf {
  /** The application state the effect has built (undefined without an effect). */
  appState: unknown;
  /** The durable inbox (undefined: `inboxMax` unset, deliveries are notifications only). */
  readonly inbox: Inbox | undefined;
  /** Exactly-once messages dropped unacked because the inbox was full. */
  inboxFullDropped = 0;

  constructor(
    private readonly opts: ReliableOptions,
    private readonly keys: KeyTable,
    private readonly counters: LinkCounters,
    private readonly out: LinkOut,
  ) {
    this.appState = opts.effect?.init;
    this.inbox = opts.inboxMax === undefined ? undefined : new Inbox(opts.inboxMax);
  }

  /** Offers every message still in the inbox again (at start: its notification may be lost). */
  reoffer(): void {
    if (this.inbox === undefined) return;
    for (const e of this.inbox.entries()) {
      this.out.deliver({
        type: 'deliver',
        from: e.from,
        payload: e.payload,
        seq: e.seq,
        mode: 'eo',
        inbox: true,
        again: true,
      });
    }
  }

  /** The application acked inbox message `seq` from `from`: delete it (no-op if not held). */
  inboxAck(from: NodeId, seq: number): boolean {
    const del = this.inbox?.take(from, seq);
    if (del === undefined) return false;
    this.out.persist([del]);
    this.counters.persists++;
    return true;
  }

  /** What the inbox holds, in arrival order (empty without an inbox). */
  inboxEntries(): InboxEntry[] {
    return this.inbox?.entries() ?? [];
  }

  /** Dedup state read back from durable state at start. */
  restore(peer: Peer, rx: { w: number; win: number[] }): void {
    peer.rx.watermark = rx.w;
    for (const s of rx.win) if (s > rx.w) peer.rx.window.add(s);
  }

  onData(now: number, peer: Peer, msg: DataMsg): void {
    const policy = POLICY[msg.mode];
    if (msg.floor > msg.seq + 1 || (msg.key !== undefined && !policy.idempotencyKeys)) {
      this.counters.malformedDropped++;
      return;
    }
    const rx = peer.rx;
    // Everything below floor is settled at the sender: never wait for it.
    if (msg.floor - 1 > rx.watermark) this.advance(rx, msg.floor - 1);
    const seen = msg.seq <= rx.watermark || rx.window.has(msg.seq);
    if (!seen && msg.seq > rx.watermark + this.opts.dedupWindowMax) {
      this.counters.outOfWindowDropped++; // no ack: the sender retries once the window moves
      return;
    }
    if (!policy.dedup) {
      // Every copy is delivered: duplicates are visible to the application.
      if (!seen) this.mark(rx, msg.seq);
      else rx.ackDup = true; // D-SACK: the sender learns its retransmission was spurious
      this.applyAndDeliver(peer, msg, []);
      this.owe(now, peer, seen ? undefined : msg.ts); // no echo from a duplicate (header)
      return;
    }
    if (seen) {
      this.counters.duplicatesDropped++;
      rx.ackDup = true;
      // Ack again (the first ack may have been lost), without echoing the copy's ts (header).
      if (policy.acks) this.owe(now, peer, undefined);
      return;
    }
    // The inbox holds exactly-once messages: durable mark and acks (inbox.ts).
    const inbox = policy.durableMark && policy.acks ? this.inbox : undefined;
    if (inbox?.full === true) {
      this.inboxFullDropped++; // not marked, not acked: the sender retransmits (header)
      return;
    }
    this.mark(rx, msg.seq);
    if (!policy.durableMark) {
      this.applyAndDeliver(peer, msg, undefined);
      if (policy.acks) this.owe(now, peer, msg.ts);
      return;
    }
    const writes: DurableWrite[] = [{ key: rxKey(peer.id), value: this.rxState(rx) }];
    if (msg.key !== undefined) {
      this.keys.expire(now);
      if (this.keys.has(msg.key)) {
        this.counters.keyDuplicatesDropped++;
        this.out.persist(writes);
        this.counters.persists++;
        if (policy.acks) this.owe(now, peer, msg.ts);
        return;
      }
      this.keys.add(msg.key, now, writes);
    }
    // The `applied` write names the message in the same batch as its mark: the durable record
    // that its effect happened (the checkers count applications from it, since a crash may lose
    // the notification that follows).
    writes.push({ key: APPLIED_KEY, value: { from: peer.id, seq: msg.seq, payload: msg.payload } });
    inbox?.add(peer.id, msg.seq, msg.payload, msg.key, writes);
    this.applyAndDeliver(peer, msg, writes, inbox !== undefined);
    if (policy.acks) this.owe(now, peer, msg.ts);
  }

  /** The `ack` timer fired. */
  onAckTimer(peer: Peer): void {
    if (!peer.rx.ackOwed) return;
    peer.rx.ackOwed = false;
    this.sendAck(peer);
  }

  private mark(rx: RecvState, seq: number): void {
    rx.window.add(seq);
    this.compact(rx);
  }

  /** Moves the watermark up to `w` (never down). */
  private advance(rx: RecvState, w: number): void {
    assert(w >= rx.watermark, 'receiver: the watermark never decreases');
    rx.watermark = w;
    rx.window.deleteUpTo(w);
    this.compact(rx);
  }

  private compact(rx: RecvState): void {
    while (rx.window.has(rx.watermark + 1)) {
      rx.watermark++;
      rx.window.deleteUpTo(rx.watermark);
    }
    assert(rx.window.size <= this.opts.dedupWindowMax, 'receiver: window ≤ dedupWindowMax');
  }

  private rxState(rx: RecvState): { w: number; win: number[] } {
    return { w: rx.watermark, win: rx.window.sorted() };
  }

  /** Applies the effect; persists `writes` (+ app state) unless undefined; then delivers. */
  private applyAndDeliver(
    peer: Peer,
    msg: DataMsg,
    writes: DurableWrite[] | undefined,
    inInbox = false,
  ): void {
    const effect = this.opts.effect;
    if (effect !== undefined) {
      this.appState = effect.apply(this.appState, peer.id, msg.payload);
      if (writes !== undefined) writes.push({ key: APP_KEY, value: this.appState });
    }
    if (writes !== undefined && writes.length > 0) {
      this.out.persist(writes);
      this.counters.persists++;
    }
    this.counters.delivered++;
    if (inInbox) {
      this.out.deliver(
        effect === undefined
          ? {
              type: 'deliver',
              from: peer.id,
              payload: msg.payload,
              seq: msg.seq,
              mode: msg.mode,
              inbox: true,
            }
          : {
              type: 'deliver',
              from: peer.id,
              payload: msg.payload,
              seq: msg.seq,
              mode: msg.mode,
              state: this.appState,
              inbox: true,
            },
      );
      return;
    }
    // Literals, not a spread of a base object: this runs once per delivery (a spread is several
    // times slower in V8), and the field order is the same either way.
    this.out.deliver(
      effect === undefined
        ? { type: 'deliver', from: peer.id, payload: msg.payload, seq: msg.seq, mode: msg.mode }
        : {
            type: 'deliver',
            from: peer.id,
            payload: msg.payload,
            seq: msg.seq,
            mode: msg.mode,
            state: this.appState,
          },
    );
  }

  /** An ack is owed to `peer` for a data frame sent at `ts` (its sender's clock). */
  private owe(now: number, peer: Peer, ts: number | undefined): void {
    const rx = peer.rx;
    // Echo the EARLIEST frame's ts: the round trip then includes the ack delay (RFC 7323 §4.3).
    if (rx.tsEcho === undefined) rx.tsEcho = ts;
    if (this.opts.ackDelayMs <= 0) {
      this.sendAck(peer);
      return;
    }
    if (rx.ackOwed) return;
    rx.ackOwed = true;
    this.out.setTimer({ kind: 'ack', peer: peer.id }, addMs(now as Instant, this.opts.ackDelayMs));
  }

  private sendAck(peer: Peer): void {
    const rx = peer.rx;
    const sack: number[] = [];
    if (rx.window.size > 0) {
      const seqs = rx.window.sorted();
      let first = seqs[0] ?? 0;
      let last = first;
      for (let i = 1; i <= seqs.length; i++) {
        const s = seqs[i];
        if (s === last + 1) {
          last = s;
          continue;
        }
        sack.push(first, last);
        if (sack.length >= 2 * this.opts.sackMax || s === undefined) break;
        first = last = s;
      }
    }
    this.counters.acksSent++;
    const rwnd = this.opts.receiveWindowMax;
    const wnd = rwnd === undefined ? undefined : Math.min(rwnd, this.opts.dedupWindowMax);
    const dup = rx.ackDup;
    rx.ackDup = false;
    // Optional fields only when set: an ack without them is the smallest frame.
    let ack: AckMsg = { type: 'ack', cum: rx.watermark, sack };
    if (dup) ack = { ...ack, dup: true };
    if (wnd !== undefined) ack = { ...ack, wnd };
    if (rx.tsEcho !== undefined) {
      ack = { ...ack, ts: rx.tsEcho };
      rx.tsEcho = undefined;
    }
    this.out.send(peer.id, ack);
  }
}
