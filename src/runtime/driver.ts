/**
 * The runtime driver: runs ONE sans-I/O protocol object (src/core/protocol.ts) in this process,
 * over a real transport, with real timers and durable state in SQLite. It carries out outputs
 * exactly as the simulator does — in order, every `persist` durable before any later output —
 * so the very same protocol objects the simulator checks run here unchanged.
 *
 * GROUP COMMIT. Inputs (frames, timers, commands) are handled as they come; their outputs are
 * queued in order and the `persist` writes of every input of the current event-loop turn are
 * gathered into one batch (later writes of a key replace earlier ones). At the end of the turn
 * (`setImmediate`, i.e. after the poll phase has read every datagram that was ready) the batch
 * is committed as ONE SQLite transaction, and only then are the queued outputs carried out, in
 * their order. So a persist is durable before every output that follows it, and one fsync covers
 * hundreds of messages. Outputs are carried out at the end of the turn even when the turn has no
 * persist: delaying a send a few microseconds is indistinguishable from network delay, and it
 * lets the trace be committed before anything it records becomes visible (below).
 *
 * PIPELINE. With a storage whose `commit` returns a promise (`AsyncStorage`: a commit thread),
 * one commit is in flight at a time and the event loop goes on meanwhile. A turn sealed while a
 * commit is in flight is held WHOLE (even its outputs before its first persist: they follow the
 * persists in flight); when the commit settles its turns' outputs go out, and every held turn's
 * writes are committed together next. So batches grow with the commit time, and the order
 * contract is the same as with a synchronous `Storage`.
 *
 * LAZY PERSISTS (core/protocol.ts) go into the batch like any other, but no output waits for
 * them: "the turn's first persist" above means its first ORDINARY persist, and a turn sealed
 * while the commit in flight (and every turn held before it) holds only lazy writes is not held:
 * its outputs up to its first ordinary persist go out at once. The reliable link's send-buffer
 * writes are lazy, so a sender's data frames no longer wait for the commit of their buffer
 * entries — only for the sequence-number reservation, once per `seqBlock` messages. (Not with a
 * storage trace: its commit must cover everything the trace records before it is visible.)
 *
 * TIME. `now` (an `Instant`) is milliseconds since the Unix epoch, read as
 * `performance.timeOrigin + performance.now()`: monotonic within the process, and comparable
 * across processes of one host (a merged cluster trace sorts by it) and across restarts (the
 * reliable engine persists application-key expiry times as Instants). To keep it monotonic
 * across restarts even if the wall clock steps back, every commit stores the current `now` and a
 * restarted driver never starts below it. A wall clock stepping FORWARD between runs only makes
 * idempotency keys expire early (sequence-number dedup does not depend on time).
 *
 * TIMERS. One min-heap of (deadline, generation) and one host `setTimeout` for the earliest; a
 * re-armed or cancelled timer's older entries are skipped by generation.
 *
 * RANDOMNESS. The protocol's `Rng` is `createRng(seed)`, seed from `crypto.randomInt` unless the
 * caller gives one (tests). It is never used for keys.
 *
 * TRACE. Optional: TraceEvents of src/core/trace.ts, the shapes the simulator records, so the
 * checkers of src/check run on real runs. Sink 'storage' appends them to the SQLite trace table
 * in the same transaction as the batch: the durable trace is always a consistent prefix of what
 * happened, even under SIGKILL (a persist is in the trace iff it is on disk; nothing the trace
 * omits became visible to a peer). Sink 'jsonl' writes JSON Lines to a file after the commit
 * (exact for runs without kill -9). A runtime send's `id` is unique within this process's trace
 * only (frames carry no id); `steadfast cluster` renumbers ids when it merges traces.
 *
 * ERRORS. Frames that fail to decode (CRC, HMAC, malformed, addressed elsewhere, not a message
 * of the stack) are dropped and counted (`stats()`), and traced as `drop`. A command the protocol
 * rejects (`SteadfastError`, e.g. 'buffer-full') throws to the caller and is traced with
 * `accepted: false`. A protocol throwing on any other input is a bug: the driver stops and
 * reports it through `onFatal` (the node process exits non-zero).
 *
 * Assumes: this process is the only one using the storage; protocol outputs are plain data and
 * never mutated after they are emitted.
 */

