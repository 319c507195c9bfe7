/**
 * The deterministic simulator: many nodes in one process on a virtual clock.
 *
 * Guarantees:
 * - Determinism: every random choice (network faults, generated schedules, each node's `rng`)
 *   derives from `seed`; the same options give a byte-identical trace.
 * - Each node runs the very same sans-I/O protocol object the real runtime runs. The simulator
 *   carries out outputs strictly in order; a `persist` is durable the moment it is carried out,
 *   and a crash (possibly between two outputs of one step) loses every later output.
 * - Messages travel as encoded frames (`wire.encode`, the default): payload → msgpack → frame with
 *   optional CRC32C and HMAC. Corruption flips bits of the frame; the receiver decodes, checks
 *   and validates exactly as a real node would, so an uncaught flip can surface as a different
 *   message (creation) and a caught one as an omission (`drop` with reason `checksum`).
 * - Crash-recover: a crashed node loses its protocol object, timers and in-flight inputs; on
 *   `recover` a fresh object gets `handleStart(now, persistedRecords)`.
 * Assumes: protocols emit plain-data messages their `isMessage` accepts.
 *
 * SIZE. Over 600 lines: the network (routing, faults, Byzantine senders, forge and replay) still
 * lives here beside the event loop; it is the next thing to move out (issue 15). Outputs are
 * carried out by core/executor.ts.
 */

import {
  checkInbound,
  decodeInbound,
  drainOutputs,
  FrameEncoder,
  type Inbound,
  type OutputSink,
} from '../core/executor.ts';
import { encodeFrame, type FrameOptions } from '../core/frame.ts';
import { EventHeap, type Scheduled } from '../core/heap.ts';
import type { NodeId } from '../core/ids.ts';
import { encodePayload } from '../core/payload.ts';
import {
  applyWrites,
  type NodeContext,
  type Output,
  type Protocol,
  type StackSpec,
} from '../core/protocol.ts';
import { createRng, type Rng } from '../core/rng.ts';
import { instant } from '../core/time.ts';
import { TimerTable } from '../core/timers.ts';
import { persistEvent, type CrashPoint, type DropReason, type TraceEvent } from '../core/trace.ts';
import type { NemesisAction, TimedAction } from './nemesis.ts';
import {
  linkKey,
  minDelayMs,
  RELIABLE,
  sampleDelayMs,
  validateFaults,
  type LinkFaults,
} from './network.ts';

export interface ScheduledCommand<C> {
  readonly at: number;
  readonly node: NodeId;
  readonly cmd: C;
}

export interface WireOptions {
  /** Encode every message to a real frame (default true). Off: pass objects (faster, no corruption). */
  readonly encode?: boolean;
  /** Frame options: CRC32C on/off and optional HMAC (default: checksum on, no auth). */
  readonly frame?: FrameOptions;
}

export interface SimOptions<M, C, D> {
  readonly seed: number;
  readonly nodes: readonly NodeId[];
  readonly stack: StackSpec<M, C, D>;
  /**
   * Per-node replacements of `stack` (e.g. Byzantine nodes running an adversary). They speak the
   * same message type; what they send is validated by the receivers' own stack.
   */
  readonly stacks?: Readonly<Record<NodeId, StackSpec<M, C, D>>>;
  /** Fault settings of every link (default: reliable, 1–10 ms). */
  readonly network?: Partial<LinkFaults>;
  /** Per-directed-link overrides, keyed `from->to`. */
  readonly links?: Readonly<Record<string, Partial<LinkFaults>>>;
  readonly wire?: WireOptions;
  readonly nemesis?: readonly TimedAction[];
  readonly workload?: readonly ScheduledCommand<C>[];
  /**
   * Generic Byzantine senders: each message a listed node sends is, with `tamperProbability`,
   * rewritten (its innermost `payload` replaced by a forged value) and, with `impersonate`, sent
   * as a forgery claiming a random correct node as its sender (caught by HMAC when `wire.frame`
   * has `auth`). Protocol-specific adversaries run through `stacks` instead.
   */
  readonly byzantine?: {
    readonly nodes: readonly NodeId[];
    readonly tamperProbability: number;
    readonly impersonate: boolean;
    /** How a liar rewrites a message (default `tamperPayload`). */
    readonly tamper?: (msg: unknown, forged: string) => unknown;
  };
  /**
   * Racing adversaries: every message these nodes send (tampered, forged or honest) travels with
   * the network's minimum delay instead of a drawn one, so a liar's relay overtakes the genuine
   * copy whenever the network lets it (an adversary chooses its own timing; loss, duplication
   * and partitions still apply to it).
   */
  readonly racers?: readonly NodeId[];
  /** Record events in `trace` (default true). Off: only counters, for benchmarks. */
  readonly record?: boolean;
  /**
   * Called for every output a node carries out, with the virtual time of the input that caused it
   * (benchmarks observe deliveries without recording a trace). Not for lost outputs.
   */
  readonly onOutput?: (node: NodeId, output: Output<M, D>, nowMs: number) => void;
  /** Called for every event as it happens (for live apps above the stack, tests, progress). */
  readonly observer?: (event: TraceEvent, sim: Simulator<M, C, D>) => void;
  /** Bound on events processed, to stop a livelocked run (default 50 million). */
  readonly maxEvents?: number;
}

