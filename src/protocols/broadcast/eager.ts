/**
 * Eager reliable broadcast (Cachin, Guerraoui and Rodrigues, Alg. 3.2) and the two orders built
 * on it: FIFO reliable broadcast and causal broadcast.
 *
 * Eager RB: every process relays a message the first time it receives it, and remembers what it
 * delivered so relays are not delivered twice. Guarantees (crash-stop, over perfect links):
 * RB1 validity, RB2 no duplication, RB3 no creation, RB4 agreement (if a correct process
 * delivers m, every correct process delivers m): a process that delivers m has already handed m
 * to its perfect links towards everyone, or it crashed (and then it was not correct).
 * Not uniform agreement: a process that delivers and crashes before its relays leave may be the
 * only one that ever delivered m. Cost: O(N²) messages per broadcast.
 *
 * Delivered sets are per origin: a watermark plus a bounded window (`SeqSet`), never a set of
 * every message.
 *
 * FIFO RB: also delivers each origin's messages in broadcast order (hold back the early ones).
 * Causal broadcast (the "waiting" algorithm, Alg. 3.15, with vector clocks): a message carries
 * the vector of how many messages of each origin its sender had delivered when broadcasting it;
 * it is delivered once the receiver has delivered all of those. Guarantees causal order: if the
 * broadcast of m1 happened before the broadcast of m2, no process delivers m2 before m1.
 * Hold-back buffers are bounded by `holdBackMax` per origin (beyond it the node counts and drops
 * the message: documented, never silent).
 */

import type { SeqSet } from '../../core/seqset.ts';
import type { NodeId } from '../../core/ids.ts';
import type { NodeContext } from '../../core/protocol.ts';
import type { Instant } from '../../core/time.ts';
import type { ReliableOptions } from '../link/reliable.ts';
import {
  broadcastStack,
  isObject,
  isOriginMsg,
  OverPerfectLinks,
  seqSetOf,
  type BroadcastCommand,
  type BroadcastDeliver,
  type OriginMsg,
  requireBroadcastCommand,
} from './base.ts';

export type RbMsg = OriginMsg<'rb'>;

export interface RbOptions extends Partial<ReliableOptions> {
  /** Most out-of-order broadcast numbers remembered per origin. */
  readonly deliveredWindowMax?: number;
  /** Most messages held back per origin (FIFO and causal orders). */
  readonly holdBackMax?: number;
}

export class EagerReliableBroadcast extends OverPerfectLinks<BroadcastCommand, BroadcastDeliver> {
  private readonly delivered = new Map<NodeId, SeqSet>();
  private readonly windowMax: number;
  protected readonly holdBackMax: number;
  protected broadcasts = 0;
  private relays = 0;
  protected dropped = 0;

  constructor(ctx: NodeContext, opts: RbOptions = {}) {
    const { deliveredWindowMax, holdBackMax, ...link } = opts;
    super(ctx, link);
    this.windowMax = deliveredWindowMax ?? 100_000;
    this.holdBackMax = holdBackMax ?? 100_000;
  }

  protected onCommand(_now: Instant, cmd: BroadcastCommand): void {
    requireBroadcastCommand('eager-rb', cmd);
    const n = ++this.broadcasts;
    this.onRb(this.ctx.id, { k: 'rb', o: this.ctx.id, n, payload: this.wrap(cmd.payload) });
  }

  protected onLinkDeliver(from: NodeId, payload: unknown): void {
    if (!isOriginMsg(payload, 'rb', this.ctx.nodes)) {
      this.malformed++;
      return;
    }
    this.onRb(from, payload);
  }

  /** First receipt: deliver, then relay to everyone else (Alg. 3.2's order). */
  private onRb(from: NodeId, m: RbMsg): void {
    const seen = seqSetOf(this.delivered, m.o, this.windowMax);
    const added = seen.add(m.n);
    if (added === 'present') return;
    if (added === 'overflow') {
      this.dropped++;
      return;
    }
    this.rbDeliver(m.o, m.n, m.payload);
    for (const to of this.others) {
      if (to === from || to === m.o) continue;
      this.relays++;
      this.sendTo(to, m);
    }
  }

