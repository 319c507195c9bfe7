/**
 * The protocols the matrix knows: how to build each stack, what workload exercises it, and the
 * specification its runs are judged against.
 *
 * The specification is the abstraction the course asks for, not the protocol's own weaker
 * promise: link-like protocols are judged as perfect links (PL1 reliable delivery is the liveness
 * property; PL2 no duplication and PL3 no creation are the safety properties), so at-most-once
 * shows up as fail-safe under omission and at-least-once as non-masking for a non-idempotent
 * operation; broadcasts are judged as reliable broadcast (validity and agreement live; no
 * duplication, no creation safe) plus their own ordering or uniformity properties; Byzantine
 * reliable broadcast by its own five properties.
 * Assumes: workloads give every message a unique payload per sender (the checkers need it).
 */

import type { NodeId } from '../core/ids.ts';
import type { StackSpec } from '../core/protocol.ts';
import type { Rng } from '../core/rng.ts';
import type { TraceEvent } from '../core/trace.ts';
import {
  authenticity,
  correctProcesses,
  indexTrace,
  noCreation,
  noDuplication,
  reliableDelivery,
  type CountMode,
} from '../check/links.ts';
import type { Verdict } from '../check/verdict.ts';
import { checkBroadcast, type BroadcastKind } from '../check/broadcast.ts';
import { bestEffortBroadcast } from '../protocols/broadcast/beb.ts';
import {
  causalBroadcast,
  eagerReliableBroadcast,
  fifoReliableBroadcast,
} from '../protocols/broadcast/eager.ts';
import { uniformReliableBroadcast } from '../protocols/broadcast/uniform.ts';
import { brachaBroadcast, isBrachaMsg } from '../protocols/broadcast/bracha.ts';
import { gossipBroadcast } from '../protocols/broadcast/gossip.ts';
import {
  loggedBestEffortBroadcast,
  loggedCausalBroadcast,
  loggedEagerReliableBroadcast,
  loggedFifoReliableBroadcast,
} from '../protocols/broadcast/logged.ts';
import { loggedBrachaBroadcast } from '../protocols/broadcast/logged-bracha.ts';
import { loggedDelivery, logView } from '../protocols/broadcast/logged-log.ts';
import { loggedUniformBroadcast } from '../protocols/broadcast/logged-uniform.ts';
import { colluder, equivocator } from '../protocols/broadcast/byzantine.ts';
import { channel, type Guarantee } from '../protocols/delivery/guarantees.ts';
import { fairLossLink } from '../protocols/link/fair-loss.ts';
import { perfectLink } from '../protocols/link/perfect.ts';
import type { ScheduledCommand } from '../sim/simulator.ts';
import { kvAbd } from '../protocols/kv/abd.ts';
import { kvCrdt } from '../protocols/kv/crdt.ts';
import { kvPrimaryBackup } from '../protocols/kv/primary-backup.ts';
import { kvRaft } from '../protocols/kv/raft.ts';
import type { Tolerance } from './explain.ts';
import { kvCheck, kvRegisterWorkload, kvWorkload } from './kv-workload.ts';
import type { RunSpec } from './spec.ts';

type AnyStack = StackSpec<unknown, unknown, unknown>;

export interface CheckOptions {
  readonly nodes: readonly NodeId[];
  readonly correct: 'never-crashed' | 'up-at-end';
  readonly byzantine: readonly NodeId[];
}

/** When a run's fault phase ends and when the run ends (ms). */
export interface RunPhases {
  readonly faultPhaseMs: number;
  readonly runMs: number;
}

