/**
 * Facts read off a trace for the scenarios' explanations and checks: which wire message was
 * dropped or corrupted and why, who crashed where, what was retransmitted, who delivered what how
 * many times, which fault classes the run shows, and the sentences that say so.
 *
 * Guarantees: every function is a pure function of its arguments (a trace, verdicts); nothing is
 * remembered between calls, so an explanation built from these can only describe the run it was
 * given. Wire messages are named by their trace id (`#7`), the same id the diagram carries in
 * `data-id` and its tooltips.
 * Assumes: traces follow src/core/trace.ts (every message event names the id of an earlier send).
 */

import type { NodeId } from '../core/ids.ts';
import type { DropReason, TraceEvent } from '../core/trace.ts';
import { FORM_MEANING, formOf, type Form } from '../check/classify.ts';
import { canonicalJson, shortJson, type Verdict } from '../check/verdict.ts';
import { messageIdentity } from '../viz/model.ts';

export type SendEvent = Extract<TraceEvent, { type: 'send' }>;
export type DropEvent = Extract<TraceEvent, { type: 'drop' }>;
export type CrashEvent = Extract<TraceEvent, { type: 'crash' }>;
export type DeliverEvent = Extract<TraceEvent, { type: 'deliver' }>;
export type ReceiveEvent = Extract<TraceEvent, { type: 'receive' }>;
export type CorruptEvent = Extract<TraceEvent, { type: 'corrupt' }>;
export type PersistEvent = Extract<TraceEvent, { type: 'persist' }>;
export type TimerEvent = Extract<TraceEvent, { type: 'timer' }>;

/** An event with its position in the trace. */
export interface At<E> {
  readonly index: number;
  readonly e: E;
}

/** The events of one type, with their trace positions. */
export function eventsOf<T extends TraceEvent['type']>(
  trace: readonly TraceEvent[],
  type: T,
): At<Extract<TraceEvent, { type: T }>>[] {
  const out: At<Extract<TraceEvent, { type: T }>>[] = [];
  trace.forEach((e, index) => {
    if (e.type === type) out.push({ index, e: e as Extract<TraceEvent, { type: T }> });
  });
  return out;
}