import { randomInt } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { SteadfastError } from '../core/errors.ts';
import {
  decodeFrame,
  dropReasonOf,
  frameRoom,
  sealFrame,
  type FrameOptions,
  type FrameRoom,
} from '../core/frame.ts';
import type { NodeId } from '../core/ids.ts';
import { PlainEncoder } from '../core/msgpack.ts';
import { decodePayload } from '../core/payload.ts';
import type { Output, Protocol, StackSpec } from '../core/protocol.ts';
import { createRng } from '../core/rng.ts';
import { instant, type Instant } from '../core/time.ts';
import { persistEvent, traceReplacer, type DropReason, type TraceEvent } from '../core/trace.ts';
import { isAppliedKey, type AppliedRow, type DriverStorage } from './storage.ts';
import type { Transport } from './transport.ts';

export type TraceSink =
  | { readonly kind: 'none' }
  /** Append to the storage's trace table, atomically with each batch (needs `storage`). */
  | { readonly kind: 'storage' }
  /** Append JSON Lines to a file after each commit. */
  | { readonly kind: 'jsonl'; readonly path: string }
  /** Hand events to a function (tests), after each commit. */
  | { readonly kind: 'memory'; readonly push: (e: TraceEvent) => void };

export interface DriverOptions<M, C, D> {
  readonly id: NodeId;
  readonly nodes: readonly NodeId[];
  readonly stack: StackSpec<M, C, D>;
  readonly transport: Transport;
  /**
   * Durable state; without it state is volatile (crash-stop use only). `Storage` commits on this
   * thread; `AsyncStorage` on a commit thread of its own (pipelined: see GROUP COMMIT).
   */
  readonly storage?: DriverStorage;
  /** Frame options (default: CRC32C on, no HMAC). */
  readonly frame?: FrameOptions;
  /** Seed of the protocol's Rng (default: from crypto.randomInt). */
  readonly seed?: number;
  readonly trace?: TraceSink;
  /** Deliveries to the application, in order, after the batch before them is durable. */
  readonly onDeliver?: (event: D) => void;
  /** Most writes in one group commit before it is committed early (default 1000). */
  readonly batchWritesMax?: number;
  /** The protocol threw on an input other than a command: the node must stop. */
  readonly onFatal?: (err: unknown) => void;
}

/** A sealed turn: its outputs (from `from` on still to carry out) and their frames. */
interface Sealed<M, D> {
  readonly queue: readonly Output<M, D>[];
  readonly frames: readonly (Uint8Array | undefined)[];
  /** Index of the turn's first ordinary (not lazy) persist (-1: none). */
  readonly firstPersist: number;
  readonly from: number;
}

interface TimerEntry {
  readonly at: number;
  readonly name: string;
  readonly gen: number;
}

/** A binary min-heap of timer entries by (at, gen). */
class TimerHeap {
  private readonly items: TimerEntry[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): TimerEntry | undefined {
    return this.items[0];
  }

  push(e: TimerEntry): void {
    const a = this.items;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = a[p] as TimerEntry;
      if (!less(e, parent)) break;
      a[i] = parent;
      i = p;
    }
    a[i] = e;
  }

  pop(): TimerEntry | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (top === undefined || last === undefined || a.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const c = r < a.length && less(a[r] as TimerEntry, a[l] as TimerEntry) ? r : l;
      const child = a[c] as TimerEntry;
      if (!less(child, last)) break;
      a[i] = child;
      i = c;
    }
    a[i] = last;
    return top;
  }

  clear(): void {
    this.items.length = 0;
  }
}

