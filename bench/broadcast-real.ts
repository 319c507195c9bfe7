/**
 * Broadcast benchmark, real against simulated: eager reliable broadcast (`eager-rb`) and the
 * gossip broadcast (`gossip-rb`) on N = 5 and 10 nodes over real UDP sockets on loopback, no
 * faults, next to the simulator's figures for the same registry stack, nodes and broadcasts.
 *
 * REAL. The nodes are in-process: one `startNode` (src/runtime/node.ts) per node in this
 * process, each with its own UDP socket on 127.0.0.1, its own SQLite file and commit thread, the
 * config's stack `{ "protocol": NAME }` built by the registry (registry-stack.ts), so each runs
 * the very StackSpec the simulator runs. In-process rather than one OS process per node: a
 * process takes about a second to start under tsx, and the bench needs the command and delivery
 * times on one clock (performance.now) without a stdout hop. The price: the N nodes share one
 * event loop (and this machine's 2 cores with N commit threads), so a node's handling waits for
 * the others' turns; latency here is an upper bound on one process per node. Datagrams up to
 * 65,507 bytes, as `steadfast cluster` runs registry protocols on loopback.
 *
 * SIM. `Simulator` (src/sim/simulator.ts) with the same registry StackSpec, frames encoded as on
 * the wire (CRC32C), reliable network with a fixed one-way delay of 1 ms (whole ms are the
 * simulator's unit; loopback is well under that, plus the event loop's turns). Its latency is in
 * SIMULATED ms.
 *
 * WORKLOAD (both). K broadcasts (default 200), broadcast i issued by node i mod N at
 * i × --interval ms (default 7), then a tail of --tail ms (default 2000; gossip's anti-entropy
 * runs every 1000 ms). Why 7 and not a round 10: gossip flushes a destination's batch 50 ms
 * (batchMs) after its first item, and with 10 ms × N = 5 a node's next broadcast falls exactly
 * on its own flush (the simulator breaks that tie one way, the real timers either way by a
 * fraction of a ms): at --interval 10 real gossip sent 1.2–1.4 messages per broadcast against
 * the simulator's 0.9, at 9 or 11 both sent the same (0.9 | 0.9 and 1.8 | 1.7, 100 broadcasts,
 * N = 5). An interval that 50 ms is not a multiple of keeps the comparison off that knife edge. Messages = frames sent by all nodes from the first command to the end of
 * the tail (real: the drivers' `framesSent`, sampled before the first command and at the end;
 * sim: its sends) / K. The real nodes' UDP packing puts a turn's frames to one peer in one
 * datagram: datagrams per broadcast are printed too. Latency: for each broadcast and each node,
 * command → delivery at that node (median and max over all of them), and the median over
 * broadcasts of command → delivery at the last node. A broadcast not delivered by all N nodes by
 * the end of the tail is counted as lost and printed; duplicate deliveries too.
 *
 * Each cell is run --reps times (default 3; sim seeds 1..R); figures are the medians over the
 * reps of each rep's figure, accounting is summed over the reps.
 *
 * Usage: node --import tsx bench/broadcast-real.ts [--quick] [--broadcasts K] [--reps R]
 *   [--interval MS] [--tail MS]
 *   --quick  N = 5 only, 40 broadcasts, 1 rep, tail 1200 ms (a smoke run).
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { nodeIds, type NodeId } from '../src/core/ids.ts';
import type { BroadcastDeliver } from '../src/protocols/broadcast/base.ts';
import { parseConfig } from '../src/runtime/config.ts';
import { startNode, type NodeHandle } from '../src/runtime/node.ts';
import { freeUdpPort } from '../src/runtime/ports.ts';
import { registryStack } from '../src/runtime/registry-stack.ts';
import { Simulator, type ScheduledCommand } from '../src/sim/simulator.ts';
import { intFlag, median } from './args.ts';

const PROTOCOLS = ['eager-rb', 'gossip-rb'] as const;
type Protocol = (typeof PROTOCOLS)[number];

/**
 * Protocol counters shown per broadcast, real next to sim (summed over the nodes, over the same
 * window): where the two runs' messages go. The eager stack's are its perfect links' counters.
 */
const COUNTERS: Readonly<Record<Protocol, readonly string[]>> = {
  'eager-rb': ['relays', 'sent', 'retransmissions', 'fastRetransmissions', 'duplicatesDropped'],
  'gossip-rb': ['batches', 'batchItems', 'digests', 'pulls', 'repairs', 'duplicates'],
};

/** One-way delay of every simulated link (whole ms). */
const SIM_DELAY_MS = 1;

