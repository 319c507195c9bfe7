/**
 * Logged (crash-recovery) broadcasts, as Cachin, Guerraoui and Rodrigues build them for processes
 * that crash and come back (2nd ed., ch. 3: "Logged Basic Broadcast" and, in logged-uniform.ts,
 * "Logged Majority-Ack Uniform Reliable Broadcast"), and on the same ground logged eager
 * reliable, FIFO and causal broadcast (and, in logged-bracha.ts, Bracha's double echo).
 *
 * Delivery is appending to a durable delivered log (logged-log.ts): each delivery is one atomic
 * batch that marks it in the per-origin delivered set (a watermark + bounded window, `SeqSet`,
 * never a set of every message) and writes the entry under `log`; the `deliver` output follows
 * the batch (persist, then deliver: the output-order contract of core/protocol.ts). A restart
 * reads the marks back, so it announces nothing it delivered before, and loses nothing it
 * stored.
 *
 * Guarantees (crash-recovery; a process is correct when it is eventually up for good), over the
 * reliable link in at-least-once mode (a stubborn link: its send buffer is durable and resent
 * after a restart until acknowledged, and the receiver acknowledges only after the layer above
 * has handled the message, so after this layer's batch):
 *   logged BEB     validity (a correct origin's broadcast reaches every correct process, also
 *                  when the origin crashed midway through its sends and came back), no
 *                  duplication, no creation; not agreement when an origin crashes for good.
 *   logged RB      eager RB (eager.ts) made durable: + agreement among the processes that come
 *                  back. A process relays a message the first time it stores it.
 *   logged FIFO    + each origin's messages in broadcast order; the delivered prefix of an origin
 *                  IS its delivered set's watermark, and held-back messages are stored.
 *   logged causal  + causal order (the waiting algorithm, Alg. 3.15); the vector V and the
 *                  held-back messages are stored.
 *
 * What a crash may cut short, and how a restart finishes it:
 *   - a broadcast is stored (its number, its delivery, and an `owed` record of its sends) in the
 *     step's FIRST output, before anything is sent; a crash before that output leaves no trace
 *     of the command (it never happened), a crash after it leaves the owed record;
 *   - a first receipt stores the same batch (the owed record when it must be relayed); the link
 *     persists each relay's send-buffer entry lazily, and the owed record is deleted lazily after
 *     the last relay, so it outlives the step exactly when a crash lost some of those entries;
 *     a restart resends every owed message to everyone but its origin (receivers dedup);
 *   - a FIFO or causal release of held-back messages is one batch per delivery, so a restart
 *     finds a consistent state and finishes the release.
 * Memory and durable state: per origin a watermark + window (`deliveredWindowMax`), held-back
 * messages (`holdBackMax` per origin for FIFO, in all for causal), owed records only for steps a
 * crash cut short, and the link's send buffer (messages not yet acknowledged). Beyond a bound a
 * message is dropped and counted (`dropped`), as in the crash-stop versions.
 *
 * Durable keys (this layer; the link's are under `link/`):
 *   bcast               how many broadcasts this node has numbered
 *   seen/<origin>       the origin's numbers stored here: { w, above } (SeqSet)
 *   owed/<origin>/<n>   a message whose sends a crash may have cut short
 *   held/<origin>/<n>   FIFO, causal: a message stored, not yet delivered
 *   vc                  causal: V, messages delivered per origin (node order)
 *   pending/<origin>/<n> uniform: a message seen, not yet delivered (logged-uniform.ts)
 *   log                 the entry the batch appends to the delivered log (logged-log.ts)
 */

import { assert } from '../../core/errors.ts';
import type { NodeId } from '../../core/ids.ts';
import type { DurableState, DurableWrite, NodeContext } from '../../core/protocol.ts';
import { SeqSet } from '../../core/seqset.ts';
import type { Instant } from '../../core/time.ts';
import { OverReliableLink } from '../link/layer.ts';
import type { ReliableOptions } from '../link/reliable.ts';
import {
  broadcastStack,
  isObject,
  isOriginMsg,
  seqSetOf,
  type BroadcastCommand,
  type BroadcastDeliver,
  type OriginMsg,
  requireBroadcastCommand,
} from './base.ts';
import { LOG_KEY, type LogEntry } from './logged-log.ts';

