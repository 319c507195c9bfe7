/**
 * Majority-ack uniform reliable broadcast (Cachin, Guerraoui and Rodrigues, Alg. 3.5), for the
 * fail-silent model with a majority of correct processes (N > 2f).
 *
 * Every process relays a message the first time it sees it; a process delivers m only once it
 * has seen m from a majority of processes (counting itself). Guarantees: URB1 validity, URB2 no
 * duplication, URB3 no creation, URB4 UNIFORM agreement: if any process delivers m, even one that
 * crashes right after, a majority has m, so at least one correct process has it and relays it to
 * all. Eager RB lacks URB4 (a deliverer may crash before relaying).
 * Memory: ack sets only for messages not yet delivered (bounded by `pendingMax`); delivered and
 * seen sets are per-origin watermark + window.
 * Liveness needs a majority of correct processes: with N ≤ 2f it can block (safe, not live).
 */

import type { SeqSet } from '../../core/seqset.ts';
import type { NodeId } from '../../core/ids.ts';
import type { NodeContext } from '../../core/protocol.ts';
import type { Instant } from '../../core/time.ts';
import {
  broadcastStack,
  isOriginMsg,
  OverPerfectLinks,
  seqSetOf,
  type BroadcastCommand,
  type BroadcastDeliver,
  type OriginMsg,
  requireBroadcastCommand,
} from './base.ts';
import type { RbOptions } from './eager.ts';

type UrbMsg = OriginMsg<'urb'>;

export interface UrbOptions extends RbOptions {
  /** Most messages seen but not yet delivered (each holds an ack set). */
  readonly pendingMax?: number;
}

export class MajorityAckUniformBroadcast extends OverPerfectLinks<
  BroadcastCommand,
  BroadcastDeliver
> {
  private readonly seen = new Map<NodeId, SeqSet>();
  /** Messages seen, not yet delivered: key `origin/n` → who has relayed it to us (+ ourselves). */
  private readonly pending = new Map<string, { m: UrbMsg; acks: Set<NodeId> }>();
  private readonly windowMax: number;
  private readonly pendingMax: number;
  private broadcasts = 0;
  private dropped = 0;

  constructor(ctx: NodeContext, opts: UrbOptions = {}) {
    const { deliveredWindowMax, pendingMax, holdBackMax: _unused, ...link } = opts;
    super(ctx, link);
    this.windowMax = deliveredWindowMax ?? 100_000;
    this.pendingMax = pendingMax ?? 100_000;
  }

  protected onCommand(_now: Instant, cmd: BroadcastCommand): void {
    requireBroadcastCommand('urb', cmd);
    const n = ++this.broadcasts;
    this.onUrb(this.ctx.id, { k: 'urb', o: this.ctx.id, n, payload: cmd.payload });
  }

  protected onLinkDeliver(from: NodeId, payload: unknown): void {
    if (!isOriginMsg(payload, 'urb', this.ctx.nodes)) {
      this.malformed++;
      return;
    }
    this.onUrb(from, payload);
  }

  private onUrb(from: NodeId, m: UrbMsg): void {
    const seen = seqSetOf(this.seen, m.o, this.windowMax);
    const key = `${m.o}/${m.n}`;
    let entry = this.pending.get(key);
    if (entry === undefined) {
      if (seen.has(m.n)) return; // already delivered: late relays need no bookkeeping
      if (this.pending.size >= this.pendingMax || seen.add(m.n) === 'overflow') {
        this.dropped++;
        return;
      }
      entry = { m, acks: new Set([this.ctx.id]) };
      this.pending.set(key, entry);
      // First sight: relay to everyone (this is our ack to them).
      this.sendToOthers(m);
    }
    entry.acks.add(from);
    if (entry.acks.size * 2 > this.ctx.nodes.length) {
      this.pending.delete(key);
      this.deliver({ type: 'deliver', origin: m.o, n: m.n, payload: m.payload });
    }
  }

  protected override extraStats(): Record<string, number> {
    return { broadcasts: this.broadcasts, pending: this.pending.size, dropped: this.dropped };
  }
}

export function uniformReliableBroadcast(opts: UrbOptions = {}) {
  return broadcastStack('urb', (ctx) => new MajorityAckUniformBroadcast(ctx, opts));
}