export interface ProtocolEntry {
  readonly name: string;
  readonly kind: 'link' | 'broadcast' | 'kv';
  readonly description: string;
  /** What it is built to survive, for the cells' computed explanations (explain.ts). */
  readonly tolerance: Tolerance;
  stack(spec: RunSpec): AnyStack;
  /** Length of its runs' fault phase (default 2,000 ms). */
  readonly faultPhaseMs?: number;
  /** Length of its runs' healed liveness phase (default 30,000 ms). */
  readonly livenessMs?: number;
  /**
   * Seeds per cell in the default matrix (default DEFAULT_MATRIX_SEEDS): fewer for rows whose
   * runs cost more, as long as bench/matrix-stability.ts finds the same forms over 2,000 seeds.
   */
  readonly matrixSeeds?: number;
  /** How a generic liar rewrites this protocol's messages (default: its innermost `payload`). */
  readonly tamper?: (msg: unknown, forged: string) => unknown;
  /** Protocol-specific adversary run by the i-th Byzantine node (else the generic tamperer). */
  byzantineStack?(spec: RunSpec, i: number): AnyStack;
  workload(
    nodes: readonly NodeId[],
    messages: number,
    spanMs: number,
    rng: Rng,
    phases: RunPhases,
  ): ScheduledCommand<unknown>[];
  check(trace: readonly TraceEvent[], opts: CheckOptions): Verdict[];
}

/** Each node sends `messages` messages to random other nodes at random times in [0, spanMs). */
export function linkWorkload(
  nodes: readonly NodeId[],
  messages: number,
  spanMs: number,
  rng: Rng,
): ScheduledCommand<unknown>[] {
  const out: ScheduledCommand<unknown>[] = [];
  for (const from of nodes) {
    const others = nodes.filter((n) => n !== from);
    for (let k = 0; k < messages && others.length > 0; k++) {
      const to = others[rng.int(others.length)] as NodeId;
      out.push({
        at: rng.int(Math.max(1, spanMs)),
        node: from,
        cmd: { type: 'send', to, payload: `${from}>${to}#${k}` },
      });
    }
  }
  return out.sort((a, b) => a.at - b.at);
}

/** Each node broadcasts `messages` messages at random times in [0, spanMs). */
export function broadcastWorkload(
  nodes: readonly NodeId[],
  messages: number,
  spanMs: number,
  rng: Rng,
): ScheduledCommand<unknown>[] {
  const out: ScheduledCommand<unknown>[] = [];
  for (const from of nodes) {
    for (let k = 0; k < messages; k++) {
      out.push({
        at: rng.int(Math.max(1, spanMs)),
        node: from,
        cmd: { type: 'broadcast', payload: `${from}#${k}` },
      });
    }
  }
  return out.sort((a, b) => a.at - b.at);
}

/** The correct processes of a run: by the crash model, minus the Byzantine ones. */
export function correctNodes(trace: readonly TraceEvent[], opts: CheckOptions): NodeId[] {
  const isCorrect = correctProcesses(indexTrace(trace), opts.correct);
  return opts.nodes.filter((n) => isCorrect(n) && !opts.byzantine.includes(n));
}

/** Perfect-link specification on deliveries or on durable applications. */
function linkCheck(count: CountMode) {
  return (trace: readonly TraceEvent[], opts: CheckOptions): Verdict[] => {
    const ix = indexTrace(trace);
    const isCorrect = correctProcesses(ix, opts.correct);
    const correct = opts.nodes.filter((n) => isCorrect(n) && !opts.byzantine.includes(n));
    const o = { count, correct, byzantine: opts.byzantine };
    return [
      reliableDelivery(ix, o),
      noDuplication(ix, o),
      // With Byzantine senders, what they send is theirs to invent: judge only messages in the
      // names of correct processes (authenticity). Otherwise every delivery must have been sent.
      opts.byzantine.length > 0 ? authenticity(ix, o) : noCreation(ix, o),
    ];
  };
}

/** Links: any number of crashes; a liar lies only in its own name where frames are authenticated. */
function linkTolerance(durable: boolean, omission: boolean, weakness: string): Tolerance {
  return {
    crashes: (n) => n - 1,
    durable,
    omission,
    byzantine: (n, auth) => (auth ? n - 1 : 0),
    weakness,
  };
}