export interface LoggedOptions extends Partial<ReliableOptions> {
  /** Most out-of-order broadcast numbers remembered per origin. */
  readonly deliveredWindowMax?: number;
  /** Most messages held back (FIFO: per origin; causal: in all). */
  readonly holdBackMax?: number;
  /** Uniform: most messages seen but not yet delivered. */
  readonly pendingMax?: number;
}

/** A durable key of this layer, parsed (`formatKey` writes them; one codec for both). */
export type LoggedKey =
  | { readonly kind: 'bcast' | 'vc' | 'log' }
  | { readonly kind: 'seen'; readonly origin: NodeId }
  | { readonly kind: 'owed' | 'held' | 'pending'; readonly origin: NodeId; readonly n: number };

export const BCAST_KEY = 'bcast';
export const VC_KEY = 'vc';
export const seenKey = (origin: NodeId): string => `seen/${origin}`;
export const slotKey = (kind: 'owed' | 'held' | 'pending', origin: NodeId, n: number): string =>
  `${kind}/${origin}/${n}`;

/** Parses a key of this layer (origins may contain '/': n is after the LAST one). */
export function parseLoggedKey(key: string): LoggedKey | undefined {
  if (key === BCAST_KEY || key === VC_KEY || key === LOG_KEY) return { kind: key };
  const slash = key.indexOf('/');
  if (slash < 0) return undefined;
  const kind = key.slice(0, slash);
  const rest = key.slice(slash + 1);
  if (kind === 'seen') return rest.length > 0 ? { kind, origin: rest } : undefined;
  if (kind !== 'owed' && kind !== 'held' && kind !== 'pending') return undefined;
  const last = rest.lastIndexOf('/');
  const n = Number(rest.slice(last + 1));
  if (last <= 0 || !Number.isSafeInteger(n) || n < 1) return undefined;
  return { kind, origin: rest.slice(0, last), n };
}

function isSeqSetData(v: unknown): v is { w: number; above: number[] } {
  return (
    isObject(v) &&
    Number.isSafeInteger(v.w) &&
    Array.isArray(v.above) &&
    v.above.every((x) => Number.isSafeInteger(x))
  );
}

/** The delivery event of a log entry. */
export function deliverEvent(e: LogEntry): BroadcastDeliver {
  return { type: 'deliver', origin: e.origin, n: e.n, payload: e.payload };
}

/**
 * What every logged broadcast shares: the link in at-least-once mode under `link/`, the stored
 * broadcast counter and per-origin delivered (or seen) sets, the batch-then-deliver step, owed
 * sends and their resending at start.
 */
export abstract class LoggedBroadcastBase extends OverReliableLink<
  BroadcastCommand,
  BroadcastDeliver
