/**
 * The runtime driver's group-commit pipeline as an explicit state machine (issue 15): what
 * may go out now, what waits for which commit, and what a crash drops. No sockets, no SQLite:
 * the driver plugs in its storage and its way of carrying outputs out (`PipelineHooks`), and the
 * tests drive it against a fake storage.
 *
 * THE CONTRACT (core/protocol.ts): an output follows every ordinary persist before it, so it
 * may be carried out only once the commit holding those writes is durable. Lazy persists go
 * into the batch like any other write but hold nothing back.
 *
 * A TURN is what one event-loop turn's inputs emitted: its non-persist outputs in order (the
 * open turn), and its writes, which go into the BATCH (every write since the last commit began;
 * a later write of a key replaces an earlier one). `seal` ends the turn.
 *
 * STATES (`Phase`):
 *   idle        no commit in flight. A sealed turn's outputs up to its first ordinary persist
 *               go out at once, the batch is committed, the rest goes out once it is durable
 *               (at once with a synchronous storage: the pipeline stays idle).
 *   committing  one commit in flight (an asynchronous storage), with the turns whose outputs
 *               wait for it and the turns HELD since it began. A turn sealed now is held whole
 *               (it follows the persists in flight), unless nothing in flight or held before it
 *               is ordinary (`strict`, `heldPending` false): then its outputs up to its own
 *               first ordinary persist go out at once and the rest is held.
 *   stopped     crashed, failed or closed: nothing is carried out any more; a commit that lands
 *               later is ignored.
 * TRANSITIONS:
 *   idle       --seal, batch needs a commit, storage async--> committing{turns: [that turn]}
 *   committing --seal--> committing (turn held)
 *   committing --commit durable--> its turns go out; then idle if nothing is held, else the
 *                                  held turns' batch is committed (committing again) or, if it
 *                                  needs no commit, they go out and the pipeline is idle
 *   committing --commit fails--> stopped (fatal)
 *   any        --stop (crash, fatal, close done)--> stopped
 * Closing is `seal` of the last turn, then waiting on `inFlight()` until it is undefined.
 *
 * DURABILITY WAITERS (`afterDurable`): the application may ask when everything written so far
 * is on disk (the runtime's send `accepted`: a lazy send-buffer write holds no output back, but
 * it is in the batch, and the batch is committed like any other). The callback rides the commit
 * that takes the current batch (or the one in flight when the batch is empty) and is told true
 * when it lands, false if the pipeline stops first. It adds no commit and holds nothing back.
 *
 * Invariants (always-on asserts, named `pipeline: …`): at most one commit in flight; nothing
 * enters or leaves a stopped pipeline; a carried range lies inside its turn; a held output
 * pending means a held turn exists; a turn's first ordinary persist lies within its outputs.
 */

import { assert } from '../core/errors.ts';
import type { PersistOutput } from '../core/executor.ts';
import type { Output } from '../core/protocol.ts';
import { isAppliedKey, type AppliedRow } from './storage.ts';

/** An output that waits in a turn (persists go to the batch instead). */
export type QueuedOutput<M, D> = Exclude<Output<M, D>, { readonly kind: 'persist' }>;

/** A sealed turn: its outputs (from `from` on still to carry out) and their frames. */
export interface Sealed<M, D> {
  readonly queue: readonly QueuedOutput<M, D>[];
  /** The frame of each send, by queue index (the driver encodes a turn when it seals it). */
  readonly frames: readonly (Uint8Array | undefined)[];
  /** Index of the turn's first ordinary (not lazy) persist in `queue` (-1: none). */
  readonly firstPersist: number;
  readonly from: number;
}

export type Phase<M, D> =
  | { readonly kind: 'idle' }
  | {
      readonly kind: 'committing';
      /** Identifies this commit: a landing for another one (before a crash) is ignored. */
      readonly id: number;
      /** The turns whose remaining outputs go out when this commit is durable. */
      readonly turns: readonly Sealed<M, D>[];
      /** The commit holds a write of an ordinary persist. */
      readonly strict: boolean;
      /** Turns sealed since it began: they wait, with their writes, for the next commit. */
      readonly held: Sealed<M, D>[];
      /** A held turn still has outputs to carry out: a later turn's outputs wait behind them. */
      heldPending: boolean;
      /** Settles once this commit has landed (or failed) and been handled. */
      readonly done: Promise<void>;
      /** `afterDurable` callbacks this commit answers (true once it is durable). */
      readonly waiters: DurableWaiter[];
    }
  | { readonly kind: 'stopped' };

/** Told whether the writes it waited for became durable (false: the pipeline stopped first). */
export type DurableWaiter = (durable: boolean) => void;

