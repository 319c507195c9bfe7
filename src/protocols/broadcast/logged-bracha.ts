/**
 * Logged Byzantine reliable broadcast: Bracha's double echo (bracha.ts states the algorithm and
 * why it is safe with N > 3f) for processes that also crash and come back, with every vote a
 * process sends or receives stored before anything depends on it.
 *
 * Crash-stop Bracha counts a restarted process among its f faulty ones: with empty state it may
 * ECHO or READY a second payload for a slot it already voted on, and the votes it had received
 * are gone (their senders' links were acknowledged), so its quorums may never fill. Here each
 * undelivered slot (o, n) has a durable record `vote/<o>/<n>`: the process's own SEND, ECHO and
 * READY payloads (each set once, never changed) and every vote received (sender → payload). A
 * vote received is stored before the link acknowledges it (the receiver acks after this layer's
 * batch), and an own vote is stored before it is sent to anyone, in the same batch as the vote
 * that triggered it; delivery is one batch that ends the record, marks the per-origin delivered
 * set (watermark + window) and appends the delivered-log entry (logged-log.ts), then announces.
 * At restart a process reads its records back, sends its own votes again to everyone (receivers
 * count each sender once per kind), counts its own votes a crash kept it from counting, and
 * finishes what its stored votes already make due (a READY, a delivery). So a restarted correct
 * process stays correct: same votes, nothing lost, nothing announced twice; the f the protocol
 * is configured for are Byzantine processes only, not the ones that restart.
 *
 * Over the reliable link in at-least-once mode (its send buffer is durable: what was sent to a
 * process that is down reaches it once it is back). Messages are bracha.ts's (`brb`), so its
 * Byzantine adversaries (byzantine.ts) play against this protocol unchanged.
 *
 * Memory and durable state: like bracha.ts, per origin a watermark + window of delivered numbers
 * and at most `pendingMax` undelivered slots, each with at most 2N stored votes; beyond them a
 * message is counted and dropped. A flooding Byzantine process costs at most one stored vote per
 * slot and kind.
 */

import { SteadfastError, assert } from '../../core/errors.ts';
import type { NodeId } from '../../core/ids.ts';
import type { DurableWrite, NodeContext } from '../../core/protocol.ts';
import type { Instant } from '../../core/time.ts';
import {
  broadcastStack,
  isObject,
  type BroadcastCommand,
  type OriginMsg,
  requireBroadcastCommand,
} from './base.ts';
import {
  brachaMsg,
  isBrachaMsg,
  payloadKey,
  type BrachaKind,
  type BrachaMsg,
  type BrachaOptions,
} from './bracha.ts';
import { LoggedBroadcastBase } from './logged.ts';

/** Durable key of an undelivered slot's record. */
export const voteKey = (origin: NodeId, n: number): string => `vote/${origin}/${n}`;

/** Vote state of one undelivered (o, n); `s`, `e`, `r`: this process's own SEND, ECHO, READY. */
interface Slot {
  s?: unknown;
  e?: unknown;
  r?: unknown;
  /** Sender → payload key of its first ECHO / READY. */
  readonly echoFrom: Map<NodeId, string>;
  readonly readyFrom: Map<NodeId, string>;
  /** Payload key → payload (every payload voted for). */
  readonly payloads: Map<string, unknown>;
}

/** The stored form of a slot: plain data. */
interface SlotRecord {
  readonly s?: unknown;
  readonly e?: unknown;
  readonly r?: unknown;
  readonly ev: readonly (readonly [NodeId, unknown])[];
  readonly rv: readonly (readonly [NodeId, unknown])[];
}

function isVotes(v: unknown): v is [NodeId, unknown][] {
  return (
    Array.isArray(v) &&
    v.every((x) => Array.isArray(x) && x.length === 2 && typeof x[0] === 'string')
  );
}

function isSlotRecord(v: unknown): v is SlotRecord {
  return isObject(v) && isVotes(v.ev) && isVotes(v.rv);
}

export class LoggedBrachaBroadcast extends LoggedBroadcastBase {
  readonly f: number;
  private readonly pendingMax: number;
  /** Per origin: undelivered slots by number. */
  private readonly slots = new Map<NodeId, Map<number, Slot>>();
  /** Messages to ourselves, handled after the current step's sends (FIFO). */
  private readonly local: BrachaMsg[] = [];
  private draining = false;
  private readonly counters = {
    forgedSends: 0,
    outOfWindow: 0,
    pendingFull: 0,
    late: 0,
    repeatedVotes: 0,
    sendsDropped: 0,
    votesResent: 0,
  };

