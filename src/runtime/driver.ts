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
 * PIPELINE (its states and transitions: src/runtime/pipeline.ts). With a storage whose `commit`
 * returns a promise (`AsyncStorage`: a commit thread), one commit is in flight at a time and the
 * event loop goes on meanwhile. A turn sealed while a
 * commit is in flight is held WHOLE (even its outputs before its first persist: they follow the
 * persists in flight); when the commit settles its turns' outputs go out, and every held turn's
 * writes are committed together next. So batches grow with the commit time, and the order
 * contract is the same as with a synchronous `Storage`.
 *
 * LAZY PERSISTS (core/protocol.ts) go into the batch like any other, but no output waits for
 * them: "the turn's first persist" above means its first ORDINARY persist, and a turn sealed
 * while the commit in flight (and every turn held before it) holds only lazy writes is not held:
 * its outputs up to its first ordinary persist go out at once. The reliable link's send-buffer
 * writes are lazy, so a sender's data frames do not wait for the commit of their buffer
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
 * TIMERS. One `TimerQueue` (core/timers.ts: a heap of (deadline, generation)) and one host
 * `setTimeout` for the earliest; a re-armed or cancelled timer's older entries are skipped by
 * generation.
 *
 * OUTPUTS are drained and carried out by the step executor every driver shares
 * (core/executor.ts); inbound frames are decoded by its `decodeInbound`, as in the simulator.
 *
 * RANDOMNESS. The protocol's `Rng` is `createRng(seed)`, seed from `crypto.randomInt` unless the
 * caller gives one (tests). It is never used for keys.
 *
 * TRACE. Optional: TraceEvents of src/core/trace.ts, the shapes the simulator records, so the
 * checkers of src/check run on real runs. Each output is recorded as the protocol emits it, in
 * its place among its step's persists, as the simulator records it (a checker that reads steps,
 * such as the logged broadcasts' "each notification in the step of its append", needs that
 * order: recording a turn's sends and deliveries at its end would move them past the next
 * input's events). Sink 'storage' appends them to the SQLite trace table in the same
 * transaction as the batch: the durable trace is always a consistent prefix of what happened,
 * even under SIGKILL (a persist is in the trace iff it is on disk; nothing the trace
 * omits became visible to a peer). Sink 'jsonl' writes JSON Lines to a file after the commit
 * (exact for runs without kill -9). A runtime send's `id` is unique within this process's trace
 * only (frames carry no id); `steadfast cluster` renumbers ids when it merges traces.
 *
 * ERRORS. Frames that fail to decode (CRC, HMAC, malformed, addressed elsewhere, not a message
 * of the stack) are dropped and counted (`stats()`), and traced as `drop`. A command the protocol
 * rejects (`SteadfastError`, e.g. 'buffer-full') throws to the caller and is traced with
 * `accepted: false`. A protocol throwing on any other input is a bug: the driver stops and
 * reports it through `onFatal` (the node process exits non-zero). So is a message it emits that
 * cannot be encoded: `SteadfastError('unencodable')` naming the message's kind, the error the
 * simulator stops with too.
 *
 * SIZE. Over 600 lines, a third of them this contract: the rest is the host side only (clock,
 * host timers, trace sinks, commit hand-over, frames); the commit pipeline lives in pipeline.ts
 * and outputs are carried out by core/executor.ts.
 *
 * Assumes: this process is the only one using the storage; protocol outputs are plain data and
 * never mutated after they are emitted.
 */

import { randomInt } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { assert, SteadfastError, type ErrorCode } from '../core/errors.ts';
import {
  decodeInbound,
  drainOutputs,
  executeOutput,
  FrameEncoder,
  type OutputSink,
} from '../core/executor.ts';
import type { FrameOptions } from '../core/frame.ts';
import type { NodeId } from '../core/ids.ts';
import type { Protocol, StackSpec } from '../core/protocol.ts';
import { createRng } from '../core/rng.ts';
import { instant, type Instant } from '../core/time.ts';
import { TimerQueue } from '../core/timers.ts';
import { persistEvent, traceReplacer, type DropReason, type TraceEvent } from '../core/trace.ts';
import { CommitPipeline, type QueuedOutput, type Sealed } from './pipeline.ts';
import type { AppliedRow, DriverStorage } from './storage.ts';
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

const CLOCK_META = 'clock';
const INCARNATION_META = 'incarnation';

/** Why a frame was dropped or a send failed: a decode drop reason or a transport's error code. */
export type DropCount = DropReason | ErrorCode | 'send-error';

