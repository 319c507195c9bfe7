/**
 * Trace checkers for the broadcast abstractions (Cachin, Guerraoui & Rodrigues, "Introduction to
 * Reliable and Secure Distributed Programming", ch. 3):
 *
 *   validity (liveness)          `bebValidity` (BEB1/RB1/URB1/BRB1): if a correct process
 *                                broadcasts m, every correct process delivers m (after the
 *                                broadcast; the broadcaster included).
 *   no duplication (safety)      `bcastNoDuplication` (BEB2/RB2/URB2): no process delivers a
 *                                message more than once.
 *   no creation (safety)         `bcastNoCreation` (BEB3/RB3/URB3): if a process delivers m with
 *                                origin s, then s broadcast m earlier. With Byzantine processes,
 *                                only deliveries at honest processes of messages whose origin is
 *                                correct are checked (BRB3: a Byzantine origin may "broadcast"
 *                                anything).
 *   agreement (liveness)         `agreement` (RB4): if a correct process delivers m, every
 *                                correct process delivers m.
 *   uniform agreement (liveness) `uniformAgreement` (URB4): if ANY process delivers m (even one
 *                                that crashes later), every correct process delivers m.
 *   FIFO delivery (safety)       `fifoDelivery` (FRB5): if a process broadcasts m1 before m2, no
 *                                process delivers m2 unless it already delivered m1.
 *   causal delivery (safety)     `causalDelivery` (CRB5): if broadcast(m1) happened-before
 *                                broadcast(m2), no process delivers m2 unless it already
 *                                delivered m1. Happened-before is the transitive closure of
 *                                "m1 was broadcast, or delivered, at the process that later
 *                                broadcast m2".
 *   BRB consistency (safety)     `brbConsistency` (BRB4): no two correct processes deliver
 *                                different payloads for the same (origin, n).
 *   BRB totality (liveness)      `brbTotality` (BRB5): if a correct process delivers a message
 *                                for (origin, n), every correct process delivers a message for
 *                                (origin, n).
 *   BRB integrity (safety)       `brbIntegrity`: every correct process delivers at most one
 *                                message per (origin, n) (whatever the payloads).
 *
 * `checkBroadcast(trace, kind)` returns the contract of each abstraction (see `CONTRACT` below).
 *
 * What the checkers read (the conventions of links.ts, see src/check/verdict.ts):
 *   - a broadcast is a `command` event with `accepted: true` and `cmd = { type: 'broadcast',
 *     payload }`, by `event.node` (its origin). A rejected command (node down) was never
 *     broadcast; one whose step a crash cut short (`crash` with `lostOutputs > 0` before the
 *     node's next input) is in doubt: validity does not require it, no creation accepts
 *     deliveries of it, and it still orders later broadcasts (FIFO, causal);
 *   - a delivery is a `deliver` event whose `event` is `{ type: 'deliver', origin, n, payload }`,
 *     at `event.node`.
 * IDENTITIES. A delivered message is the slot (origin, n) the abstraction numbers it by; its
 * payload is its content. A delivery is matched to the broadcast of its origin whose payload it
 * carries (canonical JSON; the workload gives every broadcast a unique payload per origin), so a
 * delivery with content nobody broadcast is a creation, never a duplicate of another forgery with
 * the same text. No duplication judges slots (and, for an honest origin's genuine broadcasts, the
 * content too); BRB consistency, integrity and totality judge slots only, since a Byzantine
 * origin may equivocate (several payloads for one n).
 * BYZANTINE ORIGINS. The textbook binds a Byzantine origin's messages only by BRB's slot
 * properties (no duplication, integrity, consistency, totality): agreement, uniform agreement,
 * FIFO and causal order and no creation judge the messages of honest origins only.
 *
 * Which processes count (option `correct`, as in links.ts): 'never-crashed' (default, crash-stop),
 * 'up-at-end' (crash-recover) or an explicit list; nodes in `byzantine` are never correct and
 * their own deliveries are ignored by every checker (a Byzantine process may "deliver" anything).
 * The other ("honest") processes are bound by the safety properties stated for every process
 * (no duplication, no creation, FIFO, causal) even if they crash; BRB properties bind correct
 * processes only, as the book states them. The set of processes is every node the trace mentions
 * (`start`, commands, deliveries, crashes, sends, receipts) unless `nodes` lists them.
 *
 * Guarantees: one pass indexes the trace (`indexBroadcastTrace`; pass the index to several
 * checkers to share it), then each checker makes one pass over the broadcasts and deliveries with
 * arrays and Maps keyed by interned ids: linear in the trace length (times the number of nodes
 * for the liveness properties and the causal vector clocks). Each checker reports the FIRST
 * violation: for safety the one that completes earliest in trace order, for liveness the
 * earliest broadcast (validity) or delivery (agreement, totality) whose obligation was not met
 * by the end of the trace.
 * Assumes: unique payloads per origin. If two accepted broadcasts share an identity, every
 * checker but the (origin, n)-based BRB ones returns a failed `workload-unique` verdict instead of
 * its own (a delivery could not be matched to its broadcast).
 *
 * SIZE. Over 600 lines: the broadcast properties share one index of the trace and its process
 * sets, and about half the file is their contracts (the book's definitions, quoted).
 */