  /** What a broadcast carries on the wire (causal adds its vector clock). */
  protected wrap(payload: unknown): unknown {
    return payload;
  }

  /** Reliable-broadcast delivery; subclasses impose an order. */
  protected rbDeliver(origin: NodeId, n: number, payload: unknown): void {
    this.deliver({ type: 'deliver', origin, n, payload });
  }

  protected override extraStats(): Record<string, number> {
    let window = 0;
    for (const s of this.delivered.values()) window += s.windowSize;
    return {
      broadcasts: this.broadcasts,
      relays: this.relays,
      deliveredWindow: window,
      dropped: this.dropped,
    };
  }
}

export class FifoReliableBroadcast extends EagerReliableBroadcast {
  private readonly next = new Map<NodeId, number>();
  private readonly held = new Map<NodeId, Map<number, unknown>>();

  protected override rbDeliver(origin: NodeId, n: number, payload: unknown): void {
    let held = this.held.get(origin);
    if (held === undefined) {
      held = new Map();
      this.held.set(origin, held);
    }
    if (held.size >= this.holdBackMax) {
      this.dropped++;
      return;
    }
    held.set(n, payload);
    let next = this.next.get(origin) ?? 1;
    while (held.has(next)) {
      const p = held.get(next);
      held.delete(next);
      this.deliver({ type: 'deliver', origin, n: next, payload: p });
      next++;
    }
    this.next.set(origin, next);
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

export class CausalBroadcast extends EagerReliableBroadcast {
  /** V[i]: messages of ctx.nodes[i] delivered here. */
  private readonly v: number[];
  private readonly pending: {
    origin: NodeId;
    n: number;
    vc: readonly number[];
    payload: unknown;
  }[] = [];

  constructor(ctx: NodeContext, opts: RbOptions = {}) {
    super(ctx, opts);
    this.v = ctx.nodes.map(() => 0);
  }

  protected override wrap(payload: unknown): unknown {
    // W = V with W[self] = broadcasts made before this one (Alg. 3.15).
    const vc = [...this.v];
    vc[this.ctx.nodes.indexOf(this.ctx.id)] = this.broadcasts - 1;
    return { vc, payload };
  }

  protected override rbDeliver(origin: NodeId, n: number, wrapped: unknown): void {
    if (!isCausalPayload(wrapped, this.ctx.nodes.length)) {
      this.malformed++;
      return;
    }
    if (this.pending.length >= this.holdBackMax) {
      this.dropped++;
      return;
    }
    this.pending.push({ origin, n, vc: wrapped.vc, payload: wrapped.payload });
    for (let progress = true; progress;) {
      progress = false;
      for (let i = 0; i < this.pending.length; i++) {
        const p = this.pending[i];
        if (p === undefined || !p.vc.every((x, j) => x <= (this.v[j] ?? 0))) continue;
        this.pending.splice(i, 1);
        const oi = this.ctx.nodes.indexOf(p.origin);
        this.v[oi] = (this.v[oi] ?? 0) + 1;
        this.deliver({ type: 'deliver', origin: p.origin, n: p.n, payload: p.payload });
        progress = true;
        break;
      }
    }
  }

  protected override extraStats(): Record<string, number> {
    return { ...super.extraStats(), pending: this.pending.length };
  }
}

export const eagerReliableBroadcast = (opts: RbOptions = {}) =>
  broadcastStack('eager-rb', (ctx) => new EagerReliableBroadcast(ctx, opts));
export const fifoReliableBroadcast = (opts: RbOptions = {}) =>
  broadcastStack('fifo-rb', (ctx) => new FifoReliableBroadcast(ctx, opts));
export const causalBroadcast = (opts: RbOptions = {}) =>
  broadcastStack('causal', (ctx) => new CausalBroadcast(ctx, opts));