interface Settings {
  readonly broadcasts: number;
  readonly intervalMs: number;
  readonly tailMs: number;
}

/** One run's figures (real or simulated). */
interface RunFigures {
  readonly broadcasts: number;
  readonly frames: number;
  /** Real only: UDP datagrams (frames packed per peer per turn). */
  readonly datagrams?: number;
  /** Command → delivery at each node, every (broadcast, node) delivered. */
  readonly perNodeMs: readonly number[];
  /** Command → delivery at the last node, per broadcast delivered everywhere. */
  readonly everywhereMs: readonly number[];
  /** Broadcasts delivered at all N nodes by the end of the tail. */
  readonly everywhere: number;
  /** (broadcast, node) deliveries missing at the end. */
  readonly missing: number;
  readonly duplicates: number;
  readonly wallMs: number;
  /** The protocols' counters (COUNTERS), summed over the nodes, over the window. */
  readonly counters: Readonly<Record<string, number>>;
}

const sleep = (ms: number) =>
  new Promise<void>((r) => {
    setTimeout(r, ms);
  });

/** `a − b` for the keys of `keys` (absent counts as 0). */
function delta(
  keys: readonly string[],
  a: Readonly<Record<string, number>>,
  b: Readonly<Record<string, number>> = {},
): Record<string, number> {
  return Object.fromEntries(keys.map((k) => [k, (a[k] ?? 0) - (b[k] ?? 0)]));
}

