/**
 * Simulated Byzantine processes that speak Bracha's messages (bracha.ts), for the simulator's
 * per-node `stacks` option. Each is an ordinary sans-I/O Protocol over the same perfect link the
 * correct processes use (so its messages are authenticated as ITS messages: it can lie about
 * content, never about who it is), and draws its choices from `ctx.rng` (seeded, replayable).
 *
 *   equivocator  as origin: SEND(A) to half of the others and SEND(B) to the other half; votes
 *                (ECHO, READY) for both, split by half or to everyone in a random order; as a
 *                participant: on a correct origin's SEND it votes for m to one half and for a
 *                twisted m' to the other.
 *   silent       sends nothing at all, not even link acks (a crashed or mute process).
 *   forger       ECHOes/READYs messages nobody broadcast, and SENDs claiming to be another
 *                origin (exposed: the authenticated link names the true sender).
 *   flooder      garbage, malformed and out-of-range messages (link- and broadcast-level), at
 *                most `perStep` per step for `rounds` steps.
 *   colluder     mirrors each process: whatever (o, n, m) a process tells it first, it ECHOes and
 *                READYs back to that process alone (each kind with a probability). With an
 *                equivocator, every half sees "its" payload confirmed; with N ≤ 3f this breaks
 *                consistency or totality.
 *
 * Guarantees: nothing (they are adversaries); but they never throw from a handler, their output
 * per step is bounded, and their messages are plain data the simulator can encode.
 * Assumes: N ≥ 2; used only in simulations.
 */

import { SteadfastError } from '../../core/errors.ts';
import type { NodeId } from '../../core/ids.ts';
import {
  OutputQueue,
  type DurableState,
  type NodeContext,
  type Protocol,
  type StackSpec,
} from '../../core/protocol.ts';
import { addMs, type Instant } from '../../core/time.ts';
import { isReliableMsg, type ReliableMsg } from '../link/reliable.ts';
import { OverPerfectLinks, type BroadcastCommand, type BroadcastDeliver } from './base.ts';
import { brachaMsg, isBrachaMsg, type BrachaKind } from './bracha.ts';

type Spec = StackSpec<ReliableMsg, BroadcastCommand, BroadcastDeliver>;

/** Shared plumbing: a send that never throws, and the two halves of the other processes. */
abstract class Adversary extends OverPerfectLinks<BroadcastCommand, BroadcastDeliver> {
  protected sent = 0;
  protected refused = 0;

  /** The others split by position: the first ⌊(N−1)/2⌋ and the rest. */
  protected halves(): [readonly NodeId[], readonly NodeId[]] {
    const cut = Math.floor(this.others.length / 2);
    return [this.others.slice(0, cut), this.others.slice(cut)];
  }

  protected put(to: NodeId, msg: unknown): void {
    try {
      this.sendTo(to, msg);
      this.sent++;
    } catch (err) {
      if (!(err instanceof SteadfastError)) throw err;
      this.refused++;
    }
  }

  protected vote(to: NodeId, t: BrachaKind, o: NodeId, n: number, m: unknown): void {
    this.put(to, brachaMsg(t, o, n, m));
  }

  protected override extraStats(): Record<string, number> {
    return { adversarySent: this.sent, adversaryRefused: this.refused };
  }
}

// ------------------------------------------------------------------------------- equivocator

export interface EquivocatorOptions {
  /** The second payload B for a payload A (default `{ equivocated: A }`). */
  readonly twist?: (payload: unknown) => unknown;
  /**
   * 'split' (default): each half gets ECHO and READY for its own payload only. 'both': every
   * other process gets ECHO and READY for both payloads, in an order drawn per receiver.
   */
  readonly votes?: 'split' | 'both';
  /** Most (o, n) it reacts to as a participant (default 10 000). */
  readonly memoryMax?: number;
}

class Equivocator extends Adversary {
  private broadcasts = 0;
  private readonly seen = new Set<string>();
  private readonly twist: (payload: unknown) => unknown;
  private readonly votes: 'split' | 'both';
  private readonly memoryMax: number;