> {
  /** Per origin: the broadcast numbers stored here (delivered, held or pending). */
  protected readonly seen = new Map<NodeId, SeqSet>();
  protected readonly windowMax: number;
  protected broadcasts = 0;
  protected dropped = 0;
  private relays = 0;
  /** Messages resent at start because a crash may have cut their sends short. */
  private resent = 0;
  /** Owed records read back at start (resent, then deleted). */
  private readonly owed: OriginMsg<string>[] = [];

  constructor(ctx: NodeContext, opts: LoggedOptions) {
    const { deliveredWindowMax, holdBackMax: _h, pendingMax: _p, ...link } = opts;
    super(ctx, { ...link, defaultMode: 'alo' }, 'link');
    this.windowMax = deliveredWindowMax ?? 100_000;
  }

  override handleStart(now: Instant, durable: DurableState): void {
    for (const [key, value] of durable) {
      const k = parseLoggedKey(key);
      if (k === undefined) continue;
      switch (k.kind) {
        case 'bcast':
          if (typeof value === 'number') this.broadcasts = value;
          break;
        case 'seen':
          if (isSeqSetData(value)) this.seen.set(k.origin, SeqSet.from(value, this.windowMax));
          break;
        case 'owed':
          if (this.isMine(value)) this.owed.push(value);
          break;
        default:
          this.restoreKey(k, value);
          break;
      }
    }
    super.handleStart(now, durable);
  }

  /** Start: resend what a crash may have cut short (owed sends), then the subclass's own. */
  protected override onStart(now: Instant): void {
    for (const m of this.owed) {
      this.resent++;
      const everyoneButOrigin = this.others.filter((q) => q !== m.o);
      this.sendAll(m, everyoneButOrigin);
    }
    this.owed.length = 0;
    this.resume(now);
  }

  /** A key of the subclass's own (held, vc, pending) read back at start. */
  protected restoreKey(_key: LoggedKey, _value: unknown): void {
    // Nothing by default.
  }

  /** After the owed sends at start: finish what the subclass's stored state still owes. */
  protected resume(_now: Instant): void {
    // Nothing by default.
  }

  /** True for this layer's own message kind (validated against the group). */
  protected abstract isMine(v: unknown): v is OriginMsg<string>;

  /** The next broadcast number, stored in the batch `writes` that the step begins with. */
  protected nextNumber(writes: DurableWrite[]): number {
    const n = ++this.broadcasts;
    writes.push({ key: BCAST_KEY, value: n });
    return n;
  }

  /** Marks (origin, n) stored; false (and counted) when beyond the window. */
  protected markSeen(origin: NodeId, n: number, writes: DurableWrite[]): boolean {
    const seen = seqSetOf(this.seen, origin, this.windowMax);
    const added = seen.add(n);
    if (added === 'overflow') {
      this.dropped++;
      return false;
    }
    assert(added === 'added', 'logged: a message is marked once');
    writes.push({ key: seenKey(origin), value: seen.toJSON() });
    return true;
  }

  protected hasSeen(origin: NodeId, n: number): boolean {
    return this.seen.get(origin)?.has(n) === true;
  }

  /**
   * One step's durable batch, then the delivery it appends (if any): persist, then deliver.
   * At most one delivery per batch, so every stored state is one a restart can continue from.
   */
  protected commit(writes: DurableWrite[], delivered?: LogEntry): void {
    assert(writes.length > 0, 'logged: a batch writes something');
    if (delivered === undefined) {
      this.persist(writes);
      return;
    }
    writes.push({ key: LOG_KEY, value: delivered });
    this.persist(writes);
    this.deliver(deliverEvent(delivered));
  }

  /** Adds the owed record of `m` to the batch when it has anyone to go to. */
  protected owe(m: OriginMsg<string>, to: readonly NodeId[], writes: DurableWrite[]): void {
    if (to.length > 0) writes.push({ key: slotKey('owed', m.o, m.n), value: m });
  }

  /**
   * Sends `m` to `to`; then the owed record goes (lazily: it is lost with the relays' own lazy
   * send-buffer entries, never without them, so a restart resends exactly when needed).
   */
  protected sendAll(m: OriginMsg<string>, to: readonly NodeId[]): void {
    if (to.length === 0) return;
    for (const q of to) {
      this.relays++;
      this.sendTo(q, m);
    }
    this.persistLazy([{ key: slotKey('owed', m.o, m.n), value: null }]);
  }

  protected override extraStats(): Record<string, number> {
    let window = 0;
    for (const s of this.seen.values()) window += s.windowSize;
    return {
      broadcasts: this.broadcasts,
      relays: this.relays,
      resent: this.resent,
      deliveredWindow: window,
      dropped: this.dropped,
    };
  }
}

export type LbebMsg = OriginMsg<'lbeb'>;