const GUARANTEE_TOLERANCE: Record<Guarantee, Tolerance> = {
  'at-most-once': linkTolerance(
    true,
    false,
    'at-most-once sends each message once: a lost message is never resent',
  ),
  'at-least-once': linkTolerance(
    true,
    true,
    'at-least-once never deduplicates: a message resent after a timeout (its ack lost, or only late) is delivered again',
  ),
  'exactly-once': linkTolerance(
    true,
    true,
    'exactly-once masks loss, duplication, reordering and restarts; what broke it lies outside them',
  ),
};

function guaranteeEntry(g: Guarantee, description: string): ProtocolEntry {
  return {
    name: g,
    kind: 'link',
    description,
    tolerance: GUARANTEE_TOLERANCE[g],
    stack: () => channel({ guarantee: g }),
    workload: linkWorkload,
    check: linkCheck(g === 'at-least-once' ? 'deliveries' : 'applications'),
  };
}

const ENTRIES: ProtocolEntry[] = [
  {
    name: 'fair-loss',
    kind: 'link',
    description: 'fair-loss link: send once, deliver whatever arrives',
    tolerance: linkTolerance(
      true,
      false,
      'a fair-loss link sends once and never deduplicates: a loss is final, a network duplicate is delivered again',
    ),
    stack: () => fairLossLink,
    workload: linkWorkload,
    check: linkCheck('deliveries'),
  },
  {
    name: 'perfect',
    kind: 'link',
    description: 'perfect link: retransmit until acked, dedup at the receiver (volatile state)',
    tolerance: linkTolerance(
      false,
      true,
      'the perfect link keeps its send buffer and dedup state in memory',
    ),
    stack: () => perfectLink(),
    workload: linkWorkload,
    check: linkCheck('deliveries'),
  },
  guaranteeEntry('at-most-once', 'at-most-once: send once; durable dedup mark before delivery'),
  guaranteeEntry(
    'at-least-once',
    'at-least-once: durable send buffer, retransmit until acked, no dedup (non-idempotent op)',
  ),
  guaranteeEntry(
    'exactly-once',
    'exactly-once: at-least-once + durable dedup committed atomically with the effect',
  ),
];

/**
 * Broadcasts are judged as reliable broadcast at least (validity and agreement are liveness,
 * no duplication and no creation safety), so best-effort broadcast's missing agreement shows;
 * uniform, FIFO and causal broadcast add their own property.
 */
export function broadcastCheck(kind: BroadcastKind) {
  return (trace: readonly TraceEvent[], opts: CheckOptions) =>
    checkBroadcast(trace, kind, {
      nodes: opts.nodes,
      correct: opts.correct,
      byzantine: opts.byzantine,
    });
}

/** Crash-stop algorithms (the broadcasts over perfect links): volatile state, no Byzantine tolerance. */
function crashStopBroadcast(
  crashes: (n: number) => number,
  weakness: string,
  needs?: (n: number) => string,
): Tolerance {
  return {
    crashes,
    durable: false,
    omission: true,
    byzantine: () => 0,
    weakness,
    ...(needs === undefined ? {} : { needs }),
  };
}

/** The same tolerance with state that survives a restart (crash-recovery algorithms). */
function durableTolerance(t: Tolerance): Tolerance {
  return { ...t, durable: true };
}

const anyCrashes = (n: number): number => n - 1;
const minority = (n: number): number => Math.floor((n - 1) / 2);
const RB_WEAKNESS =
  'eager RB is not uniform: a node that delivers and crashes before its relays leave may be the only one that delivered';

/** What uniform reliable broadcast needs to deliver. */
const majorityRelays = (n: number): string =>
  `a majority (${Math.floor(n / 2) + 1} of ${n}) to relay`;