function less(a: TimerEntry, b: TimerEntry): boolean {
  return a.at < b.at || (a.at === b.at && a.gen < b.gen);
}

const CLOCK_META = 'clock';
const INCARNATION_META = 'incarnation';

export interface DriverStats {
  readonly inputs: number;
  readonly commits: number;
  readonly writes: number;
  readonly framesSent: number;
  readonly framesReceived: number;
  readonly sendErrors: number;
  /** Pipelined commits (`AsyncStorage`): wall ms from hand-over to durable, summed and worst. */
  readonly commitMs: number;
  readonly commitMsMax: number;
  readonly dropped: Readonly<Record<string, number>>;
  readonly protocol: Readonly<Record<string, number>>;
  readonly transport: Readonly<Record<string, number>>;
}

export class Driver<M, C, D> {
  readonly id: NodeId;
  private readonly opts: DriverOptions<M, C, D>;
  private proto: Protocol<M, C, D> | undefined;
  private readonly frameOpts: FrameOptions;
  /** Encodes each send's message straight into its frame (see `encode`). */
  private readonly encoder = new PlainEncoder();
  /** The frame room around a payload, per destination (fixed: ids and frame options are). */
  private readonly rooms = new Map<NodeId, FrameRoom>();
  private readonly traceSink: TraceSink;
  private traceFd: number | undefined;
  /** Outputs of this turn, in order, waiting for the batch to commit. */
  private queue: Output<M, D>[] = [];
  /** The batch: key → value (null deletes), last write wins. */
  private batch = new Map<string, unknown>();
  private applied: AppliedRow[] = [];
  /** Driver metadata committed with the next batch (incarnation). */
  private meta = new Map<string, string>();
  /** Queue index of the turn's first ordinary (not lazy) persist (-1: none yet). */
  private firstPersist = -1;
  /** The batch holds a write of an ordinary persist (the commit in flight: `committingStrict`). */
  private batchStrict = false;
  /** The commit in flight holds a write of an ordinary persist. */
  private committingStrict = false;
  /** A held turn still has outputs to carry out: a later turn's outputs must wait behind them. */
  private heldPending = false;
  private events: TraceEvent[] = [];
  private flushScheduled = false;
  /** The turns whose outputs wait for the commit in flight (AsyncStorage only). */
  private committing: Sealed<M, D>[] | undefined;
  private committed: Promise<void> | undefined;
  /** Turns sealed while a commit was in flight: they wait for the next commit. */
  private held: Sealed<M, D>[] = [];
  /** Inside carryOut: an input it causes (onDeliver → command) must not flush re-entrantly. */
  private carrying = false;
  /** `close` has begun: inputs are ignored while the pipeline drains. */
  private closing = false;
  private readonly batchWritesMax: number;
  private readonly logsApplied: boolean;
  private readonly timers = new Map<string, number>(); // name → generation
  private readonly heap = new TimerHeap();
  private timerGen = 1;
  private hostTimer:
    | { readonly kind: 'timeout'; readonly h: NodeJS.Timeout }
    | { readonly kind: 'immediate'; readonly h: NodeJS.Immediate }
    | undefined;
  private hostTimerAt = Number.POSITIVE_INFINITY;
  private clockOffset = 0;
  private lastNow = 0;
  private running = false;
  private stopped = false;
  private nextSendId = 1;
  private nextReceiveId = 1;
  incarnation = 0;
  private readonly counters = {
    inputs: 0,
    commits: 0,
    writes: 0,
    framesSent: 0,
    framesReceived: 0,
    sendErrors: 0,
    /** Wall time from handing batches to storage to their being durable: total and worst. */
    commitMs: 0,
    commitMsMax: 0,
  };
  private readonly dropped: Record<string, number> = {};

