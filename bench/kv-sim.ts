/**
 * Replicated key-value store benchmark (simulated: virtual time, seeded): kv-raft
 * (src/protocols/kv/raft.ts) with batching (batchMax 64, the default) against without
 * (batchMax 1), for N = 3, 5, 7, then the checkers' speed. Three parts:
 *
 *   a. Throughput and latency. No faults: every link reliable, one-way delay uniform in 1–10 ms
 *      (the simulator's default network, which reorders messages), frames encoded as on a real
 *      wire. Closed-loop load: `--clients` clients per node (default 8), each issuing its next
 *      operation the moment the previous one returns (no think time), so N × clients operations
 *      are always in flight and the offered load grows with the cluster. Operations over 100
 *      keys: 20 counter keys (incr 1, get) and 80 register keys (put of a value unique per
 *      write, cas from the client's last written value, get); mix 45% put, 20% incr, 10% cas,
 *      25% get. The load phase starts once a leader has been elected and every node has applied
 *      its no-op (the election is not measured); clients stop issuing `--load-ms` (default 5000)
 *      later, and the phase ends when the last of its operations returns. Per run:
 *        msgs/op    every message sent between nodes during the load phase (Raft traffic and
 *                   the client proxies' requests and replies) / operations answered ok
 *        ops/s      operations answered ok / the load phase's simulated duration
 *        p50, p99   operation latency (command to its kv-result, simulated ms) over the ok ones
 *      Each figure is the median over the seeds; the ratio is that median with batchMax 64 over
 *      the one with batchMax 1 (below 1x: fewer messages, lower latency; above: more ops/s).
 *      Then where the messages go (per ok operation, by Raft message kind; AppendEntries
 *      refused; log entries per AppendEntries and the share of them already sent to that
 *      follower), and a control: the same runs over FIFO links (one-way delay fixed at 5 ms).
 *      Every operation is accounted for: issued = ok + fail + indefinite + unanswered (still
 *      open 60 s after the load stopped), and commands refused (node down) are counted.
 *   b. The kv checkers (src/check/kv.ts, checkKv) on one recorded run of part a (N = 5,
 *      batchMax 64, the first seed), with final reads of every key from every node after the
 *      load phase so that converges, no-lost-write and increments-once have something to judge:
 *      each verdict, the wall time of checkKv, and of its parts called one by one.
 *   c. The linearizability checker (src/check/linearizability.ts, checkLinearizability with
 *      kvModel) on a generated linearizable history: 10,000 operations over 100 keys from 16
 *      clients (each client's operations one after another, each taking effect at a random
 *      point of its interval; the approach of linearizability.test.ts, reimplemented here), then
 *      the same history with one read corrupted. Median wall ms over `--runs` runs, and verdicts.
 *
 * Usage: node --import tsx bench/kv-sim.ts [--seeds 5] [--clients 8] [--load-ms 5000]
 *   [--runs 7] [--quick]
 *   --quick: 1 seed, 4 clients per node, 1000 ms of load, a 2,000-operation history, 3 runs
 *   (a smoke test; explicit flags still win).
 */

import { intFlag, median } from './args.ts';
import {
  checkKv,
  completes,
  converges,
  FINAL_SERIAL_BASE,
  incrementsOnce,
  kvAccounting,
  kvHistory,
  linearizable,
  noLostWrite,
} from '../src/check/kv.ts';
import {
  checkLinearizability,
  kvModel,
  type KvInput,
  type KvOutput,
  type Operation,
} from '../src/check/linearizability.ts';
import type { Verdict } from '../src/check/verdict.ts';
import { nodeIds, type NodeId } from '../src/core/ids.ts';
import { createRng, type Rng } from '../src/core/rng.ts';
import type { TraceEvent } from '../src/core/trace.ts';
import { kvRaft, RAFT_DEFAULTS, type RaftMsg } from '../src/protocols/kv/raft.ts';
import type { KvCommand, KvOp, KvResult } from '../src/protocols/kv/types.ts';
import type { Delay } from '../src/sim/network.ts';
import { Simulator } from '../src/sim/simulator.ts';