const entries: [string, string, () => AnyStack, BroadcastKind, Tolerance][] = [
  [
    'beb',
    'best-effort broadcast: send to all over perfect links (no relay)',
    () => bestEffortBroadcast(),
    'rb',
    crashStopBroadcast(
      anyCrashes,
      'best-effort broadcast does not relay: a sender that crashes midway leaves some correct nodes without its message (no agreement)',
    ),
  ],
  [
    'eager-rb',
    'eager reliable broadcast: relay on first receipt, remember what was delivered',
    () => eagerReliableBroadcast(),
    'rb',
    crashStopBroadcast(anyCrashes, RB_WEAKNESS),
  ],
  [
    'urb',
    'majority-ack uniform reliable broadcast: deliver once a majority has relayed',
    () => uniformReliableBroadcast(),
    'urb',
    crashStopBroadcast(
      minority,
      'uniform RB delivers only once a majority has relayed',
      majorityRelays,
    ),
  ],
  [
    'fifo-rb',
    'FIFO reliable broadcast: eager RB delivering each origin in order',
    () => fifoReliableBroadcast(),
    'fifo',
    crashStopBroadcast(anyCrashes, RB_WEAKNESS),
  ],
  [
    'causal',
    'causal broadcast: eager RB + vector clocks (waiting causal order)',
    () => causalBroadcast(),
    'causal',
    crashStopBroadcast(anyCrashes, RB_WEAKNESS),
  ],
];

for (const [name, description, stack, kind, tolerance] of entries) {
  ENTRIES.push({
    name,
    kind: 'broadcast',
    description,
    tolerance,
    stack,
    workload: broadcastWorkload,
    check: broadcastCheck(kind),
  });
}

/** A lying gossip hub or member rewrites the payloads of the items it forwards. */
function tamperGossip(msg: unknown, forged: string): unknown {
  const m = msg as { m?: unknown };
  return Array.isArray(m.m)
    ? { ...(msg as object), m: m.m.map((it: unknown) => ({ ...(it as object), v: forged })) }
    : msg;
}

ENTRIES.push({
  name: 'gossip-rb',
  kind: 'broadcast',
  description:
    'efficient reliable broadcast: hub dissemination with batching, anti-entropy repair (crash-stop)',
  tolerance: crashStopBroadcast(
    anyCrashes,
    'the gossip broadcast trusts what hubs forward (crash-stop, no Byzantine tolerance)',
  ),
  stack: () => gossipBroadcast(),
  tamper: tamperGossip,
  workload: broadcastWorkload,
  check: broadcastCheck('rb'),
});

ENTRIES.push({
  name: 'bracha',
  kind: 'broadcast',
  description:
    'Byzantine reliable broadcast (Bracha double echo), configured for f = ⌊(N−1)/3⌋; needs authenticated links (HMAC in the byzantine and byzantine-over columns)',
  tolerance: {
    crashes: (n) => Math.floor((n - 1) / 3),
    durable: false,
    omission: true,
    byzantine: (n, auth) => (auth ? Math.floor((n - 1) / 3) : 0),
    needs: (n) => {
      const f = Math.floor((n - 1) / 3);
      return `${Math.floor((n + f) / 2) + 1} ECHOes (more than (N + f) / 2) and ${2 * f + 1} READYs`;
    },
    weakness: 'Bracha keeps its state in memory only',
  },
  // Configured for the f it was told to tolerate; `byzantine-over` then puts more liars in.
  stack: (spec) => brachaBroadcast({ f: Math.floor((spec.nodes - 1) / 3), allowUnsafeF: true }),
  // The first liar equivocates (A to half the nodes, B to the rest); any others collude with it.
  byzantineStack: (_spec, i) => (i === 0 ? equivocator({ votes: 'split' }) : colluder()),
  // Without authentication the liars also impersonate correct nodes; what they forge in a
  // victim's name is one value per slot, so that forged ECHOes and READYs agree with each other.
  tamper: (msg, _forged) => {
    const link = msg as { payload?: unknown };
    if (!isBrachaMsg(link.payload)) return msg;
    const b = link.payload;
    return { ...(msg as object), payload: { ...b, m: `forged for (${b.o}, ${b.n})` } };
  },
  workload: broadcastWorkload,
  check: broadcastCheck('brb'),
});