  constructor(ctx: NodeContext, opts: EquivocatorOptions) {
    super(ctx);
    this.twist = opts.twist ?? ((p) => ({ equivocated: p }));
    this.votes = opts.votes ?? 'split';
    this.memoryMax = opts.memoryMax ?? 10_000;
  }

  protected onCommand(_now: Instant, cmd: BroadcastCommand): void {
    const n = ++this.broadcasts;
    const a = cmd.payload;
    const b = this.twist(a);
    const [h1, h2] = this.halves();
    for (const to of h1) this.vote(to, 'send', this.ctx.id, n, a);
    for (const to of h2) this.vote(to, 'send', this.ctx.id, n, b);
    this.equivocate(this.ctx.id, n, a, b);
  }

  protected onLinkDeliver(from: NodeId, payload: unknown): void {
    if (!isBrachaMsg(payload) || payload.t !== 'send' || payload.o !== from) return;
    const id = `${payload.o}/${payload.n}`;
    if (this.seen.has(id) || this.seen.size >= this.memoryMax) return;
    this.seen.add(id);
    this.equivocate(payload.o, payload.n, payload.m, this.twist(payload.m));
  }

  private equivocate(o: NodeId, n: number, a: unknown, b: unknown): void {
    const [h1, h2] = this.halves();
    if (this.votes === 'split') {
      for (const [half, m] of [
        [h1, a],
        [h2, b],
      ] as const) {
        for (const to of half) this.vote(to, 'echo', o, n, m);
        for (const to of half) this.vote(to, 'ready', o, n, m);
      }
      return;
    }
    for (const to of this.others) {
      const [first, second] = this.ctx.rng.chance(0.5) ? [a, b] : [b, a];
      this.vote(to, 'echo', o, n, first);
      this.vote(to, 'echo', o, n, second);
      this.vote(to, 'ready', o, n, first);
      this.vote(to, 'ready', o, n, second);
    }
  }
}

/** A Byzantine origin that equivocates (and votes for both sides of every broadcast it sees). */
export function equivocator(opts: EquivocatorOptions = {}): Spec {
  return {
    name: 'byz-equivocator',
    create: (ctx) => new Equivocator(ctx, opts),
    isMessage: isReliableMsg,
  };
}

// ------------------------------------------------------------------------------------ silent

class Silent
  extends OutputQueue<ReliableMsg, BroadcastDeliver>
  implements Protocol<ReliableMsg, BroadcastCommand, BroadcastDeliver>
{
  private received = 0;

  handleStart(_now: Instant, _durable: DurableState): void {
    // Says nothing.
  }
  handleMessage(_now: Instant, _from: NodeId, _msg: ReliableMsg): void {
    this.received++;
  }
  handleTimer(_now: Instant, _name: string): void {
    // Arms none.
  }
  handleCommand(_now: Instant, _cmd: BroadcastCommand): void {
    // Ignores the application.
  }
  stats(): Readonly<Record<string, number>> {
    return { received: this.received };
  }
}

/** A Byzantine process that never sends anything (not even link acks). */
export function silent(): Spec {
  return { name: 'byz-silent', create: () => new Silent(), isMessage: isReliableMsg };
}

// ------------------------------------------------------------------------------------ forger

export interface ForgerOptions {
  /** Forging rounds (the first at start, then one every `intervalMs`); default 4. */
  readonly rounds?: number;
  readonly intervalMs?: number;
  /** Forgeries per round, each sent to every other process; default 3. */
  readonly perRound?: number;
  /** Forged broadcast numbers are drawn from 1..maxN (default 3: they collide with real ones). */
  readonly maxN?: number;
}

class Forger extends Adversary {
  private roundsLeft: number;
  private readonly intervalMs: number;
  private readonly perRound: number;
  private readonly maxN: number;