interface SimNode<M, C, D> {
  readonly id: NodeId;
  proto: Protocol<M, C, D> | undefined;
  up: boolean;
  incarnation: number;
  readonly durable: Map<string, unknown>;
  /** Armed timers' generations (a deadline of a replaced or cancelled arming is ignored). */
  readonly timers: TimerTable;
  /** Where the executor carries this node's outputs out (core/executor.ts). */
  sink: OutputSink<M, D>;
  /** Armed crash-between-outputs: crash after this many outputs of the next long-enough step. */
  crashAfterOutputs: number | undefined;
  /** Identifies the current arming (a deadline for an older arming is ignored). */
  armId: number;
  /** Recover this long after the next crash (crash-recover), if set. */
  recoverAfterMs: number | undefined;
}

type SimEvent<C> =
  | {
      at: number;
      seq: number;
      kind: 'arrive';
      id: number;
      copy: number;
      from: NodeId;
      to: NodeId;
      data: unknown;
    }
  | { at: number; seq: number; kind: 'timer'; node: NodeId; name: string; gen: number; inc: number }
  | { at: number; seq: number; kind: 'action'; action: NemesisAction }
  /** An armed crash that has not happened by its `withinMs` deadline happens now. */
  | { at: number; seq: number; kind: 'deadline'; node: NodeId; armId: number }
  | { at: number; seq: number; kind: 'command'; node: NodeId; cmd: C };

export interface SimCounters {
  events: number;
  sends: number;
  receives: number;
  drops: number;
  duplicates: number;
  corruptions: number;
  delivers: number;
  timers: number;
  persists: number;
  crashes: number;
  bytes: number;
  /** Messages a generic Byzantine sender rewrote (tampered or forged in another's name). */
  tampered: number;
}

/** Thrown when a protocol throws inside the simulator; names the seed that reproduces it. */
export class SimulationError extends Error {
  constructor(
    message: string,
    readonly seed: number,
    override readonly cause: unknown,
  ) {
    super(message);
    this.name = 'SimulationError';
  }
}

export class Simulator<M, C, D> {
  readonly seed: number;
  readonly trace: TraceEvent[] = [];
  readonly counters: SimCounters = {
    events: 0,
    sends: 0,
    receives: 0,
    drops: 0,
    duplicates: 0,
    corruptions: 0,
    delivers: 0,
    timers: 0,
    persists: 0,
    crashes: 0,
    bytes: 0,
    tampered: 0,
  };
  private readonly opts: SimOptions<M, C, D>;
  private readonly rootRng: Rng;
  private readonly netRng: Rng;
  private readonly byzRng: Rng;
  private readonly racers: ReadonlySet<NodeId> | undefined;
  private readonly heap = new EventHeap<SimEvent<C> & Scheduled>();
  private readonly nodes = new Map<NodeId, SimNode<M, C, D>>();
  private readonly nodeList: readonly NodeId[];
  private defaultFaults: LinkFaults;
  private readonly linkFaults = new Map<string, LinkFaults>();
  private readonly blocked = new Set<string>();
  private readonly encode: boolean;
  private readonly frameOpts: FrameOptions;
  private readonly encoder: FrameEncoder;
  private readonly record: boolean;
  /** Whether events are built at all (recorded or observed); off in benchmarks. */
  private readonly tracing: boolean;
  private readonly maxEvents: number;
  private readonly planned: readonly SimEvent<C>[];
  /** Frames kept for `replay` actions (only when the schedule has any). */
  private readonly kept: Map<number, { from: NodeId; to: NodeId; data: unknown }> | undefined;
  private plannedNext = 0;
  private nextMsgId = 1;
  private nowMs = 0;
  private started = false;