import type { NodeId } from '../core/ids.ts';
import type { TraceEvent } from '../core/trace.ts';
import type { CorrectSpec } from './links.ts';
import { canonicalJson, fail, pass, shortJson, type Verdict } from './verdict.ts';

export interface BroadcastCheckOptions {
  /** Which processes are correct (default 'never-crashed'); see links.ts. */
  readonly correct?: CorrectSpec;
  /** Byzantine processes: never correct, and their deliveries are ignored. */
  readonly byzantine?: readonly NodeId[];
  /** Every process of the run (default: every node the trace mentions). */
  readonly nodes?: readonly NodeId[];
}

type CommandEvent = Extract<TraceEvent, { type: 'command' }>;
type DeliverEvent = Extract<TraceEvent, { type: 'deliver' }>;

/** An accepted broadcast command. */
export interface Broadcast {
  readonly index: number;
  readonly event: CommandEvent;
  readonly origin: NodeId;
  readonly payload: unknown;
  /** Message id: equal ids, equal identities (origin, payload). */
  readonly msg: number;
  /** Position among the origin's accepted broadcasts (0, 1, …): the broadcast order. */
  readonly rank: number;
  /** Position in `BroadcastIndex.broadcasts`. */
  readonly ordinal: number;
  /** The origin crashed in the middle of this command's step (see `bebValidity`). */
  interrupted: boolean;
}

/** A `deliver` event of a broadcast message at `node`. */
export interface Delivery {
  readonly index: number;
  readonly event: DeliverEvent;
  readonly node: NodeId;
  readonly origin: NodeId;
  /** The origin's broadcast number, as delivered (BRB slots). */
  readonly n: unknown;
  readonly payload: unknown;
  readonly msg: number;
  /** When the node delivered this message before: its first delivery there (a duplicate). */
  readonly previous: Delivery | undefined;
  /** The (origin, n) slot: equal slots, equal message identities as the abstraction numbers them. */
  readonly slot: number;
  /** When the node delivered this slot before: its first delivery of it there. */
  readonly previousSlot: Delivery | undefined;
}

/** What every broadcast checker needs from a trace, gathered in one pass. */
export interface BroadcastIndex {
  readonly kind: 'broadcast-index';
  /** Every node the trace mentions, in order of first mention. */
  readonly nodes: readonly NodeId[];
  /** How many distinct message identities (broadcast, rejected or delivered). */
  readonly messages: number;
  /** The accepted broadcast of each message id (the first one if the workload repeats one). */
  readonly broadcastOf: readonly (Broadcast | undefined)[];
  /** Accepted broadcasts in trace order. */
  readonly broadcasts: readonly Broadcast[];
  /** Each origin's accepted broadcasts in order (index = rank). */
  readonly byOrigin: ReadonlyMap<NodeId, readonly Broadcast[]>;
  /** The first two accepted broadcasts that share an identity, if any. */
  /**
   * Every accepted broadcast that repeats an earlier one's identity, with that earlier one. A
   * Byzantine origin may repeat itself; an honest one repeating makes deliveries unmatchable.
   */
  readonly repeats: readonly (readonly [Broadcast, Broadcast])[];
  /** Index of the first rejected (node down) broadcast of each message id: for messages. */
  readonly rejected: ReadonlyMap<number, number>;
  /** Deliveries in trace order. */
  readonly deliveries: readonly Delivery[];
  /** Per node: message id → its first delivery there. */
  readonly firstDelivery: ReadonlyMap<NodeId, ReadonlyMap<number, Delivery>>;
  /** How many distinct (origin, n) slots were delivered. */
  readonly slots: number;
  /** Per node: message id → trace index of its last delivery there, for repeated ones only. */
  readonly lastRepeat: ReadonlyMap<NodeId, ReadonlyMap<number, number>>;
  readonly lastCrash: ReadonlyMap<NodeId, number>;
  readonly lastStart: ReadonlyMap<NodeId, number>;
}

/** A trace, or a trace already indexed (to check several properties with one pass). */
export type BroadcastTraceInput = readonly TraceEvent[] | BroadcastIndex;

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
}

function getOrCreate<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
}