  constructor(ctx: NodeContext, opts: ForgerOptions) {
    super(ctx);
    this.roundsLeft = opts.rounds ?? 4;
    this.intervalMs = opts.intervalMs ?? 7;
    this.perRound = opts.perRound ?? 3;
    this.maxN = opts.maxN ?? 3;
  }

  protected override onStart(now: Instant): void {
    this.round(now);
  }

  protected override onTimer(now: Instant, name: string): void {
    if (name === 'forge') this.round(now);
  }

  protected onCommand(): void {
    // A forger broadcasts nothing of its own.
  }

  protected onLinkDeliver(): void {
    // Deaf.
  }

  private round(now: Instant): void {
    if (this.roundsLeft <= 0) return;
    this.roundsLeft--;
    const rng = this.ctx.rng;
    for (let i = 0; i < this.perRound; i++) {
      const n = rng.intBetween(1, this.maxN);
      if (rng.chance(0.4)) {
        // A SEND in another origin's name (the link says it comes from us).
        const o = this.others[rng.int(this.others.length)] ?? this.ctx.id;
        const m = `forged SEND ${o}/${n}`;
        for (const to of this.others) this.vote(to, 'send', o, n, m);
      } else {
        // Votes for a message nobody broadcast. Deterministic in (o, n): colluding forgers agree.
        const o = this.ctx.nodes[rng.int(this.ctx.nodes.length)] ?? this.ctx.id;
        const t: BrachaKind = rng.chance(0.5) ? 'echo' : 'ready';
        const m = `forged ${o}/${n}`;
        for (const to of this.others) this.vote(to, t, o, n, m);
      }
    }
    if (this.roundsLeft > 0) this.setTimer('forge', addMs(now, this.intervalMs));
  }
}

/** A Byzantine process that votes for messages nobody sent and SENDs in others' names. */
export function forger(opts: ForgerOptions = {}): Spec {
  return { name: 'byz-forger', create: (ctx) => new Forger(ctx, opts), isMessage: isReliableMsg };
}

// ----------------------------------------------------------------------------------- flooder

export interface FlooderOptions {
  /** Garbage messages per step (default 8). */
  readonly perStep?: number;
  /** Steps: one at start, then one every `intervalMs` (default 20 steps, 5 ms apart). */
  readonly rounds?: number;
  readonly intervalMs?: number;
  /** In-range votes use broadcast numbers in 1..maxN (default 300). */
  readonly maxN?: number;
}

class Flooder extends Adversary {
  private roundsLeft: number;
  private readonly perStep: number;
  private readonly intervalMs: number;
  private readonly maxN: number;

  constructor(ctx: NodeContext, opts: FlooderOptions) {
    super(ctx);
    this.roundsLeft = opts.rounds ?? 20;
    this.perStep = opts.perStep ?? 8;
    this.intervalMs = opts.intervalMs ?? 5;
    this.maxN = opts.maxN ?? 300;
  }

  protected override onStart(now: Instant): void {
    this.step(now);
  }

  protected override onTimer(now: Instant, name: string): void {
    if (name === 'flood') this.step(now);
  }

  protected onCommand(): void {
    // Floods on its own schedule.
  }

  protected onLinkDeliver(): void {
    // Deaf.
  }

  private step(now: Instant): void {
    if (this.roundsLeft <= 0) return;
    this.roundsLeft--;
    const rng = this.ctx.rng;
    for (let i = 0; i < this.perStep; i++) {
      const to = this.others[rng.int(this.others.length)];
      if (to === undefined) return;
      if (rng.chance(0.1)) {
        // Link-level garbage: a bogus ack, or data far beyond the receiver's window.
        this.sent++;
        this.send(
          to,
          rng.chance(0.5)
            ? { type: 'ack', cum: rng.int(1_000_000), sack: [5, 2, 7, 1_000_000_000] }
            : {
                type: 'data',
                seq: 2 ** 40 + rng.int(1000),
                floor: 0,
                mode: 'pl',
                payload: this.garbage(),
              },
        );
      } else {
        this.put(to, this.garbage());
      }
    }
    if (this.roundsLeft > 0) this.setTimer('flood', addMs(now, this.intervalMs));
  }