export function record(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

/** The send of each wire id. */
export function sendsById(trace: readonly TraceEvent[]): Map<number, At<SendEvent>> {
  const out = new Map<number, At<SendEvent>>();
  for (const s of eventsOf(trace, 'send')) out.set(s.e.id, s);
  return out;
}

/** A scalar as is (`n1`, `7`), anything else as compact JSON, `?` when absent. */
export function text(v: unknown): string {
  if (v === undefined || v === null) return '?';
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  return shortJson(v, 24);
}

/** `"m1"` for strings, compact JSON otherwise. */
export function show(v: unknown, max = 48): string {
  return shortJson(v, max);
}

/**
 * A protocol message in words: `data seq 1 carrying "m1"`, `ack ≤1`, `RB(n1, 1) "m"`,
 * `Bracha ECHO(n4, 1) "A"`.
 */
export function describeMsg(msg: unknown): string {
  const r = record(msg);
  if (r === undefined) return show(msg);
  if (r.type === 'ack' && typeof r.cum === 'number') return `ack ≤${r.cum}`;
  if (r.type === 'data' && 'payload' in r) {
    const inner = record(r.payload);
    const k = inner?.k;
    if (inner !== undefined && (k === 'rb' || k === 'urb') && typeof inner.o === 'string') {
      return `${k === 'rb' ? 'RB' : 'URB'}(${text(inner.o)}, ${text(inner.n)}) ${show(inner.payload)}`;
    }
    if (inner !== undefined && k === 'beb') {
      return `BEB #${text(inner.n)} ${show(inner.payload)}`;
    }
    if (inner !== undefined && k === 'brb' && typeof inner.t === 'string') {
      return `Bracha ${inner.t.toUpperCase()}(${text(inner.o)}, ${text(inner.n)}) ${show(inner.m)}`;
    }
    return `data seq ${text(r.seq)} carrying ${show(r.payload)}`;
  }
  return show(msg);
}

/** `#3 (n1 → n2, data seq 1 carrying "m1")`. */
export function wireText(s: SendEvent): string {
  return `#${s.id} (${s.from} → ${s.to}, ${describeMsg(s.msg)})`;
}

/** The application payload a link-level data message carries (undefined for acks). */
export function dataPayload(msg: unknown): unknown {
  const r = record(msg);
  return r?.type === 'data' && 'payload' in r ? r.payload : undefined;
}

export function isData(msg: unknown): boolean {
  return record(msg)?.type === 'data';
}

export function isAck(msg: unknown): boolean {
  return record(msg)?.type === 'ack';
}

/** A send that repeats an earlier one on the same link (same protocol identity, as the diagram counts). */
export interface Retransmission {
  readonly send: At<SendEvent>;
  /** The first transmission. */
  readonly first: At<SendEvent>;
  /** 1 for the first resend, 2 for the second… */
  readonly nth: number;
}

export function retransmissions(trace: readonly TraceEvent[]): Retransmission[] {
  const firstOf = new Map<string, { first: At<SendEvent>; count: number }>();
  const out: Retransmission[] = [];
  for (const s of eventsOf(trace, 'send')) {
    if (s.e.claimedFrom !== undefined || s.e.replayOf !== undefined) continue;
    const ident = messageIdentity(s.e.msg);
    if (ident === undefined) continue;
    const key = `${s.e.from}\u0000${s.e.to}\u0000${ident}`;
    const seen = firstOf.get(key);
    if (seen === undefined) {
      firstOf.set(key, { first: s, count: 0 });
      continue;
    }
    seen.count++;
    out.push({ send: s, first: seen.first, nth: seen.count });
  }
  return out;
}

/** The identity of an application delivery: sender (or origin) and payload. */
export function deliveryKey(e: DeliverEvent): { sender: string; payload: unknown; key: string } {
  const d = record(e.event);
  const sender =
    typeof d?.origin === 'string' ? d.origin : typeof d?.from === 'string' ? d.from : '?';
  const payload = d?.payload;
  return { sender, payload, key: `${e.node}\u0000${sender}\u0000${canonicalJson(payload)}` };
}

/** Per (node, sender, payload): the deliveries, in trace order. */
export function deliveriesByKey(trace: readonly TraceEvent[]): Map<string, At<DeliverEvent>[]> {
  const out = new Map<string, At<DeliverEvent>[]>();
  for (const d of eventsOf(trace, 'deliver')) {
    const { key } = deliveryKey(d.e);
    const list = out.get(key);
    if (list === undefined) out.set(key, [d]);
    else list.push(d);
  }
  return out;
}

/** Deliveries of `payload` (any sender), in trace order. */
export function deliveriesOf(trace: readonly TraceEvent[], payload: unknown): At<DeliverEvent>[] {
  const want = canonicalJson(payload);
  return eventsOf(trace, 'deliver').filter((d) => canonicalJson(deliveryKey(d.e).payload) === want);
}

/** Nodes that delivered `payload`, sorted, each once. */
export function deliverersOf(trace: readonly TraceEvent[], payload: unknown): NodeId[] {
  return [...new Set(deliveriesOf(trace, payload).map((d) => d.e.node))].sort();
}

/** Every node the trace starts. */
export function nodesOf(trace: readonly TraceEvent[]): NodeId[] {
  const out: NodeId[] = [];
  for (const s of eventsOf(trace, 'start')) if (!out.includes(s.e.node)) out.push(s.e.node);
  return out;
}

/** "once", "twice", "3 times". */
export function times(n: number): string {
  return n === 1 ? 'once' : n === 2 ? 'twice' : `${n} times`;
}

/** "a, b and c". */
export function listText(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1] ?? ''}`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Wire ids as `#4, #9 and #12`, the first `max` of them and a count of the rest. */
export function idsText(ids: readonly number[], max = 6): string {
  const shown = ids.slice(0, max).map((id) => `#${id}`);
  if (ids.length > max) shown.push(`${ids.length - max} more`);
  return listText(shown);
}