/**
 * Logged best-effort broadcast (Logged Basic Broadcast, with the sends stored): the origin
 * stores its message and sends it to everyone; a receiver stores and delivers what it had not
 * stored. No relay.
 */
export class LoggedBestEffortBroadcast extends LoggedBroadcastBase {
  protected isMine(v: unknown): v is LbebMsg {
    return isOriginMsg(v, 'lbeb', this.ctx.nodes);
  }

  protected onCommand(_now: Instant, cmd: BroadcastCommand): void {
    requireBroadcastCommand('logged-beb', cmd);
    const writes: DurableWrite[] = [];
    const n = this.nextNumber(writes);
    const m: LbebMsg = { k: 'lbeb', o: this.ctx.id, n, payload: cmd.payload };
    this.markSeen(m.o, n, writes);
    this.owe(m, this.others, writes);
    this.commit(writes, { origin: m.o, n, payload: m.payload });
    this.sendAll(m, this.others);
  }

  protected onLinkDeliver(from: NodeId, payload: unknown): void {
    // The sender is the origin: best-effort broadcast never relays.
    if (!this.isMine(payload) || payload.o !== from) {
      this.malformed++;
      return;
    }
    if (this.hasSeen(from, payload.n)) return; // a resend or a network duplicate
    const writes: DurableWrite[] = [];
    if (!this.markSeen(from, payload.n, writes)) return;
    this.commit(writes, { origin: from, n: payload.n, payload: payload.payload });
  }
}

export type LrbMsg = OriginMsg<'lrb'>;

/**
 * Logged eager reliable broadcast: on the first receipt (or its own broadcast) a process stores
 * the message, delivers it (`rbDeliver`: FIFO and causal order it), and relays it to everyone
 * but the sender and the origin.
 */
export class LoggedEagerReliableBroadcast extends LoggedBroadcastBase {
  protected isMine(v: unknown): v is LrbMsg {
    return isOriginMsg(v, 'lrb', this.ctx.nodes);
  }

  protected onCommand(_now: Instant, cmd: BroadcastCommand): void {
    requireBroadcastCommand('logged-eager-rb', cmd);
    const writes: DurableWrite[] = [];
    const n = this.nextNumber(writes);
    this.onRb(
      this.ctx.id,
      { k: 'lrb', o: this.ctx.id, n, payload: this.wrap(cmd.payload) },
      writes,
    );
  }

  protected onLinkDeliver(from: NodeId, payload: unknown): void {
    if (!this.isMine(payload) || !this.validPayload(payload.payload)) {
      this.malformed++;
      return;
    }
    this.onRb(from, payload, []);
  }

  /** First receipt: store (and deliver what can be), then relay (eager RB's order). */
  private onRb(from: NodeId, m: LrbMsg, writes: DurableWrite[]): void {
    if (this.hasSeen(m.o, m.n)) return;
    const own = from === this.ctx.id;
    if (!own && !this.admit(m)) {
      this.dropped++;
      return;
    }
    const marked = this.markSeen(m.o, m.n, writes);
    // An own number is one above the stored watermark of our own messages: never beyond it.
    assert(marked || !own, 'logged: an own broadcast always fits the window');
    if (!marked) return;
    const to = this.others.filter((q) => q !== from && q !== m.o);
    this.owe(m, to, writes);
    this.rbDeliver(m, writes);
    this.sendAll(m, to);
  }

  /** What a broadcast carries on the wire (causal adds its vector clock). */
  protected wrap(payload: unknown): unknown {
    return payload;
  }

  /** Whether a received message's payload has the shape this order needs. */
  protected validPayload(_payload: unknown): boolean {
    return true;
  }

  /** Room to store `m` (FIFO and causal hold messages back, within a bound). */
  protected admit(_m: LrbMsg): boolean {
    return true;
  }

  /**
   * The first receipt's batch `writes` (with the mark): RB delivers m in it at once; FIFO and
   * causal may hold it back, and deliver what it releases one batch each.
   */
  protected rbDeliver(m: LrbMsg, writes: DurableWrite[]): void {
    this.commit(writes, { origin: m.o, n: m.n, payload: m.payload });
  }
}