// ------------------------------------------------------------------------------ flags

const KNOWN = new Set(['--seeds', '--clients', '--load-ms', '--runs', '--quick']);
const USAGE =
  'usage: node --import tsx bench/kv-sim.ts [--seeds 5] [--clients 8] [--load-ms 5000] [--runs 7] [--quick]';
const args = process.argv.slice(2);
for (const a of args) {
  if (a === '--help' || a === '-h') {
    console.log(USAGE);
    process.exit(0);
  }
  if (a.startsWith('--') && !KNOWN.has(a)) {
    console.error(`unknown flag ${a}; ${USAGE}`);
    process.exit(2);
  }
}
const quick = args.includes('--quick');
const seedCount = intFlag(args, 'seeds', quick ? 1 : 5);
const clientsPerNode = intFlag(args, 'clients', quick ? 4 : 8);
const loadMs = intFlag(args, 'load-ms', quick ? 1000 : 5000);
const linRuns = intFlag(args, 'runs', quick ? 3 : 7);
const linOps = quick ? 2000 : 10_000;
const seeds = Array.from({ length: seedCount }, (_, i) => i + 1);
const SIZES = [3, 5, 7] as const;
const BATCH = RAFT_DEFAULTS.batchMax;
const BATCHES = [BATCH, 1] as const;
const REORDERING: Delay = { kind: 'uniform', minMs: 1, maxMs: 10 };
const FIFO: Delay = { kind: 'fixed', ms: 5 };
/** How long after the load stops its open operations may still return (then: unanswered). */
const DRAIN_MAX_MS = 60_000;
/** How long the cluster may take to elect a leader before the run is abandoned. */
const ELECTION_MAX_MS = 30_000;

// ------------------------------------------------------------------------------ workload

const COUNTERS = Array.from({ length: 20 }, (_, i) => `n${i}`);
const REGISTERS = Array.from({ length: 80 }, (_, i) => `r${i}`);
const KEYS = [...COUNTERS, ...REGISTERS];

const pick = (rng: Rng, xs: readonly string[]): string => xs[rng.int(xs.length)] as string;

/** One client's operations: its own stream, unique written values, cas from its last write. */
function opSource(rng: Rng, name: string): () => KvOp {
  let k = 0;
  const lastWritten = new Map<string, string>();
  return () => {
    k++;
    const r = rng.next();
    if (r < 0.2) return { f: 'incr', key: pick(rng, COUNTERS), delta: 1 };
    const key = pick(rng, REGISTERS);
    const value = `${name}#${k}`;
    if (r < 0.65) {
      lastWritten.set(key, value);
      return { f: 'put', key, value };
    }
    if (r < 0.75) {
      const from = lastWritten.get(key) ?? null;
      lastWritten.set(key, value);
      return { f: 'cas', key, from, to: value };
    }
    return { f: 'get', key: rng.chance(0.2) ? pick(rng, COUNTERS) : key };
  };
}

// ------------------------------------------------------------------------------ one run

interface RunFigures {
  readonly n: number;
  readonly batchMax: number;
  readonly seed: number;
  readonly issued: number;
  readonly ok: number;
  readonly failed: number;
  readonly indefinite: number;
  readonly unanswered: number;
  readonly refused: number;
  /** Load phase: messages sent, their frame bytes, and both by Raft message kind. */
  readonly messages: number;
  readonly bytes: number;
  readonly byKind: Readonly<Record<string, number>>;
  readonly bytesByKind: Readonly<Record<string, number>>;
  /** AppendEntries answered with a refusal (ok false). */
  readonly refusedAppends: number;
  /** Log entries the AppendEntries carried, and how many of them that follower was sent before. */
  readonly entries: number;
  readonly resentEntries: number;
  readonly phaseMs: number;
  readonly latencies: readonly number[];
  readonly wallMs: number;
  /** The recorded trace (only for the run the checkers judge). */
  readonly trace?: readonly TraceEvent[];
}

interface Client {
  readonly node: NodeId;
  readonly name: string;
  serial: number;
  readonly next: () => KvOp;
}