  constructor(opts: SimOptions<M, C, D>) {
    if (opts.nodes.length === 0) throw new RangeError('a simulation needs at least one node');
    if (new Set(opts.nodes).size !== opts.nodes.length)
      throw new RangeError('node ids must be unique');
    this.opts = opts;
    this.seed = opts.seed >>> 0;
    this.rootRng = createRng(this.seed);
    this.netRng = this.rootRng.fork('network');
    this.byzRng = this.rootRng.fork('byzantine');
    this.racers =
      opts.racers === undefined || opts.racers.length === 0 ? undefined : new Set(opts.racers);
    this.nodeList = [...opts.nodes];
    this.defaultFaults = validateFaults({ ...RELIABLE, ...opts.network });
    for (const [key, f] of Object.entries(opts.links ?? {})) {
      this.linkFaults.set(key, validateFaults({ ...this.defaultFaults, ...f }, `links[${key}]`));
    }
    this.encode = opts.wire?.encode ?? true;
    this.frameOpts = opts.wire?.frame ?? { checksum: true };
    this.encoder = new FrameEncoder(this.frameOpts);
    this.record = opts.record ?? true;
    this.tracing = this.record || opts.observer !== undefined;
    this.maxEvents = opts.maxEvents ?? 50_000_000;
    if (!this.encode && this.anyCorruption()) {
      throw new RangeError('corruption needs encoded frames: set wire.encode to true');
    }
    for (const id of opts.nodes) {
      const n: SimNode<M, C, D> = {
        id,
        proto: undefined,
        up: false,
        incarnation: 0,
        durable: new Map(),
        timers: new TimerTable(),
        sink: undefined as unknown as OutputSink<M, D>, // set just below (it needs `n`)
        crashAfterOutputs: undefined,
        armId: 0,
        recoverAfterMs: undefined,
      };
      n.sink = this.sinkOf(n);
      this.nodes.set(id, n);
    }
    // The up-front schedule (nemesis, then workload) is kept out of the heap in one sorted list
    // read through a cursor: the heap stays small (in-flight messages and timers), and at equal
    // times the schedule goes first, nemesis before workload, each in its given order.
    const planned: SimEvent<C>[] = [];
    for (const a of opts.nemesis ?? [])
      planned.push({ at: a.at, seq: 0, kind: 'action', action: a.action });
    for (const w of opts.workload ?? [])
      planned.push({ at: w.at, seq: 0, kind: 'command', node: w.node, cmd: w.cmd });
    planned.forEach((e, i) => (e.seq = i));
    planned.sort((a, b) => a.at - b.at || a.seq - b.seq);
    this.planned = planned;
    this.kept = (opts.nemesis ?? []).some((a) => a.action.kind === 'replay')
      ? new Map()
      : undefined;
  }

  /** Current virtual time in ms. */
  get now(): number {
    return this.nowMs;
  }

  get nodeIds(): readonly NodeId[] {
    return this.nodeList;
  }

  isUp(node: NodeId): boolean {
    return this.node(node).up;
  }

  /** The live protocol object of a node (undefined while crashed). For tests and inspection. */
  protocol(node: NodeId): Protocol<M, C, D> | undefined {
    return this.node(node).proto;
  }

  /** A node's durable state (what survives its crashes). */
  durable(node: NodeId): ReadonlyMap<string, unknown> {
    return this.node(node).durable;
  }

  /** Schedules a command at virtual time `at` (≥ now). */
  schedule(at: number, node: NodeId, cmd: C): void {
    this.node(node);
    this.heap.push({ at: Math.max(at, this.nowMs), seq: 0, kind: 'command', node, cmd });
  }