export interface PipelineHooks<M, D> {
  /**
   * Whether a commit is needed: `writes` in the batch, or anything the driver commits with it
   * (metadata, a storage trace, which must cover a turn's outputs when `hasOutputs`). False
   * without a storage.
   */
  needsCommit(writes: number, hasOutputs: boolean): boolean;
  /** Hands the batch to storage: durable on return (void) or when the promise settles. May throw. */
  commit(
    writes: ReadonlyMap<string, unknown>,
    applied: readonly AppliedRow[],
  ): void | Promise<void>;
  /** A commit is durable (or none was needed), right before its turns' outputs go out. */
  durable(): void;
  /** Carries out the outputs [turn.from, to) of a sealed turn, in order. */
  carry(turn: Sealed<M, D>, to: number): void;
  /** A commit failed: the node must stop (the pipeline is already stopped). */
  fatal(err: unknown): void;
}

export interface PipelineOptions {
  /** Keep applied rows (`storage.logsApplied`). */
  readonly logsApplied: boolean;
  /** No output leaves before its turn's commit (a storage trace must cover them all). */
  readonly holdEarly: boolean;
}

const IDLE = { kind: 'idle' } as const;
const STOPPED = { kind: 'stopped' } as const;

export class CommitPipeline<M, D> {
  private phase: Phase<M, D> = IDLE;
  /** The open turn's outputs and the index of its first ordinary persist (-1: none yet). */
  private queue: QueuedOutput<M, D>[] = [];
  private firstPersist = -1;
  /** The batch: key → value (null deletes), last write wins; applied rows; any ordinary write. */
  private writes = new Map<string, unknown>();
  private applied: AppliedRow[] = [];
  private strict = false;
  /** `afterDurable` callbacks waiting for the commit that will take the current batch. */
  private batchWaiters: DurableWaiter[] = [];
  /** Inside `carry`: an input it causes (onDeliver → command) must not commit re-entrantly. */
  private carrying = false;
  private nextId = 1;

  constructor(
    private readonly hooks: PipelineHooks<M, D>,
    private readonly opts: PipelineOptions,
  ) {}

  get state(): Phase<M, D>['kind'] {
    return this.phase.kind;
  }

  /** Writes and applied rows in the batch (what bounds it). */
  get batchSize(): number {
    return this.writes.size + this.applied.length;
  }

  /** Whether the driver may commit the batch before the end of the turn (it is large). */
  mayCommitEarly(): boolean {
    return !this.carrying && this.phase.kind === 'idle';
  }

  /** Settles when the commit in flight has been handled; undefined when none is in flight. */
  inFlight(): Promise<void> | undefined {
    return this.phase.kind === 'committing' ? this.phase.done : undefined;
  }

  /**
   * Calls `cb(true)` once every write handed to the pipeline so far is durable: at once if none
   * is waiting (or nothing is committed: no storage), else when the commit in flight lands (the
   * batch is empty) or when the commit that takes the current batch lands. `cb(false)` if the
   * pipeline stops first (crash, fatal error). Adds no commit: a batch with writes is always
   * committed at the end of its turn or after the commit in flight, lazy writes included.
   */
  afterDurable(cb: DurableWaiter): void {
    const p = this.phase;
    if (p.kind === 'stopped') {
      cb(false);
      return;
    }
    if (this.batchSize > 0 && this.hooks.needsCommit(this.writes.size, false)) {
      this.batchWaiters.push(cb);
      return;
    }
    if (p.kind === 'committing') {
      p.waiters.push(cb);
      return;
    }
    cb(true);
  }

  /** A send, timer or delivery of the open turn. */
  output(o: QueuedOutput<M, D>): void {
    assert(this.phase.kind !== 'stopped', 'pipeline: nothing enters a stopped pipeline');
    this.queue.push(o);
  }

  /** A persist of the open turn, at time `t` (applied rows carry it). */
  persist(o: PersistOutput, t: number): void {
    assert(this.phase.kind !== 'stopped', 'pipeline: nothing enters a stopped pipeline');
    if (o.lazy !== true) {
      if (this.firstPersist < 0) this.firstPersist = this.queue.length;
      this.strict = true;
    }
    for (const w of o.writes) {
      this.writes.set(w.key, w.value);
      if (this.opts.logsApplied && isAppliedKey(w.key) && w.value !== null) {
        this.applied.push({ t, value: w.value });
      }
    }
  }

  /** Ends the open turn: its outputs and first ordinary persist (the driver encodes them). */
  takeTurn(): { readonly queue: readonly QueuedOutput<M, D>[]; readonly firstPersist: number } {
    const turn = { queue: this.queue, firstPersist: this.firstPersist };
    assert(
      turn.firstPersist <= turn.queue.length,
      "pipeline: a turn's first ordinary persist lies within its outputs",
    );
    this.queue = [];
    this.firstPersist = -1;
    return turn;
  }