/** Gathers broadcasts, deliveries, nodes and crash/start positions in one pass over the trace. */
export function indexBroadcastTrace(trace: readonly TraceEvent[]): BroadcastIndex {
  const nodeSet = new Set<NodeId>();
  const nodes: NodeId[] = [];
  const see = (n: NodeId): void => {
    if (!nodeSet.has(n)) {
      nodeSet.add(n);
      nodes.push(n);
    }
  };
  // Interning: origin → payload → message id. String payloads (the common case) are their own
  // key, which spares building their JSON; other payloads are keyed by canonical JSON in a map of
  // their own, so the string "1" and the number 1 stay different messages.
  const msgIds = new Map<NodeId, { str: Map<string, number>; json: Map<string, number> }>();
  let messages = 0;
  const msgId = (origin: NodeId, payload: unknown): number => {
    let byOrigin = msgIds.get(origin);
    if (byOrigin === undefined) {
      byOrigin = { str: new Map(), json: new Map() };
      msgIds.set(origin, byOrigin);
    }
    const isString = typeof payload === 'string';
    const ids = isString ? byOrigin.str : byOrigin.json;
    const key = isString ? payload : canonicalJson(payload);
    let id = ids.get(key);
    if (id === undefined) {
      id = messages++;
      ids.set(key, id);
    }
    return id;
  };
  const slotIds = new Map<NodeId, Map<unknown, number>>();
  let slots = 0;
  const slotId = (origin: NodeId, n: unknown): number => {
    const mine = getOrCreate(slotIds, origin, () => new Map<unknown, number>());
    const key = typeof n === 'number' ? n : canonicalJson(n);
    let id = mine.get(key);
    if (id === undefined) {
      id = slots++;
      mine.set(key, id);
    }
    return id;
  };
  const firstSlot = new Map<NodeId, Map<number, Delivery>>();
  const broadcastOf: (Broadcast | undefined)[] = [];
  const broadcasts: Broadcast[] = [];
  const byOrigin = new Map<NodeId, Broadcast[]>();
  const repeats: [Broadcast, Broadcast][] = [];
  const rejected = new Map<number, number>();
  const deliveries: Delivery[] = [];
  const firstDelivery = new Map<NodeId, Map<number, Delivery>>();
  const lastRepeat = new Map<NodeId, Map<number, number>>();
  const lastCrash = new Map<NodeId, number>();
  const lastStart = new Map<NodeId, number>();
  /** Per node, the broadcast it handled last, if its last input was one. */
  const lastInput = new Map<NodeId, Broadcast>();
  for (let index = 0; index < trace.length; index++) {
    const event = trace[index] as TraceEvent;
    switch (event.type) {
      case 'command': {
        see(event.node);
        if (event.accepted) lastInput.delete(event.node);
        const cmd = asRecord(event.cmd);
        if (cmd?.type !== 'broadcast' || !('payload' in cmd)) break;
        const origin = event.node;
        const msg = msgId(origin, cmd.payload);
        if (!event.accepted) {
          if (!rejected.has(msg)) rejected.set(msg, index);
          break;
        }
        const own = getOrCreate(byOrigin, origin, () => []);
        const b: Broadcast = {
          index,
          event,
          origin,
          payload: cmd.payload,
          msg,
          rank: own.length,
          ordinal: broadcasts.length,
          interrupted: false,
        };
        const earlier = broadcastOf[msg];
        if (earlier !== undefined) {
          repeats.push([earlier, b]);
          break; // not a new message: it gets no rank of its own
        }
        broadcastOf[msg] = b;
        own.push(b);
        broadcasts.push(b);
        lastInput.set(origin, b);
        break;
      }
      case 'deliver': {
        see(event.node);
        const d = asRecord(event.event);
        if (d?.type !== 'deliver' || typeof d.origin !== 'string' || !('payload' in d)) break;
        see(d.origin);
        const msg = msgId(d.origin, d.payload);
        let first = firstDelivery.get(event.node);
        if (first === undefined) {
          first = new Map<number, Delivery>();
          firstDelivery.set(event.node, first);
        }
        const previous = first.get(msg);
        const slot = slotId(d.origin, d.n);
        const seenSlots = getOrCreate(firstSlot, event.node, () => new Map<number, Delivery>());
        const previousSlot = seenSlots.get(slot);
        const delivery: Delivery = {
          index,
          event,
          node: event.node,
          origin: d.origin,
          n: d.n,
          payload: d.payload,
          msg,
          previous,
          slot,
          previousSlot,
        };
        deliveries.push(delivery);
        if (previousSlot === undefined) seenSlots.set(slot, delivery);
        if (previous === undefined) first.set(msg, delivery);
        else getOrCreate(lastRepeat, event.node, () => new Map<number, number>()).set(msg, index);
        break;
      }
      case 'crash': {
        see(event.node);
        lastCrash.set(event.node, index);
        // Outputs lost: the crash cut short the step of the node's last input.
        const cut = lastInput.get(event.node);
        if (cut !== undefined && event.lostOutputs > 0) cut.interrupted = true;
        lastInput.delete(event.node);
        break;
      }
      case 'start':
        see(event.node);
        lastStart.set(event.node, index);
        lastInput.delete(event.node);
        break;
      case 'recover':
        see(event.node);
        break;
      case 'timer':
        lastInput.delete(event.node);
        break;
      case 'receive':
        see(event.from);
        see(event.to);
        lastInput.delete(event.to);
        break;
      case 'send':
        see(event.from);
        see(event.to);
        break;
      default:
        break;
    }
  }
  broadcastOf.length = messages; // one slot per message id (holes read as undefined)
  return {
    kind: 'broadcast-index',
    nodes,
    messages,
    slots,
    broadcastOf,
    broadcasts,
    byOrigin,
    repeats,
    rejected,
    deliveries,
    firstDelivery,
    lastRepeat,
    lastCrash,
    lastStart,
  };
}

