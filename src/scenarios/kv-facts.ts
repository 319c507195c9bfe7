/**
 * Facts read off the trace of a replicated-store run, for the kv scenarios' explanations and
 * checks: the client operations (call, result, who answered), the final reads, refused commands,
 * partitions, one step's outputs, and what each store wrote to disk: a Raft node's log and who
 * led each term, a primary-backup node's views and store, a CRDT replica's register and the
 * anti-entropy messages that carried it.
 *
 * Guarantees: every function is a pure function of its arguments (a trace, an index); nothing
 * is remembered between calls, so a sentence built from these describes only the run it was
 * given. Store state is read from the `persist` events the stores emit (src/protocols/kv/*.ts:
 * raft `log/<i>` entries, primary-backup `m` and `s/<key>`, crdt `k/<key>`), never from a live
 * protocol object.
 * Assumes: traces follow src/core/trace.ts; commands and results follow src/protocols/kv/types.ts.
 */

import { FINAL_SERIAL_BASE, kvHistory, type KvHistoryOp } from '../check/kv.ts';
import { canonicalJson, shortJson } from '../check/verdict.ts';
import type { NodeId } from '../core/ids.ts';
import type { TraceEvent } from '../core/trace.ts';
import { isKvOp, type KvOp } from '../protocols/kv/types.ts';
import { eventsOf, listText, nodesOf, record, type At, type SendEvent } from './facts.ts';

// ------------------------------------------------------------------------------ operations

/** `incr n`, `put x = "a"`, `get x`, `delete x`, `cas x "a" → "b"`. */
export function opText(op: unknown): string {
  if (!isKvOp(op)) return shortJson(op, 40);
  switch (op.f) {
    case 'get':
      return `get ${op.key}`;
    case 'put':
      return `put ${op.key} = ${shortJson(op.value, 24)}`;
    case 'delete':
      return `delete ${op.key}`;
    case 'incr':
      return op.delta === 1 ? `incr ${op.key}` : `incr ${op.key} by ${op.delta}`;
    case 'cas':
      return `cas ${op.key} ${shortJson(op.from, 16)} → ${shortJson(op.to, 16)}`;
  }
}

/** The client's own name (kvHistory names it `node/client`). */
export function clientName(o: KvHistoryOp): string {
  const i = o.client.indexOf('/');
  return i < 0 ? o.client : o.client.slice(i + 1);
}

/** `A (at n2)`. */
export function who(o: KvHistoryOp): string {
  return `${clientName(o)} (at ${o.node})`;
}

/** The operations of a run, every issued one with its status (kvHistory), in call order. */
export function kvOps(trace: readonly TraceEvent[]): readonly KvHistoryOp[] {
  return kvHistory(trace).ops;
}

/** The operations of client `name` hosted by `node`, in call order. */
export function opsOf(ops: readonly KvHistoryOp[], node: NodeId, name: string): KvHistoryOp[] {
  return ops.filter((o) => o.node === node && clientName(o) === name);
}

export function isFinal(o: KvHistoryOp): boolean {
  return o.serial >= FINAL_SERIAL_BASE;
}

/** The value a result carries, in words: `ok`, `1`, `"a"`, `null`. */
export function outputText(o: KvHistoryOp): string {
  if (o.status !== 'ok') return o.status;
  if (o.input.f === 'put' || o.input.f === 'delete') return 'ok';
  return shortJson(o.output, 24);
}

/** `A (at n2) called incr n at t=3000 and got 1 at t=3283` (or `… ended indefinite`). */
export function callText(o: KvHistoryOp): string {
  const head = `${who(o)} called ${opText(o.input)} at t=${o.call}`;
  if (o.status === 'ok' && o.ret !== undefined)
    return `${head} and got ${outputText(o)} at t=${o.ret}`;
  if (o.crashed) return `${head}; ${o.node} crashed before answering`;
  return `${head} and it ended ${o.status}`;
}

/** The replica that answered an operation (the `node` field of its kv-result), if any. */
export function answeredBy(trace: readonly TraceEvent[], o: KvHistoryOp): NodeId | undefined {
  if (o.retIndex === undefined) return undefined;
  const e = trace[o.retIndex];
  if (e?.type !== 'deliver') return undefined;
  const n = record(e.event)?.node;
  return typeof n === 'string' ? n : undefined;
}