/** Per-node stats summed. */
function sumStats(all: readonly Readonly<Record<string, number>>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const st of all) for (const [k, v] of Object.entries(st)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** Who issues broadcast i and when (ms after the first). */
function schedule(ids: readonly NodeId[], s: Settings): { at: number; node: NodeId }[] {
  return Array.from({ length: s.broadcasts }, (_, i) => ({
    at: i * s.intervalMs,
    node: ids[i % ids.length] as NodeId,
  }));
}

/** Deliveries keyed by the payload `b<i>`: per broadcast, the node → time of first delivery. */
class Deliveries {
  readonly at: Map<NodeId, number>[];
  duplicates = 0;
  constructor(broadcasts: number) {
    this.at = Array.from({ length: broadcasts }, () => new Map<NodeId, number>());
  }
  record(node: NodeId, d: unknown, nowMs: number): void {
    const p = (d as Partial<BroadcastDeliver> | undefined)?.payload;
    const i = typeof p === 'string' && p.startsWith('b') ? Number(p.slice(1)) : Number.NaN;
    const seen = this.at[i];
    if (seen === undefined) return; // not one of ours (never happens here)
    if (seen.has(node)) this.duplicates++;
    else seen.set(node, nowMs);
  }
  figures(
    issuedAt: readonly (number | undefined)[],
    n: number,
  ): Pick<RunFigures, 'perNodeMs' | 'everywhereMs' | 'everywhere' | 'missing' | 'duplicates'> {
    const perNodeMs: number[] = [];
    const everywhereMs: number[] = [];
    let missing = 0;
    for (const [i, seen] of this.at.entries()) {
      const t0 = issuedAt[i];
      missing += n - seen.size;
      if (t0 === undefined) continue;
      for (const t of seen.values()) perNodeMs.push(t - t0);
      if (seen.size === n) everywhereMs.push(Math.max(...seen.values()) - t0);
    }
    return {
      perNodeMs,
      everywhereMs,
      everywhere: everywhereMs.length,
      missing,
      duplicates: this.duplicates,
    };
  }
}

/** N in-process nodes over real UDP on loopback (see REAL in the header). */
async function realRun(protocol: Protocol, n: number, s: Settings): Promise<RunFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'sf-bcast-real-'));
  const ids = nodeIds(n);
  const nodes: Record<string, { host: string; port: number }> = {};
  for (const id of ids) nodes[id] = { host: '127.0.0.1', port: await freeUdpPort() };
  const cfg = parseConfig(
    {
      nodes,
      transport: 'udp',
      stack: { protocol },
      dataDir: './data',
      udp: { maxDatagramBytes: 65_507 },
    },
    dir,
  );
  const dl = new Deliveries(s.broadcasts);
  const handles: NodeHandle[] = [];
  let fatal: unknown;
  try {
    for (const id of ids) {
      handles.push(
        await startNode(cfg, id, {
          init: true,
          onDeliver: (d) => {
            dl.record(id, d, performance.now());
          },
          onFatal: (e) => {
            fatal = e;
          },
        }),
      );
    }
    const sent = () => {
      let frames = 0;
      let datagrams = 0;
      for (const h of handles) {
        const st = h.driver.stats();
        frames += st.framesSent;
        datagrams += st.transport.datagramsSent ?? 0;
      }
      const proto = sumStats(handles.map((h) => h.driver.stats().protocol));
      return { frames, datagrams, proto };
    };
    const plan = schedule(ids, s);
    const issuedAt: (number | undefined)[] = [];
    const before = sent();
    const t0 = performance.now();
    for (const [i, c] of plan.entries()) {
      const wait = t0 + c.at - performance.now();
      if (wait > 0) await sleep(wait);
      issuedAt[i] = performance.now();
      handles[ids.indexOf(c.node)]?.command({ type: 'broadcast', payload: `b${i}` });
    }
    const end = t0 + (plan.at(-1)?.at ?? 0) + s.tailMs;
    await sleep(Math.max(0, end - performance.now()));
    const after = sent();
    const wallMs = performance.now() - t0;
    if (fatal !== undefined) {
      throw new Error(
        `a node stopped: ${fatal instanceof Error ? (fatal.stack ?? fatal.message) : JSON.stringify(fatal)}`,
      );
    }
    return {
      broadcasts: s.broadcasts,
      frames: after.frames - before.frames,
      datagrams: after.datagrams - before.datagrams,
      ...dl.figures(issuedAt, n),
      wallMs,
      counters: delta(COUNTERS[protocol], after.proto, before.proto),
    };
  } finally {
    await Promise.all(handles.map((h) => h.close()));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The same stack, nodes and broadcasts in the simulator (see SIM in the header). */
function simRun(protocol: Protocol, n: number, s: Settings, seed: number): RunFigures {
  const ids = nodeIds(n);
  const plan = schedule(ids, s);
  const workload: ScheduledCommand<unknown>[] = plan.map((c, i) => ({
    at: c.at,
    node: c.node,
    cmd: { type: 'broadcast', payload: `b${i}` },
  }));
  const dl = new Deliveries(s.broadcasts);
  const issuedAt: number[] = plan.map((c) => c.at);
  const sim = new Simulator({
    seed,
    nodes: ids,
    stack: registryStack({ protocol, nodes: n, checksum: true, auth: false }),
    network: { delay: { kind: 'fixed', ms: SIM_DELAY_MS } },
    record: false,
    workload,
    observer: (e) => {
      if (e.type === 'deliver') dl.record(e.node, e.event, e.t);
    },
  });
  const t0 = performance.now();
  sim.runUntil((plan.at(-1)?.at ?? 0) + s.tailMs);
  const wallMs = performance.now() - t0;
  return {
    broadcasts: s.broadcasts,
    frames: sim.counters.sends,
    ...dl.figures(issuedAt, n),
    wallMs,
    counters: delta(COUNTERS[protocol], sumStats(ids.map((id) => sim.protocol(id)?.stats() ?? {}))),
  };
}

// ------------------------------------------------------------------------------ output

interface Summary {
  readonly msgsPerBcast: number;
  readonly dgramsPerBcast: number;
  readonly perNodeMedian: number;
  readonly perNodeMax: number;
  readonly everywhereMedian: number;
  readonly issued: number;
  readonly everywhere: number;
  readonly missing: number;
  readonly duplicates: number;
  readonly wallMs: number;
}

/** Medians over the reps of each rep's figure; accounting summed over the reps. */
function summarize(runs: readonly RunFigures[]): Summary {
  const med = (f: (r: RunFigures) => number) => median(runs.map(f));
  const sum = (f: (r: RunFigures) => number) => runs.reduce((a, r) => a + f(r), 0);
  const nan = (xs: readonly number[], f: (xs: readonly number[]) => number) =>
    xs.length === 0 ? Number.NaN : f(xs);
  return {
    msgsPerBcast: med((r) => r.frames / r.broadcasts),
    dgramsPerBcast: med((r) => (r.datagrams ?? Number.NaN) / r.broadcasts),
    perNodeMedian: med((r) => nan(r.perNodeMs, median)),
    perNodeMax: med((r) => nan(r.perNodeMs, (xs) => Math.max(...xs))),
    everywhereMedian: med((r) => nan(r.everywhereMs, median)),
    issued: sum((r) => r.broadcasts),
    everywhere: sum((r) => r.everywhere),
    missing: sum((r) => r.missing),
    duplicates: sum((r) => r.duplicates),
    wallMs: med((r) => r.wallMs),
  };
}

function fix(x: number, d: number): string {
  return Number.isFinite(x) ? x.toFixed(d) : '–';
}

function row(cells: readonly string[], widths: readonly number[]): string {
  return cells
    .map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
    .join(' ');
}

async function main(argv: readonly string[]): Promise<void> {
  const quick = argv.includes('--quick');
  const s: Settings = {
    broadcasts: intFlag(argv, 'broadcasts', quick ? 40 : 200),
    intervalMs: intFlag(argv, 'interval', 7),
    tailMs: intFlag(argv, 'tail', quick ? 1200 : 2000),
  };
  const reps = intFlag(argv, 'reps', quick ? 1 : 3);
  const sizes = quick ? [5] : [5, 10];
  const wall0 = performance.now();
  console.log(
    `broadcast, real against simulated: ${s.broadcasts} broadcasts per run (broadcast i from node i mod N, ` +
      `one every ${s.intervalMs} ms), tail ${s.tailMs} ms, no faults, ${reps} rep(s) per cell (medians of the reps' figures)`,
  );
  console.log(
    '  real: in-process nodes (startNode), one UDP socket each on 127.0.0.1, SQLite + commit thread each, one shared event loop; wall-clock ms',
  );
  console.log(
    `  sim:  Simulator, the same registry StackSpec, frames encoded, reliable links with a fixed ${SIM_DELAY_MS} ms delay; SIMULATED ms`,
  );
  console.log(
    '  msgs/b = frames sent (first command → end of tail) / broadcasts; lat = command → delivery at each node (median, max);',
  );
  console.log(
    '  last = median command → delivery at the last node; everywhere = delivered at all N',
  );
  console.log('');
  const w = [4, 10, 5, 8, 8, 9, 9, 9, 9, 16, 5, 8];
  console.log(
    row(
      [
        'N',
        'protocol',
        'where',
        'msgs/b',
        'dgrams/b',
        'lat med',
        'lat max',
        'last med',
        'real/sim',
        'everywhere',
        'dups',
        'wall ms',
      ],
      w,
    ),
  );
  const ratios: string[] = [];
  for (const n of sizes) {
    for (const protocol of PROTOCOLS) {
      const real: RunFigures[] = [];
      const sim: RunFigures[] = [];
      for (let r = 0; r < reps; r++) {
        real.push(await realRun(protocol, n, s));
        sim.push(simRun(protocol, n, s, r + 1));
      }
      const R = summarize(real);
      const S = summarize(sim);
      const account = (x: Summary) =>
        `${x.everywhere}/${x.issued}` + (x.missing > 0 ? ` (${x.missing} miss)` : '');
      const ratio = R.msgsPerBcast / S.msgsPerBcast;
      console.log(
        row(
          [
            String(n),
            protocol,
            'real',
            fix(R.msgsPerBcast, 1),
            fix(R.dgramsPerBcast, 1),
            fix(R.perNodeMedian, 1),
            fix(R.perNodeMax, 1),
            fix(R.everywhereMedian, 1),
            `${fix(ratio, 2)}x`,
            account(R),
            String(R.duplicates),
            fix(R.wallMs, 0),
          ],
          w,
        ),
      );
      console.log(
        row(
          [
            '',
            '',
            'sim',
            fix(S.msgsPerBcast, 1),
            '',
            fix(S.perNodeMedian, 1),
            fix(S.perNodeMax, 1),
            fix(S.everywhereMedian, 1),
            '',
            account(S),
            String(S.duplicates),
            fix(S.wallMs, 0),
          ],
          w,
        ),
      );
      const perRep = real.map((x) => fix(x.frames / x.broadcasts, 1)).join(', ');
      const perRepSim = sim.map((x) => fix(x.frames / x.broadcasts, 1)).join(', ');
      ratios.push(
        `  N=${n} ${protocol}: msgs/b real ${perRep} | sim ${perRepSim} (per rep); real/sim ${fix(ratio, 2)}x`,
      );
      const perB = (runs: readonly RunFigures[], k: string) =>
        fix(median(runs.map((x) => (x.counters[k] ?? 0) / x.broadcasts)), 2);
      ratios.push(
        '    per broadcast, real | sim: ' +
          COUNTERS[protocol].map((k) => `${k} ${perB(real, k)} | ${perB(sim, k)}`).join(', '),
      );
    }
  }
  console.log('');
  console.log(
    'messages per broadcast, each rep; protocol counters per broadcast (medians of the reps):',
  );
  for (const l of ratios) console.log(l);
  console.log('');
  console.log(`total wall time ${fix((performance.now() - wall0) / 1000, 1)} s`);
}

await main(process.argv.slice(2));