function isResult(x: unknown): x is KvResult {
  return typeof x === 'object' && x !== null && (x as { type?: unknown }).type === 'kv-result';
}

function runOnce(
  n: number,
  batchMax: number,
  seed: number,
  delay: Delay,
  check: boolean,
): RunFigures {
  const nodes = nodeIds(n);
  const wl = createRng(seed).fork(`kv-bench:${n}`);
  const clients = new Map<string, Client>();
  for (const node of nodes) {
    for (let c = 0; c < clientsPerNode; c++) {
      const name = `c${c}`;
      const id = `${node}/${name}`;
      clients.set(id, { node, name, serial: 0, next: opSource(wl.fork(id), id) });
    }
  }
  let phase: 'election' | 'load' | 'after' = 'election';
  let stopAt = Number.POSITIVE_INFINITY;
  let lastReturn = 0;
  let open = 0;
  const calledAt = new Map<string, number>();
  const latencies: number[] = [];
  const byKind: Record<string, number> = {};
  const bytesByKind: Record<string, number> = {};
  const count = { issued: 0, ok: 0, failed: 0, indefinite: 0, refused: 0 };
  const sentUpTo = new Map<string, number>();
  let messages = 0;
  let bytes = 0;
  let refusedAppends = 0;
  let entries = 0;
  let resentEntries = 0;

  const onSend = (e: Extract<TraceEvent, { type: 'send' }>): void => {
    messages++;
    bytes += e.bytes;
    // Observed sends are the protocol's own messages (no Byzantine senders in these runs).
    const m = e.msg as RaftMsg;
    byKind[m.k] = (byKind[m.k] ?? 0) + 1;
    bytesByKind[m.k] = (bytesByKind[m.k] ?? 0) + e.bytes;
    if (m.k === 'ar' && !m.ok) refusedAppends++;
    if (m.k === 'ae') {
      const link = `${e.from}>${e.to}`;
      const hi = sentUpTo.get(link) ?? 0;
      const last = m.pi + m.entries.length;
      entries += m.entries.length;
      resentEntries += m.entries.length - Math.max(0, last - Math.max(hi, m.pi));
      if (last > hi) sentUpTo.set(link, last);
    }
  };
  const sim: Simulator<RaftMsg, KvCommand, KvResult> = new Simulator({
    seed,
    nodes,
    stack: kvRaft({ batchMax }),
    network: { delay },
    record: check,
    observer: (e) => {
      if (phase !== 'load') return;
      if (e.type === 'send') onSend(e);
      else if (e.type === 'command') {
        if (!e.accepted) count.refused++;
      } else if (e.type === 'deliver' && isResult(e.event)) {
        const r = e.event;
        const id = `${e.node}/${r.client}`;
        const cl = clients.get(id);
        const t0 = calledAt.get(id);
        if (cl === undefined || t0 === undefined || r.serial !== cl.serial) return;
        calledAt.delete(id);
        open--;
        lastReturn = e.t;
        if (r.status === 'ok') {
          count.ok++;
          latencies.push(e.t - t0);
        } else if (r.status === 'fail') count.failed++;
        else count.indefinite++;
        if (e.t < stopAt) issue(cl);
        else if (open === 0) phase = 'after';
      }
    },
  });
  function issue(cl: Client): void {
    cl.serial++;
    count.issued++;
    open++;
    calledAt.set(`${cl.node}/${cl.name}`, sim.now);
    sim.schedule(sim.now, cl.node, {
      type: 'kv',
      client: cl.name,
      serial: cl.serial,
      op: cl.next(),
    });
  }

  const wall0 = performance.now();
  // The election: until a leader exists and every node has applied its no-op.
  const ready = (): boolean => {
    const s = nodes.map((id) => sim.protocol(id)?.stats() ?? {});
    return s.some((x) => x.leader === 1) && s.every((x) => (x.commitIndex ?? 0) >= 1);
  };
  while (!ready()) {
    if (sim.now >= ELECTION_MAX_MS) {
      throw new Error(`no leader by ${ELECTION_MAX_MS} ms (N=${n} seed=${seed})`);
    }
    sim.runUntil(sim.now + 10);
  }
  const startAt = sim.now;
  phase = 'load';
  stopAt = startAt + loadMs;
  for (const cl of clients.values()) issue(cl);
  sim.runUntil(stopAt);
  while (open > 0 && sim.now < stopAt + DRAIN_MAX_MS) sim.runUntil(sim.now + 10);
  const unanswered = open;
  phase = 'after';
  if (check) {
    // Final reads of every key from every node (serials from FINAL_SERIAL_BASE: kv.ts judges
    // converges, no-lost-write and increments-once on them), after the load phase.
    const at = sim.now + 10;
    for (const node of nodes) {
      KEYS.forEach((key, i) => {
        const op: KvOp = { f: 'get', key };
        sim.schedule(at, node, { type: 'kv', client: 'final', serial: FINAL_SERIAL_BASE + i, op });
      });
    }
    sim.runUntil(at + DRAIN_MAX_MS);
  }
  return {
    n,
    batchMax,
    seed,
    ...count,
    unanswered,
    messages,
    bytes,
    byKind,
    bytesByKind,
    refusedAppends,
    entries,
    resentEntries,
    phaseMs: Math.max(lastReturn, stopAt) - startAt,
    latencies,
    wallMs: performance.now() - wall0,
    ...(check ? { trace: sim.trace } : {}),
  };
}