/** The driver's lifecycle: `closing` takes no input while the pipeline drains. */
type Life = 'new' | 'running' | 'closing' | 'stopped';

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
  readonly dropped: Readonly<Partial<Record<DropCount, number>>>;
  readonly protocol: Readonly<Record<string, number>>;
  readonly transport: Readonly<Record<string, number>>;
}

export class Driver<M, C, D> {
  readonly id: NodeId;
  private readonly opts: DriverOptions<M, C, D>;
  private proto: Protocol<M, C, D> | undefined;
  private life: Life = 'new';
  /** Transport, storage and trace file closed (`release`). */
  private released = false;
  private readonly frameOpts: FrameOptions;
  /** Encodes each send's message straight into its frame (core/executor.ts). */
  private readonly encoder: FrameEncoder;
  private readonly traceSink: TraceSink;
  private traceFd: number | undefined;
  /** Group commit: the open turn, the batch, the commit in flight and the held turns. */
  private readonly pipeline: CommitPipeline<M, D>;
  /** Where the executor puts a protocol's outputs: the pipeline's open turn. */
  private readonly turnSink: OutputSink<M, D>;
  /** Where a turn's outputs other than sends are carried out once they may go out. */
  private readonly hostSink: OutputSink<M, D>;
  /** Driver metadata committed with the next batch (incarnation, clock). */
  private meta = new Map<string, string>();
  private events: TraceEvent[] = [];
  /**
   * The open turn's frames, one slot per queued output (a send's frame, else undefined): each
   * send is encoded when it is queued, so its trace event, recorded in its place among the
   * turn's outputs, carries its size.
   */
  private openFrames: (Uint8Array | undefined)[] = [];
  /** A send of the open turn could not be encoded: a protocol bug, fatal when it is sealed. */
  private encodeError: unknown;
  /** An end-of-turn `flush` is scheduled (setImmediate). */
  private flushScheduled = false;
  private readonly batchWritesMax: number;
  private readonly timers = new TimerQueue();
  private hostTimer:
    | { readonly kind: 'timeout'; readonly h: NodeJS.Timeout }
    | { readonly kind: 'immediate'; readonly h: NodeJS.Immediate }
    | undefined;
  private hostTimerAt = Number.POSITIVE_INFINITY;
  private clockOffset = 0;
  private lastNow = 0;
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
  private readonly dropped: Partial<Record<DropCount, number>> = {};

