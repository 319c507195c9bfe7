/**
 * The trace as a picture needs it: lanes, messages with their copies and fates, down intervals
 * and partition intervals, gathered in one pass over a trace (src/core/trace.ts).
 *
 * Guarantees: one linear pass (plus a sort of nothing: events are already in trace order); every
 * send becomes one `Message` whose `copies` list the original (copy 0) and each network
 * duplicate, each with its fate (received, dropped with a reason, or still in flight at the end
 * of the trace); a later send on the same directed link with the same protocol-level identity
 * (`messageIdentity`) is a retransmission, numbered from 1. Events that name a message id with no
 * send in the trace (a trace cut out of a longer one) are kept as orphans, never dropped
 * silently. Nothing here reads the clock or the file system.
 * Assumes: trace order is time order (the trace schema's rule); wire ids are unique per send.
 */

import type { NodeId } from '../core/ids.ts';
import type { DropReason, TraceEvent } from '../core/trace.ts';
import { canonicalJson, shortJson } from '../check/verdict.ts';

/** What became of one copy of a message. */
export type CopyFate =
  | { readonly kind: 'receive'; readonly index: number; readonly t: number; readonly msg: unknown }
  | {
      readonly kind: 'drop';
      readonly index: number;
      readonly t: number;
      readonly reason: DropReason;
      readonly detail?: string;
    }
  | { readonly kind: 'in-flight' };

export interface MessageCopy {
  readonly copy: number;
  /** Index of the `corrupt` event of this copy, if the network flipped bits in it. */
  corruptIndex: number | undefined;
  fate: CopyFate;
}

export interface Message {
  readonly id: number;
  readonly sendIndex: number;
  readonly t: number;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly msg: unknown;
  /** `msg.type`, or 'msg' for untyped messages. */
  readonly kind: string;
  /** Short human label, e.g. `data #3 "hello"` or `ack ≤3`. */
  readonly label: string;
  /** 0 for a first send; k for the k-th resend of the same identity on the same link. */
  readonly retransmission: number;
  readonly claimedFrom: NodeId | undefined;
  readonly replayOf: number | undefined;
  /** Index of the `duplicate` event, if the network made extra copies. */
  duplicateIndex: number | undefined;
  readonly copies: MessageCopy[];
}

export interface DownInterval {
  readonly node: NodeId;
  readonly crashIndex: number;
  readonly from: number;
  /** Index and time of the `recover`, undefined if the node stayed down to the end. */
  recoverIndex: number | undefined;
  to: number | undefined;
}

export interface PartitionInterval {
  readonly index: number;
  readonly from: number;
  /** Time the blocked set changed again (undefined: still in force at the end). */
  to: number | undefined;
  readonly blocked: readonly (readonly [NodeId, NodeId])[];
}

export interface TraceModel {
  /** Lane order: nodes in order of first appearance. */
  readonly nodes: readonly NodeId[];
  readonly messages: readonly Message[];
  readonly byId: ReadonlyMap<number, Message>;
  /** Indices of message events (receive, drop, duplicate, corrupt) whose send is not in the trace. */
  readonly orphans: readonly number[];
  readonly down: readonly DownInterval[];
  readonly partitions: readonly PartitionInterval[];
  readonly tStart: number;
  readonly tEnd: number;
}