  /** Schedules a nemesis action at virtual time `at` (≥ now). */
  scheduleAction(at: number, action: NemesisAction): void {
    this.heap.push({ at: Math.max(at, this.nowMs), seq: 0, kind: 'action', action });
  }

  /** Adds a note to the trace (phase changes, test annotations). */
  note(text: string): void {
    this.emitEvent({ t: this.nowMs, type: 'note', text });
  }

  /** Starts every node (idempotent; `run*` calls it). */
  start(): void {
    if (this.started) return;
    this.started = true;
    for (const id of this.nodeList) this.boot(this.node(id));
  }

  /** Processes events with time ≤ `untilMs`, then sets the clock to `untilMs`. */
  runUntil(untilMs: number): this {
    this.start();
    const heap = this.heap;
    const planned = this.planned;
    for (;;) {
      const fromHeap = heap.peek();
      const fromPlan = planned[this.plannedNext];
      let next: SimEvent<C>;
      if (fromPlan !== undefined && (fromHeap === undefined || fromPlan.at <= fromHeap.at)) {
        if (fromPlan.at > untilMs) break;
        this.plannedNext++;
        next = fromPlan;
      } else {
        if (fromHeap === undefined || fromHeap.at > untilMs) break;
        heap.pop();
        next = fromHeap;
      }
      this.nowMs = next.at;
      this.dispatch(next);
    }
    if (untilMs > this.nowMs && Number.isFinite(untilMs)) this.nowMs = untilMs;
    return this;
  }

  /** Processes events until none are left (or `maxEvents`). Timers that re-arm forever need runUntil. */
  runToQuiescence(limitMs = Number.POSITIVE_INFINITY): this {
    return this.runUntil(limitMs);
  }

  /** Number of scheduled events not yet processed. */
  get pending(): number {
    return this.heap.size + this.planned.length - this.plannedNext;
  }

  private node(id: NodeId): SimNode<M, C, D> {
    const n = this.nodes.get(id);
    if (n === undefined) throw new RangeError(`unknown node ${JSON.stringify(id)}`);
    return n;
  }

  private anyCorruption(): boolean {
    if (this.defaultFaults.corruptProbability > 0) return true;
    for (const f of this.linkFaults.values()) if (f.corruptProbability > 0) return true;
    for (const a of this.opts.nemesis ?? []) {
      if (a.action.kind === 'network' && (a.action.faults.corruptProbability ?? 0) > 0) return true;
    }
    return false;
  }

  private emitEvent(e: TraceEvent): void {
    if (this.record) this.trace.push(e);
    this.opts.observer?.(e, this);
  }

  private dispatch(e: SimEvent<C>): void {
    if (++this.counters.events > this.maxEvents) {
      throw new SimulationError(
        `event limit ${this.maxEvents} reached at t=${this.nowMs} (seed=${this.seed}): livelock?`,
        this.seed,
        undefined,
      );
    }
    switch (e.kind) {
      case 'arrive':
        this.arrive(e.id, e.copy, e.from, e.to, e.data);
        break;
      case 'timer': {
        const n = this.node(e.node);
        if (!n.up || n.incarnation !== e.inc || !n.timers.fire(e.name, e.gen)) return;
        this.counters.timers++;
        if (this.tracing)
          this.emitEvent({ t: this.nowMs, type: 'timer', node: n.id, name: e.name });
        const p = n.proto;
        if (p === undefined) return;
        try {
          p.handleTimer(instant(this.nowMs), e.name);
        } catch (err) {
          this.fail(n, err);
        }
        this.drain(n, p);
        break;
      }
      case 'command': {
        const n = this.node(e.node);
        if (this.tracing)
          this.emitEvent({
            t: this.nowMs,
            type: 'command',
            node: n.id,
            cmd: e.cmd,
            accepted: n.up,
          });
        if (!n.up) return;
        const p = n.proto;
        if (p === undefined) return;
        try {
          p.handleCommand(instant(this.nowMs), e.cmd);
        } catch (err) {
          this.fail(n, err);
        }
        this.drain(n, p);
        break;
      }
      case 'action':
        this.apply(e.action);
        break;
      case 'deadline': {
        const n = this.node(e.node);
        if (n.up && n.crashAfterOutputs !== undefined && n.armId === e.armId) this.crash(n, 0);
        break;
      }
    }
  }