/**
 * A lying replica of a store whose messages carry data in `fields`: every such field of what it
 * sends (values written, answered, replicated, at any depth) becomes the forged text, and the
 * rest (views, terms, sequence numbers) stays well-formed, so the lie is believed.
 */
function tamperFields(fields: readonly string[]): (msg: unknown, forged: string) => unknown {
  const data = new Set(fields);
  return (msg, forged) => {
    const walk = (v: unknown, depth: number): unknown => {
      if (depth > 8 || typeof v !== 'object' || v === null) return v;
      if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        out[k] = data.has(k) && typeof x !== 'object' ? forged : walk(x, depth + 1);
      }
      return out;
    };
    return walk(msg, 0);
  };
}

/** A lying replica of Raft, ABD or the CRDT store (their data fields: value, output, v, to, from). */
export const tamperKv = tamperFields(['value', 'output', 'v', 'to', 'from']);

/** A lying primary-backup replica: its data fields are value, o (an output), to and from; v is a view. */
const tamperPrimaryBackup = tamperFields(['value', 'o', 'to', 'from']);

/**
 * Seeds per cell of a store's row in the default matrix: a store's run costs 5-20 times a
 * broadcast's, and 40 seeds give every store cell its 2,000-seed form (bench/matrix-stability.ts).
 */
export const KV_MATRIX_SEEDS = 40;

/** What every store row shares: the workload, its specification, its fault phase, its liars. */
const KV_ROW = {
  kind: 'kv' as const,
  workload: kvWorkload,
  check: kvCheck,
  // Long enough for failovers and elections to happen inside the fault phase.
  faultPhaseMs: 5000,
  // Ten election timeouts, three client backoff caps: time enough to finish after the heal.
  livenessMs: 15_000,
  matrixSeeds: KV_MATRIX_SEEDS,
  tamper: tamperKv,
};

const majorityNeeds = (n: number): string =>
  `a majority (${Math.floor(n / 2) + 1} of ${n}) up and connected`;

/** A store: durable, masks omission, no Byzantine tolerance; `crashes` and its weakness vary. */
function storeTolerance(
  crashes: (n: number) => number,
  weakness: string,
  needs?: (n: number) => string,
): Tolerance {
  return durableTolerance(crashStopBroadcast(crashes, weakness, needs));
}

/** A consensus store: a minority may crash (and recover from its log). */
const RAFT_TOLERANCE = storeTolerance(minority, 'Raft commits only with a majority', majorityNeeds);

ENTRIES.push(
  {
    ...KV_ROW,
    name: 'kv-raft',
    description:
      'replicated key-value store on Raft: pre-vote, check-quorum, batching, snapshots, ReadIndex reads, client sessions (exactly-once retries)',
    tolerance: RAFT_TOLERANCE,
    stack: () => kvRaft(),
  },
  {
    ...KV_ROW,
    name: 'kv-raft-nosession',
    description: 'the same Raft store without client sessions: a retried operation applies again',
    tolerance: {
      ...RAFT_TOLERANCE,
      weakness:
        'without sessions a retry after a lost reply is a new operation: an increment applies twice',
    },
    stack: () => kvRaft({ sessions: false }),
  },
);