function record(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

/** `msg.type` when it is a string, else 'msg'. */
export function messageKind(msg: unknown): string {
  const r = record(msg);
  return typeof r?.type === 'string' ? r.type : 'msg';
}

/** What a label may know besides the message: its sender and the run's node order. */
export interface LabelContext {
  /** The sender (a best-effort broadcast names no origin: it is the sender). */
  readonly from?: NodeId;
  /** The nodes in the order they started: a gossip item names its origin by index in it. */
  readonly nodes?: readonly NodeId[];
  /** Characters of a payload excerpt (default 14). */
  readonly maxPayload?: number;
}

/** `origin#n`, the id of one broadcast. */
function broadcastId(origin: unknown, n: unknown): string {
  return `${typeof origin === 'string' ? origin : '?'}#${typeof n === 'number' ? String(n) : '?'}`;
}

/**
 * The label of a broadcast carried in a link's data message (src/protocols/broadcast/*.ts):
 * `beb n2#1`, `rb n1#3` (eager, FIFO and causal), `urb n1#3`, Bracha's `SEND n1#1` / `ECHO …` /
 * `READY …`; undefined for anything else.
 */
function broadcastLabel(p: Record<string, unknown>, from: NodeId | undefined): string | undefined {
  switch (p.k) {
    case 'beb':
      return `beb ${broadcastId(from, p.n)}`;
    case 'rb':
    case 'urb':
      return `${p.k} ${broadcastId(p.o, p.n)}`;
    case 'brb':
      return typeof p.t === 'string' ? `${p.t.toUpperCase()} ${broadcastId(p.o, p.n)}` : undefined;
    default:
      return undefined;
  }
}

/**
 * The label of a gossip broadcast message (src/protocols/broadcast/gossip.ts): a tree batch or a
 * repair with its one item's id or its item count (`batch n1#3`, `repair ×4`), a digest or a
 * pull; undefined for anything else.
 */
function gossipLabel(r: Record<string, unknown>, nodes: readonly NodeId[]): string | undefined {
  if (!Array.isArray(r.w)) return undefined;
  if (r.k === 'd') return r.pull === true ? 'pull' : 'digest';
  if ((r.k !== 'b' && r.k !== 'r') || !Array.isArray(r.m)) return undefined;
  const kind = r.k === 'b' ? 'batch' : 'repair';
  const items = r.m as unknown[];
  const one = items.length === 1 ? record(items[0]) : undefined;
  if (one === undefined) return `${kind} ×${items.length}`;
  const o = typeof one.o === 'number' ? (nodes[one.o] ?? `[${one.o}]`) : undefined;
  return `${kind} ${broadcastId(o, one.n)}`;
}

/** Readable names of the replicated stores' message kinds (src/protocols/kv/*.ts, field `k`). */
const STORE_KINDS: Readonly<Record<string, string>> = {
  rv: 'RequestVote',
  vr: 'vote',
  ae: 'AppendEntries',
  ar: 'append-ack',
  is: 'InstallSnapshot',
  req: 'request',
  rep: 'reply',
  hb: 'heartbeat',
  op: 'op',
  snap: 'snapshot',
  res: 'result',
  state: 'state',
  'abd-query': 'query',
  'abd-value': 'value',
  'abd-store': 'store',
  'abd-stored': 'stored',
  'abd-hello': 'hello',
  'abd-sync': 'sync',
};

/**
 * The label of a replicated store's message: its kind, the operation it carries (`incr(n)`),
 * Raft's term and entry count, a view: `AppendEntries t2 +3`, `request incr(n)`, `vote yes t2`;
 * undefined for anything else.
 */
function storeLabel(r: Record<string, unknown>): string | undefined {
  const kind = typeof r.k === 'string' ? STORE_KINDS[r.k] : undefined;
  if (kind === undefined) return undefined;
  const parts = [r.pre === true ? `pre-${kind}` : kind];
  if (typeof r.granted === 'boolean') parts.push(r.granted ? 'yes' : 'no');
  if (r.k === 'rep' || r.k === 'ar' || r.k === 'res') {
    if (r.ok === false) parts.push(r.k === 'rep' ? 'redirect' : 'refused');
  }
  const op = record(r.op);
  if (op !== undefined && typeof op.f === 'string' && typeof op.key === 'string') {
    parts.push(`${op.f}(${op.key})`);
  }
  if (typeof r.term === 'number') parts.push(`t${r.term}`);
  if (Array.isArray(r.entries) && r.entries.length > 0) parts.push(`+${r.entries.length}`);
  if (typeof r.v === 'number') parts.push(`v${r.v}`);
  return parts.join(' ');
}

/**
 * A short label for a protocol message: a broadcast by its kind and id (`rb n1#3`, `ECHO n2#1`,
 * `batch ×4`; see broadcastLabel, gossipLabel), a store's message by its kind (storeLabel); any
 * other message by its `type`, then `#seq`,
 * `≤cum` (+ the first selective-ack range) and an excerpt of the payload when present; anything else as a JSON
 * excerpt.
 */
export function messageLabel(msg: unknown, ctx: LabelContext = {}): string {
  const maxPayload = ctx.maxPayload ?? 14;
  const r = record(msg);
  if (r === undefined) return shortJson(msg, maxPayload + 6);
  const inner = record(r.payload);
  if (r.type === 'data' && inner !== undefined) {
    const b = broadcastLabel(inner, ctx.from) ?? storeLabel(inner);
    if (b !== undefined) return b;
  }
  if (r.type === undefined) {
    const g = gossipLabel(r, ctx.nodes ?? []) ?? storeLabel(r);
    if (g !== undefined) return g;
  }
  const parts: string[] = [typeof r.type === 'string' ? r.type : 'msg'];
  if (typeof r.seq === 'number') parts.push(`#${r.seq}`);
  if (typeof r.cum === 'number') parts.push(`≤${r.cum}`);
  if (Array.isArray(r.sack) && r.sack.length > 0) {
    // Selective acks are inclusive [first, last] pairs: the first range, "…" if there are more.
    const [a, b] = r.sack.map((x) => (typeof x === 'number' ? String(x) : '?'));
    const range = b === undefined || b === a ? (a ?? '?') : `${a ?? '?'}-${b}`;
    parts.push(`+${range}${r.sack.length > 2 ? '…' : ''}`);
  }
  if ('payload' in r) parts.push(shortJson(r.payload, maxPayload));
  if (parts.length === 1 && typeof r.type !== 'string') return shortJson(msg, maxPayload + 6);
  return parts.join(' ');
}

/**
 * The protocol-level identity of a message, used to recognise retransmissions: `type` + `seq`
 * when the message has a numeric seq, else `type` + payload when it has a payload; undefined
 * (never a retransmission) for control messages such as acks.
 */
export function messageIdentity(msg: unknown): string | undefined {
  const r = record(msg);
  if (r === undefined) return undefined;
  const type = typeof r.type === 'string' ? r.type : '';
  if (typeof r.seq === 'number') return `${type}|seq:${r.seq}`;
  if ('payload' in r) return `${type}|p:${canonicalJson(r.payload)}`;
  return undefined;
}

/** Builds the model of a trace (see the module comment). */
export function buildModel(
  trace: readonly TraceEvent[],
  identity: (msg: unknown) => string | undefined = messageIdentity,
): TraceModel {
  const nodes: NodeId[] = [];
  const seen = new Set<NodeId>();
  const addNode = (n: NodeId): void => {
    if (!seen.has(n)) {
      seen.add(n);
      nodes.push(n);
    }
  };
  const messages: Message[] = [];
  const byId = new Map<number, Message>();
  const orphans: number[] = [];
  const down: DownInterval[] = [];
  const openDown = new Map<NodeId, DownInterval>();
  const partitions: PartitionInterval[] = [];
  let openPartition: PartitionInterval | undefined;
  const sentBefore = new Map<string, number>();
  // The nodes in the order they started (the simulator starts them in its node order, which is
  // the order a gossip message's origin indices refer to).
  const started: NodeId[] = [];
  const fresh = (k: number): MessageCopy => ({
    copy: k,
    corruptIndex: undefined,
    fate: { kind: 'in-flight' },
  });
  const copyOf = (m: Message, copy: number): MessageCopy => {
    for (let k = m.copies.length; k < copy; k++) m.copies.push(fresh(k));
    let c = m.copies[copy];
    if (c === undefined) {
      c = fresh(copy);
      m.copies.push(c);
    }
    return c;
  };

  for (let i = 0; i < trace.length; i++) {
    const e = trace[i] as TraceEvent;
    switch (e.type) {
      case 'start':
        addNode(e.node);
        if (!started.includes(e.node)) started.push(e.node);
        break;
      case 'command':
      case 'deliver':
      case 'timer':
      case 'persist':
        addNode(e.node);
        break;
      case 'crash': {
        addNode(e.node);
        if (!openDown.has(e.node)) {
          const d: DownInterval = {
            node: e.node,
            crashIndex: i,
            from: e.t,
            recoverIndex: undefined,
            to: undefined,
          };
          down.push(d);
          openDown.set(e.node, d);
        }
        break;
      }
      case 'recover': {
        addNode(e.node);
        const d = openDown.get(e.node);
        if (d !== undefined) {
          d.recoverIndex = i;
          d.to = e.t;
          openDown.delete(e.node);
        }
        break;
      }
      case 'send': {
        addNode(e.from);
        addNode(e.to);
        let retransmission = 0;
        if (e.replayOf === undefined && e.claimedFrom === undefined) {
          const ident = identity(e.msg);
          if (ident !== undefined) {
            const key = `${e.from}\u0000${e.to}\u0000${ident}`;
            retransmission = sentBefore.get(key) ?? 0;
            sentBefore.set(key, retransmission + 1);
          }
        }
        const m: Message = {
          id: e.id,
          sendIndex: i,
          t: e.t,
          from: e.from,
          to: e.to,
          msg: e.msg,
          kind: messageKind(e.msg),
          label: messageLabel(e.msg, { from: e.from, nodes: started }),
          retransmission,
          claimedFrom: e.claimedFrom,
          replayOf: e.replayOf,
          duplicateIndex: undefined,
          copies: [{ copy: 0, corruptIndex: undefined, fate: { kind: 'in-flight' } }],
        };
        messages.push(m);
        byId.set(e.id, m);
        break;
      }
      case 'duplicate': {
        const m = byId.get(e.id);
        if (m === undefined) {
          orphans.push(i);
          break;
        }
        m.duplicateIndex = i;
        copyOf(m, m.copies.length - 1 + e.copies);
        break;
      }
      case 'corrupt': {
        const m = byId.get(e.id);
        if (m === undefined) {
          orphans.push(i);
          break;
        }
        copyOf(m, e.copy).corruptIndex = i;
        break;
      }
      case 'receive': {
        const m = byId.get(e.id);
        if (m === undefined) {
          orphans.push(i);
          break;
        }
        copyOf(m, e.copy).fate = { kind: 'receive', index: i, t: e.t, msg: e.msg };
        break;
      }
      case 'drop': {
        const m = byId.get(e.id);
        if (m === undefined) {
          orphans.push(i);
          break;
        }
        copyOf(m, e.copy).fate =
          e.detail === undefined
            ? { kind: 'drop', index: i, t: e.t, reason: e.reason }
            : { kind: 'drop', index: i, t: e.t, reason: e.reason, detail: e.detail };
        break;
      }
      case 'partition': {
        for (const [a, b] of e.blocked) {
          addNode(a);
          addNode(b);
        }
        if (openPartition !== undefined) openPartition.to = e.t;
        openPartition = undefined;
        if (e.blocked.length > 0) {
          openPartition = { index: i, from: e.t, to: undefined, blocked: e.blocked };
          partitions.push(openPartition);
        }
        break;
      }
      case 'network':
        if (e.link !== undefined) {
          addNode(e.link[0]);
          addNode(e.link[1]);
        }
        break;
      case 'note':
        break;
    }
  }
  const first = trace[0];
  const last = trace[trace.length - 1];
  return {
    nodes,
    messages,
    byId,
    orphans,
    down,
    partitions,
    tStart: first?.t ?? 0,
    tEnd: last?.t ?? 0,
  };
}

/**
 * The groups of a partition for a label: nodes with the same set of blocked peers (in either
 * direction) form a group. For a symmetric partition these are exactly its sides.
 */
export function partitionGroups(
  blocked: readonly (readonly [NodeId, NodeId])[],
  nodes: readonly NodeId[],
): { symmetric: boolean; groups: NodeId[][] } {
  const pairs = new Set(blocked.map(([a, b]) => `${a}\u0000${b}`));
  let symmetric = true;
  for (const [a, b] of blocked) if (!pairs.has(`${b}\u0000${a}`)) symmetric = false;
  const signature = new Map<string, NodeId[]>();
  for (const n of nodes) {
    const peers: string[] = [];
    for (const m of nodes)
      if (pairs.has(`${n}\u0000${m}`) || pairs.has(`${m}\u0000${n}`)) peers.push(m);
    if (peers.length === 0) continue;
    const key = peers.join('\u0000');
    const g = signature.get(key);
    if (g === undefined) signature.set(key, [n]);
    else g.push(n);
  }
  return { symmetric, groups: [...signature.values()] };
}

/** One line naming a partition, e.g. `n1 | n2 n3` or `n1 ↛ n2, n3`. */
export function partitionLabel(
  blocked: readonly (readonly [NodeId, NodeId])[],
  nodes: readonly NodeId[],
): string {
  const { symmetric, groups } = partitionGroups(blocked, nodes);
  if (symmetric && groups.length >= 2) return groups.map((g) => g.join(' ')).join('  |  ');
  const bySource = new Map<NodeId, NodeId[]>();
  for (const [a, b] of blocked) {
    const l = bySource.get(a);
    if (l === undefined) bySource.set(a, [b]);
    else l.push(b);
  }
  const parts: string[] = [];
  for (const [a, bs] of bySource) parts.push(`${a} ↛ ${bs.join(',')}`);
  return parts.join('; ');
}

/** Median of a list of numbers (undefined when empty). Does not modify the list. */
export function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const hi = s[mid] as number;
  return s.length % 2 === 1 ? hi : ((s[mid - 1] as number) + hi) / 2;
}