function toIndex(input: BroadcastTraceInput): BroadcastIndex {
  return Array.isArray(input) ? indexBroadcastTrace(input) : (input as BroadcastIndex);
}

/** Who counts: the correct processes (as a predicate and in node order) and the honest ones. */
interface Processes {
  readonly correct: (node: NodeId) => boolean;
  /** The correct processes, in the order of `opts.nodes`, the list, or first mention. */
  readonly correctList: readonly NodeId[];
  /** Not Byzantine (crashed processes included). */
  readonly honest: (node: NodeId) => boolean;
  readonly anyByzantine: boolean;
}

/** The same predicates as links.ts `correctProcesses`, minus the Byzantine nodes. */
function processes(ix: BroadcastIndex, opts: BroadcastCheckOptions): Processes {
  const byz = new Set(opts.byzantine ?? []);
  const honest = (node: NodeId): boolean => !byz.has(node);
  const spec = opts.correct ?? 'never-crashed';
  let base: (node: NodeId) => boolean;
  let candidates: readonly NodeId[] = opts.nodes ?? ix.nodes;
  if (spec === 'never-crashed') {
    base = (node) => !ix.lastCrash.has(node);
  } else if (spec === 'up-at-end') {
    base = (node) => {
      const crash = ix.lastCrash.get(node);
      return crash === undefined || (ix.lastStart.get(node) ?? -1) > crash;
    };
  } else {
    const set = new Set(spec);
    base = (node) => set.has(node);
    candidates = spec;
  }
  const correct = (node: NodeId): boolean => honest(node) && base(node);
  return { correct, correctList: candidates.filter(correct), honest, anyByzantine: byz.size > 0 };
}

/** The position and event of a broadcast or delivery, as a verdict lists it. */
/**
 * What every checker starts from: the trace's index and its process sets, or, when the workload
 * broadcasts a payload twice from one origin (so deliveries cannot be told apart), the verdict
 * that says so.
 */
function prepare(
  trace: BroadcastTraceInput,
  opts: BroadcastCheckOptions,
): { readonly verdict: Verdict } | { readonly ix: BroadcastIndex; readonly ps: Processes } {
  const ix = toIndex(trace);
  const unique = broadcastWorkloadUnique(ix, opts);
  return unique !== undefined ? { verdict: unique } : { ix, ps: processes(ix, opts) };
}

function at(x: { index: number; event: TraceEvent }): { index: number; event: TraceEvent } {
  return { index: x.index, event: x.event };
}

function describeMsg(m: { origin: NodeId; payload: unknown }): string {
  return `${shortJson(m.payload)} of ${m.origin}`;
}

/**
 * The `workload-unique` verdict when two accepted broadcasts of an honest origin share an
 * identity, else undefined (a Byzantine origin's broadcasts are its own business).
 */
export function broadcastWorkloadUnique(
  input: BroadcastTraceInput,
  opts: BroadcastCheckOptions = {},
): Verdict | undefined {
  const ix = toIndex(input);
  const byz = opts.byzantine ?? [];
  const pair = ix.repeats.find(([x]) => !byz.includes(x.origin));
  if (pair === undefined) return undefined;
  const [a, b] = pair;
  return fail(
    'workload-unique',
    'safety',
    ix.broadcasts.length,
    `${describeMsg(a)} broadcast twice (#${a.index} and #${b.index}): deliveries cannot be ` +
      'matched to broadcasts; give every broadcast a unique payload per origin',
    [at(a), at(b)],
  );
}

/** Trace index of the last delivery of `msg` at `node`, or -1. */
function lastDeliveryAt(ix: BroadcastIndex, node: NodeId, msg: number): number {
  return ix.lastRepeat.get(node)?.get(msg) ?? ix.firstDelivery.get(node)?.get(msg)?.index ?? -1;
}

function notDelivered(ix: BroadcastIndex, nodes: readonly NodeId[], msg: number): NodeId[] {
  return nodes.filter((q) => ix.firstDelivery.get(q)?.has(msg) !== true);
}