  constructor(opts: DriverOptions<M, C, D>) {
    this.opts = opts;
    this.id = opts.id;
    if (!opts.nodes.includes(opts.id)) {
      throw new SteadfastError('bad-argument', `node ${opts.id} is not in the node list`);
    }
    this.frameOpts = opts.frame ?? { checksum: true };
    this.batchWritesMax = opts.batchWritesMax ?? 1000;
    this.logsApplied = opts.storage?.logsApplied ?? false;
    this.traceSink = opts.trace ?? { kind: 'none' };
    if (this.traceSink.kind === 'storage' && opts.storage === undefined) {
      throw new SteadfastError('bad-argument', "trace sink 'storage' needs a storage");
    }
  }

  /** The live protocol object (for tests and stats). */
  get protocol(): Protocol<M, C, D> | undefined {
    return this.proto;
  }

  /** The current Instant (see TIME in the module header). */
  now(): Instant {
    let t = performance.timeOrigin + performance.now() + this.clockOffset;
    if (t < this.lastNow) t = this.lastNow;
    this.lastNow = t;
    return instant(t);
  }

  /**
   * Loads durable state, starts the transport and calls `handleStart`. Resolves once the start
   * batch is committed and its outputs carried out.
   */
  async start(): Promise<void> {
    if (this.running || this.stopped)
      throw new SteadfastError('not-running', 'start: already used');
    const storage = this.opts.storage;
    let durable = new Map<string, unknown>();
    if (storage !== undefined) {
      durable = storage.load();
      const floor = Number(storage.getMeta(CLOCK_META) ?? '0');
      const wall = performance.timeOrigin + performance.now();
      if (Number.isFinite(floor) && floor > wall) this.clockOffset = floor - wall;
      this.incarnation = Number(storage.getMeta(INCARNATION_META) ?? '-1') + 1;
    }
    if (this.traceSink.kind === 'jsonl') this.traceFd = openSync(this.traceSink.path, 'a');
    this.opts.transport.onFrame((bytes) => {
      this.onFrame(bytes);
    });
    await this.opts.transport.start();
    const seed = this.opts.seed ?? randomInt(0, 2 ** 32 - 1);
    const rng = createRng(seed).fork(`node:${this.id}:${this.incarnation}`);
    const proto = this.opts.stack.create({ id: this.id, nodes: this.opts.nodes, rng });
    this.proto = proto;
    this.running = true;
    const now = this.now();
    this.record({
      t: now,
      type: 'start',
      node: this.id,
      incarnation: this.incarnation,
      records: durable.size,
    });
    this.meta.set(INCARNATION_META, String(this.incarnation));
    this.input(() => {
      proto.handleStart(now, durable);
    });
    this.flush();
  }

  /**
   * Gives the application's command to the protocol. Throws what the protocol throws for a
   * command it refuses (e.g. `SteadfastError('buffer-full')`); the outputs follow at the end of
   * the turn.
   */
  command(cmd: C): void {
    const proto = this.liveProto();
    const now = this.now();
    try {
      proto.handleCommand(now, cmd);
    } catch (err) {
      this.record({ t: now, type: 'command', node: this.id, cmd, accepted: false });
      this.drain(proto); // whatever it emitted before refusing still happens, in order
      this.scheduleFlush();
      throw err;
    }
    this.counters.inputs++;
    this.record({ t: now, type: 'command', node: this.id, cmd, accepted: true });
    this.drain(proto);
    this.scheduleFlush();
    this.flushIfLarge();
  }

  /** Adds a note to the trace. */
  note(text: string): void {
    this.record({ t: this.now(), type: 'note', text });
    this.scheduleFlush();
  }

  stats(): DriverStats {
    return {
      ...this.counters,
      dropped: { ...this.dropped },
      protocol: this.proto?.stats() ?? {},
      transport: this.opts.transport.stats(),
    };
  }