const REASON_TEXT: Record<DropReason, string> = {
  loss: 'lost by the network',
  partition: 'blocked by a partition',
  'node-down': 'dropped because the receiver was down',
  checksum: 'caught by the CRC32C checksum and dropped',
  auth: 'rejected because its HMAC tag did not verify',
  malformed: 'dropped as malformed',
};

/** `#3 (n1 → n2, …) was lost by the network at t=10`. */
export function dropText(trace: readonly TraceEvent[], d: DropEvent): string {
  const s = sendsById(trace).get(d.id);
  const what = s === undefined ? `#${d.id}` : wireText(s.e);
  const copy = d.copy > 0 ? ` (copy ${d.copy})` : '';
  return `${what}${copy} was ${REASON_TEXT[d.reason]} at t=${d.t}`;
}

/** `n2 crashed at t=20, between two outputs of one step (after deliver, before send; 3 outputs lost)`. */
export function crashText(c: CrashEvent): string {
  const between =
    c.after === undefined || c.before === undefined
      ? ''
      : `, between two outputs of one step (after its ${c.after === 'input' ? 'input' : c.after}, before its ${c.before}; ${plural(c.lostOutputs, 'output')} never carried out)`;
  return `${c.node} crashed at t=${c.t}${between}`;
}

/** Nodes that crashed and never came back by the end of the trace. */
export function crashedForGood(trace: readonly TraceEvent[]): NodeId[] {
  const down = new Set<NodeId>();
  for (const e of trace) {
    if (e.type === 'crash') down.add(e.node);
    if (e.type === 'start') down.delete(e.node);
  }
  return [...down].sort();
}

/** The corrupted copies that reached the protocol, each with what it was decoded as. */
export function undetectedCorruptions(
  trace: readonly TraceEvent[],
): { corrupt: At<CorruptEvent>; receive: At<ReceiveEvent>; send: At<SendEvent> }[] {
  const sends = sendsById(trace);
  const receives = eventsOf(trace, 'receive');
  const out: { corrupt: At<CorruptEvent>; receive: At<ReceiveEvent>; send: At<SendEvent> }[] = [];
  for (const c of eventsOf(trace, 'corrupt')) {
    const r = receives.find((x) => x.e.id === c.e.id && x.e.copy === c.e.copy);
    const s = sends.get(c.e.id);
    if (r !== undefined && s !== undefined) out.push({ corrupt: c, receive: r, send: s });
  }
  return out;
}

/**
 * The fault classes this run shows, in words: omission (loss), corruption caught (an omission)
 * or not (a commission fault that looks Byzantine), crash-stop or crash-recover, duplication,
 * forgery (Byzantine impersonation), and Byzantine processes named by the caller.
 */