  private boot(n: SimNode<M, C, D>): void {
    const ctx: NodeContext = {
      id: n.id,
      nodes: this.nodeList,
      rng: this.rootRng.fork(`node:${n.id}:${n.incarnation}`),
    };
    n.proto = (this.opts.stacks?.[n.id] ?? this.opts.stack).create(ctx);
    n.up = true;
    n.timers.clear();
    this.emitEvent({
      t: this.nowMs,
      type: 'start',
      node: n.id,
      incarnation: n.incarnation,
      records: n.durable.size,
    });
    const p = n.proto;
    try {
      p.handleStart(instant(this.nowMs), new Map(n.durable));
    } catch (err) {
      this.fail(n, err);
    }
    this.drain(n, p);
  }

  private crash(
    n: SimNode<M, C, D>,
    lostOutputs: number,
    between?: { after: CrashPoint; before: CrashPoint },
    lostWrites = 0,
  ): void {
    if (!n.up) return;
    n.up = false;
    n.proto = undefined;
    n.timers.clear();
    n.crashAfterOutputs = undefined;
    n.incarnation++;
    if (n.recoverAfterMs !== undefined) {
      this.heap.push({
        at: this.nowMs + n.recoverAfterMs,
        seq: 0,
        kind: 'action',
        action: { kind: 'recover', node: n.id },
      });
      n.recoverAfterMs = undefined;
    }
    this.counters.crashes++;
    const e: Extract<TraceEvent, { type: 'crash' }> =
      between === undefined
        ? { t: this.nowMs, type: 'crash', node: n.id, lostOutputs }
        : { t: this.nowMs, type: 'crash', node: n.id, lostOutputs, ...between };
    if (lostWrites > 0) e.lostWrites = lostWrites;
    this.emitEvent(e);
  }

  /** A protocol threw, or emitted a message that cannot be encoded: stop, naming the seed. */
  private fail(n: SimNode<M, C, D>, err: unknown): never {
    throw new SimulationError(
      `node ${n.id} threw at t=${this.nowMs} (reproduce with seed=${this.seed}): ${String(err)}`,
      this.seed,
      err,
    );
  }

  /**
   * Carries out a node's outputs in order after one input, through the step executor (possibly
   * crashing midway: the executor also undoes the step's lazy persists that no ordinary persist
   * of the step has followed yet, core/protocol.ts LAZY PERSISTS; a driver carries out later
   * outputs before such a write is durable, so a crash there can lose it).
   */
  private drain(n: SimNode<M, C, D>, p: Protocol<M, C, D>): void {
    const cut = drainOutputs(p, n.sink, n.crashAfterOutputs);
    if (cut !== undefined) {
      this.crash(n, cut.lostOutputs, { after: cut.after, before: cut.before }, cut.lostWrites);
    }
  }

  /** How a node's outputs are carried out: the network, the event heap, the trace, its storage. */
  private sinkOf(n: SimNode<M, C, D>): OutputSink<M, D> {
    const sink: OutputSink<M, D> = {
      send: (o) => {
        this.transmit(n.id, o.to, o.msg);
      },
      setTimer: (o) => {
        this.heap.push({
          at: Math.max(o.at, this.nowMs),
          seq: 0,
          kind: 'timer',
          node: n.id,
          name: o.name,
          gen: n.timers.arm(o.name),
          inc: n.incarnation,
        });
      },
      cancelTimer: (o) => {
        n.timers.cancel(o.name);
      },
      deliver: (o) => {
        this.counters.delivers++;
        if (this.tracing)
          this.emitEvent({ t: this.nowMs, type: 'deliver', node: n.id, event: o.event });
      },
      persist: (o, undoable) => {
        const undo = undoable ? undoWrites(n.durable, o.writes) : undefined;
        this.counters.persists++;
        applyWrites(n.durable, o.writes);
        if (this.tracing) this.emitEvent(persistEvent(this.nowMs, n.id, o));
        return undo;
      },
    };
    const tap = this.opts.onOutput;
    if (tap === undefined) return sink;
    const seen = (o: Output<M, D>): void => {
      tap(n.id, o, this.nowMs);
    };
    return {
      send: (o) => {
        seen(o);
        sink.send(o);
      },
      setTimer: (o) => {
        seen(o);
        sink.setTimer(o);
      },
      cancelTimer: (o) => {
        seen(o);
        sink.cancelTimer(o);
      },
      deliver: (o) => {
        seen(o);
        sink.deliver(o);
      },
      persist: (o, undoable) => {
        seen(o);
        return sink.persist(o, undoable);
      },
    };
  }