  constructor(opts: DriverOptions<M, C, D>) {
    this.opts = opts;
    this.id = opts.id;
    if (!opts.nodes.includes(opts.id)) {
      throw new SteadfastError('bad-argument', `node ${opts.id} is not in the node list`);
    }
    this.frameOpts = opts.frame ?? { checksum: true };
    this.encoder = new FrameEncoder(this.frameOpts);
    this.batchWritesMax = opts.batchWritesMax ?? 1000;
    this.traceSink = opts.trace ?? { kind: 'none' };
    if (this.traceSink.kind === 'storage' && opts.storage === undefined) {
      throw new SteadfastError('bad-argument', "trace sink 'storage' needs a storage");
    }
    this.pipeline = new CommitPipeline<M, D>(
      {
        needsCommit: (writes, hasOutputs) => this.needsCommit(writes, hasOutputs),
        commit: (writes, applied) => this.commit(writes, applied),
        durable: () => {
          this.emitTrace();
        },
        carry: (turn, to) => {
          this.carryRange(turn, to);
        },
        fatal: (err) => {
          this.fatal(err);
        },
      },
      {
        logsApplied: opts.storage?.logsApplied ?? false,
        holdEarly: this.traceSink.kind === 'storage',
      },
    );
    const queue = (o: QueuedOutput<M, D>): void => {
      this.pipeline.output(o);
      this.openFrames.push(undefined);
    };
    this.turnSink = {
      send: (o) => {
        this.pipeline.output(o);
        let frame: Uint8Array | undefined;
        try {
          frame = this.encoder.encode(this.id, o.to, o.msg);
        } catch (err) {
          this.encodeError ??= err; // fatal when the turn is sealed (flush)
        }
        this.openFrames.push(frame);
        this.record({
          t: this.lastNow,
          type: 'send',
          id: this.nextSendId++,
          from: this.id,
          to: o.to,
          msg: o.msg,
          bytes: frame?.length ?? 0,
        });
      },
      setTimer: queue,
      cancelTimer: queue,
      deliver: (o) => {
        queue(o);
        this.record({ t: this.lastNow, type: 'deliver', node: this.id, event: o.event });
      },
      persist: (o) => {
        const t = this.lastNow;
        this.pipeline.persist(o, t);
        this.counters.writes += o.writes.length;
        this.record(persistEvent(t, this.id, o));
        return undefined;
      },
    };
    this.hostSink = {
      send: () => {
        assert(false, 'driver: a send is carried out with the frame sealed for it');
      },
      setTimer: (o) => {
        this.timers.arm(o.name, o.at);
        this.scheduleHostTimer();
      },
      cancelTimer: (o) => {
        this.timers.cancel(o.name);
      },
      deliver: (o) => {
        this.opts.onDeliver?.(o.event);
      },
      persist: () => {
        assert(false, 'driver: persists never wait in a turn (they are in the batch)');
      },
    };
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
    if (this.life !== 'new') throw new SteadfastError('not-running', 'start: already used');
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
    this.life = 'running';
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
    if (!this.live()) return;
    this.flush();
    // The start batch (its incarnation number above all) is durable before start resolves: a
    // node killed right after it is ready restarts at the next incarnation, never the same one.
    // (With a commit thread the commit is still in flight here.)
    if (storage !== undefined && this.live()) await this.whenDurable();
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
      drainOutputs(proto, this.turnSink); // what it emitted before refusing still happens, in order
      this.scheduleFlush();
      throw err;
    }
    this.counters.inputs++;
    this.record({ t: now, type: 'command', node: this.id, cmd, accepted: true });
    drainOutputs(proto, this.turnSink);
    this.scheduleFlush();
    this.flushIfLarge();
  }

  /**
   * Resolves once every write the protocol has emitted so far is durable (the commit that takes
   * them has landed; at once without a storage or when nothing is waiting); rejects with
   * `SteadfastError('not-running')` if the node stops (crash, fatal error) before. Adds no commit
   * and holds no output back: lazy writes are committed with the turn's batch like any other.
   */
  whenDurable(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pipeline.afterDurable((durable) => {
        if (durable) resolve();
        else reject(new SteadfastError('not-running', `node ${this.id} stopped before a commit`));
      });
    });
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
    if (this.released) return;
    if (this.live()) {
      // From here on the node takes no input (a frame now is as lost as one after the stop), so
      // the pipeline drains: every sealed turn is committed and carried out.
      this.life = 'closing';
      this.flush();
      for (let p = this.pipeline.inFlight(); p !== undefined; p = this.pipeline.inFlight()) {
        await p;
        if (!this.live()) break;
      }
    }
    this.halt();
    await this.release();
  }

  /**
   * A crash, in-process (tests): everything not yet committed is lost, nothing queued is carried
   * out, timers stop, the transport and storage close. A new Driver on the same storage path
   * recovers, as a process restarted after SIGKILL would.
   */
  async crash(): Promise<void> {
    if (this.released) return;
    // The pipeline drops the open turn, the batch and the held turns; a commit in flight may
    // land or not, its outputs never go out.
    this.halt();
    this.meta = new Map();
    this.events = [];
    await this.release();
  }

  /**
   * Closes the transport, the storage and the trace file, once: after `close`, `crash`, or a
   * fatal error (which stops the node at once; a later `close` still releases the storage).
   */
  private async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.opts.transport.close();
    await this.opts.storage?.close();
    if (this.traceFd !== undefined) closeSync(this.traceFd);
    this.traceFd = undefined;
  }

  // ------------------------------------------------------------------------------ internals

  /** Running or closing: started and not stopped (close still drains the pipeline). */
  private live(): boolean {
    return this.life === 'running' || this.life === 'closing';
  }

  private cancelHostTimer(): void {
    const t = this.hostTimer;
    if (t === undefined) return;
    if (t.kind === 'timeout') clearTimeout(t.h);
    else clearImmediate(t.h);
  }

  private halt(): void {
    this.life = 'stopped';
    this.pipeline.stop();
    this.openFrames = [];
    this.encodeError = undefined;
    this.proto = undefined;
    this.cancelHostTimer();
    this.hostTimer = undefined;
    this.timers.clear();
  }

  private liveProto(): Protocol<M, C, D> {
    const p = this.proto;
    if (this.life !== 'running' || p === undefined) {
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
    drainOutputs(proto, this.turnSink);
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
      this.pipeline.batchSize >= this.batchWritesMax &&
      this.live() &&
      this.pipeline.mayCommitEarly()
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

  private scheduleFlush(): void {
    if (this.flushScheduled || !this.live()) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.live()) this.flush();
    });
  }

  /**
   * End of turn: the turn (its sends encoded and every output recorded in the trace as it was
   * queued) is sealed and handed to the pipeline, which carries out what may go out now and
   * commits the batch (src/runtime/pipeline.ts). A message that could not be encoded is a
   * protocol bug: fatal.
   */
  private flush(): void {
    const { queue, firstPersist } = this.pipeline.takeTurn();
    const frames = this.openFrames;
    this.openFrames = [];
    assert(frames.length === queue.length, 'driver: a frame slot for every output of the turn');
    const err = this.encodeError;
    if (err !== undefined) {
      this.fatal(err);
      return;
    }
    this.pipeline.seal({ queue, frames, firstPersist, from: 0 });
  }

  private needsCommit(writes: number, hasOutputs: boolean): boolean {
    return (
      this.opts.storage !== undefined &&
      (writes > 0 ||
        this.meta.size > 0 ||
        (this.traceSink.kind === 'storage' && (this.events.length > 0 || hasOutputs)))
    );
  }

  /** Hands the batch, the metadata and (sink 'storage') the trace to storage in one commit. */
  private commit(
    writes: ReadonlyMap<string, unknown>,
    applied: readonly AppliedRow[],
  ): void | Promise<void> {
    const storage = this.opts.storage;
    assert(storage !== undefined, 'driver: a commit needs a storage');
    const meta = this.meta;
    meta.set(CLOCK_META, String(this.now()));
    const lines =
      this.traceSink.kind === 'storage'
        ? this.events.map((e) => JSON.stringify(e, traceReplacer))
        : [];
    const result = storage.commit(writes, applied, lines, meta); // a throw is fatal (pipeline)
    this.meta = new Map();
    if (this.traceSink.kind === 'storage') this.events = [];
    this.counters.commits++;
    if (result === undefined) return undefined;
    const startedMs = performance.now();
    return result.then(() => {
      if (!this.live()) return;
      const tookMs = performance.now() - startedMs;
      this.counters.commitMs += tookMs;
      if (tookMs > this.counters.commitMsMax) this.counters.commitMsMax = tookMs;
    });
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

  /** Carries out the sealed turn's outputs [from, to) in order: sends with their sealed frames. */
  private carryRange({ queue, frames, from }: Sealed<M, D>, to: number): void {
    for (let i = from; i < to; i++) {
      const o = queue[i];
      if (o === undefined) continue;
      if (o.kind !== 'send') {
        executeOutput(o, this.hostSink);
        continue;
      }
      const frame = frames[i];
      assert(frame !== undefined, 'driver: every send of a sealed turn has its frame');
      try {
        this.opts.transport.send(o.to, frame);
        this.counters.framesSent++;
      } catch (err) {
        // Local misuse (frame too large for the transport, unknown peer): the message can
        // never go out; count it so it is visible, never crash the node on it.
        this.counters.sendErrors++;
        this.count(err instanceof SteadfastError ? err.code : 'send-error');
      }
    }
  }

  private count(reason: DropCount): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
  }

  private scheduleHostTimer(): void {
    const at = this.timers.next();
    if (at === undefined) {
      this.cancelHostTimer();
      this.hostTimer = undefined;
      this.hostTimerAt = Number.POSITIVE_INFINITY;
      return;
    }
    if (this.hostTimer !== undefined && this.hostTimerAt <= at) return;
    this.cancelHostTimer();
    this.hostTimerAt = at;
    const delay = at - this.now();
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
    if (this.life !== 'running') return;
    const now = this.now();
    for (let name = this.timers.popDue(now); name !== undefined; name = this.timers.popDue(now)) {
      const fired = name;
      this.record({ t: now, type: 'timer', node: this.id, name: fired });
      this.input(() => {
        this.proto?.handleTimer(now, fired);
      });
      if (!this.live()) return; // the input was fatal
    }
    this.scheduleHostTimer();
  }

  private onFrame(bytes: Uint8Array): void {
    if (this.life !== 'running') return;
    this.counters.framesReceived++;
    const now = this.now();
    const id = this.nextReceiveId++;
    const r = decodeInbound(bytes, this.frameOpts, this.id, this.opts.stack);
    if (!r.ok) {
      this.drop(now, id, r.from ?? '?', r.reason, r.detail);
      return;
    }
    const { from, msg } = r;
    this.record({ t: now, type: 'receive', id, copy: 0, from, to: this.id, msg });
    this.input(() => {
      this.proto?.handleMessage(now, from, msg);
    });
  }

  private drop(now: Instant, id: number, from: NodeId, reason: DropReason, detail: string): void {
    this.count(reason);
    this.record({ t: now, type: 'drop', id, copy: 0, from, to: this.id, reason, detail });
    if (this.events.length > 0) this.scheduleFlush();
  }
}