export function faultClasses(
  trace: readonly TraceEvent[],
  byzantine: readonly NodeId[] = [],
  byzantineWhat = 'arbitrary behaviour',
): string[] {
  const out: string[] = [];
  const drops = eventsOf(trace, 'drop');
  const lost = drops.filter((d) => d.e.reason === 'loss' || d.e.reason === 'partition');
  if (lost.length > 0) out.push(`omission (${plural(lost.length, 'message')} lost)`);
  const sum = drops.filter((d) => d.e.reason === 'checksum');
  if (sum.length > 0) {
    out.push(
      `corruption caught by the checksum, which turns it into an omission (${plural(sum.length, 'frame')})`,
    );
  }
  const undetected = undetectedCorruptions(trace);
  const changed = undetected.filter(
    (u) => canonicalJson(u.receive.e.msg) !== canonicalJson(u.send.e.msg),
  );
  if (changed.length > 0) {
    out.push(
      `undetected corruption: a commission fault that looks Byzantine (${plural(changed.length, 'frame')} decoded as a different message)`,
    );
  }
  const malformedCorrupt = drops.filter(
    (d) =>
      d.e.reason === 'malformed' &&
      trace.some((c) => c.type === 'corrupt' && c.id === d.e.id && c.copy === d.e.copy),
  );
  if (malformedCorrupt.length > 0) {
    out.push(
      `corruption that broke the frame's structure, dropped as malformed (an omission, ${plural(malformedCorrupt.length, 'frame')})`,
    );
  }
  const dups = eventsOf(trace, 'duplicate');
  if (dups.length > 0) {
    const extra = dups.reduce((n, d) => n + d.e.copies, 0);
    out.push(`duplication (the network made ${plural(extra, 'extra copy', 'extra copies')})`);
  }
  const crashed = [...new Set(eventsOf(trace, 'crash').map((c) => c.e.node))].sort();
  if (crashed.length > 0) {
    const forGood = crashedForGood(trace);
    const stop = crashed.filter((n) => forGood.includes(n));
    const rec = crashed.filter((n) => !forGood.includes(n));
    const arrivals = (nodes: readonly NodeId[]): string => {
      const lost = drops.filter((d) => d.e.reason === 'node-down' && nodes.includes(d.e.to));
      return lost.length === 0
        ? ''
        : `; ${plural(lost.length, 'message')} to ${nodes.length === 1 ? 'it' : 'them'} dropped on arrival while down: ${idsText(lost.map((d) => d.e.id))}`;
    };
    if (stop.length > 0) out.push(`crash-stop (${listText(stop)}${arrivals(stop)})`);
    if (rec.length > 0) out.push(`crash-recover (${listText(rec)}${arrivals(rec)})`);
  }
  const forged = eventsOf(trace, 'send').filter((s) => s.e.claimedFrom !== undefined);
  for (const f of forged) {
    out.push(
      `Byzantine impersonation (${f.e.from} forged #${f.e.id} in the name of ${String(f.e.claimedFrom)})`,
    );
  }
  if (byzantine.length > 0)
    out.push(
      `Byzantine ${byzantine.length === 1 ? 'process' : 'processes'} ${listText([...byzantine])} (${byzantineWhat})`,
    );
  if (out.length === 0) out.push('no fault at all');
  return out;
}

export function safeOf(verdicts: readonly Verdict[]): boolean {
  return !verdicts.some((v) => !v.holds && v.kind === 'safety');
}

export function liveOf(verdicts: readonly Verdict[]): boolean {
  return !verdicts.some((v) => !v.holds && v.kind === 'liveness');
}

/** The run's form of fault tolerance (the course's 2×2 table). */
export function formOfRun(verdicts: readonly Verdict[]): Form {
  return formOf(safeOf(verdicts), liveOf(verdicts));
}

/** `fail-safe (safe, not live: …)`. */
export function formText(verdicts: readonly Verdict[]): string {
  const f = formOfRun(verdicts);
  return `${f} (${FORM_MEANING[f]})`;
}

/**
 * One clause per verdict: `reliable-delivery VIOLATED: …` or `no-duplication held (2 checked)`,
 * with the violation's own message.
 */
export function verdictText(verdicts: readonly Verdict[]): string {
  return verdicts
    .map((v) =>
      v.holds
        ? `${v.property} held (${v.kind}, ${v.checked} checked)`
        : `${v.property} VIOLATED (${v.kind}): ${v.violation?.message ?? ''}`,
    )
    .join('; ');
}

export function verdictOf(verdicts: readonly Verdict[], property: string): Verdict | undefined {
  return verdicts.find((v) => v.property === property);
}

export function holds(verdicts: readonly Verdict[], property: string): boolean {
  return verdictOf(verdicts, property)?.holds === true;
}

/** Properties that failed, in verdict order. */
export function violated(verdicts: readonly Verdict[]): string[] {
  return verdicts.filter((v) => !v.holds).map((v) => v.property);
}
