/**
 * Broadcast benchmark (simulated: virtual time, seeded): eager reliable broadcast (the O(N²)
 * baseline, over perfect links, acks included) against the efficient gossip broadcast
 * (src/protocols/broadcast/gossip.ts, over fair-loss messages). Two parts:
 *
 *   a. The target scenario (Maelstrom's broadcast workload): 25 nodes, one-way latency uniform in
 *      90–110 ms on every link, 100 client operations per second for 20 s with staggered arrivals
 *      (gaps uniform in 0–20 ms), each a broadcast (50%) or a read at a random node. A read is
 *      answered from the node's local state: it is a client operation that costs no inter-node
 *      message, so it is counted but never reaches the simulator. A partition nemesis
 *      (generateNemesis: 2 partitions, random cuts, one-way with probability 1/4, each healed,
 *      then heal-all at the end of the workload), then a healed tail of 10 s.
 *      Messages per operation = every inter-node frame sent during the whole run (tail included,
 *      frames a partition dropped included) / client operations, as Maelstrom counts them.
 *      Latency = time from the broadcast command to its delivery at the last node. Lost =
 *      broadcasts some node (all are correct: no crashes here) never delivered by the end.
 *      Latency is reported over ALL broadcasts, and over the UNAFFECTED ones: not issued while a
 *      partition was in effect nor in the 600 ms (the max target) before one began. A broadcast
 *      that a partition cuts off cannot be delivered across it before the heal, so its latency
 *      is at least the rest of the partition; for those the time from the heal to delivery
 *      everywhere (repair) is shown. The targets are judged on the unaffected broadcasts (and
 *      the figures over all broadcasts are printed next to them).
 *   b. For N = 5, 25, 100 (same latency, no faults): 500 broadcasts at 50/s from random nodes
 *      (only the first 100 for eager RB at N = 100: it sends ~20,000 messages per broadcast).
 *      Messages per broadcast (every frame of the run, tail of 5 s included), median and max
 *      latency to delivery everywhere.
 *
 * Usage: node --import tsx bench/broadcast.ts [--seed 1] [--nodes 25] [--rate 100]
 *   [--duration 20] [--broadcast-ratio 0.5] [--partitions 2] [--tail 10] [--batch-ms 50]
 *   [--hubs H] [--table-broadcasts 500] [--eager-n100-broadcasts 100] [--skip-table]
 */

import { pathToFileURL } from 'node:url';
import { nodeIds, type NodeId } from '../src/core/ids.ts';
import type { StackSpec } from '../src/core/protocol.ts';
import { createRng } from '../src/core/rng.ts';
import type { BroadcastCommand, BroadcastDeliver } from '../src/protocols/broadcast/base.ts';
import { eagerReliableBroadcast } from '../src/protocols/broadcast/eager.ts';
import {
  defaultHubs,
  gossipBroadcast,
  type GossipOptions,
} from '../src/protocols/broadcast/gossip.ts';
import { generateNemesis, type TimedAction } from '../src/sim/nemesis.ts';
import type { Delay } from '../src/sim/network.ts';
import { Simulator, type ScheduledCommand } from '../src/sim/simulator.ts';

// ------------------------------------------------------------------------------ the runs

export const DELAY: Delay = { kind: 'uniform', minMs: 90, maxMs: 110 };

export const TARGETS = { msgsPerOp: 20, medianMs: 400, maxMs: 600, lost: 0 } as const;

export type Kind = 'eager' | 'gossip';

export interface LatencyStats {
  readonly count: number;
  readonly median: number;
  readonly max: number;
}

export interface RunResult {
  readonly broadcasts: number;
  readonly messages: number;
  /** Per accepted broadcast, in command order: when issued, when delivered by the last node. */
  readonly latencies: readonly { readonly issuedAt: number; readonly everywhereAt?: number }[];
  readonly lost: number;
  readonly duplicates: number;
  readonly wallMs: number;
  /** Protocol counters summed over the nodes. */
  readonly stats: Readonly<Record<string, number>>;
}

function stackFor(
  kind: Kind,
  gossip: GossipOptions,
): StackSpec<unknown, BroadcastCommand, BroadcastDeliver> {
  // The run never looks at messages: both stacks fit StackSpec<unknown, …> (methods are bivariant).
  return kind === 'eager' ? eagerReliableBroadcast() : gossipBroadcast(gossip);
}

