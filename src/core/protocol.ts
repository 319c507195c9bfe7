/**
 * The protocol interface: every steadfast protocol is a sans-I/O state machine.
 *
 * A driver (the simulator or the real runtime) feeds it inputs through the `handle*` methods and
 * then drains its outputs with `pollOutput()` until it returns `undefined`, carrying each one
 * out IN ORDER before looking at the next:
 *
 *   inputs : handleStart(now, durable)     once, at boot or after a crash-recover
 *            handleMessage(now, from, msg) a message from a peer (already decoded and validated)
 *            handleTimer(now, name)        a timer this protocol set has fired
 *            handleCommand(now, cmd)       the application asks for something (send, broadcast…)
 *   outputs: send(to, msg)                 hand a message to the network (may be lost)
 *            setTimer(name, at)            (re)arm the named timer to fire at `at`; replaces any
 *                                          earlier setting of the same name
 *            cancelTimer(name)             disarm it (no-op if not armed)
 *            deliver(event)                hand an event up to the application
 *            persist(writes)               make a batch of key writes durable, atomically
 *
 * DURABLE STATE is a key-value map per node. `persist` writes a batch of `{ key, value }` pairs
 * (value `null` deletes the key) all-or-nothing: a crash never leaves half a batch. State stays
 * as large as what is live (a send buffer entry is deleted when acked), never an ever-growing log.
 *
 * THE OUTPUT-ORDER CONTRACT. Outputs are effects in a stated order (after etcd-io/raft's
 * `Ready`): a `persist` must be durable before the driver carries out ANY later output of the
 * same protocol. A driver that batches writes (group commit) must hold back every later send,
 * deliver and timer until the batch containing the write is on disk. Consequently a protocol may
 * emit "persist dedup mark, then send ack" and rely on the ack never being seen by a peer unless
 * the mark survives a crash. Conversely a crash may happen between any two outputs: everything
 * after the crash point is lost, everything before it (and every persisted write) happened.
 * The simulator tests this by crashing nodes between outputs.
 *
 * LAZY PERSISTS. `persistLazy(writes)` is a persist that later outputs need NOT wait for: the
 * driver may carry them out before it is durable. It still keeps its place among persists (a
 * later persist durable means this one is too), and a crash may lose it, with every later lazy
 * persist, until a later ordinary persist or the end of the step has made it durable. It is for
 * state whose loss the protocol tolerates: the reliable link's send-buffer entries (a lost
 * entry leaves its message in doubt, like a command a crash cut short: it may or may not be
 * delivered, and is not resent) and their deletions (a lost deletion only resends an acked
 * message, which dedup absorbs). A sequence-number reservation, a dedup mark, an effect are
 * ordinary persists. The simulator loses a lazy persist when a crash cuts its step short before
 * an ordinary persist of the same step follows it (trace: `crash.lostWrites`).
 *
 * RECOVERY. After a crash the driver builds a fresh protocol object and calls `handleStart` with
 * the node's durable map as it was after the last batch. Volatile state is gone; armed timers
 * are gone (the protocol re-arms what it needs in `handleStart`).
 *
 * ERRORS. A malformed or hostile message never makes `handleMessage` throw: the protocol drops
 * it and counts it. A command the application should not have given throws `SteadfastError`.
 *
 * Time (`now`) and randomness (`ctx.rng`) are injected; protocol code never reads a clock, draws
 * from `Math.random`, arms a host timer or does I/O (enforced by lint in src/core and
 * src/protocols).
 */

import type { NodeId } from './ids.ts';
import type { Rng } from './rng.ts';
import type { Instant } from './time.ts';

/** One write of a persist batch; `value: null` deletes `key`. Values are plain data. */
export interface DurableWrite {
  readonly key: string;
  readonly value: unknown;
}

/** A node's durable state as handed to `handleStart`: key → value, in first-write order. */
export type DurableState = ReadonlyMap<string, unknown>;

export type Output<M, D> =
  | { readonly kind: 'send'; readonly to: NodeId; readonly msg: M }
  | { readonly kind: 'setTimer'; readonly name: string; readonly at: Instant }
  | { readonly kind: 'cancelTimer'; readonly name: string }
  | { readonly kind: 'deliver'; readonly event: D }
  | {
      readonly kind: 'persist';
      readonly writes: readonly DurableWrite[];
      /** A lazy persist: later outputs need not wait for it (see LAZY PERSISTS above). */
      readonly lazy?: true;
    };

/** A sans-I/O protocol state machine. M: wire message, C: command, D: delivery event. */
export interface Protocol<M, C, D> {
  handleStart(now: Instant, durable: DurableState): void;
  handleMessage(now: Instant, from: NodeId, msg: M): void;
  handleTimer(now: Instant, name: string): void;
  handleCommand(now: Instant, cmd: C): void;
  /** The next output to carry out, or `undefined` when there is none. */
  pollOutput(): Output<M, D> | undefined;
  /** Counters for observability (dropped frames, retransmissions, buffer sizes…). */
  stats(): Readonly<Record<string, number>>;
}