  /** A sealed turn enters the pipeline (see STATES). */
  seal(sealed: Sealed<M, D>): void {
    const p = this.phase;
    assert(p.kind !== 'stopped', 'pipeline: nothing enters a stopped pipeline');
    assert(sealed.from === 0, 'pipeline: a sealed turn starts at its first output');
    if (p.kind === 'committing') {
      // With no ordinary persist in flight and no earlier output waiting, the turn's outputs up
      // to its own first ordinary persist owe nothing to the commit (LAZY PERSISTS).
      const from = p.strict || p.heldPending ? 0 : this.earlyEnd(sealed);
      this.carry(sealed, from);
      p.held.push(from === 0 ? sealed : { ...sealed, from });
      if (from < sealed.queue.length) p.heldPending = true;
      return;
    }
    if (!this.hooks.needsCommit(this.writes.size, sealed.queue.length > 0)) {
      this.hooks.durable();
      this.carry(sealed);
      return;
    }
    const early = this.earlyEnd(sealed);
    this.carry(sealed, early);
    if (this.phase.kind === 'idle') this.commit([{ ...sealed, from: early }]);
  }

  /** Crash, fatal error or end of close: drops the open turn, the batch and every waiting turn. */
  stop(): void {
    const p = this.phase;
    const waiters = [...(p.kind === 'committing' ? p.waiters : []), ...this.batchWaiters];
    this.batchWaiters = [];
    this.phase = STOPPED;
    this.queue = [];
    this.firstPersist = -1;
    this.writes = new Map();
    this.applied = [];
    this.strict = false;
    for (const cb of waiters) cb(false);
  }

  /**
   * Where the outputs a turn may carry out before its commit end: at its first ordinary persist
   * (all of them if it has none); none at all with `holdEarly`.
   */
  private earlyEnd(sealed: Sealed<M, D>): number {
    if (this.opts.holdEarly) return 0;
    return sealed.firstPersist < 0 ? sealed.queue.length : sealed.firstPersist;
  }

  /** Commits the batch; `turns` go out once it is durable. */
  private commit(turns: readonly Sealed<M, D>[]): void {
    assert(this.phase.kind === 'idle', 'pipeline: at most one commit in flight');
    const strict = this.strict;
    const waiters = this.batchWaiters;
    this.batchWaiters = [];
    let result: void | Promise<void>;
    try {
      result = this.hooks.commit(this.writes, this.applied);
    } catch (err) {
      this.batchWaiters.push(...waiters);
      this.stop();
      this.hooks.fatal(err);
      return;
    }
    this.writes = new Map();
    this.applied = [];
    this.strict = false;
    if (result === undefined) {
      for (const cb of waiters) cb(true);
      this.settle(turns);
      return;
    }
    const id = this.nextId++;
    const done = result.then(
      () => {
        this.landed(id);
      },
      (err: unknown) => {
        if (this.phase.kind !== 'committing' || this.phase.id !== id) return;
        this.stop();
        this.hooks.fatal(err);
      },
    );
    this.phase = {
      kind: 'committing',
      id,
      turns,
      strict,
      held: [],
      heldPending: false,
      done,
      waiters,
    };
  }

  /** The commit `id` is durable: its turns go out, then the held turns move on. */
  private landed(id: number): void {
    const p = this.phase;
    if (p.kind !== 'committing' || p.id !== id) return; // stopped meanwhile: nothing goes out
    assert(!p.heldPending || p.held.length > 0, 'pipeline: pending held outputs are in a turn');
    for (const cb of p.waiters.splice(0)) cb(true); // durable, whatever carrying out does next
    this.settle(p.turns);
    if (this.phase !== p) return; // carrying them out stopped the node
    this.phase = IDLE;
    const held = p.held;
    if (held.length === 0) return;
    if (
      !this.hooks.needsCommit(
        this.writes.size,
        held.some((g) => g.queue.length > 0),
      )
    ) {
      this.settle(held);
      return;
    }
    this.commit(held);
  }

  /** A commit is durable (or none was needed): its turns' outputs go out, in order. */
  private settle(turns: readonly Sealed<M, D>[]): void {
    this.hooks.durable();
    for (const t of turns) {
      if (this.phase.kind === 'stopped') return;
      this.carry(t);
    }
  }

  private carry(turn: Sealed<M, D>, to = turn.queue.length): void {
    assert(
      turn.from <= to && to <= turn.queue.length,
      'pipeline: a carried range lies inside its turn',
    );
    if (turn.from === to) return;
    this.carrying = true;
    try {
      this.hooks.carry(turn, to);
    } finally {
      this.carrying = false;
    }
  }
}
