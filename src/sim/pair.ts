/**
 * A hand-driven harness for unit tests of one protocol between a few nodes (after quinn's `Pair`
 * and h11's `ConnectionPair`): no randomness, no scheduler; the test decides which message is
 * delivered, dropped or duplicated and when time advances.
 *
 * Guarantees: outputs are carried out in order, by the step executor every driver uses
 * (core/executor.ts); `persist`ed records are kept per node and handed back by
 * `crashAndRecover`; timers fire only through `advance`.
 */

import { drainOutputs, type OutputSink } from '../core/executor.ts';
import type { NodeId } from '../core/ids.ts';
import { applyWrites, type Protocol, type StackSpec } from '../core/protocol.ts';
import { createRng } from '../core/rng.ts';
import { instant } from '../core/time.ts';

export interface InFlight<M> {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly msg: M;
}

export class Pair<M, C, D> {
  now = 0;
  /** Messages sent and not yet delivered or dropped, in send order. */
  readonly inFlight: InFlight<M>[] = [];
  readonly delivered = new Map<NodeId, D[]>();
  readonly durable = new Map<NodeId, Map<string, unknown>>();
  private readonly protos = new Map<NodeId, Protocol<M, C, D>>();
  private readonly timers = new Map<NodeId, Map<string, number>>();
  private incarnation = 0;

  constructor(
    private readonly stack: StackSpec<M, C, D>,
    readonly nodes: readonly NodeId[] = ['a', 'b'],
    private readonly seed = 1,
  ) {
    for (const id of nodes) {
      this.delivered.set(id, []);
      this.durable.set(id, new Map());
      this.boot(id);
    }
  }

  proto(id: NodeId): Protocol<M, C, D> {
    const p = this.protos.get(id);
    if (p === undefined) throw new RangeError(`unknown node ${id}`);
    return p;
  }

  deliveredTo(id: NodeId): D[] {
    return this.delivered.get(id) ?? [];
  }

  command(id: NodeId, cmd: C): this {
    this.proto(id).handleCommand(instant(this.now), cmd);
    this.drain(id);
    return this;
  }

  /** Delivers the message at `index` of `inFlight` (default: the oldest). */
  deliverOne(index = 0): InFlight<M> {
    const [m] = this.inFlight.splice(index, 1);
    if (m === undefined) throw new RangeError(`no message in flight at ${index}`);
    this.proto(m.to).handleMessage(instant(this.now), m.from, m.msg);
    this.drain(m.to);
    return m;
  }

  /** Delivers a copy of the message at `index` without removing it (a network duplicate). */
  duplicate(index = 0): void {
    const m = this.inFlight[index];
    if (m === undefined) throw new RangeError(`no message in flight at ${index}`);
    this.proto(m.to).handleMessage(instant(this.now), m.from, m.msg);
    this.drain(m.to);
  }

  /** Drops the message at `index` (a network loss). */
  drop(index = 0): InFlight<M> {
    const [m] = this.inFlight.splice(index, 1);
    if (m === undefined) throw new RangeError(`no message in flight at ${index}`);
    return m;
  }

  /** Delivers everything in flight, including what the deliveries send, up to `maxSteps`. */
  flush(maxSteps = 10_000): this {
    for (let i = 0; this.inFlight.length > 0; i++) {
      if (i >= maxSteps)
        throw new Error(`flush: still ${this.inFlight.length} in flight after ${maxSteps} steps`);
      this.deliverOne();
    }
    return this;
  }

  /** Moves time forward by `ms`, firing due timers in time order. */
  advance(ms: number): this {
    const until = this.now + ms;
    for (;;) {
      let best: { id: NodeId; name: string; at: number } | undefined;
      for (const [id, table] of this.timers) {
        for (const [name, at] of table)
          if (at <= until && (best === undefined || at < best.at)) best = { id, name, at };
      }
      if (best === undefined) break;
      this.timers.get(best.id)?.delete(best.name);
      this.now = Math.max(this.now, best.at);
      this.proto(best.id).handleTimer(instant(this.now), best.name);
      this.drain(best.id);
    }
    this.now = until;
    return this;
  }

  /** Armed timers of a node: name → fire time. */
  armed(id: NodeId): ReadonlyMap<string, number> {
    return this.timers.get(id) ?? new Map();
  }

  /** Throws the node's volatile state away and restarts it from its persisted records. */
  crashAndRecover(id: NodeId): this {
    this.incarnation++;
    this.boot(id);
    return this;
  }

  private boot(id: NodeId): void {
    const p = this.stack.create({
      id,
      nodes: this.nodes,
      rng: createRng(this.seed).fork(`${id}:${this.incarnation}`),
    });
    this.protos.set(id, p);
    this.timers.set(id, new Map());
    p.handleStart(instant(this.now), new Map(this.durable.get(id)));
    this.drain(id);
  }

  private drain(id: NodeId): void {
    drainOutputs(this.proto(id), this.sinkOf(id));
  }

  private sinkOf(id: NodeId): OutputSink<M, D> {
    const timers = this.timers.get(id) ?? new Map<string, number>();
    return {
      send: (o) => {
        this.inFlight.push({ from: id, to: o.to, msg: o.msg });
      },
      setTimer: (o) => {
        timers.set(o.name, o.at);
      },
      cancelTimer: (o) => {
        timers.delete(o.name);
      },
      deliver: (o) => {
        this.delivered.get(id)?.push(o.event);
      },
      persist: (o) => {
        applyWrites(this.durable.get(id) ?? new Map<string, unknown>(), o.writes);
        return undefined;
      },
    };
  }
}