/**
 * Validity (liveness; BEB1, RB1, URB1, BRB1): every accepted broadcast by a correct process is
 * delivered by every correct process (itself included) after it was broadcast, by the end of the
 * trace. The violation is the earliest such broadcast that some correct process never delivered.
 * A broadcast whose step the origin's crash cut short is in doubt and not owed, even when the
 * origin counts as correct ('up-at-end'), like a link send in links.ts.
 */
export function bebValidity(trace: BroadcastTraceInput, opts: BroadcastCheckOptions = {}): Verdict {
  const p = prepare(trace, opts);
  if ('verdict' in p) return p.verdict;
  const { ix, ps } = p;
  const property = 'validity';
  let checked = 0;
  for (const b of ix.broadcasts) {
    if (!ps.correct(b.origin) || b.interrupted) continue;
    checked++;
    const missing = ps.correctList.filter((q) => lastDeliveryAt(ix, q, b.msg) <= b.index);
    if (missing.length === 0) continue;
    return fail(
      property,
      'liveness',
      checked,
      `${describeMsg(b)} broadcast at #${b.index} (t=${b.event.t}) by a correct process was ` +
        `never delivered (after it) by correct ${missing.join(', ')}`,
      [at(b)],
    );
  }
  return pass(property, 'liveness', checked);
}

/**
 * No duplication (safety; BEB2, RB2, URB2, BRB2): no honest process delivers a message twice. A
 * message is what the abstraction numbers: the slot (origin, n). An honest origin's broadcast is
 * also one message whatever slot carries it, so delivering its payload in two slots is a
 * duplicate too (a recovered crash-stop origin that numbers afresh); two slots that carry equal
 * text NOT broadcast as such (a liar's forgeries) are two messages, and no creation's business.
 * The violation shows the first delivery and the earliest repeat.
 */
export function bcastNoDuplication(
  trace: BroadcastTraceInput,
  opts: BroadcastCheckOptions = {},
): Verdict {
  const p = prepare(trace, opts);
  if ('verdict' in p) return p.verdict;
  const { ix, ps } = p;
  const property = 'no-duplication';
  let checked = 0;
  for (const d of ix.deliveries) {
    if (!ps.honest(d.node)) continue;
    checked++;
    const again = d.previousSlot;
    if (again !== undefined) {
      return fail(
        property,
        'safety',
        checked,
        `${d.node} delivered ${describeSlot(d)} twice: ${shortJson(again.payload)} (#${again.index}) ` +
          `and ${shortJson(d.payload)} (#${d.index})`,
        [at(again), at(d)],
      );
    }
    const first = d.previous;
    if (first === undefined || !ps.honest(d.origin) || ix.broadcastOf[d.msg] === undefined) {
      continue;
    }
    return fail(
      property,
      'safety',
      checked,
      `${d.node} delivered ${describeMsg(d)} twice, as ${describeSlot(first)} (#${first.index}) ` +
        `and as ${describeSlot(d)} (#${d.index})`,
      [at(first), at(d)],
    );
  }
  return pass(property, 'safety', checked);
}

/**
 * No creation (safety; BEB3, RB3, URB3, BRB3): every delivery at an honest process of a message
 * with origin s matches an accepted broadcast by s earlier in the trace. With Byzantine processes
 * (`byzantine` non-empty) only messages whose origin is correct are checked. The violation is
 * the delivery.
 */
export function bcastNoCreation(
  trace: BroadcastTraceInput,
  opts: BroadcastCheckOptions = {},
): Verdict {
  const p = prepare(trace, opts);
  if ('verdict' in p) return p.verdict;
  const { ix, ps } = p;
  const property = 'no-creation';
  let checked = 0;
  for (const d of ix.deliveries) {
    if (!ps.honest(d.node) || !ps.honest(d.origin)) continue;
    if (ps.anyByzantine && !ps.correct(d.origin)) continue;
    checked++;
    const b = ix.broadcastOf[d.msg];
    if (b !== undefined && b.index < d.index) continue;
    const rejected = ix.rejected.get(d.msg);
    const why =
      b !== undefined
        ? `its broadcast comes later, at #${b.index}`
        : rejected !== undefined
          ? `the only such command, at #${rejected}, was rejected`
          : `${d.origin} never broadcast it before`;
    return fail(
      property,
      'safety',
      checked,
      `${d.node} delivered ${describeMsg(d)} at #${d.index}, but ${why}`,
      [at(d)],
    );
  }
  return pass(property, 'safety', checked);
}

