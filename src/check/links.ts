/**
 * Trace checkers for the point-to-point link properties (Cachin, Guerraoui & Rodrigues,
 * "Introduction to Reliable and Secure Distributed Programming", §2.4):
 *
 *   PL1 reliable delivery (liveness)  `reliableDelivery`: if a correct process p sends m to a
 *                                     correct process q, then q eventually delivers m.
 *   PL2 no duplication (safety)       `noDuplication`: no message is delivered more than once.
 *   PL3 no creation (safety)          `noCreation`: if q delivers m with sender p, then m was
 *                                     previously sent to q by p.
 *   FIFO order (safety)               `fifoOrder`: for each (p, q), if p sends m1 before m2 and q
 *                                     delivers both, q delivers m1 first (first deliveries only; a
 *                                     message never delivered is PL1's business, not a FIFO break).
 *   ALP3 authenticity (safety)        `authenticity`: if q delivers m with sender p and p is
 *                                     correct, then m was previously sent to q by p (a forgery
 *                                     in p's name is never delivered). Stricter than the book's
 *                                     ALP3 in one way: q need not be correct.
 *
 * What the checkers read (see the conventions in src/check/verdict.ts and src/core/trace.ts):
 *   - a send is a `command` event with `accepted: true` and `cmd = { type: 'send', to, payload }`,
 *     sent by `event.node` (a rejected command was never sent; one whose step a crash cut short
 *     is in doubt: PL1 does not require it, PL3 accepts receipts of it);
 *   - with `count: 'deliveries'` (default) a receipt is a `deliver` event whose `event` is
 *     `{ type: 'deliver', from, payload }`, at `event.node`;
 *   - with `count: 'applications'` a receipt is a `persist` write whose key is `applied` or ends
 *     with `/applied`, valued `{ from, seq, payload }`, at the persisting node (the durable record
 *     of an at-most-once / exactly-once effect; a crash may lose the `deliver` that follows).
 * A message is identified by (from, to, canonical JSON of payload).
 *
 * Guarantees: one pass to index the trace, then one pass per property, with Maps keyed by
 * identity: linear in the trace length (plus the size of the payloads).
 * Assumes: sends have unique identities. If two accepted sends share one, no checker guesses
 * which send a receipt belongs to: each returns a failed verdict with property `workload-unique`
 * (and the two sends as its events) instead of its own.
 */

import type { NodeId } from '../core/ids.ts';
import type { TraceEvent } from '../core/trace.ts';
import { canonicalJson, fail, pass, shortJson, type Verdict } from './verdict.ts';

export type CountMode = 'deliveries' | 'applications';

/**
 * Which processes are correct:
 *   - 'never-crashed' (default, crash-stop): no `crash` event at all;
 *   - 'up-at-end' (crash-recover): never crashed, or its last crash is followed by a `start`;
 *   - a list of node ids.
 */
export type CorrectSpec = 'never-crashed' | 'up-at-end' | readonly NodeId[];

export interface LinkCheckOptions {
  /** Receipts are `deliver` events (default) or `applied` durable writes. */
  readonly count?: CountMode;
  readonly correct?: CorrectSpec;
  /**
   * Byzantine senders. Their messages are theirs to invent, so their text identifies nothing:
   * no duplication judges their receipts by the link's sequence number (when the receipt has
   * one), never by payload.
   */
  readonly byzantine?: readonly NodeId[];
}

type CommandEvent = Extract<TraceEvent, { type: 'command' }>;

/** An accepted send command. */
export interface Send {
  readonly index: number;
  readonly event: CommandEvent;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly payload: unknown;
  /** Message id: equal ids, equal identities (from, to, payload). */
  readonly msg: number;
  /** Link id: equal ids, equal (from, to). */
  readonly link: number;
  /** The sender crashed in the middle of this command's step (see `reliableDelivery`). */
  interrupted: boolean;
}

/** A delivery or an application of a message at `to`, claimed to come from `from`. */
export interface Receipt {
  readonly index: number;
  readonly event: TraceEvent;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly payload: unknown;
  readonly msg: number;
  /** The link's sequence number of the message, when the receipt names one. */
  readonly seq?: number;
}

/**
 * What every checker needs from a trace, gathered in one pass (see `indexTrace`). Message
 * identities are interned to small integers, so the checkers run on arrays.
 */
