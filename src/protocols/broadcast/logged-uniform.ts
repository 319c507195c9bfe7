/**
 * Logged majority-ack uniform reliable broadcast (Cachin, Guerraoui and Rodrigues, 2nd ed., ch. 3,
 * "Logged Majority-Ack Uniform Reliable Broadcast"), for crash-recovery with a majority of correct
 * processes (N > 2f).
 *
 * A process that sees a message for the first time stores it as pending (with the mark in its
 * per-origin seen set) BEFORE relaying it to everyone, which is its acknowledgement to them; it
 * delivers once a majority (itself included) has relayed it, in one batch that ends the pending
 * record and appends the delivered-log entry (logged-log.ts), then announces it. Guarantees, as
 * the book states them for crash-recovery: URB1 validity, URB2 no duplication, URB3 no creation,
 * URB4 uniform agreement: a process delivers only what a majority has stored, and every process
 * that stored a message relays it to all, again after each restart while it is pending, so every
 * process that ends up correct gets it and a majority's acknowledgements.
 *
 * Acknowledgements are volatile (the book stores them; we need not): a restarted process asks
 * again. At start it sends each pending message to everyone marked `r` (a re-ask); a process that
 * has stored the message answers with a plain relay (one answer per re-ask, so no ping-pong), one
 * that has not treats it as a first receipt, whose relay to all answers it too. The relays of a
 * first receipt that a crash cut short are covered by the same re-ask, so no owed record is
 * needed here.
 *
 * Memory and durable state: pending messages (at most `pendingMax`, each with an ack set in
 * memory), and per origin a watermark + window (`deliveredWindowMax`); beyond a bound a message
 * is dropped and counted, as in the crash-stop version. Liveness needs a majority up: with
 * N ≤ 2f it can block (safe, not live).
 */

import type { NodeId } from '../../core/ids.ts';
import type { DurableWrite, NodeContext } from '../../core/protocol.ts';
import type { Instant } from '../../core/time.ts';
import {
  broadcastStack,
  isOriginMsg,
  type BroadcastCommand,
  type OriginMsg,
  requireBroadcastCommand,
} from './base.ts';
import { LoggedBroadcastBase, slotKey, type LoggedKey, type LoggedOptions } from './logged.ts';

/** A uniform broadcast message; `r`: a restarted process asks for an acknowledgement again. */
export type LurbMsg = OriginMsg<'lurb'> & { readonly r?: true };

export class LoggedUniformBroadcast extends LoggedBroadcastBase {
  /** Messages stored, not yet delivered: key `origin/n` → the message and who relayed it. */
  private readonly pending = new Map<string, { m: LurbMsg; acks: Set<NodeId> }>();
  private readonly pendingMax: number;
  private reasks = 0;
  private answers = 0;

  constructor(ctx: NodeContext, opts: LoggedOptions = {}) {
    super(ctx, opts);
    this.pendingMax = opts.pendingMax ?? 100_000;
  }

  protected isMine(v: unknown): v is LurbMsg {
    return (
      isOriginMsg(v, 'lurb', this.ctx.nodes) &&
      ((v as { r?: unknown }).r === undefined || (v as { r?: unknown }).r === true)
    );
  }

  protected override restoreKey(key: LoggedKey, value: unknown): void {
    if (key.kind !== 'pending' || !this.isMine(value)) return;
    this.pending.set(`${key.origin}/${key.n}`, { m: value, acks: new Set([this.ctx.id]) });
  }

  /** Start: ask everyone again for each pending message (the acks were in memory). */
  protected override resume(): void {
    for (const { m } of this.pending.values()) {
      for (const q of this.others) {
        this.reasks++;
        this.sendTo(q, { ...m, r: true });
      }
    }
  }

  protected onCommand(_now: Instant, cmd: BroadcastCommand): void {
    requireBroadcastCommand('logged-urb', cmd);
    const writes: DurableWrite[] = [];
    const n = this.nextNumber(writes);
    this.onUrb(this.ctx.id, { k: 'lurb', o: this.ctx.id, n, payload: cmd.payload }, writes);
  }

  protected onLinkDeliver(from: NodeId, payload: unknown): void {
    if (!this.isMine(payload)) {
      this.malformed++;
      return;
    }
    this.onUrb(from, payload, []);
  }

  private onUrb(from: NodeId, msg: LurbMsg, writes: DurableWrite[]): void {
    const reask = msg.r === true;
    const m: LurbMsg = reask ? { k: msg.k, o: msg.o, n: msg.n, payload: msg.payload } : msg;
    const key = `${m.o}/${m.n}`;
    let entry = this.pending.get(key);
    if (entry === undefined) {
      if (this.hasSeen(m.o, m.n)) {
        // Delivered here already; a restarted process asking again gets its acknowledgement.
        if (reask) this.answer(from, m);
        return;
      }
      if (this.pending.size >= this.pendingMax) {
        this.dropped++;
        if (writes.length > 0) this.persist(writes); // an own broadcast's number stays used
        return;
      }
      if (!this.markSeen(m.o, m.n, writes)) return; // never an own one: it is next in order
      entry = { m, acks: new Set([this.ctx.id]) };
      this.pending.set(key, entry);
      writes.push({ key: slotKey('pending', m.o, m.n), value: m });
      this.commit(writes);
      // First sight: relay to everyone (our acknowledgement to them, and an answer to a re-ask).
      for (const q of this.others) this.sendTo(q, m);
    } else if (reask) {
      this.answer(from, entry.m);
    }
    entry.acks.add(from);
    if (entry.acks.size * 2 > this.ctx.nodes.length) {
      this.pending.delete(key);
      this.commit([{ key: slotKey('pending', m.o, m.n), value: null }], {
        origin: m.o,
        n: m.n,
        payload: m.payload,
      });
    }
  }

  private answer(to: NodeId, m: LurbMsg): void {
    this.answers++;
    this.sendTo(to, m);
  }

  protected override extraStats(): Record<string, number> {
    return {
      ...super.extraStats(),
      pending: this.pending.size,
      reasks: this.reasks,
      answers: this.answers,
    };
  }
}

export function loggedUniformBroadcast(opts: LoggedOptions = {}) {
  return broadcastStack('logged-urb', (ctx) => new LoggedUniformBroadcast(ctx, opts));
}