/** The first delivery (per message) accepted by `include` that some correct process lacks. */
function checkAgreement(
  property: string,
  ix: BroadcastIndex,
  ps: Processes,
  include: (d: Delivery) => boolean,
  who: (d: Delivery) => string,
): Verdict {
  const done = new Uint8Array(ix.messages);
  let checked = 0;
  for (const d of ix.deliveries) {
    if (done[d.msg] === 1 || !include(d)) continue;
    done[d.msg] = 1;
    checked++;
    const missing = notDelivered(ix, ps.correctList, d.msg);
    if (missing.length === 0) continue;
    return fail(
      property,
      'liveness',
      checked,
      `${who(d)} ${d.node} delivered ${describeMsg(d)} at #${d.index} (t=${d.event.t}), ` +
        `but correct ${missing.join(', ')} never did`,
      [at(d)],
    );
  }
  return pass(property, 'liveness', checked);
}

/**
 * Agreement (liveness; RB4): every message delivered by a correct process is delivered by every
 * correct process by the end of the trace. The violation is the earliest delivery, at a correct
 * process, of a message some correct process never delivered.
 */
export function agreement(trace: BroadcastTraceInput, opts: BroadcastCheckOptions = {}): Verdict {
  const p = prepare(trace, opts);
  if ('verdict' in p) return p.verdict;
  const { ix, ps } = p;
  return checkAgreement(
    'agreement',
    ix,
    ps,
    (d) => ps.correct(d.node) && ps.honest(d.origin),
    () => 'correct',
  );
}

/**
 * Uniform agreement (liveness; URB4): every message delivered by any honest process, even one
 * that crashed later, is delivered by every correct process by the end of the trace. The
 * violation is the earliest delivery of a message some correct process never delivered.
 */
export function uniformAgreement(
  trace: BroadcastTraceInput,
  opts: BroadcastCheckOptions = {},
): Verdict {
  const p = prepare(trace, opts);
  if ('verdict' in p) return p.verdict;
  const { ix, ps } = p;
  return checkAgreement(
    'uniform-agreement',
    ix,
    ps,
    (d) => ps.honest(d.node) && ps.honest(d.origin),
    (d) => (ps.correct(d.node) ? 'correct' : 'faulty'),
  );
}

/** The delivery counts: the first delivery at a node of a message broadcast before it. */
function broadcastBefore(ix: BroadcastIndex, d: Delivery): Broadcast | undefined {
  const b = ix.broadcastOf[d.msg];
  return b !== undefined && b.index < d.index ? b : undefined;
}

/**
 * FIFO delivery (safety; FRB5): if a process broadcasts m1 before m2, no honest process delivers
 * m2 unless it has already delivered m1. The violation is the earliest delivery of some m2 whose
 * predecessor m1 (the earliest one missing) was not delivered there before, with the two
 * broadcasts. Deliveries of messages not broadcast before them are no creation's business.
 */
export function fifoDelivery(
  trace: BroadcastTraceInput,
  opts: BroadcastCheckOptions = {},
): Verdict {
  const p = prepare(trace, opts);
  if ('verdict' in p) return p.verdict;
  const { ix, ps } = p;
  const property = 'fifo-delivery';
  // Up to the first violation every node delivers each origin's messages in rank order, so one
  // counter per (node, origin) holds how many of them it has delivered: a prefix.
  const delivered = new Map<NodeId, Map<NodeId, number>>();
  let checked = 0;
  for (const d of ix.deliveries) {
    if (!ps.honest(d.node)) continue;
    const b = broadcastBefore(ix, d);
    // A Byzantine origin's order is its own to choose (FRB5 binds broadcasts of honest origins).
    if (b === undefined || !ps.honest(b.origin)) continue;
    const counts = getOrCreate(delivered, d.node, () => new Map<NodeId, number>());
    const w = counts.get(b.origin) ?? 0;
    if (b.rank < w) continue; // a repeat: no duplication's business
    checked++;
    if (b.rank > w) {
      const m1 = ix.byOrigin.get(b.origin)?.[w];
      if (m1 !== undefined) {
        return fail(
          property,
          'safety',
          checked,
          `${d.node} delivered ${describeMsg(b)} (#${d.index}) before ${describeMsg(m1)}, ` +
            `which ${b.origin} broadcast first (#${m1.index} before #${b.index})`,
          [at(m1), at(b), at(d)],
        );
      }
    }
    counts.set(b.origin, w + 1);
  }
  return pass(property, 'safety', checked);
}

/**
 * Causal delivery (safety; CRB5): if the broadcast of m1 happened-before the broadcast of m2, no
 * honest process delivers m2 unless it has already delivered m1. Happened-before is computed from
 * the trace with vector clocks over broadcast ranks: a broadcast depends on every earlier
 * broadcast of its origin, on every message its origin delivered before it, and transitively on
 * their dependencies. The violation is the earliest delivery of some m2 at a process that had not
 * delivered one of its causal predecessors m1, shown with the two broadcasts (m1 is the earliest
 * missing message of the first origin, in node order, with one missing).
 */