export interface TraceIndex {
  /** How many distinct message identities (sent, rejected or received) the trace holds. */
  readonly messages: number;
  /** How many distinct (from, to) links carry accepted sends. */
  readonly links: number;
  /** The accepted send of each message id (the first one, if the workload repeats one). */
  readonly sendOf: readonly (Send | undefined)[];
  /** Accepted sends in trace order. */
  readonly sendList: readonly Send[];
  /** The first two accepted sends that share an identity, if any. */
  readonly repeatedSend: readonly [Send, Send] | undefined;
  /** Index of the first rejected (node down) send of each message id: for error messages. */
  readonly rejected: ReadonlyMap<number, number>;
  readonly deliveries: readonly Receipt[];
  readonly applications: readonly Receipt[];
  readonly lastCrash: ReadonlyMap<NodeId, number>;
  readonly lastStart: ReadonlyMap<NodeId, number>;
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
}

function isAppliedKey(key: string): boolean {
  return key === 'applied' || key.endsWith('/applied');
}

/** Gathers sends, receipts and crash/start positions in one pass over the trace. */
export function indexTrace(trace: readonly TraceEvent[]): TraceIndex {
  // Interning: (from, to) → a map from canonical payload to message id. Two small lookups by
  // node id and one by payload are cheaper than one big map of concatenated keys.
  const byLink = new Map<NodeId, Map<NodeId, Map<string, number>>>();
  let messages = 0;
  const payloadIds = (from: NodeId, to: NodeId): Map<string, number> => {
    let byTo = byLink.get(from);
    if (byTo === undefined) {
      byTo = new Map();
      byLink.set(from, byTo);
    }
    let ids = byTo.get(to);
    if (ids === undefined) {
      ids = new Map();
      byTo.set(to, ids);
    }
    return ids;
  };
  /** The message id of (from, to, payload). */
  const msgId = (from: NodeId, to: NodeId, payload: unknown): number => {
    const ids = payloadIds(from, to);
    const key = canonicalJson(payload);
    let id = ids.get(key);
    if (id === undefined) {
      id = messages++;
      ids.set(key, id);
    }
    return id;
  };
  const linkIds = new Map<Map<string, number>, number>();
  const linkId = (from: NodeId, to: NodeId): number => {
    const ids = payloadIds(from, to);
    let id = linkIds.get(ids);
    if (id === undefined) {
      id = linkIds.size;
      linkIds.set(ids, id);
    }
    return id;
  };
  const sendOf: (Send | undefined)[] = [];
  const sendList: Send[] = [];
  let repeatedSend: [Send, Send] | undefined;
  const rejected = new Map<number, number>();
  const deliveries: Receipt[] = [];
  const applications: Receipt[] = [];
  const lastCrash = new Map<NodeId, number>();
  const lastStart = new Map<NodeId, number>();
  /** Per node, the send command it handled last, if its last input was one. */
  const lastInput = new Map<NodeId, Send>();
  for (let index = 0; index < trace.length; index++) {
    const event = trace[index] as TraceEvent;
    switch (event.type) {
      case 'command': {
        if (event.accepted) lastInput.delete(event.node);
        const cmd = asRecord(event.cmd);
        if (cmd?.type !== 'send' || typeof cmd.to !== 'string' || !('payload' in cmd)) break;
        const from = event.node;
        const to = cmd.to;
        const msg = msgId(from, to, cmd.payload);
        if (!event.accepted) {
          if (!rejected.has(msg)) rejected.set(msg, index);
          break;
        }
        const link = linkId(from, to);
        const payload = cmd.payload;
        const send: Send = { index, event, from, to, payload, msg, link, interrupted: false };
        sendList.push(send);
        lastInput.set(from, send);
        const earlier = sendOf[msg];
        if (earlier === undefined) sendOf[msg] = send;
        else repeatedSend ??= [earlier, send];
        break;
      }
      case 'deliver': {
        const d = asRecord(event.event);
        if (d?.type !== 'deliver' || typeof d.from !== 'string' || !('payload' in d)) break;
        const msg = msgId(d.from, event.node, d.payload);
        const r = { index, event, from: d.from, to: event.node, payload: d.payload, msg };
        deliveries.push(typeof d.seq === 'number' ? { ...r, seq: d.seq } : r);
        break;
      }
      case 'persist':
        for (const w of event.writes) {
          if (!isAppliedKey(w.key)) continue;
          const v = asRecord(w.value);
          if (v === undefined || typeof v.from !== 'string' || !('payload' in v)) continue;
          const msg = msgId(v.from, event.node, v.payload);
          const r = { index, event, from: v.from, to: event.node, payload: v.payload, msg };
          applications.push(typeof v.seq === 'number' ? { ...r, seq: v.seq } : r);
        }
        break;
      case 'crash': {
        lastCrash.set(event.node, index);
        // Outputs lost: the crash cut short the step of the node's last input.
        const cut = lastInput.get(event.node);
        if (cut !== undefined && event.lostOutputs > 0) cut.interrupted = true;
        lastInput.delete(event.node);
        break;
      }
      case 'start':
        lastStart.set(event.node, index);
        lastInput.delete(event.node);
        break;
      case 'timer':
        lastInput.delete(event.node);
        break;
      case 'receive':
        lastInput.delete(event.to);
        break;
      default:
        break;
    }
  }
  sendOf.length = messages; // one slot per message id (holes read as undefined)
  return {
    messages,
    links: linkIds.size,
    sendOf,
    sendList,
    repeatedSend,
    rejected,
    deliveries,
    applications,
    lastCrash,
    lastStart,
  };
}