  /** Commits what is pending, carries out queued outputs, then stops timers and the transport. */
  async close(): Promise<void> {
    if (this.stopped) return;
    if (this.running) {
      // From here on the node takes no input (a frame now is as lost as one after the stop), so
      // the pipeline drains: every sealed turn is committed and carried out.
      this.closing = true;
      this.flush();
      while (this.committed !== undefined && !this.halted()) await this.committed;
    }
    this.halt();
    await this.opts.transport.close();
    await this.opts.storage?.close();
    if (this.traceFd !== undefined) closeSync(this.traceFd);
    this.traceFd = undefined;
  }

  /**
   * A crash, in-process (tests): everything not yet committed is lost, nothing queued is carried
   * out, timers stop, the transport and storage close. A new Driver on the same storage path
   * recovers, as a process restarted after SIGKILL would.
   */
  async crash(): Promise<void> {
    if (this.stopped) return;
    this.queue = [];
    this.batch = new Map();
    this.applied = [];
    this.meta = new Map();
    this.firstPersist = -1;
    this.batchStrict = false;
    this.committingStrict = false;
    this.heldPending = false;
    this.events = [];
    this.held = [];
    this.committing = undefined; // a commit in flight may land or not; its outputs never go out
    this.committed = undefined;
    this.halt();
    await this.opts.transport.close();
    await this.opts.storage?.close();
    if (this.traceFd !== undefined) closeSync(this.traceFd);
    this.traceFd = undefined;
  }

  // ------------------------------------------------------------------------------ internals

  private cancelHostTimer(): void {
    const t = this.hostTimer;
    if (t === undefined) return;
    if (t.kind === 'timeout') clearTimeout(t.h);
    else clearImmediate(t.h);
  }

  private halted(): boolean {
    return !this.running;
  }

  private halt(): void {
    this.running = false;
    this.stopped = true;
    this.proto = undefined;
    this.cancelHostTimer();
    this.hostTimer = undefined;
    this.heap.clear();
    this.timers.clear();
  }

  private liveProto(): Protocol<M, C, D> {
    const p = this.proto;
    if (!this.running || this.closing || p === undefined) {
      throw new SteadfastError('not-running', `node ${this.id} is not running`);
    }
    return p;
  }

  private record(e: TraceEvent): void {
    if (this.traceSink.kind !== 'none') this.events.push(e);
  }

  /** Runs one non-command input; a throw is a protocol bug: fatal. */
  private input(fn: () => void): void {
    const proto = this.proto;
    if (proto === undefined) return;
    this.counters.inputs++;
    try {
      fn();
    } catch (err) {
      this.fatal(err);
      return;
    }
    this.drain(proto);
    this.scheduleFlush();
    this.flushIfLarge();
  }

  /**
   * Bounds a batch: a turn that has gathered `batchWritesMax` writes (a burst of commands, a
   * flood of datagrams) commits now instead of at the end of the turn, so one commit never
   * stalls the node for long (its peers would time out and retransmit spuriously).
   */
  private flushIfLarge(): void {
    if (
      this.batch.size + this.applied.length >= this.batchWritesMax &&
      this.running &&
      !this.carrying &&
      this.committing === undefined
    ) {
      this.flush();
    }
  }

  private fatal(err: unknown): void {
    this.halt();
    void this.opts.transport.close();
    if (this.opts.onFatal !== undefined) this.opts.onFatal(err);
    else throw err;
  }