export function causalDelivery(
  trace: BroadcastTraceInput,
  opts: BroadcastCheckOptions = {},
): Verdict {
  const p = prepare(trace, opts);
  if ('verdict' in p) return p.verdict;
  const { ix, ps } = p;
  const property = 'causal-delivery';
  const width = ix.nodes.length;
  const col = new Map<NodeId, number>();
  ix.nodes.forEach((n, i) => col.set(n, i));
  /** Row `ordinal` of `deps`: how many broadcasts of each origin precede that broadcast causally. */
  const deps = new Int32Array(ix.broadcasts.length * width);
  /** Per node: the causal past of its next event (vector clock) and its delivered prefixes. */
  const clock = new Map<NodeId, Int32Array>();
  const prefix = new Map<NodeId, Int32Array>();
  const vector = (m: Map<NodeId, Int32Array>, node: NodeId): Int32Array =>
    getOrCreate(m, node, () => new Int32Array(width));
  let checked = 0;
  let bi = 0;
  const bs = ix.broadcasts;
  const stamp = (b: Broadcast): void => {
    const oc = col.get(b.origin) ?? 0;
    const vc = vector(clock, b.origin);
    deps.set(vc, b.ordinal * width);
    // Program order: the origin's own earlier broadcasts precede this one.
    deps[b.ordinal * width + oc] = b.rank;
    vc[oc] = Math.max(vc[oc] ?? 0, b.rank + 1);
  };
  for (const d of ix.deliveries) {
    // Broadcasts and deliveries are both in trace order: merge them.
    for (let b = bs[bi]; b !== undefined && b.index < d.index; b = bs[++bi]) {
      if (ps.honest(b.origin)) stamp(b);
    }
    if (!ps.honest(d.node)) continue;
    const b = broadcastBefore(ix, d);
    if (b === undefined || !ps.honest(b.origin)) continue;
    const oc = col.get(b.origin) ?? 0;
    const have = vector(prefix, d.node);
    if (b.rank < (have[oc] ?? 0)) continue; // a repeat: no duplication's business
    checked++;
    const row = b.ordinal * width;
    for (let j = 0; j < width; j++) {
      const need = deps[row + j] ?? 0;
      const got = have[j] ?? 0;
      if (got >= need) continue;
      const o = ix.nodes[j] as NodeId;
      const m1 = ix.byOrigin.get(o)?.[got];
      if (m1 === undefined) continue;
      const how =
        o === b.origin
          ? `${o} broadcast it first (#${m1.index} before #${b.index})`
          : `though the broadcast of the latter (#${m1.index}) happened-before that of the ` +
            `former (#${b.index})`;
      return fail(
        property,
        'safety',
        checked,
        `${d.node} delivered ${describeMsg(b)} (#${d.index}) before ${describeMsg(m1)}, ` + how,
        [at(m1), at(b), at(d)],
      );
    }
    // Delivered: the prefix of this origin grows by one, and the node's causal past absorbs m2's.
    have[oc] = b.rank + 1;
    const vc = vector(clock, d.node);
    for (let j = 0; j < width; j++) vc[j] = Math.max(vc[j] ?? 0, deps[row + j] ?? 0);
    vc[oc] = Math.max(vc[oc] ?? 0, b.rank + 1);
  }
  return pass(property, 'safety', checked);
}

function describeSlot(d: Delivery): string {
  return `(${d.origin}, ${shortJson(d.n)})`;
}

/**
 * BRB consistency (safety; BRB4): no two correct processes deliver different payloads for the
 * same (origin, n). The violation shows the earlier delivery and the first conflicting one.
 */
export function brbConsistency(
  trace: BroadcastTraceInput,
  opts: BroadcastCheckOptions = {},
): Verdict {
  const ix = toIndex(trace);
  const property = 'brb-consistency';
  const ps = processes(ix, opts);
  /** Per slot: the first delivery at a correct process of each distinct payload. */
  const seen: (Delivery[] | undefined)[] = new Array<Delivery[] | undefined>(ix.slots);
  let checked = 0;
  for (let i = 0; i < ix.deliveries.length; i++) {
    const d = ix.deliveries[i] as Delivery;
    if (!ps.correct(d.node)) continue;
    checked++;
    const slot = d.slot;
    let list = seen[slot];
    if (list === undefined) {
      list = [];
      seen[slot] = list;
    }
    const other = list.find((e) => e.msg !== d.msg && e.node !== d.node);
    if (other !== undefined) {
      return fail(
        property,
        'safety',
        checked,
        `correct ${other.node} and ${d.node} delivered different payloads for ${describeSlot(d)}: ` +
          `${shortJson(other.payload)} (#${other.index}) and ${shortJson(d.payload)} (#${d.index})`,
        [at(other), at(d)],
      );
    }
    if (!list.some((e) => e.msg === d.msg)) list.push(d);
  }
  return pass(property, 'safety', checked);
}

/**
 * BRB totality (liveness; BRB5): if a correct process delivers a message for (origin, n), every
 * correct process delivers a message (any payload) for (origin, n) by the end of the trace. The
 * violation is the earliest such delivery of a slot some correct process never delivered.
 */