  /** One malformed, out-of-range or in-range-but-bogus broadcast-level message. */
  private garbage(): unknown {
    const rng = this.ctx.rng;
    const nodes = this.ctx.nodes;
    const o = nodes[rng.int(nodes.length)] ?? this.ctx.id;
    const t: BrachaKind = (['send', 'echo', 'ready'] as const)[rng.int(3)] ?? 'echo';
    const m = rng.chance(0.5) ? `junk ${rng.int(1000)}` : { junk: [rng.int(1000), null, true] };
    switch (rng.int(12)) {
      case 0:
        return [null, 42, 'brb', rng.int(1000)][rng.int(4)];
      case 1:
        return { k: 'brb', t: 'bogus', o, n: 1, m };
      case 2:
        return { k: 'brb', t, o: `nobody-${rng.int(10)}`, n: 1, m };
      case 3:
        return { k: 'brb', t, o, n: [0, -1, 1.5, Number.NaN, 2 ** 53, '1'][rng.int(6)], m };
      case 4:
        return { k: 'brb', t, o, n: 1 }; // no payload
      case 5:
        return { k: 'rb', o, n: 1, payload: m }; // another protocol's message
      case 6:
        return { k: 'brb', t, o: 42, n: 1, m };
      case 7: {
        // Deeply nested (but still encodable) payload.
        let deep: unknown = 'bottom';
        for (let d = 0; d < 50; d++) deep = [deep];
        return { k: 'brb', t, o, n: rng.intBetween(1, 3), m: deep };
      }
      case 8:
        // Far beyond any delivered watermark.
        return { k: 'brb', t, o, n: 1_000_000 + rng.int(1_000_000_000), m };
      default:
        // In range: fills receivers' per-origin tables (bounded by their pendingMax).
        return { k: 'brb', t, o, n: rng.intBetween(1, this.maxN), m };
    }
  }
}

/** A Byzantine process that floods garbage (bounded per step). */
export function flooder(opts: FlooderOptions = {}): Spec {
  return {
    name: 'byz-flooder',
    create: (ctx) => new Flooder(ctx, opts),
    isMessage: isReliableMsg,
  };
}

// ---------------------------------------------------------------------------------- colluder

export interface ColluderOptions {
  /** Probability of mirroring an ECHO back to a given process for a given (o, n) (default 1). */
  readonly echoProbability?: number;
  /** Same for READY (default 1). */
  readonly readyProbability?: number;
  /** Most (process, o, n) remembered (default 10 000). */
  readonly memoryMax?: number;
}

class Colluder extends Adversary {
  private readonly seen = new Set<string>();
  private readonly echoP: number;
  private readonly readyP: number;
  private readonly memoryMax: number;

  constructor(ctx: NodeContext, opts: ColluderOptions) {
    super(ctx);
    this.echoP = opts.echoProbability ?? 1;
    this.readyP = opts.readyProbability ?? 1;
    this.memoryMax = opts.memoryMax ?? 10_000;
  }

  protected onCommand(): void {
    // Only helps others.
  }

  protected onLinkDeliver(from: NodeId, payload: unknown): void {
    if (!isBrachaMsg(payload)) return;
    const id = `${from}/${payload.o}/${payload.n}`;
    if (this.seen.has(id) || this.seen.size >= this.memoryMax) return;
    this.seen.add(id);
    const rng = this.ctx.rng;
    if (rng.chance(this.echoP)) this.vote(from, 'echo', payload.o, payload.n, payload.m);
    if (rng.chance(this.readyP)) this.vote(from, 'ready', payload.o, payload.n, payload.m);
  }
}

/** A Byzantine process that confirms to each process whatever that process said first. */
export function colluder(opts: ColluderOptions = {}): Spec {
  return {
    name: 'byz-colluder',
    create: (ctx) => new Colluder(ctx, opts),
    isMessage: isReliableMsg,
  };
}