// ------------------------------------------------------------------------------ history generator

type Op = Operation<KvInput, KvOutput>;

function randomInput(rng: Rng, keys: readonly string[]): KvInput {
  const key = pick(rng, keys);
  switch (rng.int(5)) {
    case 0:
      return { f: 'get', key };
    case 1:
      return { f: 'put', key, value: rng.int(3) };
    case 2:
      return { f: 'delete', key };
    case 3:
      return { f: 'incr', key, delta: 1 + rng.int(2) };
    default:
      return { f: 'cas', key, from: rng.chance(0.3) ? null : rng.int(3), to: rng.int(3) };
  }
}

/**
 * A linearizable history: `clients` clients, each running operations one after another; each
 * operation takes effect at a random point inside its interval and is answered as a sequential
 * map answers in that order (the approach of generatedHistory in linearizability.test.ts).
 */
function generatedHistory(rng: Rng, opsCount: number, keys: number, clients: number): Op[] {
  const keyNames = Array.from({ length: keys }, (_, i) => `k${i}`);
  const clock = new Array<number>(clients).fill(0);
  const planned: {
    id: number;
    client: number;
    input: KvInput;
    call: number;
    ret: number;
    at: number;
  }[] = [];
  for (let id = 0; id < opsCount; id++) {
    const c = rng.int(clients);
    const call = (clock[c] ?? 0) + rng.int(3);
    const ret = call + 1 + rng.int(20);
    clock[c] = ret + 1;
    const input = randomInput(rng, keyNames);
    planned.push({ id, client: c, input, call, ret, at: call + rng.next() * (ret - call) });
  }
  const state = new Map<string, unknown>();
  const ops: Op[] = [];
  for (const p of [...planned].sort((a, b) => a.at - b.at)) {
    const i = p.input;
    const cur = state.get(i.key) ?? null;
    let output: KvOutput = null;
    if (i.f === 'get') output = cur;
    else if (i.f === 'put') state.set(i.key, i.value);
    else if (i.f === 'delete') state.delete(i.key);
    else if (i.f === 'incr') {
      const next = (typeof cur === 'number' ? cur : 0) + i.delta;
      state.set(i.key, next);
      output = next;
    } else {
      output = JSON.stringify(cur) === JSON.stringify(i.from);
      if (output) state.set(i.key, i.to);
    }
    ops.push({ id: p.id, client: `c${p.client}`, input: i, output, call: p.call, ret: p.ret });
  }
  return ops.sort((a, b) => a.id - b.id);
}

// ------------------------------------------------------------------------------ figures

const int = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en') : '—');
const fix = (x: number, digits = 1): string => (Number.isFinite(x) ? x.toFixed(digits) : '—');
const ratio = (a: number, b: number): string =>
  b > 0 && Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : '—';