/** The correctness predicate for `spec` over an indexed trace. */
export function correctProcesses(
  ix: TraceIndex,
  spec: CorrectSpec = 'never-crashed',
): (node: NodeId) => boolean {
  if (spec === 'never-crashed') return (node) => !ix.lastCrash.has(node);
  if (spec === 'up-at-end') {
    return (node) => {
      const crash = ix.lastCrash.get(node);
      return crash === undefined || (ix.lastStart.get(node) ?? -1) > crash;
    };
  }
  const set = new Set(spec);
  return (node) => set.has(node);
}

function receiptsOf(ix: TraceIndex, count: CountMode | undefined): readonly Receipt[] {
  return count === 'applications' ? ix.applications : ix.deliveries;
}

function verb(count: CountMode | undefined): string {
  return count === 'applications' ? 'applied' : 'delivered';
}

function describeMsg(m: { from: NodeId; to: NodeId; payload: unknown }): string {
  return `${m.from} → ${m.to} ${shortJson(m.payload)}`;
}

/** The `workload-unique` verdict when two accepted sends share an identity, else undefined. */
export function workloadUnique(ix: TraceIndex): Verdict | undefined {
  if (ix.repeatedSend === undefined) return undefined;
  const [a, b] = ix.repeatedSend;
  return fail(
    'workload-unique',
    'safety',
    ix.sendList.length,
    `message ${describeMsg(a)} sent twice (#${a.index} and #${b.index}): receipts cannot be ` +
      'matched to sends; give every message a unique payload per (from, to)',
    [a, b],
  );
}

/** A trace, or a trace already indexed (to check several properties with one pass). */
export type TraceInput = readonly TraceEvent[] | TraceIndex;

function toIndex(input: TraceInput): TraceIndex {
  return Array.isArray(input) ? indexTrace(input) : (input as TraceIndex);
}

/**
 * PL1 reliable delivery (liveness): every accepted send from a correct node to a correct node is
 * delivered (or applied) at least once after it was sent, by the end of the trace. The violation
 * is the earliest such send that never was.
 *
 * A send whose step the sender's crash cut short (a `crash` with `lostOutputs > 0` right after
 * the command's outputs) is in doubt, like a call that never returned: it is not owed, even when
 * the sender counts as correct ('up-at-end'). It still justifies receipts for PL3.
 */
export function reliableDelivery(trace: TraceInput, opts: LinkCheckOptions = {}): Verdict {
  const ix = toIndex(trace);
  const unique = workloadUnique(ix);
  if (unique !== undefined) return unique;
  const property = 'reliable-delivery';
  const correct = correctProcesses(ix, opts.correct);
  const received = new Uint8Array(ix.messages);
  for (const r of receiptsOf(ix, opts.count)) {
    const s = ix.sendOf[r.msg];
    if (s !== undefined && s.index < r.index) received[r.msg] = 1;
  }
  let checked = 0;
  for (const s of ix.sendList) {
    if (!correct(s.from) || !correct(s.to) || s.interrupted) continue;
    checked++;
    if (received[s.msg] === 1) continue;
    return fail(
      property,
      'liveness',
      checked,
      `${describeMsg(s)} sent at #${s.index} (t=${s.event.t}) was never ${verb(opts.count)}, ` +
        'though both ends are correct',
      [s],
    );
  }
  return pass(property, 'liveness', checked);
}

/**
 * PL2 no duplication (safety): no (from, to, payload) is delivered (or applied) more than once at
 * its receiver. The violation shows the first receipt and the earliest repeat.
 */