  private faultsFor(from: NodeId, to: NodeId): LinkFaults {
    if (this.linkFaults.size === 0) return this.defaultFaults;
    return this.linkFaults.get(linkKey(from, to)) ?? this.defaultFaults;
  }

  /** The network: decides loss, copies, delays and corruption of one send. */
  private transmit(from: NodeId, to: NodeId, msg: M): void {
    const byz = this.opts.byzantine;
    if (
      byz !== undefined &&
      byz.nodes.includes(from) &&
      this.byzRng.chance(byz.tamperProbability)
    ) {
      // A Byzantine sender: it rewrites the application data its protocol sends, and, if it
      // impersonates, claims to be a correct node.
      const forged = (byz.tamper ?? tamperPayload)(msg, `forged by ${from} #${this.nextMsgId}`);
      this.counters.tampered++;
      if (byz.impersonate) {
        const victims = this.nodeList.filter((n) => n !== to && !byz.nodes.includes(n));
        const as = victims.length > 0 ? victims[this.byzRng.int(victims.length)] : undefined;
        if (as !== undefined) {
          this.forge(from, as, to, forged);
          return;
        }
      }
      msg = forged as M;
    }
    const id = this.nextMsgId++;
    this.counters.sends++;
    let data: unknown = msg;
    let bytes = 0;
    if (this.encode) {
      let frame: Uint8Array;
      try {
        frame = this.encoder.encode(from, to, msg);
      } catch (err) {
        this.fail(this.node(from), err); // SteadfastError('unencodable'): a protocol bug
      }
      data = frame;
      bytes = frame.length;
      this.counters.bytes += bytes;
    }
    if (this.tracing) this.emitEvent({ t: this.nowMs, type: 'send', id, from, to, msg, bytes });
    if (this.kept !== undefined) this.kept.set(id, { from, to, data });
    this.route(id, from, to, data);
  }

  /**
   * An adversary at `from` injects a message to `to` that claims to come from `as`. It can sign
   * only with the keys it holds (those of its own pairs), so with authentication on the receiver
   * rejects it; without, the receiver believes the claimed sender.
   */
  private forge(from: NodeId, as: NodeId, to: NodeId, msg: unknown): void {
    const id = this.nextMsgId++;
    this.counters.sends++;
    let data: unknown = msg;
    let bytes = 0;
    if (this.encode) {
      const auth = this.frameOpts.auth;
      const opts: FrameOptions =
        auth === undefined
          ? this.frameOpts
          : { ...this.frameOpts, auth: { ...auth, keys: (_claimed, t) => auth.keys(from, t) } };
      data = encodeFrame({ from: as, to, payload: encodePayload(msg) }, opts);
      bytes = (data as Uint8Array).length;
      this.counters.bytes += bytes;
    }
    if (this.tracing) {
      this.emitEvent({ t: this.nowMs, type: 'send', id, from, to, msg, bytes, claimedFrom: as });
    }
    this.route(id, from, to, data);
  }

  /** An adversary re-injects a copy of an earlier frame, bytes unchanged (a replay attack). */
  private replay(of: number): void {
    const old = this.kept?.get(of);
    if (old === undefined) throw new RangeError(`replay: no message with id ${of} was sent`);
    const id = this.nextMsgId++;
    this.counters.sends++;
    if (this.tracing) {
      const msg = this.trace.find((e) => e.type === 'send' && e.id === of);
      this.emitEvent({
        t: this.nowMs,
        type: 'send',
        id,
        from: old.from,
        to: old.to,
        msg: msg?.type === 'send' ? msg.msg : undefined,
        bytes: old.data instanceof Uint8Array ? old.data.length : 0,
        replayOf: of,
      });
    }
    this.route(id, old.from, old.to, old.data);
  }