const pct = (a: number, b: number): string => (b > 0 ? `${((100 * a) / b).toFixed(0)}%` : '—');

/** Nearest-rank percentile (NaN for no samples). */
function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] as number;
}

function row(cells: readonly string[], widths: readonly number[]): string {
  return cells
    .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
    .join(' ');
}

interface Cell {
  readonly runs: readonly RunFigures[];
  readonly msgsPerOp: number;
  readonly opsPerSec: number;
  readonly p50: number;
  readonly p99: number;
}

function cellOf(runs: readonly RunFigures[]): Cell {
  return {
    runs,
    msgsPerOp: median(runs.map((r) => r.messages / Math.max(1, r.ok))),
    opsPerSec: median(runs.map((r) => r.ok / (r.phaseMs / 1000))),
    p50: median(runs.map((r) => percentile(r.latencies, 0.5))),
    p99: median(runs.map((r) => percentile(r.latencies, 0.99))),
  };
}

const sum = (runs: readonly RunFigures[], f: (r: RunFigures) => number): number =>
  runs.reduce((s, r) => s + f(r), 0);

const HB = `b${BATCH}`;
const MAIN_W = [7, 8, 8, 7, 8, 8, 7, 7, 7, 7, 7, 7, 7];

function printMainTable(label: (n: number) => string, cells: ReadonlyMap<string, Cell>): void {
  console.log(
    row(
      ['', '   msgs/op', '', '', '      ops/s', '', '', '  p50 ms', '', '', '  p99 ms', '', ''],
      MAIN_W,
    ),
  );
  console.log(
    row(
      ['N', HB, 'b1', `${HB}/b1`, HB, 'b1', `${HB}/b1`, HB, 'b1', `${HB}/b1`, HB, 'b1', `${HB}/b1`],
      MAIN_W,
    ),
  );
  for (const n of SIZES) {
    const a = cells.get(`${n}/${BATCH}`) as Cell;
    const z = cells.get(`${n}/1`) as Cell;
    console.log(
      row(
        [
          label(n),
          fix(a.msgsPerOp, 2),
          fix(z.msgsPerOp, 2),
          ratio(a.msgsPerOp, z.msgsPerOp),
          int(a.opsPerSec),
          int(z.opsPerSec),
          ratio(a.opsPerSec, z.opsPerSec),
          fix(a.p50, 0),
          fix(z.p50, 0),
          ratio(a.p50, z.p50),
          fix(a.p99, 0),
          fix(z.p99, 0),
          ratio(a.p99, z.p99),
        ],
        MAIN_W,
      ),
    );
  }
}

function runCells(delay: Delay, checkCell: string | undefined): Map<string, Cell> {
  const cells = new Map<string, Cell>();
  for (const n of SIZES) {
    for (const b of BATCHES) {
      const key = `${n}/${b}`;
      cells.set(
        key,
        cellOf(seeds.map((s) => runOnce(n, b, s, delay, key === checkCell && s === seeds[0]))),
      );
    }
  }
  return cells;
}

// ------------------------------------------------------------------------------ main

const wall0 = performance.now();
console.log(
  `a. kv-raft, no faults, one-way delay uniform 1–10 ms (reordering), frames encoded; closed loop: ${clientsPerNode} ` +
    `clients per node, the next operation as soon as the previous returns; ${int(loadMs)} ms of load after the election`,
);
console.log(
  `   ${KEYS.length} keys, 45% put, 20% incr, 10% cas, 25% get; heartbeat ${RAFT_DEFAULTS.heartbeatMs} ms, election ` +
    `${RAFT_DEFAULTS.electionMs} ms, snapshot every ${RAFT_DEFAULTS.snapshotEvery}; medians over seeds ${seeds.join(', ')}`,
);
console.log('');
const cells = runCells(REORDERING, `5/${BATCH}`);
printMainTable(String, cells);