ENTRIES.push(
  {
    ...KV_ROW,
    name: 'kv-abd',
    description:
      'leaderless quorum register store (ABD, multi-writer): reads and writes consult a majority, reads write back; incr and cas are a read then a write',
    tolerance: storeTolerance(
      minority,
      "ABD's increment and compare-and-set are a read then a write: two concurrent ones both read the old value (a lost update)",
      majorityNeeds,
    ),
    stack: () => kvAbd(),
  },
  {
    ...KV_ROW,
    name: 'kv-abd-rw',
    description:
      'the same ABD store asked only what it is built for: get, put and delete (no read-modify-write)',
    tolerance: storeTolerance(minority, 'ABD reads and writes consult a majority', majorityNeeds),
    stack: () => kvAbd(),
    workload: kvRegisterWorkload,
  },
  {
    ...KV_ROW,
    name: 'kv-crdt',
    description:
      'eventually consistent store: PN-counters and last-writer-wins registers, local reads and writes, anti-entropy',
    tolerance: storeTolerance(
      anyCrashes,
      'the eventually consistent store answers from its own replica: a read may be stale (not linearizable), and last-writer-wins drops one of two concurrent writes',
    ),
    stack: () => kvCrdt(),
  },
  {
    ...KV_ROW,
    name: 'kv-primary-backup',
    description:
      'naive primary-backup: the primary applies and forwards to the backups it believes alive; heartbeat failover with no quorum',
    tolerance: storeTolerance(
      anyCrashes,
      'primary-backup fails over without a quorum: a backup that stops hearing the primary promotes itself, and two primaries accept writes (split-brain)',
    ),
    stack: () => kvPrimaryBackup(),
    tamper: tamperPrimaryBackup,
  },
);

/**
 * The logged (crash-recovery) broadcasts: the workloads and specifications of their crash-stop
 * rows, read from the delivered log (logged-log.ts: a delivery is its durable append, the
 * `deliver` output the notification a crash may cut off), plus `logged-delivery`: every
 * notification follows its append, once.
 */
function loggedBroadcastCheck(kind: BroadcastKind) {
  const spec = broadcastCheck(kind);
  return (trace: readonly TraceEvent[], opts: CheckOptions): Verdict[] => {
    const r = loggedDelivery(trace, opts.byzantine);
    const notified: Verdict =
      r.fault === undefined
        ? { property: 'logged-delivery', kind: 'safety', holds: true, checked: r.checked }
        : {
            property: 'logged-delivery',
            kind: 'safety',
            holds: false,
            checked: r.checked,
            violation: { message: r.fault.message, events: r.fault.events },
          };
    return [...spec(logView(trace), opts), notified];
  };
}

const LOGGED_RB_WEAKNESS =
  'logged eager RB is not uniform: a node that delivers and crashes for good before its relays leave may be the only one that delivered';
const loggedRows: [string, string, () => AnyStack, BroadcastKind, Tolerance][] = [
  [
    'logged-beb',
    'logged best-effort broadcast (crash-recovery version of beb): the broadcast and every delivery stored before they go out, sends resent after a restart',
    () => loggedBestEffortBroadcast(),
    'rb',
    durableTolerance(
      crashStopBroadcast(
        anyCrashes,
        'logged best-effort broadcast does not relay: a sender that crashes for good midway through its sends leaves some correct nodes without its message (no agreement)',
      ),
    ),
  ],
  [
    'logged-urb',
    'logged majority-ack uniform reliable broadcast (crash-recovery version of urb): pending messages stored, re-asked after a restart',
    () => loggedUniformBroadcast(),
    'urb',
    durableTolerance(
      crashStopBroadcast(
        minority,
        'logged uniform RB delivers only once a majority has relayed',
        majorityRelays,
      ),
    ),
  ],
  [
    'logged-eager-rb',
    'logged eager reliable broadcast (crash-recovery version of eager-rb): deliveries stored before they are announced, relays resent after a restart',
    () => loggedEagerReliableBroadcast(),
    'rb',
    durableTolerance(crashStopBroadcast(anyCrashes, LOGGED_RB_WEAKNESS)),
  ],
  [
    'logged-fifo-rb',
    'logged FIFO reliable broadcast (crash-recovery version of fifo-rb): held-back messages stored too',
    () => loggedFifoReliableBroadcast(),
    'fifo',
    durableTolerance(crashStopBroadcast(anyCrashes, LOGGED_RB_WEAKNESS)),
  ],
  [
    'logged-causal',
    'logged causal broadcast (crash-recovery version of causal): vector clock and held-back messages stored too',
    () => loggedCausalBroadcast(),
    'causal',
    durableTolerance(crashStopBroadcast(anyCrashes, LOGGED_RB_WEAKNESS)),
  ],
];