/**
 * Logged FIFO reliable broadcast. The delivered prefix of each origin is its delivered set's
 * watermark: every number up to it is stored and not held, the first number above it is
 * missing, so every stored number above it is held back (stored under `held/`).
 */
export class LoggedFifoReliableBroadcast extends LoggedEagerReliableBroadcast {
  private readonly held = new Map<NodeId, Map<number, unknown>>();
  private readonly holdBackMax: number;

  constructor(ctx: NodeContext, opts: LoggedOptions = {}) {
    super(ctx, opts);
    this.holdBackMax = opts.holdBackMax ?? 100_000;
  }

  private heldOf(origin: NodeId): Map<number, unknown> {
    let h = this.held.get(origin);
    if (h === undefined) {
      h = new Map();
      this.held.set(origin, h);
    }
    return h;
  }

  protected override restoreKey(key: LoggedKey, value: unknown): void {
    if (key.kind === 'held') this.heldOf(key.origin).set(key.n, value);
  }

  /** A crash may have cut a release short: deliver what the stored state makes deliverable. */
  protected override resume(): void {
    for (const [origin, held] of this.held) {
      // Every number between the delivered prefix and the watermark is held: from the least.
      let least = Number.POSITIVE_INFINITY;
      for (const n of held.keys()) least = Math.min(least, n);
      if (least <= (this.seen.get(origin)?.watermark ?? 0)) this.release(origin, least);
    }
  }

  protected override admit(m: LrbMsg): boolean {
    return this.heldOf(m.o).size < this.holdBackMax;
  }

  protected override rbDeliver(m: LrbMsg, writes: DurableWrite[]): void {
    const w = this.seen.get(m.o)?.watermark ?? 0;
    if (w < m.n) {
      // A gap below m: hold it back, stored with the mark.
      this.heldOf(m.o).set(m.n, m.payload);
      writes.push({ key: slotKey('held', m.o, m.n), value: m.payload });
      this.commit(writes);
      return;
    }
    this.commit(writes, { origin: m.o, n: m.n, payload: m.payload });
    this.release(m.o, m.n + 1);
  }

  /**
   * Delivers the held messages of `origin` from `from` up to its watermark, one batch each, in
   * order (every number in between is held: the first missing one is above the watermark).
   */
  private release(origin: NodeId, from: number): void {
    const held = this.heldOf(origin);
    const w = this.seen.get(origin)?.watermark ?? 0;
    for (let n = from; n <= w; n++) {
      assert(held.has(n), 'logged FIFO: every number up to the watermark is delivered or held');
      const payload = held.get(n);
      held.delete(n);
      this.commit([{ key: slotKey('held', origin, n), value: null }], { origin, n, payload });
    }
  }

  protected override extraStats(): Record<string, number> {
    let held = 0;
    for (const h of this.held.values()) held += h.size;
    return { ...super.extraStats(), held };
  }
}

interface CausalPayload {
  readonly vc: readonly number[];
  readonly payload: unknown;
}

function isCausalPayload(v: unknown, width: number): v is CausalPayload {
  return (
    isObject(v) &&
    Array.isArray(v.vc) &&
    v.vc.length === width &&
    v.vc.every((x) => Number.isSafeInteger(x) && (x as number) >= 0) &&
    'payload' in v
  );
}

interface HeldCausal {
  readonly origin: NodeId;
  readonly n: number;
  readonly wrapped: CausalPayload;
}

/**
 * Logged causal broadcast (the waiting algorithm, Alg. 3.15, made durable): V and every
 * held-back message are stored; each delivery stores V with its log entry (and the end of its
 * hold), so a restart continues from a V that matches the log exactly.
 */
export class LoggedCausalBroadcast extends LoggedEagerReliableBroadcast {
  /** V[i]: messages of ctx.nodes[i] delivered here. */
  private v: number[];
  private readonly pending: HeldCausal[] = [];
  private readonly holdBackMax: number;