console.log('');
console.log(
  '   accounting (sums over the seeds): every operation of the load phase, and the wall time of a run',
);
const aw = [3, 8, 9, 9, 5, 6, 6, 6, 8];
console.log(
  row(['N', 'batchMax', 'issued', 'ok', 'fail', 'indef', 'unans', 'refus', 'wall ms'], aw),
);
for (const n of SIZES) {
  for (const b of BATCHES) {
    const rs = (cells.get(`${n}/${b}`) as Cell).runs;
    console.log(
      row(
        [
          String(n),
          String(b),
          int(sum(rs, (r) => r.issued)),
          int(sum(rs, (r) => r.ok)),
          int(sum(rs, (r) => r.failed)),
          int(sum(rs, (r) => r.indefinite)),
          int(sum(rs, (r) => r.unanswered)),
          int(sum(rs, (r) => r.refused)),
          int(median(rs.map((r) => r.wallMs))),
        ],
        aw,
      ),
    );
    const lost = sum(rs, (r) => r.issued - r.ok - r.failed - r.indefinite - r.unanswered);
    if (lost !== 0)
      console.log(`   !! ${lost} operation(s) of N=${n} batchMax ${b} not accounted for`);
  }
}
console.log(
  '   (indef: timed out; unans: still open 60 s after the load stopped; refus: commands at a node that was down)',
);

console.log('');
console.log(
  '   control: the same runs over FIFO links (one-way delay fixed at 5 ms: no reordering)',
);
const fifo = runCells(FIFO, undefined);
printMainTable((n) => `${n} fifo`, fifo);
const fifoRuns = [...fifo.values()].flatMap((c) => c.runs);
const fifoSum = (f: (r: RunFigures) => number): string => int(sum(fifoRuns, f));
console.log(
  `   (FIFO runs, all cells and seeds: issued ${fifoSum((r) => r.issued)}, ok ${fifoSum((r) => r.ok)}, ` +
    `fail ${fifoSum((r) => r.failed)}, indefinite ${fifoSum((r) => r.indefinite)}, unanswered ` +
    `${fifoSum((r) => r.unanswered)}, refused ${fifoSum((r) => r.refused)})`,
);

console.log('');
console.log(
  '   where the messages go: per ok operation (sums over the seeds), by Raft message kind',
);
const mw = [7, 8, 6, 6, 7, 6, 6, 6, 6, 7, 7, 7, 6];
const header = ['N', 'batchMax', 'ae', 'ar', 'ar-ref', 'req', 'rep', 'is', 'votes', 'ent/ae'];
console.log(row([...header, 'resent', 'B/op', 'is B'], mw));
for (const [label, cs] of [
  ['', cells],
  [' fifo', fifo],
] as const) {
  for (const n of SIZES) {
    for (const b of BATCHES) {
      const rs = (cs.get(`${n}/${b}`) as Cell).runs;
      const ok = Math.max(
        1,
        sum(rs, (r) => r.ok),
      );
      const kind = (k: string): number => sum(rs, (r) => r.byKind[k] ?? 0);
      const perOp = (x: number, digits = 2): string => fix(x / ok, digits);
      const entries = sum(rs, (r) => r.entries);
      const bytes = sum(rs, (r) => r.bytes);
      const cellsOfRow = [
        `${n}${label}`,
        String(b),
        perOp(kind('ae')),
        perOp(kind('ar')),
        perOp(sum(rs, (r) => r.refusedAppends)),
        perOp(kind('req')),
        perOp(kind('rep')),
        perOp(kind('is'), 3),
        perOp(kind('rv') + kind('vr'), 3),
        fix(entries / Math.max(1, kind('ae')), 2),
        pct(
          sum(rs, (r) => r.resentEntries),
          entries,
        ),
        int(bytes / ok),
        pct(
          sum(rs, (r) => r.bytesByKind.is ?? 0),
          bytes,
        ),
      ];
      console.log(row(cellsOfRow, mw));
    }
  }
}
console.log(
  '   (ar-ref: AppendEntries refused; is: InstallSnapshot; ent/ae: log entries per AppendEntries; resent: entries\n' +
    '   that follower had been sent before; B/op: frame bytes per ok operation; is B: share of the bytes in snapshots)',
);