  /** Moves the protocol's outputs into the turn's queue and batch. */
  private drain(proto: Protocol<M, C, D>): void {
    for (let o = proto.pollOutput(); o !== undefined; o = proto.pollOutput()) {
      if (o.kind === 'persist') {
        if (o.lazy !== true) {
          if (this.firstPersist < 0) this.firstPersist = this.queue.length;
          this.batchStrict = true;
        }
        const t = this.lastNow;
        for (const w of o.writes) {
          this.batch.set(w.key, w.value);
          if (this.logsApplied && isAppliedKey(w.key) && w.value !== null) {
            this.applied.push({ t, value: w.value });
          }
        }
        this.counters.writes += o.writes.length;
        this.record(persistEvent(t, this.id, o));
        continue;
      }
      this.queue.push(o);
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || !this.running) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.running) this.flush();
    });
  }

  /**
   * End of turn. The turn is sealed: its sends are encoded and its outputs recorded in the trace.
   * Then, with no commit in flight: the outputs before the turn's first persist go out (not with
   * a storage trace, whose commit must cover them), the batch (and the trace) is committed, and
   * the rest is carried out in order once the commit is durable — at once with `Storage`, when
   * the promise settles with `AsyncStorage`. With a commit in flight the whole turn is held: it
   * follows the earlier persists, so it waits for them and for its own batch, committed next.
   */
  private flush(): void {
    const sealed = this.seal();
    if (this.committing !== undefined) {
      // With no ordinary persist in flight and no earlier output waiting, the turn's outputs up
      // to its own first ordinary persist owe nothing to the commit (LAZY PERSISTS above).
      const from = this.committingStrict || this.heldPending ? 0 : this.earlyEnd(sealed);
      this.carryOut(sealed, from);
      this.held.push(from === 0 ? sealed : { ...sealed, from });
      if (from < sealed.queue.length) this.heldPending = true;
      return;
    }
    if (!this.needsCommit(sealed.queue.length > 0)) {
      this.emitTrace();
      this.carryOut(sealed);
      return;
    }
    const early = this.earlyEnd(sealed);
    this.carryOut(sealed, early);
    this.commit([{ ...sealed, from: early }]);
  }

  /**
   * Where the outputs a turn may carry out before its commit end: at its first ordinary persist
   * (all of them if it has none); none at all with a storage trace, whose commit must cover them.
   */
  private earlyEnd(sealed: Sealed<M, D>): number {
    if (this.traceSink.kind === 'storage') return 0;
    return sealed.firstPersist < 0 ? sealed.queue.length : sealed.firstPersist;
  }

  /** Takes the turn's outputs: encodes the sends and records sends and deliveries. */
  private seal(): Sealed<M, D> {
    const queue = this.queue;
    const firstPersist = this.firstPersist;
    this.queue = [];
    this.firstPersist = -1;
    const frames = this.encode(queue);
    this.recordOutputs(queue, frames);
    return { queue, frames, firstPersist, from: 0 };
  }

  private needsCommit(hasOutputs: boolean): boolean {
    return (
      this.opts.storage !== undefined &&
      (this.batch.size > 0 ||
        this.meta.size > 0 ||
        (this.traceSink.kind === 'storage' && (this.events.length > 0 || hasOutputs)))
    );
  }

  /** Commits the batch; `groups` are carried out once it is durable. */
  private commit(groups: Sealed<M, D>[]): void {
    const storage = this.opts.storage;
    if (storage === undefined) return;
    const meta = this.meta;
    meta.set(CLOCK_META, String(this.now()));
    const lines =
      this.traceSink.kind === 'storage'
        ? this.events.map((e) => JSON.stringify(e, traceReplacer))
        : [];
    let result: void | Promise<void>;
    try {
      result = storage.commit(this.batch, this.applied, lines, meta);
    } catch (err) {
      this.fatal(err);
      return;
    }
    this.meta = new Map();
    this.batch = new Map();
    this.applied = [];
    this.committingStrict = this.batchStrict;
    this.batchStrict = false;
    if (this.traceSink.kind === 'storage') this.events = [];
    this.counters.commits++;
    if (result === undefined) {
      this.settle(groups);
      return;
    }
    this.committing = groups;
    const startedMs = performance.now();
    this.committed = result.then(
      () => {
        if (this.committing !== groups) return; // crashed meanwhile
        const tookMs = performance.now() - startedMs;
        this.counters.commitMs += tookMs;
        if (tookMs > this.counters.commitMsMax) this.counters.commitMsMax = tookMs;
        this.settle(groups);
        this.committing = undefined;
        this.committed = undefined;
        this.next();
      },
      (err: unknown) => {
        if (this.committing !== groups) return;
        this.committing = undefined;
        this.committed = undefined;
        this.fatal(err);
      },
    );
  }

  /** A commit is durable: its turns' outputs go out, in order. */
  private settle(groups: readonly Sealed<M, D>[]): void {
    this.emitTrace();
    for (const g of groups) this.carryOut(g);
  }

  /** After a pipelined commit: the held turns, committed together (or carried out if no write). */
  private next(): void {
    if (!this.running) return;
    const held = this.held;
    this.held = [];
    this.heldPending = false;
    if (held.length === 0) return;
    if (!this.needsCommit(held.some((g) => g.queue.length > 0))) {
      this.settle(held);
      return;
    }
    this.commit(held);
  }

  /** The frame of every send in `queue` (undefined where encoding failed), by queue index. */
  private encode(queue: readonly Output<M, D>[]): (Uint8Array | undefined)[] {
    const frames: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(queue.length);
    for (let i = 0; i < queue.length; i++) {
      const o = queue[i];
      if (o?.kind !== 'send') continue;
      try {
        // The payload is encoded straight into the frame's buffer (one allocation, no copy).
        let room = this.rooms.get(o.to);
        if (room === undefined) {
          room = frameRoom(this.id, o.to, this.frameOpts);
          this.rooms.set(o.to, room);
        }
        const bytes = this.encoder.encodeWithRoom(o.msg, room.before, room.after);
        frames[i] = sealFrame(bytes, this.id, o.to, this.frameOpts, room);
      } catch {
        frames[i] = undefined;
      }
    }
    return frames;
  }

  private recordOutputs(
    queue: readonly Output<M, D>[],
    frames: readonly (Uint8Array | undefined)[],
  ): void {
    if (this.traceSink.kind === 'none') return;
    for (let i = 0; i < queue.length; i++) {
      const o = queue[i];
      if (o?.kind === 'send') {
        this.record({
          t: this.lastNow,
          type: 'send',
          id: this.nextSendId++,
          from: this.id,
          to: o.to,
          msg: o.msg,
          bytes: frames[i]?.length ?? 0,
        });
      } else if (o?.kind === 'deliver') {
        this.record({ t: this.lastNow, type: 'deliver', node: this.id, event: o.event });
      }
    }
  }

  /** Hands the buffered trace events to a non-storage sink. */
  private emitTrace(): void {
    const sink = this.traceSink;
    if (sink.kind === 'jsonl' && this.traceFd !== undefined && this.events.length > 0) {
      let text = '';
      for (const e of this.events) text += JSON.stringify(e, traceReplacer) + '\n';
      writeSync(this.traceFd, text);
      this.events = [];
    } else if (sink.kind === 'memory') {
      for (const e of this.events) sink.push(e);
      this.events = [];
    } else if (sink.kind === 'none') {
      this.events = [];
    }
  }

  /** Carries out the sealed turn's outputs [from, to) in order. */
  private carryOut(sealed: Sealed<M, D>, to = sealed.queue.length): void {
    this.carrying = true;
    try {
      this.carryRange(sealed, to);
    } finally {
      this.carrying = false;
    }
  }

  private carryRange({ queue, frames, from }: Sealed<M, D>, to: number): void {
    for (let i = from; i < to; i++) {
      const o = queue[i];
      if (o === undefined) continue;
      switch (o.kind) {
        case 'send': {
          const frame = frames[i];
          if (frame === undefined) {
            this.counters.sendErrors++;
            this.count('unencodable');
            break;
          }
          try {
            this.opts.transport.send(o.to, frame);
            this.counters.framesSent++;
          } catch (err) {
            // Local misuse (frame too large for the transport, unknown peer): the message can
            // never go out; count it so it is visible, never crash the node on it.
            this.counters.sendErrors++;
            this.count(err instanceof SteadfastError ? err.code : 'send-error');
          }
          break;
        }
        case 'setTimer':
          this.arm(o.name, o.at);
          break;
        case 'cancelTimer':
          this.timers.delete(o.name);
          break;
        case 'deliver':
          this.opts.onDeliver?.(o.event);
          break;
        case 'persist':
          break; // persists never enter the queue (they are in the batch)
      }
    }
  }

  private count(reason: string): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
  }

  private arm(name: string, at: number): void {
    const gen = this.timerGen++;
    this.timers.set(name, gen);
    this.heap.push({ at, name, gen });
    this.scheduleHostTimer();
  }

  private scheduleHostTimer(): void {
    // Skip entries of cancelled or re-armed timers at the top.
    for (let top = this.heap.peek(); top !== undefined; top = this.heap.peek()) {
      if (this.timers.get(top.name) === top.gen) break;
      this.heap.pop();
    }
    const top = this.heap.peek();
    if (top === undefined) {
      this.cancelHostTimer();
      this.hostTimer = undefined;
      this.hostTimerAt = Number.POSITIVE_INFINITY;
      return;
    }
    if (this.hostTimer !== undefined && this.hostTimerAt <= top.at) return;
    this.cancelHostTimer();
    this.hostTimerAt = top.at;
    const delay = top.at - this.now();
    // A timer already due fires after this turn (setTimeout would wait at least 1 ms).
    const fire = () => {
      this.hostTimer = undefined;
      this.hostTimerAt = Number.POSITIVE_INFINITY;
      this.fireTimers();
    };
    this.hostTimer =
      delay <= 0
        ? { kind: 'immediate', h: setImmediate(fire) }
        : { kind: 'timeout', h: setTimeout(fire, Math.ceil(delay)) };
  }

  private fireTimers(): void {
    if (!this.running || this.closing) return;
    const now = this.now();
    for (let top = this.heap.peek(); top !== undefined && top.at <= now; top = this.heap.peek()) {
      this.heap.pop();
      if (this.timers.get(top.name) !== top.gen) continue;
      this.timers.delete(top.name);
      const name = top.name;
      this.record({ t: now, type: 'timer', node: this.id, name });
      this.input(() => {
        this.proto?.handleTimer(now, name);
      });
      if (this.halted()) return; // the input was fatal
    }
    this.scheduleHostTimer();
  }

  private onFrame(bytes: Uint8Array): void {
    if (!this.running || this.closing) return;
    this.counters.framesReceived++;
    const now = this.now();
    const id = this.nextReceiveId++;
    const res = decodeFrame(bytes, this.frameOpts);
    if (!res.ok) {
      const c = res.error.code;
      this.drop(now, id, '?', dropReasonOf(c), `${c}: ${res.error.detail}`);
      return;
    }
    const frame = res.frame;
    if (frame.to !== this.id) {
      this.drop(now, id, frame.from, 'malformed', `frame addressed to ${frame.to}`);
      return;
    }
    const payload = decodePayload(frame.payload);
    if (!payload.ok) {
      this.drop(now, id, frame.from, 'malformed', `${payload.error.code}: ${payload.error.detail}`);
      return;
    }
    const msg = payload.value;
    if (!this.opts.stack.isMessage(msg)) {
      this.drop(now, id, frame.from, 'malformed', 'not a message of this stack');
      return;
    }
    this.record({ t: now, type: 'receive', id, copy: 0, from: frame.from, to: this.id, msg });
    this.input(() => {
      this.proto?.handleMessage(now, frame.from, msg);
    });
  }

  private drop(now: Instant, id: number, from: NodeId, reason: DropReason, detail: string): void {
    this.count(reason);
    this.record({ t: now, type: 'drop', id, copy: 0, from, to: this.id, reason, detail });
    if (this.events.length > 0) this.scheduleFlush();
  }
}