export function brbTotality(trace: BroadcastTraceInput, opts: BroadcastCheckOptions = {}): Verdict {
  const ix = toIndex(trace);
  const property = 'brb-totality';
  const ps = processes(ix, opts);
  const slotsAt = new Map<NodeId, Set<number>>();
  for (const d of ix.deliveries) {
    if (ps.correct(d.node)) getOrCreate(slotsAt, d.node, () => new Set<number>()).add(d.slot);
  }
  const done = new Uint8Array(ix.slots);
  let checked = 0;
  for (let i = 0; i < ix.deliveries.length; i++) {
    const d = ix.deliveries[i] as Delivery;
    const slot = d.slot;
    if (done[slot] === 1 || !ps.correct(d.node)) continue;
    done[slot] = 1;
    checked++;
    const missing = ps.correctList.filter((q) => slotsAt.get(q)?.has(slot) !== true);
    if (missing.length === 0) continue;
    return fail(
      property,
      'liveness',
      checked,
      `correct ${d.node} delivered ${shortJson(d.payload)} for ${describeSlot(d)} at #${d.index} ` +
        `(t=${d.event.t}), but correct ${missing.join(', ')} delivered nothing for it`,
      [at(d)],
    );
  }
  return pass(property, 'liveness', checked);
}

/**
 * BRB integrity (safety): every correct process delivers at most one message per (origin, n),
 * whatever the payloads. The violation shows the first delivery and the earliest second one.
 */
export function brbIntegrity(
  trace: BroadcastTraceInput,
  opts: BroadcastCheckOptions = {},
): Verdict {
  const ix = toIndex(trace);
  const property = 'brb-integrity';
  const ps = processes(ix, opts);
  const first = new Map<NodeId, Map<number, Delivery>>();
  let checked = 0;
  for (let i = 0; i < ix.deliveries.length; i++) {
    const d = ix.deliveries[i] as Delivery;
    if (!ps.correct(d.node)) continue;
    checked++;
    const slot = d.slot;
    const mine = getOrCreate(first, d.node, () => new Map<number, Delivery>());
    const prev = mine.get(slot);
    if (prev === undefined) {
      mine.set(slot, d);
      continue;
    }
    return fail(
      property,
      'safety',
      checked,
      `correct ${d.node} delivered twice for ${describeSlot(d)}: ${shortJson(prev.payload)} ` +
        `(#${prev.index}) and ${shortJson(d.payload)} (#${d.index})`,
      [at(prev), at(d)],
    );
  }
  return pass(property, 'safety', checked);
}

export type BroadcastKind = 'beb' | 'rb' | 'urb' | 'fifo' | 'causal' | 'brb';

export const BROADCAST_KINDS: readonly BroadcastKind[] = [
  'beb',
  'rb',
  'urb',
  'fifo',
  'causal',
  'brb',
];

type Checker = (ix: BroadcastIndex, opts: BroadcastCheckOptions) => Verdict;

const BEB: readonly Checker[] = [bebValidity, bcastNoDuplication, bcastNoCreation];
const RB: readonly Checker[] = [...BEB, agreement];

/** The properties of each abstraction, in the order `checkBroadcast` returns their verdicts. */
const CONTRACT: Record<BroadcastKind, readonly Checker[]> = {
  beb: BEB,
  rb: RB,
  urb: [...BEB, uniformAgreement],
  fifo: [...RB, fifoDelivery],
  causal: [...RB, causalDelivery],
  // The book's five: BRB1 validity (correct origins), BRB2 no duplication (per (origin, n), so
  // for any origin), BRB3 integrity = no creation for correct origins, BRB4 consistency, BRB5
  // totality. (`brbIntegrity` is BRB2 restricted to correct processes, for callers who want it.)
  brb: [bebValidity, bcastNoDuplication, bcastNoCreation, brbConsistency, brbTotality],
};

/**
 * The verdicts of every property in the contract of `kind`, with one index of the trace:
 *   beb     validity, no duplication, no creation
 *   rb      beb + agreement
 *   urb     beb + uniform agreement
 *   fifo    rb + FIFO delivery
 *   causal  rb + causal delivery
 *   brb     validity (correct origins), no duplication (per (origin, n)), no creation (correct
 *           origins), consistency, totality
 * If the workload repeats a broadcast identity, the result is the single `workload-unique`
 * verdict. Liveness verdicts mean "by the end of this trace": run past the faults first.
 */
export function checkBroadcast(
  trace: BroadcastTraceInput,
  kind: BroadcastKind,
  opts: BroadcastCheckOptions = {},
): Verdict[] {
  const ix = toIndex(trace);
  const unique = broadcastWorkloadUnique(ix, opts);
  if (unique !== undefined) return [unique];
  return CONTRACT[kind].map((check) => check(ix, opts));
}