// b. the kv checkers on one recorded run
console.log('');
const checked = cells.get(`5/${BATCH}`)?.runs.find((r) => r.trace !== undefined);
if (checked?.trace !== undefined) {
  const trace = checked.trace;
  const acc = kvAccounting(trace);
  let t0 = performance.now();
  const verdicts = checkKv(trace, () => true);
  const checkMs = performance.now() - t0;
  console.log(
    `b. checkKv on the run N=${checked.n} batchMax ${checked.batchMax} seed ${checked.seed}, plus final reads of ` +
      `${KEYS.length} keys at every node: ${int(trace.length)} trace events, ${int(acc.issued)} operations ` +
      `(ok ${int(acc.ok)}, fail ${int(acc.failed)}, indefinite ${int(acc.indefinite)}, refused ${int(acc.refused)}); ` +
      `checkKv took ${int(checkMs)} ms wall`,
  );
  t0 = performance.now();
  const { ops } = kvHistory(trace);
  const historyMs = performance.now() - t0;
  const parts: [string, () => Verdict][] = [
    ['linearizable', () => linearizable(trace, ops)],
    ['increments-once', () => incrementsOnce(trace, ops)],
    ['no-lost-write', () => noLostWrite(trace, ops)],
    ['completes', () => completes(trace, ops, () => true)],
    ['converges', () => converges(trace, ops, () => true)],
  ];
  console.log(
    `   kvHistory (extract the history)                   ${fix(historyMs, 0).padStart(6)} ms`,
  );
  for (const [name, f] of parts) {
    t0 = performance.now();
    f();
    const ms = performance.now() - t0;
    const v = verdicts.find((x) => x.property === name);
    const verdict =
      v === undefined
        ? 'missing from checkKv'
        : `${v.holds ? 'holds' : 'VIOLATED'} (${int(v.checked)} checked)${v.violation === undefined ? '' : `: ${v.violation.message}`}`;
    console.log(
      `   ${name.padEnd(16)} ${(v?.kind ?? '').padEnd(9)} ${verdict.padEnd(24)} ${fix(ms, 0).padStart(6)} ms`,
    );
  }
}

// c. the linearizability checker
console.log('');
const history = generatedHistory(createRng(7), linOps, 100, 16);
const target = history.find((o) => o.id >= linOps / 2 && o.input.f === 'get');
const broken = history.map((o) => (o === target ? { ...o, output: 'never written' } : o));
const okMs: number[] = [];
const badMs: number[] = [];
let okVerdict = '';
let badVerdict = '';
for (let i = 0; i < linRuns; i++) {
  let t0 = performance.now();
  const v = checkLinearizability(kvModel, history);
  okMs.push(performance.now() - t0);
  okVerdict =
    v.result === 'ok'
      ? `ok (${v.parts} keys, ${int(v.steps)} search steps)`
      : v.result.toUpperCase();
  t0 = performance.now();
  const u = checkLinearizability(kvModel, broken);
  badMs.push(performance.now() - t0);
  badVerdict =
    u.result === 'violation'
      ? `violation in key ${u.part}, minimal sub-history of ${u.minimal.length} op(s)` +
        (u.minimal.length === 1 && u.minimal[0]?.id === target?.id ? ' (the corrupted read)' : '')
      : u.result.toUpperCase();
}
console.log(
  `c. checkLinearizability(kvModel), generated history of ${int(linOps)} operations over 100 keys from 16 clients; ` +
    `median of ${linRuns} runs (min–max)`,
);
const range = (xs: readonly number[]): string =>
  `${fix(Math.min(...xs), 1)}–${fix(Math.max(...xs), 1)}`;
console.log(
  `   linearizable history   ${fix(median(okMs), 1).padStart(7)} ms (${range(okMs)})  verdict: ${okVerdict}`,
);
console.log(
  `   one read corrupted     ${fix(median(badMs), 1).padStart(7)} ms (${range(badMs)})  verdict: ${badVerdict}`,
);
console.log('');
console.log(`total wall time ${fix((performance.now() - wall0) / 1000, 1)} s`);