/** What a protocol instance is given when it is created. */
export interface NodeContext {
  readonly id: NodeId;
  /** Every node in the group, including this one, in a fixed order. */
  readonly nodes: readonly NodeId[];
  /** This node's own generator (the simulator forks one per node and incarnation). */
  readonly rng: Rng;
}

/**
 * How to build a protocol stack and how to recognise its messages. The driver validates every
 * decoded message with `isMessage` before `handleMessage`; what fails is dropped as malformed.
 */
export interface StackSpec<M, C, D> {
  readonly name: string;
  create(ctx: NodeContext): Protocol<M, C, D>;
  isMessage(value: unknown): value is M;
}

/**
 * An output queue protocols extend: an array with a moving head, so a poll is O(1) and the
 * slots are reused once drained.
 */
export abstract class OutputQueue<M, D> {
  private queue: (Output<M, D> | undefined)[] = [];
  private head = 0;
  private tail = 0;

  pollOutput(): Output<M, D> | undefined {
    if (this.head === this.tail) {
      this.head = this.tail = 0; // drained: reuse the slots from the start
      return undefined;
    }
    const out = this.queue[this.head];
    this.queue[this.head++] = undefined;
    return out;
  }

  /** Number of outputs not yet polled. */
  protected pendingOutputs(): number {
    return this.tail - this.head;
  }

  protected emit(output: Output<M, D>): void {
    this.queue[this.tail++] = output;
  }

  protected send(to: NodeId, msg: M): void {
    this.emit({ kind: 'send', to, msg });
  }

  protected setTimer(name: string, at: Instant): void {
    this.emit({ kind: 'setTimer', name, at });
  }

  protected cancelTimer(name: string): void {
    this.emit({ kind: 'cancelTimer', name });
  }

  protected deliver(event: D): void {
    this.emit({ kind: 'deliver', event });
  }

  protected persist(writes: readonly DurableWrite[]): void {
    this.emit({ kind: 'persist', writes });
  }

  /** A persist later outputs need not wait for (see LAZY PERSISTS in the module header). */
  protected persistLazy(writes: readonly DurableWrite[]): void {
    this.emit({ kind: 'persist', writes, lazy: true });
  }
}

/**
 * Drains an inner protocol's outputs into an outer one (protocols compose by wrapping, like
 * stateright's ordered reliable link): sends pass through unchanged (the outer layer's own
 * messages travel as payloads of the inner layer), timer names and durable keys get
 * `prefix + '/'`, and deliveries go to `onDeliver`, which may emit outer outputs. Order is
 * preserved, so the inner layer's output-order contract carries over.
 */
export function drainInner<M, D>(
  inner: Protocol<M, unknown, D>,
  prefix: string,
  emit: (o: Output<M, never>) => void,
  onDeliver: (event: D) => void,
): void {
  for (let o = inner.pollOutput(); o !== undefined; o = inner.pollOutput()) {
    switch (o.kind) {
      case 'send':
        emit(o);
        break;
      case 'setTimer':
        emit({ kind: 'setTimer', name: `${prefix}/${o.name}`, at: o.at });
        break;
      case 'cancelTimer':
        emit({ kind: 'cancelTimer', name: `${prefix}/${o.name}` });
        break;
      case 'persist': {
        const writes = o.writes.map((w) => ({ key: `${prefix}/${w.key}`, value: w.value }));
        emit(
          o.lazy === true ? { kind: 'persist', writes, lazy: true } : { kind: 'persist', writes },
        );
        break;
      }
      case 'deliver':
        onDeliver(o.event);
        break;
    }
  }
}

/** If `name` belongs to the inner layer `prefix`, the inner timer's name; else undefined. */
export function innerName(name: string, prefix: string): string | undefined {
  return name.length > prefix.length && name.startsWith(prefix) && name[prefix.length] === '/'
    ? name.slice(prefix.length + 1)
    : undefined;
}

/** The durable state of the inner layer `prefix` (keys with the prefix removed). */
export function innerState(state: DurableState, prefix: string): DurableState {
  const out = new Map<string, unknown>();
  for (const [key, value] of state) {
    const k = innerName(key, prefix);
    if (k !== undefined) out.set(k, value);
  }
  return out;
}

/** Applies a batch to a durable map (the simulator's and the tests' storage). */
export function applyWrites(state: Map<string, unknown>, writes: readonly DurableWrite[]): void {
  for (const w of writes) {
    if (w.value === null) state.delete(w.key);
    else state.set(w.key, w.value);
  }
}
