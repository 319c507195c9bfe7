/**
 * Measurements behind bench/link.ts: goodput under loss, per-message overhead, and dedup state
 * over a long exactly-once run. Everything here is simulated (virtual time, seeded), so the figures
 * are deterministic per seed; only the wall-clock times vary.
 *
 * A `Tap` wraps each node's protocol object without changing it: it forwards every input
 * unchanged and can sample `stats()` after every input, for exact peaks. Deliveries (with the
 * virtual time of the input that caused them) are noted as the simulator's step executor carries
 * them out (`onOutput`), so a delivery a crash cut short is never counted.
 */

import type { NodeId } from '../src/core/ids.ts';
import type { DurableState, Output, Protocol, StackSpec } from '../src/core/protocol.ts';
import type { Instant } from '../src/core/time.ts';
import { channel, type Guarantee } from '../src/protocols/delivery/guarantees.ts';
import { perfectLink } from '../src/protocols/link/perfect.ts';
import { RELIABLE_DEFAULTS, type ReliableMsg } from '../src/protocols/link/reliable.ts';
import type { Delay } from '../src/sim/network.ts';
import { Simulator, type ScheduledCommand } from '../src/sim/simulator.ts';
import { nodeIds } from '../src/core/ids.ts';

// ------------------------------------------------------------------------------------- helpers

/** The command every link stack here accepts (a subset of ReliableSend and ChannelSend). */
export interface Send {
  readonly type: 'send';
  readonly to: NodeId;
  readonly payload: number;
}

/** What every link stack here delivers (a subset of ReliableDeliver and ChannelDeliver). */
export interface Delivered {
  readonly payload: unknown;
}

export type LinkKind = 'perfect' | Guarantee;

type LinkStack = StackSpec<ReliableMsg, Send, Delivered>;