/** One simulated run: objects on the wire, no trace (an observer takes the timings). */
export function runBroadcast(
  kind: Kind,
  opts: {
    readonly seed: number;
    readonly nodes: readonly NodeId[];
    readonly workload: readonly ScheduledCommand<BroadcastCommand>[];
    readonly nemesis?: readonly TimedAction[];
    readonly endMs: number;
    readonly gossip?: GossipOptions;
  },
): RunResult {
  const n = opts.nodes.length;
  const count = new Map<NodeId, number>();
  const issued: { issuedAt: number; everywhereAt?: number }[] = [];
  const byKey = new Map<string, { entry: { issuedAt: number; everywhereAt?: number } }>();
  const seenAt = new Map<string, Set<NodeId>>();
  let duplicates = 0;
  const sim = new Simulator({
    seed: opts.seed,
    nodes: opts.nodes,
    stack: stackFor(kind, opts.gossip ?? {}),
    network: { delay: DELAY },
    wire: { encode: false },
    record: false,
    workload: opts.workload,
    nemesis: opts.nemesis ?? [],
    observer: (e) => {
      if (e.type === 'command') {
        if (!e.accepted) return;
        const k = (count.get(e.node) ?? 0) + 1;
        count.set(e.node, k);
        const entry = { issuedAt: e.t };
        issued.push(entry);
        byKey.set(`${e.node}#${k}`, { entry });
      } else if (e.type === 'deliver') {
        const d = e.event as BroadcastDeliver;
        const key = `${d.origin}#${d.n}`;
        let nodes = seenAt.get(key);
        if (nodes === undefined) {
          nodes = new Set();
          seenAt.set(key, nodes);
        }
        if (nodes.has(e.node)) {
          duplicates++;
          return;
        }
        nodes.add(e.node);
        if (nodes.size === n) {
          const b = byKey.get(key);
          if (b !== undefined) b.entry.everywhereAt = e.t;
        }
      }
    },
  });
  const t0 = performance.now();
  sim.runUntil(opts.endMs);
  const wallMs = performance.now() - t0;
  const stats: Record<string, number> = {};
  for (const id of opts.nodes) {
    for (const [k, v] of Object.entries(sim.protocol(id)?.stats() ?? {})) {
      stats[k] = (stats[k] ?? 0) + v;
    }
  }
  return {
    broadcasts: issued.length,
    messages: sim.counters.sends,
    latencies: issued,
    lost: issued.filter((x) => x.everywhereAt === undefined).length,
    duplicates,
    wallMs,
    stats,
  };
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

function latencyStats(xs: readonly number[]): LatencyStats {
  return {
    count: xs.length,
    median: median(xs),
    max: xs.length === 0 ? Number.NaN : Math.max(...xs),
  };
}

export interface TargetOptions {
  readonly seed: number;
  readonly nodes: number;
  /** Client operations per second. */
  readonly rate: number;
  readonly durationMs: number;
  /** Fraction of operations that are broadcasts (the rest are reads). */
  readonly broadcastRatio: number;
  readonly partitions: number;
  readonly tailMs: number;
  readonly gossip: GossipOptions;
}

export const TARGET_DEFAULTS: TargetOptions = {
  seed: 1,
  nodes: 25,
  rate: 100,
  durationMs: 20_000,
  broadcastRatio: 0.5,
  partitions: 2,
  tailMs: 10_000,
  gossip: {},
};

export interface Scenario {
  readonly nodes: readonly NodeId[];
  readonly ops: number;
  readonly reads: number;
  readonly broadcasts: readonly ScheduledCommand<BroadcastCommand>[];
  readonly nemesis: readonly TimedAction[];
  /** Intervals [start, heal) during which some link was cut. */
  readonly partitions: readonly (readonly [number, number])[];
  readonly endMs: number;
}

/** The seeded workload (Maelstrom-style staggered ops) and partition schedule. */
export function targetScenario(o: TargetOptions): Scenario {
  const nodes = nodeIds(o.nodes);
  const rng = createRng(o.seed).fork('workload');
  const broadcasts: ScheduledCommand<BroadcastCommand>[] = [];
  let ops = 0;
  let reads = 0;
  const gap = 1000 / o.rate;
  for (let t = rng.next() * 2 * gap; t < o.durationMs; t += rng.next() * 2 * gap) {
    ops++;
    const node = nodes[rng.int(nodes.length)] as NodeId;
    if (rng.chance(o.broadcastRatio)) {
      const at = Math.floor(t);
      broadcasts.push({ at, node, cmd: { type: 'broadcast', payload: `v${ops}` } });
    } else {
      reads++;
    }
  }
  const nemesis = generateNemesis(createRng(o.seed).fork('nemesis'), nodes, {
    faultPhaseMs: o.durationMs,
    crashes: 0,
    maxDown: 0,
    recover: false,
    partitions: o.partitions,
  });
  return {
    nodes,
    ops,
    reads,
    broadcasts,
    nemesis,
    partitions: partitionWindows(nemesis),
    endMs: o.durationMs + o.tailMs,
  };
}

export function partitionWindows(nemesis: readonly TimedAction[]): [number, number][] {
  const out: [number, number][] = [];
  let start: number | undefined;
  for (const a of nemesis) {
    const k = a.action.kind;
    if ((k === 'partition' || k === 'partition-oneway') && start === undefined) start = a.at;
    if ((k === 'heal' || k === 'heal-all') && start !== undefined) {
      out.push([start, a.at]);
      start = undefined;
    }
  }
  if (start !== undefined) out.push([start, Number.POSITIVE_INFINITY]);
  return out;
}

export interface TargetFigures {
  readonly kind: Kind;
  readonly ops: number;
  readonly broadcasts: number;
  readonly messages: number;
  readonly msgsPerOp: number;
  readonly msgsPerBroadcast: number;
  readonly all: LatencyStats;
  readonly unaffected: LatencyStats;
  readonly affected: LatencyStats;
  /** Affected broadcasts: from the heal (or the broadcast, if later) to delivery everywhere. */
  readonly repairAfterHeal: LatencyStats;
  readonly lost: number;
  readonly duplicates: number;
  readonly wallMs: number;
  readonly stats: Readonly<Record<string, number>>;
  /** Every target met (latency judged on the unaffected broadcasts). */
  readonly met: { msgsPerOp: boolean; median: boolean; max: boolean; lost: boolean };
}

/** The target scenario for one protocol. */
export function targetRun(kind: Kind, o: TargetOptions, sc = targetScenario(o)): TargetFigures {
  const r = runBroadcast(kind, {
    seed: o.seed,
    nodes: sc.nodes,
    workload: sc.broadcasts,
    nemesis: sc.nemesis,
    endMs: sc.endMs,
    gossip: o.gossip,
  });
  const all: number[] = [];
  const unaffected: number[] = [];
  const affected: number[] = [];
  const repair: number[] = [];
  for (const l of r.latencies) {
    if (l.everywhereAt === undefined) continue;
    const lat = l.everywhereAt - l.issuedAt;
    all.push(lat);
    const w = sc.partitions.find(([s, e]) => l.issuedAt >= s - TARGETS.maxMs && l.issuedAt < e);
    if (w === undefined) {
      unaffected.push(lat);
    } else {
      affected.push(lat);
      repair.push(Math.max(0, l.everywhereAt - Math.max(w[1], l.issuedAt)));
    }
  }
  const u = latencyStats(unaffected);
  const msgsPerOp = r.messages / Math.max(1, sc.ops);
  return {
    kind,
    ops: sc.ops,
    broadcasts: r.broadcasts,
    messages: r.messages,
    msgsPerOp,
    msgsPerBroadcast: r.messages / Math.max(1, r.broadcasts),
    all: latencyStats(all),
    unaffected: u,
    affected: latencyStats(affected),
    repairAfterHeal: latencyStats(repair),
    lost: r.lost,
    duplicates: r.duplicates,
    wallMs: r.wallMs,
    stats: r.stats,
    met: {
      msgsPerOp: msgsPerOp <= TARGETS.msgsPerOp,
      median: u.median <= TARGETS.medianMs,
      max: u.max <= TARGETS.maxMs,
      lost: r.lost === TARGETS.lost && r.duplicates === 0,
    },
  };
}

// ------------------------------------------------------------------------------ main

interface Flags {
  readonly target: TargetOptions;
  readonly tableBroadcasts: number;
  readonly eagerN100Broadcasts: number;
  readonly skipTable: boolean;
}

const USAGE =
  'usage: node --import tsx bench/broadcast.ts [--seed 1] [--nodes 25] [--rate 100] [--duration 20] ' +
  '[--broadcast-ratio 0.5] [--partitions 2] [--tail 10] [--batch-ms 50] [--hubs H] ' +
  '[--table-broadcasts 500] [--eager-n100-broadcasts 100] [--skip-table]';

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

interface FlagSpec {
  readonly min: number;
  readonly max: number;
  readonly integer: boolean;
  /** The lower bound is exclusive. */
  readonly above?: boolean;
}

const FLAGS: Record<string, FlagSpec> = {
  seed: { min: 0, max: 2 ** 32 - 1, integer: true },
  nodes: { min: 2, max: 500, integer: true },
  rate: { min: 0, max: 10_000, integer: false, above: true },
  duration: { min: 0, max: 3600, integer: false, above: true },
  'broadcast-ratio': { min: 0, max: 1, integer: false, above: true },
  partitions: { min: 0, max: 100, integer: true },
  tail: { min: 0, max: 3600, integer: false },
  'batch-ms': { min: 0, max: 10_000, integer: true },
  hubs: { min: 1, max: 500, integer: true },
  'table-broadcasts': { min: 1, max: 100_000, integer: true },
  'eager-n100-broadcasts': { min: 1, max: 10_000, integer: true },
};

export function parseFlags(argv: readonly string[]): Flags {
  const values = new Map<string, number>();
  let skipTable = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    if (a === '--skip-table') {
      skipTable = true;
      continue;
    }
    if (!a.startsWith('--')) fail(`unexpected argument ${JSON.stringify(a)}; ${USAGE}`);
    const eq = a.indexOf('=');
    const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
    const spec = FLAGS[name];
    if (spec === undefined) fail(`unknown flag --${name}; ${USAGE}`);
    const text = eq < 0 ? argv[++i] : a.slice(eq + 1);
    const v = Number(text);
    const want =
      `${spec.integer ? 'an integer' : 'a number'} ${spec.above === true ? '>' : '≥'} ${spec.min}` +
      ` and ≤ ${spec.max}`;
    if (
      text === undefined ||
      text.trim() === '' ||
      !Number.isFinite(v) ||
      (spec.integer && !Number.isInteger(v)) ||
      (spec.above === true ? v <= spec.min : v < spec.min) ||
      v > spec.max
    ) {
      fail(
        `--${name} must be ${want}, got ${text === undefined ? 'nothing' : JSON.stringify(text)}`,
      );
    }
    values.set(name, v);
  }
  const get = (name: string, fallback: number): number => values.get(name) ?? fallback;
  const d = TARGET_DEFAULTS;
  const hubs = values.get('hubs');
  const gossip: GossipOptions = {
    ...(values.has('batch-ms') ? { batchMs: get('batch-ms', 50) } : {}),
    ...(hubs === undefined ? {} : { hubs }),
  };
  return {
    target: {
      seed: get('seed', d.seed),
      nodes: get('nodes', d.nodes),
      rate: get('rate', d.rate),
      durationMs: Math.round(get('duration', d.durationMs / 1000) * 1000),
      broadcastRatio: get('broadcast-ratio', d.broadcastRatio),
      partitions: get('partitions', d.partitions),
      tailMs: Math.round(get('tail', d.tailMs / 1000) * 1000),
      gossip,
    },
    tableBroadcasts: get('table-broadcasts', 500),
    eagerN100Broadcasts: get('eager-n100-broadcasts', 100),
    skipTable,
  };
}