export function noDuplication(trace: TraceInput, opts: LinkCheckOptions = {}): Verdict {
  const ix = toIndex(trace);
  const unique = workloadUnique(ix);
  if (unique !== undefined) return unique;
  const property = 'no-duplication';
  const first: (Receipt | undefined)[] = new Array<Receipt | undefined>(ix.messages);
  const liars = new Set(opts.byzantine ?? []);
  /** Byzantine senders' receipts by (from, to, seq). */
  const bySeq = new Map<string, Receipt>();
  let checked = 0;
  for (const r of receiptsOf(ix, opts.count)) {
    let prev: Receipt | undefined;
    if (liars.has(r.from)) {
      if (r.seq === undefined) continue;
      const key = `${r.from}\u0000${r.to}\u0000${r.seq}`;
      prev = bySeq.get(key);
      if (prev === undefined) bySeq.set(key, r);
    } else {
      prev = first[r.msg];
      if (prev === undefined) first[r.msg] = r;
    }
    checked++;
    if (prev === undefined) continue;
    return fail(
      property,
      'safety',
      checked,
      `${describeMsg(r)} ${verb(opts.count)} twice (#${prev.index} and #${r.index})`,
      [prev, r],
    );
  }
  return pass(property, 'safety', checked);
}

/** Why a receipt has no matching earlier send, for the messages of PL3 and authenticity. */
function noSendNote(ix: TraceIndex, r: Receipt): string {
  const later = ix.sendOf[r.msg];
  if (later !== undefined) return `its send comes later, at #${later.index}`;
  const rejected = ix.rejected.get(r.msg);
  if (rejected !== undefined) return `the only such command, at #${rejected}, was rejected`;
  return `no send of it by ${r.from} to ${r.to} precedes it`;
}

function checkCreation(
  property: string,
  ix: TraceIndex,
  opts: LinkCheckOptions,
  include: (r: Receipt) => boolean,
  what: (r: Receipt) => string,
): Verdict {
  const unique = workloadUnique(ix);
  if (unique !== undefined) return unique;
  let checked = 0;
  for (const r of receiptsOf(ix, opts.count)) {
    if (!include(r)) continue;
    checked++;
    const s = ix.sendOf[r.msg];
    if (s !== undefined && s.index < r.index) continue;
    return fail(
      property,
      'safety',
      checked,
      `${describeMsg(r)} ${verb(opts.count)} at #${r.index}${what(r)}, but ${noSendNote(ix, r)}`,
      [r],
    );
  }
  return pass(property, 'safety', checked);
}

/**
 * PL3 no creation (safety): every delivery (or application) at q with sender p matches an
 * accepted send by p to q earlier in the trace. The violation is the receipt.
 */
export function noCreation(trace: TraceInput, opts: LinkCheckOptions = {}): Verdict {
  return checkCreation(
    'no-creation',
    toIndex(trace),
    opts,
    () => true,
    () => '',
  );
}

/**
 * Authenticity (safety): like `noCreation`, restricted to receipts whose sender is correct: a
 * message claiming to come from a correct p is delivered only if p sent it earlier.
 */
export function authenticity(trace: TraceInput, opts: LinkCheckOptions = {}): Verdict {
  const ix = toIndex(trace);
  const correct = correctProcesses(ix, opts.correct);
  return checkCreation(
    'authenticity',
    ix,
    opts,
    (r) => correct(r.from),
    (r) => ` in the name of correct process ${r.from}`,
  );
}

/**
 * FIFO order (safety): for each (from, to), first deliveries (or applications) follow the send
 * order. The violation shows the two sends and the two receipts of the earliest inversion:
 * a message sent later was received first.
 */
export function fifoOrder(trace: TraceInput, opts: LinkCheckOptions = {}): Verdict {
  const ix = toIndex(trace);
  const unique = workloadUnique(ix);
  if (unique !== undefined) return unique;
  const property = 'fifo-order';
  const seen = new Uint8Array(ix.messages);
  /** Per link id: the received message sent last so far, and its receipt. */
  const latest: ({ send: Send; receipt: Receipt } | undefined)[] = new Array<
    { send: Send; receipt: Receipt } | undefined
  >(ix.links);
  let checked = 0;
  for (const r of receiptsOf(ix, opts.count)) {
    if (seen[r.msg] === 1) continue; // only first receipts count
    seen[r.msg] = 1;
    const s = ix.sendOf[r.msg];
    if (s === undefined || s.index > r.index) continue; // creation: PL3's business
    checked++;
    const top = latest[s.link];
    if (top !== undefined && top.send.index > s.index) {
      return fail(
        property,
        'safety',
        checked,
        `${r.from} → ${r.to}: ${shortJson(s.payload)} was sent (#${s.index}) before ` +
          `${shortJson(top.send.payload)} (#${top.send.index}) but ${verb(opts.count)} after it ` +
          `(#${r.index} after #${top.receipt.index})`,
        [s, top.send, top.receipt, r],
      );
    }
    if (top === undefined || s.index > top.send.index) latest[s.link] = { send: s, receipt: r };
  }
  return pass(property, 'safety', checked);
}
