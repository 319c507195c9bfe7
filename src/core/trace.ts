/**
 * The trace: every event of a run as plain data, in the order it happened.
 *
 * Guarantees: events are JSON-serialisable plain objects with the (virtual or real) time `t` in
 * milliseconds; within one run `t` never decreases; the schema below is stable (checkers,
 * diagrams and `replay` are built on it; add fields, never rename). A message is identified by
 * the wire id `id` the driver gave its `send`; every copy the network makes of it (duplicates)
 * carries the same `id` and its own `copy` number (0 is the original).
 * Assumes: protocol messages, commands, deliveries and records are plain data.
 */

import type { NodeId } from './ids.ts';

export type DropReason =
  | 'loss' // the network lost it (fair-loss omission)
  | 'partition' // a partition blocked the link at send time
  | 'node-down' // the receiver was crashed when it arrived
  | 'checksum' // corruption caught by the CRC32C (corruption degraded to omission)
  | 'auth' // HMAC missing or wrong: forged or tampered
  | 'malformed'; // undecodable frame or payload, or not a message of this stack

export type TraceEvent =
  /** A node (re)started; `incarnation` counts restarts, `records` is how many durable keys it found. */
  | { t: number; type: 'start'; node: NodeId; incarnation: number; records: number }
  /** The application gave a node a command. `accepted` is false when the node was down. */
  | { t: number; type: 'command'; node: NodeId; cmd: unknown; accepted: boolean }
  /**
   * A node handed a message to the network. `bytes` is the encoded frame size (0 if unencoded).
   * Adversary injections are sends too: `claimedFrom` marks a forgery (the frame names another
   * sender), `replayOf` a replay of the frame of an earlier send.
   */
  | {
      t: number;
      type: 'send';
      id: number;
      from: NodeId;
      to: NodeId;
      msg: unknown;
      bytes: number;
      claimedFrom?: NodeId;
      replayOf?: number;
    }
  /** A copy of a message did not reach the protocol. */
  | {
      t: number;
      type: 'drop';
      id: number;
      copy: number;
      from: NodeId;
      to: NodeId;
      reason: DropReason;
      detail?: string;
    }
  /** The network made `copies` extra copies of a message. */
  | { t: number; type: 'duplicate'; id: number; from: NodeId; to: NodeId; copies: number }
  /** The network flipped bits in a copy's frame (`bits` are bit offsets into the frame). */
  | {
      t: number;
      type: 'corrupt';
      id: number;
      copy: number;
      from: NodeId;
      to: NodeId;
      bits: number[];
    }
  /**
   * A copy reached the receiving protocol (deliver-to-node). `msg` is what the receiver decoded,
   * which differs from the sent message if corruption went undetected; `claimedFrom` is the
   * sender named in the frame when it differs from the real sender (forgery).
   */
  | {
      t: number;
      type: 'receive';
      id: number;
      copy: number;
      from: NodeId;
      to: NodeId;
      msg: unknown;
      claimedFrom?: NodeId;
    }
  /** A protocol delivered an event to its application (deliver-to-app). */
  | { t: number; type: 'deliver'; node: NodeId; event: unknown }
  /** A protocol's named timer fired. */
  | { t: number; type: 'timer'; node: NodeId; name: string }
  /**
   * A protocol made a batch of key writes durable (value null: key deleted). `lazy`: a lazy
   * persist (core/protocol.ts), which a crash later in the same step may undo (`crash.lostWrites`).
   */
  | {
      t: number;
      type: 'persist';
      node: NodeId;
      writes: readonly { key: string; value: unknown }[];
      lazy?: true;
    }
  /**
   * A node crashed; volatile state and timers are lost. `lostOutputs` counts outputs of the
   * interrupted step that were never carried out. For a crash between outputs, `after` is the
   * kind of the last output carried out (`input` if none) and `before` the first one lost;
   * `lostWrites` counts the writes of the step's lazy persists the crash undid (absent: none).
   */
  | {
      t: number;
      type: 'crash';
      node: NodeId;
      lostOutputs: number;
      lostWrites?: number;
      after?: CrashPoint;
      before?: CrashPoint;
    }
  /** A crashed node comes back (followed by its `start`). */
  | { t: number; type: 'recover'; node: NodeId }
  /** The set of blocked directed links changed; `blocked` lists them all as [from, to]. */
  | { t: number; type: 'partition'; blocked: [NodeId, NodeId][] }
  /** Network fault settings changed (`link` absent: the default for every link). */
  | { t: number; type: 'network'; link?: [NodeId, NodeId]; faults: unknown }
  /** Free-form annotation (phase changes such as "liveness phase begins"). */
  | { t: number; type: 'note'; text: string };

export type TraceEventType = TraceEvent['type'];

/** Where in a step a crash hit: after the input (before any output) or after an output kind. */
export type CrashPoint = 'input' | 'send' | 'setTimer' | 'cancelTimer' | 'deliver' | 'persist';

/** JSON replacer that keeps byte arrays readable (`{"$hex": "…"}`) in JSON Lines traces. */
export function traceReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) {
    let hex = '';
    for (const b of value) hex += b.toString(16).padStart(2, '0');
    return { $hex: hex };
  }
  return value;
}

/** One JSON Lines document for a list of events (one event per line, newline-terminated). */
export function toJsonLines(events: readonly unknown[]): string {
  let out = '';
  for (const e of events) out += JSON.stringify(e, traceReplacer) + '\n';
  return out;
}

/** The trace event of a `persist` output, marked `lazy` when it is one. */
export function persistEvent(
  t: number,
  node: NodeId,
  o: { readonly writes: readonly { key: string; value: unknown }[]; readonly lazy?: true },
): TraceEvent {
  return o.lazy === true
    ? { t, type: 'persist', node, writes: o.writes, lazy: true }
    : { t, type: 'persist', node, writes: o.writes };
}