  constructor(ctx: NodeContext, opts: LoggedOptions = {}) {
    super(ctx, opts);
    this.v = ctx.nodes.map(() => 0);
    this.holdBackMax = opts.holdBackMax ?? 100_000;
  }

  protected override restoreKey(key: LoggedKey, value: unknown): void {
    const width = this.ctx.nodes.length;
    if (key.kind === 'held' && isCausalPayload(value, width)) {
      this.pending.push({ origin: key.origin, n: key.n, wrapped: value });
    } else if (
      key.kind === 'vc' &&
      Array.isArray(value) &&
      value.length === width &&
      value.every((x) => Number.isSafeInteger(x))
    ) {
      this.v = [...(value as number[])];
    }
  }

  protected override resume(): void {
    this.release();
  }

  protected override wrap(payload: unknown): unknown {
    // W = V with W[self] = broadcasts made before this one (Alg. 3.15).
    const vc = [...this.v];
    vc[this.ctx.nodes.indexOf(this.ctx.id)] = this.broadcasts - 1;
    return { vc, payload };
  }

  protected override validPayload(payload: unknown): boolean {
    return isCausalPayload(payload, this.ctx.nodes.length);
  }

  protected override admit(): boolean {
    return this.pending.length < this.holdBackMax;
  }

  protected override rbDeliver(m: LrbMsg, writes: DurableWrite[]): void {
    const wrapped = m.payload as CausalPayload;
    if (!this.ready(wrapped)) {
      this.pending.push({ origin: m.o, n: m.n, wrapped });
      writes.push({ key: slotKey('held', m.o, m.n), value: wrapped });
      this.commit(writes);
      return;
    }
    this.deliverCausal(m.o, m.n, wrapped, writes);
    this.release();
  }

  private ready(w: CausalPayload): boolean {
    return w.vc.every((x, j) => x <= (this.v[j] ?? 0));
  }

  /** V[origin]++ and the log entry, with `writes`, in one batch. */
  private deliverCausal(
    origin: NodeId,
    n: number,
    wrapped: CausalPayload,
    writes: DurableWrite[],
  ): void {
    const oi = this.ctx.nodes.indexOf(origin);
    this.v[oi] = (this.v[oi] ?? 0) + 1;
    writes.push({ key: VC_KEY, value: [...this.v] });
    this.commit(writes, { origin, n, payload: wrapped.payload });
  }

  /** Delivers held messages that became ready, one batch each, until none is. */
  private release(): void {
    for (let progress = true; progress;) {
      progress = false;
      for (let i = 0; i < this.pending.length; i++) {
        const p = this.pending[i] as HeldCausal;
        if (!this.ready(p.wrapped)) continue;
        this.pending.splice(i, 1);
        const writes = [{ key: slotKey('held', p.origin, p.n), value: null }];
        this.deliverCausal(p.origin, p.n, p.wrapped, writes);
        progress = true;
        break;
      }
    }
  }

  protected override extraStats(): Record<string, number> {
    return { ...super.extraStats(), pending: this.pending.length };
  }
}

export const loggedBestEffortBroadcast = (opts: LoggedOptions = {}) =>
  broadcastStack('logged-beb', (ctx) => new LoggedBestEffortBroadcast(ctx, opts));
export const loggedEagerReliableBroadcast = (opts: LoggedOptions = {}) =>
  broadcastStack('logged-eager-rb', (ctx) => new LoggedEagerReliableBroadcast(ctx, opts));
export const loggedFifoReliableBroadcast = (opts: LoggedOptions = {}) =>
  broadcastStack('logged-fifo-rb', (ctx) => new LoggedFifoReliableBroadcast(ctx, opts));
export const loggedCausalBroadcast = (opts: LoggedOptions = {}) =>
  broadcastStack('logged-causal', (ctx) => new LoggedCausalBroadcast(ctx, opts));