  constructor(ctx: NodeContext, opts: BrachaOptions = {}) {
    const { f, allowUnsafeF, deliveredWindowMax, pendingMax, ...link } = opts;
    const windowMax = deliveredWindowMax ?? 4096;
    super(ctx, { ...link, deliveredWindowMax: windowMax });
    const n = ctx.nodes.length;
    this.f = f ?? Math.floor((n - 1) / 3);
    if (!Number.isSafeInteger(this.f) || this.f < 0) {
      throw new SteadfastError('bad-argument', `bracha: f must be an integer ≥ 0, got ${this.f}`);
    }
    if (n <= 3 * this.f && allowUnsafeF !== true) {
      throw new SteadfastError(
        'bad-argument',
        `bracha: N = ${n} processes cannot tolerate f = ${this.f} Byzantine ones (needs N > 3f)`,
      );
    }
    this.pendingMax = pendingMax ?? windowMax;
    if (!Number.isSafeInteger(windowMax) || windowMax < 1 || !(this.pendingMax >= 1)) {
      throw new SteadfastError('bad-argument', 'bracha: window and pending bounds must be ≥ 1');
    }
  }

  /** Bracha stores no owed records: its slot records say what to send again. */
  protected isMine(_v: unknown): _v is OriginMsg<string> {
    return false;
  }

  /** Reads the slot records (keys `vote/…`, which the base layer does not parse). */
  override handleStart(now: Instant, durable: ReadonlyMap<string, unknown>): void {
    for (const [key, value] of durable) {
      if (!key.startsWith('vote/') || !isSlotRecord(value)) continue;
      const slash = key.lastIndexOf('/');
      const origin = key.slice(5, slash);
      const n = Number(key.slice(slash + 1));
      if (!this.ctx.nodes.includes(origin) || !Number.isSafeInteger(n) || n < 1) continue;
      this.slotsOf(origin).set(n, this.fromRecord(value));
    }
    super.handleStart(now, durable);
  }

  /** Restart: send our own votes again, count those a crash kept us from counting, finish. */
  protected override resume(): void {
    for (const [o, slots] of this.slots) {
      for (const [n, slot] of slots) {
        const votes: [BrachaKind, unknown][] = [];
        if ('s' in slot) votes.push(['send', slot.s]);
        if ('e' in slot) votes.push(['echo', slot.e]);
        if ('r' in slot) votes.push(['ready', slot.r]);
        for (const [t, m] of votes) {
          this.counters.votesResent++;
          this.toAll(brachaMsg(t, o, n, m));
        }
      }
    }
    this.drainLocal();
    // Votes stored, action not yet taken (a crash between a batch and the delivery after it).
    for (const [o, slots] of this.slots) {
      for (const n of [...slots.keys()]) {
        const slot = slots.get(n);
        if (slot !== undefined) this.act(o, n, slot, false);
      }
    }
    this.drainLocal();
  }

  protected onCommand(_now: Instant, cmd: BroadcastCommand): void {
    requireBroadcastCommand('logged-bracha', cmd);
    if (payloadKey(cmd.payload) === undefined) {
      throw new SteadfastError('bad-argument', 'bracha: the payload must be plain data');
    }
    const own = this.seen.get(this.ctx.id)?.watermark ?? 0;
    if (this.broadcasts + 1 > own + this.windowMax) {
      throw new SteadfastError(
        'buffer-full',
        `bracha: broadcast ${this.broadcasts + 1} would run more than ${this.windowMax} ` +
          'ahead of delivery',
      );
    }
    const writes: DurableWrite[] = [];
    const n = this.nextNumber(writes);
    const slot = this.newSlot();
    slot.s = cmd.payload;
    this.slotsOf(this.ctx.id).set(n, slot);
    writes.push({ key: voteKey(this.ctx.id, n), value: this.record(slot) });
    this.persist(writes);
    this.toAll(brachaMsg('send', this.ctx.id, n, cmd.payload));
    this.drainLocal();
  }

  protected onLinkDeliver(from: NodeId, payload: unknown): void {
    if (!isBrachaMsg(payload) || !this.ctx.nodes.includes(payload.o)) {
      this.malformed++;
      return;
    }
    this.onMessage(from, payload);
    this.drainLocal();
  }