const int = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en') : '—');
const fix = (x: number, digits = 1): string => (Number.isFinite(x) ? x.toFixed(digits) : '—');
const secs = (ms: number): string => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : '∞');

function row(cells: readonly string[], widths: readonly number[]): string {
  return cells
    .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
    .join('  ');
}

function describeAction(a: TimedAction): string {
  const x = a.action;
  const list = (ns: readonly NodeId[]) => `{${ns.join(' ')}}`;
  switch (x.kind) {
    case 'partition':
      return `partition ${x.groups.map(list).join(' | ')}`;
    case 'partition-oneway':
      return `one-way partition ${list(x.from)} → ${list(x.to)} cut`;
    case 'heal':
      return 'heal';
    case 'heal-all':
      return 'heal-all (end of the fault phase)';
    default:
      return x.kind;
  }
}

function mark(ok: boolean): string {
  return ok ? 'met' : 'NOT met';
}

function main(argv: readonly string[]): void {
  const flags = parseFlags(argv);
  const o = flags.target;
  const sc = targetScenario(o);
  const hubs = Math.min(o.nodes, o.gossip.hubs ?? defaultHubs(o.nodes));
  const wall0 = performance.now();
  console.log(
    `a. target scenario: ${o.nodes} nodes, one-way latency uniform ${DELAY.kind === 'uniform' ? `${DELAY.minMs}–${DELAY.maxMs}` : '?'} ms, ` +
      `${fix(o.rate, 0)} ops/s for ${secs(o.durationMs)} s (staggered), seed ${o.seed}`,
  );
  console.log(
    `   workload: ${sc.ops} client ops = ${sc.broadcasts.length} broadcasts + ${sc.reads} reads ` +
      `(mix ${fix(o.broadcastRatio * 100, 0)}% broadcasts / ${fix(100 - o.broadcastRatio * 100, 0)}% reads; a read costs no inter-node message)`,
  );
  console.log(
    `   gossip: ${hubs} hub(s), batch ${o.gossip.batchMs ?? 50} ms, anti-entropy every 1000 ms; eager RB: perfect-link defaults`,
  );
  console.log(
    `   nemesis (generateNemesis, ${o.partitions} partition(s)), then healed tail ${secs(o.tailMs)} s:`,
  );
  for (const a of sc.nemesis) console.log(`     t=${secs(a.at)} s  ${describeAction(a)}`);
  const windows = sc.partitions.map(([s, e]) => `${secs(s)}–${secs(e)} s`).join(', ');
  console.log(`   links cut during: ${windows === '' ? 'never' : windows}`);

  const eager = targetRun('eager', o, sc);
  const gossip = targetRun('gossip', o, sc);
  const w = [44, 14, 14, 9];
  console.log('');
  console.log(row(['', 'eager RB', 'gossip', 'eager/gossip'], w));
  const line = (label: string, e: number, g: number, f: (x: number) => string) => {
    console.log(row([label, f(e), f(g), `${fix(e / g, 1)}x`], w));
  };
  line('inter-node messages', eager.messages, gossip.messages, int);
  line('messages per operation', eager.msgsPerOp, gossip.msgsPerOp, (x) => fix(x, 2));
  line('messages per broadcast', eager.msgsPerBroadcast, gossip.msgsPerBroadcast, (x) => fix(x, 1));
  const lat = (label: string, pick: (f: TargetFigures) => LatencyStats) => {
    const e = pick(eager);
    const g = pick(gossip);
    console.log(
      row(
        [
          `${label} (n=${g.count}) median ms`,
          int(e.median),
          int(g.median),
          `${fix(e.median / g.median, 2)}x`,
        ],
        w,
      ),
    );
    console.log(row([`${label} max ms`, int(e.max), int(g.max), `${fix(e.max / g.max, 2)}x`], w));
  };
  lat('latency, unaffected', (f) => f.unaffected);
  lat('latency, all broadcasts', (f) => f.all);
  lat('latency, partition-affected', (f) => f.affected);
  lat('repair after heal, affected', (f) => f.repairAfterHeal);
  console.log(
    row(['lost (not delivered by every node)', int(eager.lost), int(gossip.lost), ''], w),
  );
  console.log(row(['duplicate deliveries', int(eager.duplicates), int(gossip.duplicates), ''], w));
  console.log(row(['wall ms', int(eager.wallMs), int(gossip.wallMs), ''], w));
  const s = gossip.stats;
  console.log(
    `   gossip counters: ${int(s.batches ?? 0)} batches (${int(s.batchItems ?? 0)} items), ${int(s.digests ?? 0)} digests, ` +
      `${int(s.pulls ?? 0)} pulls, ${int(s.repairs ?? 0)} repairs (${int(s.repairItems ?? 0)} items), ` +
      `${int(s.duplicates ?? 0)} duplicate receipts, ${int(s.evicted ?? 0)} evicted, ${int(s.stored ?? 0)} payloads stored at the end`,
  );
  console.log('');
  console.log('   targets (latency over the unaffected broadcasts)      eager RB      gossip');
  const t = (label: string, e: boolean, g: boolean) => {
    console.log(`   ${label.padEnd(50)} ${mark(e).padStart(10)}  ${mark(g).padStart(10)}`);
  };
  t(`messages per operation ≤ ${TARGETS.msgsPerOp}`, eager.met.msgsPerOp, gossip.met.msgsPerOp);
  t(`median latency ≤ ${TARGETS.medianMs} ms`, eager.met.median, gossip.met.median);
  t(`max latency ≤ ${TARGETS.maxMs} ms`, eager.met.max, gossip.met.max);
  t('0 lost (and no duplicates)', eager.met.lost, gossip.met.lost);
  const allMet = (f: TargetFigures) => Object.values(f.met).every((x) => x);
  console.log(
    `   all four at once: eager RB ${allMet(eager) ? 'yes' : 'no'}, gossip ${allMet(gossip) ? 'yes' : 'no'}` +
      `; over ALL broadcasts (partition-affected included) gossip max is ${int(gossip.all.max)} ms ` +
      `(${gossip.all.max <= TARGETS.maxMs ? 'within' : 'NOT within'} ${TARGETS.maxMs} ms: a broadcast cut off by a partition waits for the heal)`,
  );

  if (!flags.skipTable) {
    console.log('');
    console.log(
      `b. messages per broadcast and latency, no faults, same latency; ${flags.tableBroadcasts} broadcasts at 50/s from random nodes ` +
        `(eager RB at N=100: the first ${Math.min(flags.eagerN100Broadcasts, flags.tableBroadcasts)} only), tail 5 s, seed ${o.seed}`,
    );
    const tw = [5, 10, 11, 12, 10, 9, 9, 13, 9];
    console.log(
      row(
        [
          'N',
          'proto',
          'broadcasts',
          'messages',
          'msgs/bcast',
          'median',
          'max',
          'eager/gossip',
          'wall ms',
        ],
        tw,
      ),
    );
    for (const n of [5, 25, 100]) {
      const nodes = nodeIds(n);
      const rng = createRng(o.seed).fork(`table:${n}`);
      const all: ScheduledCommand<BroadcastCommand>[] = [];
      for (let i = 0; i < flags.tableBroadcasts; i++) {
        all.push({
          at: i * 20,
          node: nodes[rng.int(n)] as NodeId,
          cmd: { type: 'broadcast', payload: `t${i}` },
        });
      }
      const results = (['eager', 'gossip'] as const).map((kind) => {
        const wl = kind === 'eager' && n === 100 ? all.slice(0, flags.eagerN100Broadcasts) : all;
        const end = (wl.at(-1)?.at ?? 0) + 5000;
        const gossipOpts: GossipOptions =
          o.gossip.batchMs === undefined ? {} : { batchMs: o.gossip.batchMs };
        return {
          kind,
          r: runBroadcast(kind, {
            seed: o.seed,
            nodes,
            workload: wl,
            endMs: end,
            gossip: gossipOpts,
          }),
        };
      });
      const per = results.map((x) => x.r.messages / Math.max(1, x.r.broadcasts));
      for (const [i, { kind, r }] of results.entries()) {
        const l = latencyStats(
          r.latencies.flatMap((x) =>
            x.everywhereAt === undefined ? [] : [x.everywhereAt - x.issuedAt],
          ),
        );
        console.log(
          row(
            [
              String(n),
              kind === 'gossip' ? `gossip ${defaultHubs(n)}h` : 'eager',
              int(r.broadcasts),
              int(r.messages),
              fix(per[i] ?? Number.NaN, 1),
              int(l.median),
              int(l.max),
              kind === 'gossip' ? `${fix((per[0] ?? 0) / (per[1] ?? 1), 1)}x` : '',
              int(r.wallMs),
            ],
            tw,
          ) + (r.lost > 0 ? `  (${r.lost} lost!)` : ''),
        );
      }
    }
  }
  console.log('');
  console.log(`total wall time ${fix((performance.now() - wall0) / 1000, 1)} s`);
}

const invoked = process.argv[1];
if (invoked !== undefined && import.meta.url === pathToFileURL(invoked).href) {
  main(process.argv.slice(2));
}