/** A command given to a node that was down: refused, never issued. */
export interface Refused {
  readonly index: number;
  readonly t: number;
  readonly node: NodeId;
  readonly client: string;
  readonly op: KvOp;
}

export function refusedCommands(trace: readonly TraceEvent[]): Refused[] {
  const out: Refused[] = [];
  for (const c of eventsOf(trace, 'command')) {
    const cmd = record(c.e.cmd);
    if (c.e.accepted || cmd?.type !== 'kv' || !isKvOp(cmd.op)) continue;
    out.push({
      index: c.index,
      t: c.e.t,
      node: c.e.node,
      client: String(cmd.client),
      op: cmd.op,
    });
  }
  return out;
}

/**
 * The final reads of `key` (the reads issued after the faults, serials from FINAL_SERIAL_BASE)
 * in words: `A (at n2) read n = 3 and B (at n3) read n = 3`, with refused ones named too.
 */
export function finalReadsText(trace: readonly TraceEvent[], key: string): string {
  const parts: string[] = [];
  for (const o of kvOps(trace)) {
    if (!isFinal(o) || o.input.f !== 'get' || o.input.key !== key) continue;
    parts.push(
      o.status === 'ok'
        ? `${who(o)} read ${key} = ${shortJson(o.output, 24)}`
        : `${who(o)}'s read of ${key} ended ${o.status}`,
    );
  }
  for (const r of refusedCommands(trace)) {
    if (r.op.f !== 'get' || r.op.key !== key) continue;
    parts.push(
      `${r.client}'s read of ${key} at ${r.node} (t=${r.t}) was refused: ${r.node} was down`,
    );
  }
  return parts.length === 0 ? `nobody read ${key}` : listText(parts);
}

/** The values the final reads of `key` returned at the given nodes (ok reads only). */
export function finalValues(
  trace: readonly TraceEvent[],
  key: string,
  nodes?: readonly NodeId[],
): unknown[] {
  return kvOps(trace)
    .filter(
      (o) =>
        isFinal(o) &&
        o.status === 'ok' &&
        o.input.f === 'get' &&
        o.input.key === key &&
        (nodes === undefined || nodes.includes(o.node)),
    )
    .map((o) => o.output);
}