  private drainLocal(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      for (let m = this.local.shift(); m !== undefined; m = this.local.shift()) {
        this.onMessage(this.ctx.id, m);
      }
    } finally {
      this.draining = false;
    }
  }

  /** Sends to every other process, then to ourselves (queued, handled later in this step). */
  private toAll(msg: BrachaMsg): void {
    for (const to of this.others) {
      try {
        this.sendTo(to, msg);
      } catch (err) {
        if (!(err instanceof SteadfastError) || err.code !== 'buffer-full') throw err;
        this.counters.sendsDropped++;
      }
    }
    this.local.push(msg);
  }

  private slotsOf(o: NodeId): Map<number, Slot> {
    let s = this.slots.get(o);
    if (s === undefined) {
      s = new Map();
      this.slots.set(o, s);
    }
    return s;
  }

  private newSlot(): Slot {
    return { echoFrom: new Map(), readyFrom: new Map(), payloads: new Map() };
  }

  private record(slot: Slot): SlotRecord {
    const votes = (from: Map<NodeId, string>) =>
      [...from].map(([q, key]) => [q, slot.payloads.get(key)] as const);
    return {
      ...('s' in slot ? { s: slot.s } : {}),
      ...('e' in slot ? { e: slot.e } : {}),
      ...('r' in slot ? { r: slot.r } : {}),
      ev: votes(slot.echoFrom),
      rv: votes(slot.readyFrom),
    };
  }

  private fromRecord(rec: SlotRecord): Slot {
    const slot = this.newSlot();
    if ('s' in rec) slot.s = rec.s;
    if ('e' in rec) slot.e = rec.e;
    if ('r' in rec) slot.r = rec.r;
    for (const [votes, into] of [
      [rec.ev, slot.echoFrom],
      [rec.rv, slot.readyFrom],
    ] as const) {
      for (const [q, m] of votes) {
        const key = payloadKey(m);
        if (key === undefined) continue;
        slot.payloads.set(key, m);
        into.set(q, key);
      }
    }
    return slot;
  }

  private onMessage(from: NodeId, msg: BrachaMsg): void {
    if (msg.t === 'send' && msg.o !== from) {
      this.counters.forgedSends++;
      return;
    }
    const key = payloadKey(msg.m);
    if (key === undefined) {
      this.malformed++;
      return;
    }
    if (this.hasSeen(msg.o, msg.n)) {
      this.counters.late++;
      return;
    }
    const slots = this.slotsOf(msg.o);
    let slot = slots.get(msg.n);
    if (slot === undefined) {
      if (msg.n > (this.seen.get(msg.o)?.watermark ?? 0) + this.windowMax) {
        this.counters.outOfWindow++;
        return;
      }
      if (slots.size >= this.pendingMax) {
        this.counters.pendingFull++;
        return;
      }
      slot = this.newSlot();
      slots.set(msg.n, slot);
    }
    switch (msg.t) {
      case 'send':
        if ('e' in slot) {
          this.counters.repeatedVotes++;
          return;
        }
        slot.e = msg.m;
        this.persist([{ key: voteKey(msg.o, msg.n), value: this.record(slot) }]);
        this.toAll(brachaMsg('echo', msg.o, msg.n, msg.m));
        return;
      case 'echo':
      case 'ready': {
        const votes = msg.t === 'echo' ? slot.echoFrom : slot.readyFrom;
        if (votes.has(from)) {
          this.counters.repeatedVotes++;
          return;
        }
        votes.set(from, key);
        slot.payloads.set(key, msg.m);
        this.act(msg.o, msg.n, slot, true);
        return;
      }
    }
  }

  /** How many senders voted for payload `key` in `votes`. */
  private count(votes: Map<NodeId, string>, key: string): number {
    let c = 0;
    for (const k of votes.values()) if (k === key) c++;
    return c;
  }

  /**
   * What the slot's votes make due: our READY (an ECHO quorum, or f + 1 READYs), stored with the
   * vote that triggered it and sent after; then a delivery (2f + 1 READYs). `changed`: a vote
   * was just added, so the record is stored even when nothing else is due.
   */
  private act(o: NodeId, n: number, slot: Slot, changed: boolean): void {
    let readyNow: { m: unknown } | undefined;
    if (!('r' in slot)) {
      for (const [key, m] of slot.payloads) {
        const echoes = this.count(slot.echoFrom, key);
        const readies = this.count(slot.readyFrom, key);
        if (2 * echoes > this.ctx.nodes.length + this.f || readies >= this.f + 1) {
          slot.r = m;
          readyNow = { m };
          break;
        }
      }
    }
    if (changed || readyNow !== undefined) {
      this.persist([{ key: voteKey(o, n), value: this.record(slot) }]);
    }
    if (readyNow !== undefined) this.toAll(brachaMsg('ready', o, n, readyNow.m));
    for (const [key, m] of slot.payloads) {
      if (this.count(slot.readyFrom, key) < 2 * this.f + 1) continue;
      this.deliverOnce(o, n, m);
      return;
    }
  }

  private deliverOnce(o: NodeId, n: number, m: unknown): void {
    const writes: DurableWrite[] = [{ key: voteKey(o, n), value: null }];
    const marked = this.markSeen(o, n, writes);
    // Slots exist only inside the window, and the watermark only moves up.
    assert(marked, `bracha: delivering ${o}/${n} fits the window`);
    this.slots.get(o)?.delete(n);
    this.commit(writes, { origin: o, n, payload: m });
  }

  protected override extraStats(): Record<string, number> {
    let pending = 0;
    for (const s of this.slots.values()) pending += s.size;
    return { ...super.extraStats(), ...this.counters, pending };
  }
}

export function loggedBrachaBroadcast(opts: BrachaOptions = {}) {
  return broadcastStack('logged-bracha', (ctx) => new LoggedBrachaBroadcast(ctx, opts));
}