  /** The network: partition, loss, copies, corruption and delay of one sent frame. */
  private route(id: number, from: NodeId, to: NodeId, data: unknown): void {
    if (!this.nodes.has(to)) {
      this.dropped(id, 0, from, to, 'malformed', 'unknown destination');
      return;
    }
    if (this.blocked.size > 0 && this.blocked.has(linkKey(from, to))) {
      this.dropped(id, 0, from, to, 'partition');
      return;
    }
    const f = this.faultsFor(from, to);
    const rng = this.netRng;
    if (rng.chance(f.lossProbability)) {
      this.dropped(id, 0, from, to, 'loss');
      return;
    }
    let copies = 1;
    if (f.duplicateProbability > 0 && rng.chance(f.duplicateProbability)) {
      const extra = rng.intBetween(1, f.duplicateMaxCopies);
      copies += extra;
      this.counters.duplicates += extra;
      if (this.tracing)
        this.emitEvent({ t: this.nowMs, type: 'duplicate', id, from, to, copies: extra });
    }
    for (let copy = 0; copy < copies; copy++) {
      let payload = data;
      if (
        f.corruptProbability > 0 &&
        data instanceof Uint8Array &&
        rng.chance(f.corruptProbability)
      ) {
        const flipped = new Uint8Array(data);
        const stuck = f.corruptBitFromEnd;
        const nbits = stuck === undefined ? rng.intBetween(1, f.corruptMaxBits) : 1;
        const bits: number[] = [];
        for (let i = 0; i < nbits; i++) {
          const bit =
            stuck === undefined
              ? rng.int(flipped.length * 8)
              : Math.max(0, flipped.length * 8 - 1 - stuck);
          flipped[bit >> 3] = (flipped[bit >> 3] as number) ^ (1 << (bit & 7));
          bits.push(bit);
        }
        payload = flipped;
        this.counters.corruptions++;
        if (this.tracing)
          this.emitEvent({ t: this.nowMs, type: 'corrupt', id, copy, from, to, bits });
      }
      const racing = this.racers !== undefined && this.racers.has(from);
      const at = this.nowMs + (racing ? minDelayMs(f.delay) : sampleDelayMs(f.delay, rng));
      this.heap.push({ at, seq: 0, kind: 'arrive', id, copy, from, to, data: payload });
    }
  }

  private dropped(
    id: number,
    copy: number,
    from: NodeId,
    to: NodeId,
    reason: DropReason,
    detail?: string,
  ): void {
    this.counters.drops++;
    const e: TraceEvent = { t: this.nowMs, type: 'drop', id, copy, from, to, reason };
    if (detail !== undefined) e.detail = detail;
    this.emitEvent(e);
  }

  private arrive(id: number, copy: number, from: NodeId, to: NodeId, data: unknown): void {
    const n = this.node(to);
    if (!n.up || n.proto === undefined) {
      this.dropped(id, copy, from, to, 'node-down');
      return;
    }
    const stack = this.opts.stacks?.[to] ?? this.opts.stack;
    const inbound: Inbound<M> = this.encode
      ? decodeInbound(data as Uint8Array, this.frameOpts, to, stack)
      : checkInbound(from, data, stack);
    if (!inbound.ok) {
      this.dropped(id, copy, from, to, inbound.reason, inbound.detail);
      return;
    }
    const { from: claimedFrom, msg } = inbound;
    this.counters.receives++;
    const e: TraceEvent = { t: this.nowMs, type: 'receive', id, copy, from, to, msg };
    if (claimedFrom !== from) e.claimedFrom = claimedFrom;
    this.emitEvent(e);
    const p = n.proto;
    try {
      p.handleMessage(instant(this.nowMs), claimedFrom, msg);
    } catch (err) {
      this.fail(n, err);
    }
    this.drain(n, p);
  }