export function same(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

// ------------------------------------------------------------------------------ steps

const OUTPUTS = new Set<TraceEvent['type']>(['send', 'persist', 'deliver']);

/**
 * The outputs of the step whose input is trace event `index` (a receive, a timer, a command):
 * the sends, persists and deliveries of that node that follow it at the same time, up to the
 * next input. Drops, duplicates and corruptions of those very sends are skipped over.
 */
export function stepOutputs(trace: readonly TraceEvent[], index: number): At<TraceEvent>[] {
  const input = trace[index];
  if (input === undefined) return [];
  const node = input.type === 'receive' ? input.to : 'node' in input ? input.node : undefined;
  const out: At<TraceEvent>[] = [];
  const sent = new Set<number>();
  for (let i = index + 1; i < trace.length; i++) {
    const e = trace[i];
    if (e === undefined || e.t !== input.t) break;
    if (OUTPUTS.has(e.type)) {
      const at = e.type === 'send' ? e.from : 'node' in e ? e.node : undefined;
      if (at !== node) break;
      if (e.type === 'send') sent.add(e.id);
      out.push({ index: i, e });
      continue;
    }
    if ((e.type === 'drop' || e.type === 'duplicate' || e.type === 'corrupt') && sent.has(e.id))
      continue;
    break;
  }
  return out;
}

/** The input event of the step that produced output `index` (walking back over its outputs). */
export function stepInput(trace: readonly TraceEvent[], index: number): At<TraceEvent> | undefined {
  for (let i = index - 1; i >= 0; i--) {
    const e = trace[i];
    if (e === undefined) return undefined;
    if (OUTPUTS.has(e.type) || e.type === 'drop' || e.type === 'duplicate' || e.type === 'corrupt')
      continue;
    return { index: i, e };
  }
  return undefined;
}

// ------------------------------------------------------------------------------ partitions

export interface PartitionSpan {
  readonly t: number;
  /** When every link was open again (undefined: never in this trace). */
  readonly until: number | undefined;
  /** The sides: groups of nodes that can reach each other both ways. */
  readonly groups: readonly (readonly NodeId[])[];
  readonly index: number;
}

/** Every span during which some link was blocked, with its sides. */
export function partitionSpans(trace: readonly TraceEvent[]): PartitionSpan[] {
  const nodes = nodesOf(trace);
  const out: PartitionSpan[] = [];
  let open: { t: number; groups: NodeId[][]; index: number } | undefined;
  for (const p of eventsOf(trace, 'partition')) {
    if (p.e.blocked.length === 0) {
      if (open !== undefined) out.push({ ...open, until: p.e.t });
      open = undefined;
      continue;
    }
    if (open === undefined) {
      const cut = new Set(p.e.blocked.map(([a, b]) => `${a}\u0000${b}`));
      const groups: NodeId[][] = [];
      for (const n of nodes) {
        const g = groups.find((x) =>
          x.every((m) => !cut.has(`${m}\u0000${n}`) && !cut.has(`${n}\u0000${m}`)),
        );
        if (g === undefined) groups.push([n]);
        else g.push(n);
      }
      open = { t: p.e.t, groups, index: p.index };
    }
  }
  if (open !== undefined) out.push({ ...open, until: undefined });
  return out;
}

/** `{n1} | {n2, n3}`. */
export function groupsText(groups: readonly (readonly NodeId[])[]): string {
  return groups.map((g) => `{${g.join(', ')}}`).join(' | ');
}

/**
 * `At t=2000 a partition split the nodes into {n1} | {n2, n3} until t=4500; it blocked 83
 * messages, the first #185 (n1 → n2) at t=2000`.
 */
export function partitionText(trace: readonly TraceEvent[]): string {
  const spans = partitionSpans(trace);
  if (spans.length === 0) return 'No partition happened';
  const blocked = eventsOf(trace, 'drop').filter((d) => d.e.reason === 'partition');
  const first = blocked[0];
  return (
    spans
      .map(
        (s) =>
          `at t=${s.t} a partition split the nodes into ${groupsText(s.groups)}${s.until === undefined ? ' for the rest of the run' : ` until t=${s.until}`}`,
      )
      .join('; ')
      .replace(/^a/, 'A') +
    (first === undefined
      ? '; it blocked no message'
      : `; it blocked ${blocked.length === 1 ? 'one message' : `${blocked.length} messages`}, the first #${first.e.id} (${first.e.from} → ${first.e.to}) at t=${first.e.t}`)
  );
}

// ------------------------------------------------------------------------------ Raft

/** A Raft log entry as `src/protocols/kv/raft.ts` persists it (`log/<index>`). */
export interface RaftEntry {
  readonly index: number;
  readonly term: number;
  readonly noop: boolean;
  /** For an operation: its client session, serial, the node waiting for it, and the op. */
  readonly session?: string;
  readonly serial?: number;
  readonly node?: NodeId;
  readonly op?: KvOp;
}

function raftEntry(index: number, v: unknown): RaftEntry | undefined {
  const r = record(v);
  const c = record(r?.c);
  if (r === undefined || c === undefined || typeof r.t !== 'number') return undefined;
  if (c.k === 'noop') return { index, term: r.t, noop: true };
  if (c.k !== 'op' || !isKvOp(c.op)) return undefined;
  return {
    index,
    term: r.t,
    noop: false,
    session: String(c.c),
    serial: Number(c.s),
    node: String(c.n),
    op: c.op,
  };
}

/** A log write: the entry `node` made durable at `index` (trace position `at`, time `t`). */
export interface LogWrite {
  readonly node: NodeId;
  readonly entry: RaftEntry;
  readonly t: number;
  readonly at: number;
}

/** Every log entry written, in trace order (deletions are left out). */
export function logWrites(trace: readonly TraceEvent[]): LogWrite[] {
  const out: LogWrite[] = [];
  for (const p of eventsOf(trace, 'persist')) {
    for (const w of p.e.writes) {
      const m = /^log\/(\d+)$/.exec(w.key);
      if (m === null || w.value === null) continue;
      const entry = raftEntry(Number(m[1]), w.value);
      if (entry !== undefined) out.push({ node: p.e.node, entry, t: p.e.t, at: p.index });
    }
  }
  return out;
}

/** `node`'s log as it stood on disk just before trace position `before` (default: the end). */
export function raftLog(
  trace: readonly TraceEvent[],
  node: NodeId,
  before = trace.length,
): Map<number, RaftEntry> {
  const log = new Map<number, RaftEntry>();
  for (const p of eventsOf(trace, 'persist')) {
    if (p.index >= before) break;
    if (p.e.node !== node) continue;
    for (const w of p.e.writes) {
      const m = /^log\/(\d+)$/.exec(w.key);
      if (m === null) continue;
      const i = Number(m[1]);
      const entry = w.value === null ? undefined : raftEntry(i, w.value);
      if (entry === undefined) log.delete(i);
      else log.set(i, entry);
    }
  }
  return log;
}

/** The indices of `log` holding the operation (session, serial), ascending. */
export function indicesOf(log: ReadonlyMap<number, RaftEntry>, session: string, serial: number) {
  return [...log.values()]
    .filter((e) => e.session === session && e.serial === serial)
    .map((e) => e.index)
    .sort((a, b) => a - b);
}

/** The leader of each term: the node that first wrote the term's no-op (a new leader's first act). */
export interface Leadership {
  readonly node: NodeId;
  readonly term: number;
  readonly t: number;
  readonly at: number;
}

export function raftLeaders(trace: readonly TraceEvent[]): Leadership[] {
  const out: Leadership[] = [];
  for (const w of logWrites(trace)) {
    if (!w.entry.noop || out.some((l) => l.term === w.entry.term)) continue;
    out.push({ node: w.node, term: w.entry.term, t: w.t, at: w.at });
  }
  return out;
}

/** The last leadership begun before trace position `before`. */
export function leaderBefore(trace: readonly TraceEvent[], before: number): Leadership | undefined {
  return raftLeaders(trace)
    .filter((l) => l.at < before)
    .pop();
}

/** `n1 led term 1 from t=1342`. */
export function leaderText(l: Leadership | undefined): string {
  return l === undefined ? 'no node ever led' : `${l.node} led term ${l.term} from t=${l.t}`;
}

/** Where the operation (session, serial) was first written at `index`, per node, in order. */
export function storedBy(
  trace: readonly TraceEvent[],
  session: string,
  serial: number,
  index: number,
): LogWrite[] {
  const out: LogWrite[] = [];
  for (const w of logWrites(trace)) {
    if (w.entry.index !== index || w.entry.session !== session || w.entry.serial !== serial)
      continue;
    if (!out.some((x) => x.node === w.node)) out.push(w);
  }
  return out;
}

/** `n1 (t=3010) and n2 (t=3020)`. */
export function storedText(writes: readonly LogWrite[]): string {
  return listText(writes.map((w) => `${w.node} (t=${w.t})`));
}

/** The client session id (`node#incarnation:client`) under which `node`'s client sent requests. */
export function sessionOf(
  trace: readonly TraceEvent[],
  node: NodeId,
  client: string,
): string | undefined {
  const pattern = new RegExp(`^${node}#\\d+:${client}$`);
  for (const s of eventsOf(trace, 'send')) {
    const c = record(s.e.msg)?.c;
    if (typeof c === 'string' && pattern.test(c)) return c;
  }
  for (const w of logWrites(trace)) {
    if (w.entry.session !== undefined && pattern.test(w.entry.session)) return w.entry.session;
  }
  return undefined;
}

function isMsg(msg: unknown, k: string, session: string, serial: number): boolean {
  const m = record(msg);
  return m?.k === k && m.c === session && m.s === serial;
}

/** The requests (session, serial) sent over the network, in order. */
export function requestSends(
  trace: readonly TraceEvent[],
  session: string,
  serial: number,
): At<SendEvent>[] {
  return eventsOf(trace, 'send').filter((s) => isMsg(s.e.msg, 'req', session, serial));
}

/** The successful replies (session, serial) sent over the network, in order. */
export function replySends(
  trace: readonly TraceEvent[],
  session: string,
  serial: number,
): At<SendEvent>[] {
  return eventsOf(trace, 'send').filter(
    (s) => isMsg(s.e.msg, 'rep', session, serial) && record(s.e.msg)?.ok === true,
  );
}

/** The receipts at `node` of requests (session, serial), in order. */
export function requestReceipts(
  trace: readonly TraceEvent[],
  node: NodeId,
  session: string,
  serial: number,
): At<Extract<TraceEvent, { type: 'receive' }>>[] {
  return eventsOf(trace, 'receive').filter(
    (r) => r.e.to === node && isMsg(r.e.msg, 'req', session, serial),
  );
}

/** The last AppendEntries `node` sent as leader of `term` (heartbeats included). */
export function lastAppendOf(
  trace: readonly TraceEvent[],
  node: NodeId,
  term: number,
): At<SendEvent> | undefined {
  return eventsOf(trace, 'send')
    .filter(
      (s) => s.e.from === node && record(s.e.msg)?.k === 'ae' && record(s.e.msg)?.term === term,
    )
    .pop();
}

// ------------------------------------------------------------------------------ primary-backup

/** A primary-backup node's view record (`m`): the view it is in and the view it is synced to. */
export interface ViewWrite {
  readonly node: NodeId;
  readonly view: number;
  readonly synced: number;
  readonly t: number;
  readonly at: number;
}

export function viewWrites(trace: readonly TraceEvent[]): ViewWrite[] {
  const out: ViewWrite[] = [];
  for (const p of eventsOf(trace, 'persist')) {
    for (const w of p.e.writes) {
      const m = record(w.value);
      if (w.key !== 'm' || typeof m?.v !== 'number' || typeof m.sv !== 'number') continue;
      out.push({ node: p.e.node, view: m.v, synced: m.sv, t: p.e.t, at: p.index });
    }
  }
  return out;
}

/** The primary of view `v`: `nodes[v mod N]` (src/protocols/kv/primary-backup.ts). */
export function primaryOf(nodes: readonly NodeId[], v: number): NodeId | undefined {
  return nodes[v % nodes.length];
}

/** The first time each node moved to a higher view, in trace order. */
export function viewChanges(trace: readonly TraceEvent[]): ViewWrite[] {
  const seen = new Map<NodeId, number>();
  const out: ViewWrite[] = [];
  for (const w of viewWrites(trace)) {
    if (w.view <= (seen.get(w.node) ?? 0)) continue;
    seen.set(w.node, w.view);
    out.push(w);
  }
  return out;
}

/**
 * The value `node`'s store held for `key` (`s/<key>`, null: deleted) after each persist that
 * wrote it, in order: a batch that deletes and rewrites the key (a snapshot) counts once, with
 * its last write.
 */
export function pbValues(
  trace: readonly TraceEvent[],
  node: NodeId,
  key: string,
): { t: number; value: unknown; at: number }[] {
  const out: { t: number; value: unknown; at: number }[] = [];
  for (const p of eventsOf(trace, 'persist')) {
    if (p.e.node !== node) continue;
    const last = p.e.writes.filter((w) => w.key === `s/${key}`).pop();
    if (last !== undefined) out.push({ t: p.e.t, value: last.value, at: p.index });
  }
  return out;
}

// ------------------------------------------------------------------------------ CRDT

/** The register value a CRDT key record holds (`k/<key>`: `r` is [counter, node, value]). */
function crdtValue(v: unknown): { has: boolean; value: unknown } {
  const r = record(v)?.r;
  return Array.isArray(r) && r.length >= 3
    ? { has: true, value: r[2] }
    : { has: false, value: null };
}

/** The first time `node` held `value` in register `key`, if it ever did. */
export function crdtHeld(
  trace: readonly TraceEvent[],
  node: NodeId,
  key: string,
  value: unknown,
): { t: number; at: number } | undefined {
  for (const p of eventsOf(trace, 'persist')) {
    if (p.e.node !== node) continue;
    for (const w of p.e.writes) {
      if (w.key !== `k/${key}`) continue;
      const v = crdtValue(w.value);
      if (v.has && same(v.value, value)) return { t: p.e.t, at: p.index };
    }
  }
  return undefined;
}

/** Anti-entropy messages (`state`) from `from` to `to` that carry `value` for register `key`. */
export function gossipCarrying(
  trace: readonly TraceEvent[],
  from: NodeId,
  to: NodeId,
  key: string,
  value: unknown,
): At<SendEvent>[] {
  return eventsOf(trace, 'send').filter((s) => {
    const m = record(s.e.msg);
    if (s.e.from !== from || s.e.to !== to || m?.k !== 'state' || !Array.isArray(m.e)) return false;
    return m.e.some((x) => {
      const r = record(x);
      return r?.k === key && crdtValue(r).has && same(crdtValue(r).value, value);
    });
  });
}