export function linkStack(kind: LinkKind): LinkStack {
  return kind === 'perfect' ? perfectLink() : channel({ guarantee: kind });
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** A stats() counter, 0 when the protocol does not report it. */
export function stat(s: Readonly<Record<string, number>> | undefined, key: string): number {
  return s?.[key] ?? 0;
}

interface TapHooks {
  /** Every deliver output, with the virtual time of the input that produced it. */
  onDeliver?: (node: NodeId, at: number, event: Delivered) => void;
  /** After every input has been handled (state updated, outputs not yet drained). */
  afterInput?: (node: NodeId, proto: Protocol<ReliableMsg, Send, Delivered>) => void;
}

class Tap implements Protocol<ReliableMsg, Send, Delivered> {
  constructor(
    private readonly inner: Protocol<ReliableMsg, Send, Delivered>,
    private readonly node: NodeId,
    private readonly hooks: TapHooks,
  ) {}

  handleStart(now: Instant, durable: DurableState): void {
    this.inner.handleStart(now, durable);
    this.hooks.afterInput?.(this.node, this.inner);
  }

  handleMessage(now: Instant, from: NodeId, msg: ReliableMsg): void {
    this.inner.handleMessage(now, from, msg);
    this.hooks.afterInput?.(this.node, this.inner);
  }

  handleTimer(now: Instant, name: string): void {
    this.inner.handleTimer(now, name);
    this.hooks.afterInput?.(this.node, this.inner);
  }

  handleCommand(now: Instant, cmd: Send): void {
    this.inner.handleCommand(now, cmd);
    this.hooks.afterInput?.(this.node, this.inner);
  }

  pollOutput(): Output<ReliableMsg, Delivered> | undefined {
    return this.inner.pollOutput();
  }

  stats(): Readonly<Record<string, number>> {
    return this.inner.stats();
  }
}

/** The stack with every node tapped, and the simulator's `onOutput` hook for its deliveries. */
function tapped(
  stack: LinkStack,
  hooks: TapHooks,
): {
  readonly stack: LinkStack;
  readonly onOutput: (node: NodeId, o: Output<ReliableMsg, Delivered>, at: number) => void;
} {
  return {
    stack: {
      name: stack.name,
      create: (ctx) => new Tap(stack.create(ctx), ctx.id, hooks),
      isMessage: (v: unknown): v is ReliableMsg => stack.isMessage(v),
    },
    onOutput: (node, o, at) => {
      if (o.kind === 'deliver') hooks.onDeliver?.(node, at, o.event);
    },
  };
}

/** Counts distinct payloads 0..n-1 and repeats, in a fixed-size bitmap (no growth with n). */
class DistinctCounter {
  private readonly seen: Uint8Array;
  distinct = 0;
  repeats = 0;
  invalid = 0;

  constructor(n: number) {
    this.seen = new Uint8Array(n);
  }

  add(payload: unknown): void {
    if (typeof payload !== 'number' || !Number.isInteger(payload) || payload < 0) {
      this.invalid++;
      return;
    }
    if (payload >= this.seen.length) {
      this.invalid++;
      return;
    }
    if (this.seen[payload] === 1) {
      this.repeats++;
      return;
    }
    this.seen[payload] = 1;
    this.distinct++;
  }
}

const SENDER = 'a';
const RECEIVER = 'b';

// ------------------------------------------------------------------- 1. goodput under loss

export interface GoodputConfig {
  readonly messages: number;
  readonly loss: number;
  readonly oneWayMs: number;
  readonly seed: number;
  /** Give up (report incomplete) after this much virtual time. */
  readonly limitMs: number;
}

export interface GoodputResult {
  readonly distinct: number;
  readonly lastDeliveryMs: number;
  /** Distinct messages delivered per simulated second, up to the last delivery. */
  readonly goodput: number;
  readonly sent: number;
  readonly retransmissions: number;
  /** Data frames that reached the receiver after it already had the message. */
  readonly duplicateArrivals: number;
  readonly wallMs: number;
}

/** One sender → one receiver over the perfect link, every message queued at t=0. */
export function goodputRun(c: GoodputConfig): GoodputResult {
  if (c.messages > RELIABLE_DEFAULTS.sendQueueMax) {
    throw new RangeError(`goodput run: ${c.messages} messages exceed sendQueueMax`);
  }
  const counter = new DistinctCounter(c.messages);
  let lastDeliveryMs = 0;
  const { stack, onOutput } = tapped(linkStack('perfect'), {
    onDeliver: (_node, at, event) => {
      const before = counter.distinct;
      counter.add(event.payload);
      if (counter.distinct > before) lastDeliveryMs = at;
    },
  });
  const workload: ScheduledCommand<Send>[] = [];
  for (let i = 0; i < c.messages; i++) {
    workload.push({ at: 0, node: SENDER, cmd: { type: 'send', to: RECEIVER, payload: i } });
  }
  const sim = new Simulator({
    seed: c.seed,
    nodes: [SENDER, RECEIVER],
    stack,
    onOutput,
    network: { lossProbability: c.loss, delay: { kind: 'fixed', ms: c.oneWayMs } },
    wire: { encode: false },
    workload,
    record: false,
  });
  const t0 = performance.now();
  // In slices, so that a run stops soon after its last delivery instead of waiting for the
  // sender to collect the final acks.
  for (let t = 0; counter.distinct < c.messages && t < c.limitMs;) {
    t += 1000;
    sim.runUntil(t);
  }
  const wallMs = performance.now() - t0;
  const a = sim.protocol(SENDER)?.stats();
  const b = sim.protocol(RECEIVER)?.stats();
  return {
    distinct: counter.distinct,
    lastDeliveryMs,
    goodput: lastDeliveryMs > 0 ? counter.distinct / (lastDeliveryMs / 1000) : 0,
    sent: stat(a, 'sent'),
    retransmissions: stat(a, 'retransmissions'),
    duplicateArrivals: stat(b, 'duplicatesDropped'),
    wallMs,
  };
}

// ------------------------------------------------------------------------- 2. overhead

export interface OverheadConfig {
  readonly kind: LinkKind;
  readonly messages: number;
  /** The sender issues one message every `paceMs` of virtual time. */
  readonly paceMs: number;
  readonly loss: number;
  readonly delay: Delay;
  readonly seed: number;
  readonly limitMs: number;
}

export interface OverheadResult {
  readonly distinct: number;
  /** Deliveries of a message already delivered (at-least-once shows them; others must not). */
  readonly repeatDeliveries: number;
  readonly lastDeliveryMs: number;
  /** Every frame either node handed to the network: data, retransmissions and acks. */
  readonly frames: number;
  readonly dataFrames: number;
  readonly ackFrames: number;
  readonly retransmissions: number;
  readonly bytes: number;
  /** Largest inFlight + waiting at the sender, sampled after every input (exact). */
  readonly sendBufferPeak: number;
  /** The engine's own inFlightPeak counter. */
  readonly inFlightPeak: number;
  /** Largest receiver dedupEntries, sampled after every input (exact). */
  readonly dedupPeak: number;
  readonly dedupEnd: number;
  readonly wallMs: number;
}

/** One sender → one receiver, encoded frames, stats sampled after every input. */
export function overheadRun(c: OverheadConfig): OverheadResult {
  const counter = new DistinctCounter(c.messages);
  let lastDeliveryMs = 0;
  let sendBufferPeak = 0;
  let dedupPeak = 0;
  const { stack, onOutput } = tapped(linkStack(c.kind), {
    onDeliver: (_node, at, event) => {
      counter.add(event.payload);
      lastDeliveryMs = at;
    },
    afterInput: (node, proto) => {
      const s = proto.stats();
      if (node === SENDER) {
        const buf = stat(s, 'inFlight') + stat(s, 'waiting');
        if (buf > sendBufferPeak) sendBufferPeak = buf;
      } else {
        const d = stat(s, 'dedupEntries');
        if (d > dedupPeak) dedupPeak = d;
      }
    },
  });
  const workload: ScheduledCommand<Send>[] = [];
  for (let i = 0; i < c.messages; i++) {
    workload.push({
      at: Math.floor(i * c.paceMs),
      node: SENDER,
      cmd: { type: 'send', to: RECEIVER, payload: i },
    });
  }
  const sim = new Simulator({
    seed: c.seed,
    nodes: [SENDER, RECEIVER],
    stack,
    onOutput,
    network: { lossProbability: c.loss, delay: c.delay },
    wire: { encode: true },
    workload,
    record: false,
  });
  const t0 = performance.now();
  sim.runToQuiescence(c.limitMs);
  const wallMs = performance.now() - t0;
  const a = sim.protocol(SENDER)?.stats();
  const b = sim.protocol(RECEIVER)?.stats();
  return {
    distinct: counter.distinct,
    repeatDeliveries: counter.repeats,
    lastDeliveryMs,
    frames: sim.counters.sends,
    dataFrames: stat(a, 'sent') + stat(a, 'retransmissions'),
    ackFrames: stat(b, 'acksSent'),
    retransmissions: stat(a, 'retransmissions'),
    bytes: sim.counters.bytes,
    sendBufferPeak,
    inFlightPeak: stat(a, 'inFlightPeak'),
    dedupPeak,
    dedupEnd: stat(b, 'dedupEntries'),
    wallMs,
  };
}

// ------------------------------------------------------------------ 3. dedup state stays flat

export interface DedupConfig {
  readonly senders: number;
  readonly perSender: number;
  readonly paceMs: number;
  readonly loss: number;
  readonly delay: Delay;
  readonly seed: number;
  readonly encode: boolean;
  /** Give up (report incomplete) after this much virtual time. */
  readonly limitMs: number;
}

export interface DedupCheckpoint {
  /** Fraction of all messages delivered (0.1, 0.2, … 1). */
  readonly fraction: number;
  readonly atMs: number;
  readonly delivered: number;
  /** Receiver dedupEntries at the checkpoint. */
  readonly dedupEntries: number;
  /** Largest receiver dedupEntries sampled since the previous checkpoint. */
  readonly dedupPeak: number;
  /** Keys in the receiver's durable state (its persisted dedup marks and effect records). */
  readonly receiverDurableKeys: number;
  /** Messages in all senders' send buffers (inFlight + waiting) at the checkpoint. */
  readonly sendBacklog: number;
  /** heapUsed in bytes, after a full GC when one is available. */
  readonly heapUsed: number;
  readonly wallMs: number;
}

export interface DedupResult {
  readonly total: number;
  readonly distinct: number;
  readonly repeats: number;
  readonly invalid: number;
  readonly checkpoints: readonly DedupCheckpoint[];
  readonly dedupPeak: number;
  readonly heapBaseline: number;
  readonly gcAvailable: boolean;
  readonly endMs: number;
  readonly events: number;
  readonly wallMs: number;
}

const RX = 'rx';

function heapUsed(): number {
  globalThis.gc?.();
  return process.memoryUsage().heapUsed;
}

/**
 * `senders` nodes → one receiver over the exactly-once channel. Commands are scheduled slice by
 * slice (not as one up-front workload list), so the harness holds O(slice) of them and the heap
 * reflects the protocols' state, not the workload.
 */
export function dedupRun(c: DedupConfig): DedupResult {
  const total = c.senders * c.perSender;
  const senders = nodeIds(c.senders);
  const counter = new DistinctCounter(total);
  const { stack, onOutput } = tapped(linkStack('exactly-once'), {
    onDeliver: (_node, _at, event) => {
      counter.add(event.payload);
    },
  });
  const sim = new Simulator({
    seed: c.seed,
    nodes: [...senders, RX],
    stack,
    onOutput,
    network: { lossProbability: c.loss, delay: c.delay },
    wire: { encode: c.encode },
    record: false,
  });
  const gcAvailable = typeof globalThis.gc === 'function';
  const heapBaseline = heapUsed();
  const checkpoints: DedupCheckpoint[] = [];
  const sliceMs = 10;
  let scheduled = 0; // message index i goes to sender i % senders at t = floor(i / senders) * pace
  let t = 0;
  let peakSince = 0;
  let peakAll = 0;
  let nextCheckpoint = 1;
  const t0 = performance.now();
  sim.start();
  while (counter.distinct < total && t < c.limitMs) {
    const end = t + sliceMs;
    while (scheduled < total) {
      const at = Math.floor(Math.floor(scheduled / c.senders) * c.paceMs);
      if (at >= end) break;
      const from = senders[scheduled % c.senders] as NodeId;
      sim.schedule(at, from, { type: 'send', to: RX, payload: scheduled });
      scheduled++;
    }
    sim.runUntil(end);
    t = end;
    const rx = sim.protocol(RX)?.stats();
    const d = stat(rx, 'dedupEntries');
    if (d > peakSince) peakSince = d;
    if (d > peakAll) peakAll = d;
    while (nextCheckpoint <= 10 && counter.distinct >= (total * nextCheckpoint) / 10) {
      let backlog = 0;
      for (const s of senders) {
        const st = sim.protocol(s)?.stats();
        backlog += stat(st, 'inFlight') + stat(st, 'waiting');
      }
      checkpoints.push({
        fraction: nextCheckpoint / 10,
        atMs: t,
        delivered: counter.distinct,
        dedupEntries: d,
        dedupPeak: peakSince,
        receiverDurableKeys: sim.durable(RX).size,
        sendBacklog: backlog,
        heapUsed: heapUsed(),
        wallMs: performance.now() - t0,
      });
      peakSince = d;
      nextCheckpoint++;
    }
  }
  return {
    total,
    distinct: counter.distinct,
    repeats: counter.repeats,
    invalid: counter.invalid,
    checkpoints,
    dedupPeak: peakAll,
    heapBaseline,
    gcAvailable,
    endMs: t,
    events: sim.counters.events,
    wallMs: performance.now() - t0,
  };
}
