/**
 * The step executor: the one piece of code that carries out a protocol's outputs, shared by
 * every driver (the simulator, the runtime driver, the pair harness, the test and bench
 * harnesses), so that they cannot disagree about order, encoding or errors.
 *
 * - `drainOutputs(proto, sink, crashAfterOutputs?)` polls a protocol after one input and hands
 *   each output, IN ORDER, to the sink (core/protocol.ts, THE OUTPUT-ORDER CONTRACT). With
 *   `crashAfterOutputs` the step is cut short before that output (the simulator's crash between
 *   outputs): every later output is polled and lost, and the step's lazy persists no ordinary
 *   persist has followed yet are undone (core/protocol.ts, LAZY PERSISTS) through the undo
 *   functions the sink returned for them.
 * - `executeOutput(o, sink)` is the dispatch on the output's kind (a driver that queues outputs
 *   and carries them out later, as the runtime driver does after a commit, calls it then).
 * - `FrameEncoder` turns a send into its frame; a message that cannot be encoded (not plain
 *   data, too large) is a protocol bug and throws `SteadfastError('unencodable')` naming the
 *   message's kind, the same error in every driver.
 * - `decodeInbound` turns received bytes into a validated message or a drop reason, exactly as
 *   the simulator's receiver and a real node's do (frame → addressee → payload → `isMessage`).
 *   A remote's garbage never throws.
 *
 * No I/O here (lint): sinks do the I/O.
 */

import { SteadfastError } from './errors.ts';
import { decodeFrame, dropReasonOf, frameRoom, sealFrame, type FrameOptions } from './frame.ts';
import type { FrameRoom } from './frame.ts';
import type { NodeId } from './ids.ts';
import { PlainEncoder } from './msgpack.ts';
import { decodePayload, encodePayload } from './payload.ts';
import type { Output } from './protocol.ts';
import type { CrashPoint, DropReason } from './trace.ts';

export type SendOutput<M> = Extract<Output<M, never>, { readonly kind: 'send' }>;
export type SetTimerOutput = Extract<Output<never, never>, { readonly kind: 'setTimer' }>;
export type CancelTimerOutput = Extract<Output<never, never>, { readonly kind: 'cancelTimer' }>;
export type DeliverOutput<D> = Extract<Output<never, D>, { readonly kind: 'deliver' }>;
export type PersistOutput = Extract<Output<never, never>, { readonly kind: 'persist' }>;

/** Undoes one carried-out lazy persist (restores the keys it wrote). */
export type Undo = () => void;

/** Where a driver carries outputs out; each method gets the output object itself. */
export interface OutputSink<M, D> {
  send(o: SendOutput<M>): void;
  setTimer(o: SetTimerOutput): void;
  cancelTimer(o: CancelTimerOutput): void;
  deliver(o: DeliverOutput<D>): void;
  /**
   * Carries out a persist. `undoable` is true for a lazy persist in a step that may be cut
   * short: the sink then returns how to undo it (else its return value is ignored).
   */
  persist(o: PersistOutput, undoable: boolean): Undo | undefined;
}

/** What a step cut short by a crash lost (the simulator's `crash` trace event). */
export interface StepCrash {
  /** Outputs polled but never carried out (at least 1: the one the crash came before). */
  readonly lostOutputs: number;
  readonly after: CrashPoint;
  readonly before: CrashPoint;
  /** Writes of lazy persists undone (no ordinary persist of the step had followed them). */
  readonly lostWrites: number;
}

export function executeOutput<M, D>(o: Output<M, D>, sink: OutputSink<M, D>): void {
  switch (o.kind) {
    case 'send':
      sink.send(o);
      break;
    case 'setTimer':
      sink.setTimer(o);
      break;
    case 'cancelTimer':
      sink.cancelTimer(o);
      break;
    case 'deliver':
      sink.deliver(o);
      break;
    case 'persist':
      sink.persist(o, false);
      break;
  }
}

/**
 * Carries out every output `proto` has, in order. Returns undefined, or, when the step was cut
 * short before output number `crashAfterOutputs` (0-based count of outputs carried out), what
 * the crash lost; the caller then crashes the node.
 */
export function drainOutputs<M, D>(
  proto: { pollOutput(): Output<M, D> | undefined },
  sink: OutputSink<M, D>,
  crashAfterOutputs?: number,
): StepCrash | undefined {
  if (crashAfterOutputs === undefined) {
    for (let o = proto.pollOutput(); o !== undefined; o = proto.pollOutput())
      executeOutput(o, sink);
    return undefined;
  }
  let done = 0;
  let last: CrashPoint = 'input';
  /** Undo functions of the step's lazy writes no ordinary persist has made durable yet. */
  const undo: Undo[] = [];
  let lazyWrites = 0;
  for (let o = proto.pollOutput(); o !== undefined; o = proto.pollOutput()) {
    if (done === crashAfterOutputs) {
      let lostOutputs = 1;
      while (proto.pollOutput() !== undefined) lostOutputs++;
      for (let i = undo.length - 1; i >= 0; i--) undo[i]?.();
      return { lostOutputs, after: last, before: o.kind, lostWrites: lazyWrites };
    }
    if (o.kind === 'persist') {
      if (o.lazy === true) {
        const u = sink.persist(o, true);
        if (u !== undefined) undo.push(u);
        lazyWrites += o.writes.length;
      } else {
        undo.length = 0;
        lazyWrites = 0;
        sink.persist(o, false);
      }
    } else executeOutput(o, sink);
    last = o.kind;
    done++;
  }
  return undefined;
}