/**
 * Seeds per cell of a logged broadcast's row in the default matrix: its runs persist every step
 * (1.2-1.4 times a crash-stop row's cost), and 40 seeds give every one of its cells its
 * 2,000-seed form (bench/matrix-stability.ts; the latest first violation is at seed 18).
 */
export const LOGGED_MATRIX_SEEDS = 40;

ENTRIES.push(
  ...loggedRows.map(([name, description, stack, kind, tolerance]): ProtocolEntry => ({
    name,
    kind: 'broadcast',
    matrixSeeds: LOGGED_MATRIX_SEEDS,
    description,
    tolerance,
    stack,
    workload: broadcastWorkload,
    check: loggedBroadcastCheck(kind),
  })),
  {
    name: 'logged-gossip-rb',
    kind: 'broadcast',
    matrixSeeds: LOGGED_MATRIX_SEEDS,
    description:
      'logged gossip broadcast (crash-recovery version of gossip-rb): each first receipt stored (mark, payload, delivered-log entry) before it is announced; anti-entropy repairs after a restart',
    tolerance: durableTolerance(
      crashStopBroadcast(
        anyCrashes,
        'the logged gossip broadcast trusts what hubs forward (no Byzantine tolerance)',
      ),
    ),
    stack: () => gossipBroadcast({ durable: true }),
    tamper: tamperGossip,
    workload: broadcastWorkload,
    check: loggedBroadcastCheck('rb'),
  },
  {
    name: 'logged-bracha',
    kind: 'broadcast',
    matrixSeeds: LOGGED_MATRIX_SEEDS,
    description:
      'logged Byzantine reliable broadcast (crash-recovery version of bracha): own and received votes stored before they count or go out, configured for f = ⌊(N−1)/3⌋; needs authenticated links',
    tolerance: {
      crashes: (n) => Math.floor((n - 1) / 3),
      durable: true,
      omission: true,
      byzantine: (n, auth) => (auth ? Math.floor((n - 1) / 3) : 0),
      needs: (n) => {
        const f = Math.floor((n - 1) / 3);
        return `${Math.floor((n + f) / 2) + 1} ECHOes (more than (N + f) / 2) and ${2 * f + 1} READYs`;
      },
      weakness: 'logged Bracha needs more than (N + f) / 2 processes up to echo',
    },
    stack: (spec) =>
      loggedBrachaBroadcast({ f: Math.floor((spec.nodes - 1) / 3), allowUnsafeF: true }),
    // The same adversaries and forgeries as the bracha row (its messages are Bracha's).
    byzantineStack: (_spec, i) => (i === 0 ? equivocator({ votes: 'split' }) : colluder()),
    tamper: (msg, _forged) => {
      const link = msg as { payload?: unknown };
      if (!isBrachaMsg(link.payload)) return msg;
      const b = link.payload;
      return { ...(msg as object), payload: { ...b, m: `forged for (${b.o}, ${b.n})` } };
    },
    workload: broadcastWorkload,
    check: loggedBroadcastCheck('brb'),
  },
);

/** Every protocol the registry knows, the replicated stores (kind `kv`) included. */
export function protocols(): readonly ProtocolEntry[] {
  return ENTRIES;
}

/** The rows of the default matrix (`npm start`): every protocol. */
export function defaultProtocols(): readonly ProtocolEntry[] {
  return ENTRIES;
}

export function findProtocol(name: string): ProtocolEntry {
  const e = ENTRIES.find((x) => x.name === name);
  if (e === undefined) {
    throw new RangeError(
      `unknown protocol "${name}"; known: ${ENTRIES.map((x) => x.name).join(', ')}`,
    );
  }
  return e;
}