  private apply(a: NemesisAction): void {
    switch (a.kind) {
      case 'crash': {
        const n = this.node(a.node);
        if (!n.up) break;
        n.recoverAfterMs = a.recoverAfterMs;
        if (a.afterOutputs === undefined) {
          this.crash(n, 0);
          break;
        }
        n.crashAfterOutputs = a.afterOutputs;
        n.armId++;
        if (a.withinMs !== undefined) {
          this.heap.push({
            at: this.nowMs + a.withinMs,
            seq: 0,
            kind: 'deadline',
            node: n.id,
            armId: n.armId,
          });
        }
        break;
      }
      case 'recover': {
        const n = this.node(a.node);
        if (n.up) return;
        this.emitEvent({ t: this.nowMs, type: 'recover', node: n.id });
        this.boot(n);
        break;
      }
      case 'partition':
        for (let i = 0; i < a.groups.length; i++) {
          for (let j = 0; j < a.groups.length; j++) {
            if (i === j) continue;
            for (const x of a.groups[i] ?? [])
              for (const y of a.groups[j] ?? []) this.blocked.add(linkKey(x, y));
          }
        }
        this.emitPartition();
        break;
      case 'partition-oneway':
        for (const x of a.from) for (const y of a.to) if (x !== y) this.blocked.add(linkKey(x, y));
        this.emitPartition();
        break;
      case 'heal':
        this.blocked.clear();
        this.emitPartition();
        break;
      case 'network':
        if (a.link === undefined) {
          this.defaultFaults = validateFaults({ ...this.defaultFaults, ...a.faults });
          this.emitEvent({ t: this.nowMs, type: 'network', faults: this.defaultFaults });
        } else {
          const key = linkKey(a.link[0], a.link[1]);
          const f = validateFaults(
            { ...this.faultsFor(a.link[0], a.link[1]), ...a.faults },
            `links[${key}]`,
          );
          this.linkFaults.set(key, f);
          this.emitEvent({
            t: this.nowMs,
            type: 'network',
            link: [a.link[0], a.link[1]],
            faults: f,
          });
        }
        break;
      case 'forge':
        this.forge(a.from, a.as, a.to, a.msg);
        break;
      case 'replay':
        this.replay(a.id);
        break;
      case 'heal-all': {
        this.note('fault phase ends: network healed');
        if (this.blocked.size > 0) {
          this.blocked.clear();
          this.emitPartition();
        }
        this.linkFaults.clear();
        this.defaultFaults = {
          ...this.defaultFaults,
          lossProbability: 0,
          duplicateProbability: 0,
          corruptProbability: 0,
        };
        this.emitEvent({ t: this.nowMs, type: 'network', faults: this.defaultFaults });
        for (const n of this.nodes.values()) {
          n.crashAfterOutputs = undefined;
          n.recoverAfterMs = undefined;
        }
        if (a.recoverCrashed) {
          for (const n of this.nodes.values()) {
            if (!n.up) {
              this.emitEvent({ t: this.nowMs, type: 'recover', node: n.id });
              this.boot(n);
            }
          }
        }
        break;
      }
    }
  }

  private emitPartition(): void {
    const blocked: [NodeId, NodeId][] = [];
    for (const key of this.blocked) {
      const [from, to] = key.split('->') as [NodeId, NodeId];
      blocked.push([from, to]);
    }
    this.emitEvent({ t: this.nowMs, type: 'partition', blocked });
  }
}

/** How to undo `writes` on `state` (restores each key, last write first). */
function undoWrites(state: Map<string, unknown>, writes: readonly { key: string }[]): () => void {
  const before = writes.map((w) => ({ key: w.key, had: state.has(w.key), prev: state.get(w.key) }));
  return () => {
    for (let i = before.length - 1; i >= 0; i--) {
      const u = before[i];
      if (u === undefined) continue;
      if (u.had) state.set(u.key, u.prev);
      else state.delete(u.key);
    }
  };
}

/**
 * Replaces the innermost `payload` field of a layered plain-data message (every steadfast layer
 * carries its upper layer's data in a field named `payload`) with `forged`. Messages without a
 * `payload` field (acks) come back unchanged.
 */
export function tamperPayload(msg: unknown, forged: string): unknown {
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg) || !('payload' in msg))
    return msg;
  const inner = msg.payload;
  const replaced =
    typeof inner === 'object' && inner !== null && !Array.isArray(inner) && 'payload' in inner
      ? tamperPayload(inner, forged)
      : forged;
  return { ...msg, payload: replaced };
}