/** A short name of a message's kind for errors: its `type` or `kind` field, else its shape. */
export function messageKind(msg: unknown): string {
  if (typeof msg === 'object' && msg !== null && !Array.isArray(msg)) {
    const m = msg as { readonly type?: unknown; readonly kind?: unknown };
    if (typeof m.type === 'string') return m.type;
    if (typeof m.kind === 'string') return m.kind;
    return 'object';
  }
  return Array.isArray(msg) ? 'array' : typeof msg;
}

/**
 * Encodes messages into frames: the payload straight into the frame's buffer (one allocation,
 * no copy), the frame room computed once per (from, to). The bytes are exactly
 * `encodeFrame({ from, to, payload: encodePayload(msg) }, opts)`.
 */
export class FrameEncoder {
  private readonly encoder = new PlainEncoder();
  /** from → to → the room a frame needs around its payload (fixed by ids and options). */
  private readonly rooms = new Map<NodeId, Map<NodeId, FrameRoom>>();

  constructor(readonly opts: FrameOptions) {}

  /** The frame of `msg` from `from` to `to`; throws `SteadfastError('unencodable')`. */
  encode(from: NodeId, to: NodeId, msg: unknown): Uint8Array {
    try {
      let byTo = this.rooms.get(from);
      if (byTo === undefined) {
        byTo = new Map();
        this.rooms.set(from, byTo);
      }
      let room = byTo.get(to);
      if (room === undefined) {
        room = frameRoom(from, to, this.opts);
        byTo.set(to, room);
      }
      const bytes = this.encoder.encodeWithRoom(msg, room.before, room.after);
      return sealFrame(bytes, from, to, this.opts, room);
    } catch (err) {
      throw unencodable(from, to, msg, err);
    }
  }
}

/** The typed error of a message that cannot be encoded, with the reason (described in full). */
export function unencodable(from: NodeId, to: NodeId, msg: unknown, err: unknown): SteadfastError {
  let why = err instanceof SteadfastError ? `${err.code}: ${err.message}` : String(err);
  if (!(err instanceof SteadfastError)) {
    try {
      encodePayload(msg); // the slow path names the path and reason of what is not plain data
    } catch (e) {
      if (e instanceof SteadfastError) why = `${e.code}: ${e.message}`;
    }
  }
  return new SteadfastError(
    'unencodable',
    `cannot encode a '${messageKind(msg)}' message from ${from} to ${to}: ${why}`,
  );
}

/** What validates a decoded value as a message of the stack (a `StackSpec` is one). */
export interface MessageCheck<M> {
  isMessage(value: unknown): value is M;
}

/** A received frame: a validated message with its claimed sender, or why it is dropped. */
export type Inbound<M> =
  | { readonly ok: true; readonly from: NodeId; readonly msg: M }
  | {
      readonly ok: false;
      /** The sender the frame names, when the frame could be read at all. */
      readonly from: NodeId | undefined;
      readonly reason: DropReason;
      readonly detail: string;
    };

/**
 * Decodes a frame addressed to `self` into a message of `stack` (`isMessage`), or a drop:
 * checksum/auth/malformed from the frame, `malformed` for another addressee, an undecodable
 * payload or a value that is not a message of the stack. Never throws.
 */
export function decodeInbound<M>(
  bytes: Uint8Array,
  opts: FrameOptions,
  self: NodeId,
  stack: MessageCheck<M>,
): Inbound<M> {
  const res = decodeFrame(bytes, opts);
  if (!res.ok) {
    const c = res.error.code;
    return {
      ok: false,
      from: undefined,
      reason: dropReasonOf(c),
      detail: `${c}: ${res.error.detail}`,
    };
  }
  const from = res.frame.from;
  if (res.frame.to !== self) {
    return { ok: false, from, reason: 'malformed', detail: `frame addressed to ${res.frame.to}` };
  }
  const payload = decodePayload(res.frame.payload);
  if (!payload.ok) {
    const detail = `${payload.error.code}: ${payload.error.detail}`;
    return { ok: false, from, reason: 'malformed', detail };
  }
  return checkInbound(from, payload.value, stack);
}

/** The last step of `decodeInbound`, alone for drivers that pass objects (`wire.encode: false`). */
export function checkInbound<M>(from: NodeId, value: unknown, stack: MessageCheck<M>): Inbound<M> {
  return stack.isMessage(value)
    ? { ok: true, from, msg: value }
    : { ok: false, from, reason: 'malformed', detail: 'not a message of this stack' };
}
