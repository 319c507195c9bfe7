/**
 * The course's broadcast scenarios, each with an EXPLICIT nemesis schedule (crashes between the
 * outputs of one step), and property tests across seeds for every protocol × fault model, all
 * judged by the trace checkers of src/check/broadcast.ts.
 *
 * Output order of the steps the crash points below aim at (see base.ts: each `sendTo` drains the
 * perfect link at once; a link's first send to a peer persists its seq reservation first):
 *   BEB broadcast:       persist, send→n2, setTimer, persist, send→n3, …, deliver
 *   eager RB broadcast:  deliver, persist, send→n2, setTimer, persist, send→n3, …
 *   eager RB first receipt (from the origin): deliver, ack, then per relay persist, send, setTimer
 *   URB broadcast:       persist, send→n2, setTimer, persist, send→n3, … (deliver only later)
 *   URB first receipt:   ack, then per relay persist, send, setTimer (deliver after a majority)
 * Every scenario asserts the crash landed where intended (which data messages left the node, the
 * crash's `after`/`before` output kinds), so a change of output order fails loudly here instead
 * of silently testing something else; and each runs over several seeds to show the outcome comes
 * from the schedule, not from lucky delays.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeIds, type NodeId } from '../../core/ids.ts';
import type { StackSpec } from '../../core/protocol.ts';
import { createRng } from '../../core/rng.ts';
import type { TraceEvent } from '../../core/trace.ts';
import {
  agreement,
  bcastNoDuplication,
  checkBroadcast,
  uniformAgreement,
  type BroadcastKind,
} from '../../check/broadcast.ts';
import { formatVerdicts, type Verdict } from '../../check/verdict.ts';
import { generateNemesis, type TimedAction } from '../../sim/nemesis.ts';
import type { LinkFaults } from '../../sim/network.ts';
import { Simulator, type ScheduledCommand } from '../../sim/simulator.ts';
import type { ReliableMsg } from '../link/reliable.ts';
import type { BroadcastCommand, BroadcastDeliver } from './base.ts';
import { bestEffortBroadcast } from './beb.ts';
import { causalBroadcast, eagerReliableBroadcast, fifoReliableBroadcast } from './eager.ts';
import { uniformReliableBroadcast } from './uniform.ts';

type BroadcastStack = StackSpec<ReliableMsg, BroadcastCommand, BroadcastDeliver>;

const nodes = nodeIds(5);
/** Seeds each explicit scenario is replayed with (network delays differ, the outcome must not). */
const SCENARIO_SEEDS = Array.from({ length: 10 }, (_, i) => i + 1);

/** n1 broadcasts "m" at t=10. */
const ONE: readonly ScheduledCommand<BroadcastCommand>[] = [
  { at: 10, node: 'n1', cmd: { type: 'broadcast', payload: 'm' } },
];

function crashAfter(node: NodeId, afterOutputs: number, at = 0): TimedAction {
  return { at, action: { kind: 'crash', node, afterOutputs } };
}

interface RunOptions {
  readonly seed: number;
  readonly nemesis?: readonly TimedAction[];
  readonly workload?: readonly ScheduledCommand<BroadcastCommand>[];
  readonly network?: Partial<LinkFaults>;
  readonly until?: number;
}

function run(stack: BroadcastStack, o: RunOptions): TraceEvent[] {
  return new Simulator({
    seed: o.seed,
    nodes,
    stack,
    nemesis: o.nemesis ?? [],
    workload: o.workload ?? ONE,
    network: o.network ?? {},
  }).runUntil(o.until ?? 2000).trace;
}

function asRecord(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
}

/** Link data messages (first transmissions and retransmissions) sent by `from`, as [to, …]. */
function dataSendsFrom(trace: readonly TraceEvent[], from: NodeId): NodeId[] {
  const out: NodeId[] = [];
  for (const e of trace) {
    if (e.type === 'send' && e.from === from && asRecord(e.msg).type === 'data') out.push(e.to);
  }
  return out;
}

/** The nodes that delivered `payload`, in delivery order, and the trace index of each. */
function deliveries(trace: readonly TraceEvent[], payload: unknown): [NodeId, number][] {
  const out: [NodeId, number][] = [];
  trace.forEach((e, i) => {
    if (e.type === 'deliver' && asRecord(e.event).payload === payload) out.push([e.node, i]);
  });
  return out;
}

function deliverers(trace: readonly TraceEvent[], payload: unknown): NodeId[] {
  return deliveries(trace, payload)
    .map(([n]) => n)
    .sort();
}

function crashOf(
  trace: readonly TraceEvent[],
  node: NodeId,
  at: string,
): Extract<TraceEvent, { type: 'crash' }> {
  const c = trace.find((e) => e.type === 'crash' && e.node === node);
  assert.ok(c?.type === 'crash', `${at}: ${node} never crashed`);
  return c;
}

function indices(v: Verdict): number[] {
  return v.violation?.events.map((e) => e.index) ?? [];
}

function assertAllHold(verdicts: readonly Verdict[], what: string): void {
  const failed = verdicts.filter((v) => !v.holds);
  assert.equal(failed.length, 0, `${what}:\n${formatVerdicts(failed)}`);
}

// ------------------------------------------------------------------ sender crash

test('sender crashes after sending to one process: BEB breaks agreement, eager RB keeps it', () => {
  for (const seed of SCENARIO_SEEDS) {
    const at = `seed=${seed}`;
    // BEB: persist, send→n2, setTimer | crash (before the reservation for n3).
    const beb = run(bestEffortBroadcast(), { seed, nemesis: [crashAfter('n1', 3)] });
    assert.deepEqual(dataSendsFrom(beb, 'n1'), ['n2'], `${at}: exactly one data message leaves`);
    const c = crashOf(beb, 'n1', at);
    assert.deepEqual([c.after, c.before], ['setTimer', 'persist'], at);
    assert.deepEqual(deliverers(beb, 'm'), ['n2'], `${at}: only n2 delivers`);
    const v = agreement(beb);
    assert.equal(v.holds, false, `${at}: BEB kept agreement`);
    assert.deepEqual(indices(v), [deliveries(beb, 'm')[0]?.[1]], at);
    assert.match(
      v.violation?.message ?? '',
      /correct n2 delivered .* correct n3, n4, n5 never did/,
      at,
    );
    // BEB's own contract holds: the broadcaster crashed, so validity owes nothing.
    assertAllHold(checkBroadcast(beb, 'beb'), `BEB ${at}`);

    // Eager RB: deliver, persist, send→n2, setTimer | crash.
    const rb = run(eagerReliableBroadcast(), { seed, nemesis: [crashAfter('n1', 4)] });
    assert.deepEqual(dataSendsFrom(rb, 'n1'), ['n2'], `${at}: exactly one data message leaves`);
    const d = crashOf(rb, 'n1', at);
    assert.deepEqual([d.after, d.before], ['setTimer', 'persist'], at);
    assert.deepEqual(deliverers(rb, 'm'), nodes, `${at}: n2 relays to everyone`);
    assertAllHold([...checkBroadcast(rb, 'rb'), uniformAgreement(rb)], `eager RB ${at}`);
  }
});

test('the relaying process crashes after relaying to one process: eager RB still delivers to all correct', () => {
  for (const seed of SCENARIO_SEEDS) {
    const at = `seed=${seed}`;
    // n1 reaches only n2; n2 (deliver, ack, persist, send→n3, setTimer | crash) reaches only n3.
    const trace = run(eagerReliableBroadcast(), {
      seed,
      nemesis: [crashAfter('n1', 4), crashAfter('n2', 5)],
    });
    assert.deepEqual(dataSendsFrom(trace, 'n1'), ['n2'], at);
    assert.deepEqual(dataSendsFrom(trace, 'n2'), ['n3'], `${at}: n2 relays to n3 only`);
    const c = crashOf(trace, 'n2', at);
    assert.deepEqual([c.after, c.before], ['setTimer', 'persist'], at);
    // n4 and n5 can only have it from n3 (or each other).
    assert.deepEqual(deliverers(trace, 'm'), nodes, at);
    assertAllHold([...checkBroadcast(trace, 'rb'), uniformAgreement(trace)], `eager RB ${at}`);
    assert.equal(
      checkBroadcast(trace, 'rb')[0]?.checked,
      0,
      `${at}: no correct broadcaster, nothing owed`,
    );
  }
});

test('duplicates from relays reach a node several times yet are delivered once', () => {
  const dupNet: Partial<LinkFaults> = { duplicateProbability: 0.5, duplicateMaxCopies: 2 };
  for (const seed of SCENARIO_SEEDS) {
    for (const network of [{}, dupNet]) {
      const at = `seed=${seed}${network === dupNet ? ' (network duplicates too)' : ''}`;
      const trace = run(eagerReliableBroadcast(), { seed, network });
      // Per node: receipts of m's data message (any copy) and their distinct senders.
      const copies = new Map<NodeId, number>();
      const senders = new Map<NodeId, Set<NodeId>>();
      for (const e of trace) {
        if (e.type !== 'receive') continue;
        const data = asRecord(e.msg);
        const rb = asRecord(data.payload);
        if (data.type !== 'data' || rb.k !== 'rb' || rb.o !== 'n1' || rb.n !== 1) continue;
        copies.set(e.to, (copies.get(e.to) ?? 0) + 1);
        let s = senders.get(e.to);
        if (s === undefined) {
          s = new Set();
          senders.set(e.to, s);
        }
        s.add(e.from);
      }
      for (const q of nodes.slice(1)) {
        assert.ok((copies.get(q) ?? 0) > 1, `${at}: ${q} received (n1, 1) only once`);
        assert.ok((senders.get(q)?.size ?? 0) > 1, `${at}: ${q} got no relay of (n1, 1)`);
      }
      assert.deepEqual(deliverers(trace, 'm'), nodes, `${at}: each node delivers m exactly once`);
      const v = bcastNoDuplication(trace);
      assert.ok(v.holds, `${at}: ${v.violation?.message ?? ''}`);
      assert.equal(v.checked, 5, at);
    }
  }
});

// ------------------------------------------------------------------ omission

/** Each node broadcasts `per` messages at increasing random times in [0, 300). */
function workload(seed: number, per = 2): ScheduledCommand<BroadcastCommand>[] {
  const rng = createRng(seed ^ 0x5eed);
  const out: ScheduledCommand<BroadcastCommand>[] = [];
  for (const node of nodes) {
    const times = Array.from({ length: per }, () => rng.int(300)).sort((a, b) => a - b);
    times.forEach((at, k) => {
      out.push({ at, node, cmd: { type: 'broadcast', payload: `${node}#${k}` } });
    });
  }
  return out;
}

/** 30% loss until t=1500, then `heal-all`: liveness is judged at 8000, past the backoff cap. */
const LOSS: Partial<LinkFaults> = { lossProbability: 0.3 };
const LOSS_UNTIL = 1500;
const LOSS_RUN = 8000;
const healAll = (): TimedAction => ({
  at: LOSS_UNTIL,
  action: { kind: 'heal-all', recoverCrashed: false },
});

test('omission: eager RB over perfect links under 30% loss keeps validity, agreement, no duplication (200 seeds)', () => {
  let drops = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const trace = run(eagerReliableBroadcast(), {
      seed,
      network: LOSS,
      nemesis: [healAll()],
      workload: workload(seed),
      until: LOSS_RUN,
    });
    for (const e of trace) if (e.type === 'drop' && e.reason === 'loss') drops++;
    const verdicts = checkBroadcast(trace, 'rb');
    assertAllHold(verdicts, `eager RB, 30% loss, seed=${seed}`);
    assert.equal(verdicts[0]?.checked, 10, `seed=${seed}: every broadcast is owed`);
  }
  assert.ok(drops > 1000, `only ${drops} messages lost`);
});

// ------------------------------------------------------------------ uniform agreement

test('uniform agreement: eager RB breaks it when a deliverer crashes before relaying; URB keeps it on the same schedule', () => {
  // S0: the origin crashes right after its first output. Eager RB: deliver | crash (nothing
  // sent). URB: persist | crash (it never delivers: it waits for a majority).
  // S1: n1 reaches only n2 (4 outputs, both protocols), n2 crashes after its first output on
  // receipt. Eager RB: deliver | crash (no relay). URB: ack | crash (no relay, no delivery).
  const schedules: [string, TimedAction[]][] = [
    ['S0', [crashAfter('n1', 1)]],
    ['S1', [crashAfter('n1', 4), crashAfter('n2', 1)]],
  ];
  for (const [name, nemesis] of schedules) {
    for (const seed of SCENARIO_SEEDS) {
      const at = `${name} seed=${seed}`;
      const rb = run(eagerReliableBroadcast(), { seed, nemesis });
      const delivered = deliveries(rb, 'm');
      const deliverer = name === 'S0' ? 'n1' : 'n2';
      assert.deepEqual(
        crashOf(rb, deliverer, at).after,
        'deliver',
        `${at}: crash right after deliver`,
      );
      assert.deepEqual(dataSendsFrom(rb, deliverer), [], `${at}: no relay left ${deliverer}`);
      assert.deepEqual(
        delivered.map(([n]) => n),
        name === 'S0' ? ['n1'] : ['n1', 'n2'],
        `${at}: only crashed processes delivered m`,
      );
      const u = uniformAgreement(rb);
      assert.equal(u.holds, false, `${at}: eager RB kept uniform agreement`);
      assert.deepEqual(indices(u), [delivered[0]?.[1]], at);
      assert.match(
        u.violation?.message ?? '',
        /faulty n1 delivered "m" .*n3, n4, n5 never did/,
        at,
      );
      // Plain (non-uniform) agreement and the rest of the RB contract hold: no correct process
      // delivered m.
      assertAllHold(checkBroadcast(rb, 'rb'), `eager RB ${at}`);

      const urb = run(uniformReliableBroadcast(), { seed, nemesis });
      assert.equal(crashOf(urb, 'n1', at).lostOutputs > 0, true, at);
      assertAllHold(checkBroadcast(urb, 'urb'), `URB ${at}`);
      assert.deepEqual(deliverers(urb, 'm'), [], `${at}: URB delivered without a majority`);
    }
  }
});

test('URB: a process that delivers and crashes at once cannot break uniform agreement', () => {
  for (const seed of SCENARIO_SEEDS) {
    const at = `seed=${seed}`;
    // Armed just after n1's broadcast step: its next step with 2+ outputs is the one in which a
    // majority of acks arrives (deliver, ack): it crashes right after delivering.
    const trace = run(uniformReliableBroadcast(), { seed, nemesis: [crashAfter('n1', 1, 11)] });
    const c = crashOf(trace, 'n1', at);
    assert.equal(c.after, 'deliver', at);
    const n1Delivered = deliveries(trace, 'm').find(([n]) => n === 'n1');
    assert.ok(n1Delivered !== undefined && n1Delivered[1] < trace.indexOf(c), at);
    assert.deepEqual(deliverers(trace, 'm'), nodes, at);
    assertAllHold(checkBroadcast(trace, 'urb'), `URB ${at}`);
    // Every delivery happens once a majority (3 of 5) holds m: the origin and the receivers of
    // its data message so far.
    const holders = new Set<NodeId>(['n1']);
    trace.forEach((e, i) => {
      if (e.type === 'receive' && asRecord(asRecord(e.msg).payload).k === 'urb') holders.add(e.to);
      if (e.type === 'deliver') assert.ok(holders.size >= 3, `${at}: #${i} before a majority`);
    });
  }
});

// ------------------------------------------------------------------ property tests

interface Protocol {
  readonly name: string;
  readonly kind: BroadcastKind;
  readonly stack: () => BroadcastStack;
}

const PROTOCOLS: readonly Protocol[] = [
  { name: 'BEB', kind: 'beb', stack: () => bestEffortBroadcast() },
  { name: 'eager RB', kind: 'rb', stack: () => eagerReliableBroadcast() },
  { name: 'majority-ack URB', kind: 'urb', stack: () => uniformReliableBroadcast() },
  { name: 'FIFO RB', kind: 'fifo', stack: () => fifoReliableBroadcast() },
  { name: 'causal broadcast', kind: 'causal', stack: () => causalBroadcast() },
];

interface FaultModel {
  readonly name: string;
  /** Seeds 1..seeds; per protocol: 50 + 100 + 100 = 250 across the models. */
  readonly seeds: number;
  readonly options: (seed: number) => Omit<RunOptions, 'seed'>;
}

const FAULT_MODELS: readonly FaultModel[] = [
  { name: 'no faults', seeds: 50, options: (seed) => ({ workload: workload(seed) }) },
  {
    name: 'crash-stop, f < N/2 (2 of 5)',
    seeds: 100,
    options: (seed) => ({
      workload: workload(seed),
      nemesis: generateNemesis(createRng(seed), nodes, {
        faultPhaseMs: 300,
        crashes: 2,
        maxDown: 2,
        recover: false,
        partitions: 0,
      }),
    }),
  },
  {
    name: 'omission, 30% loss',
    seeds: 100,
    options: (seed) => ({
      workload: workload(seed),
      network: LOSS,
      nemesis: [healAll()],
      until: LOSS_RUN,
    }),
  },
];

for (const p of PROTOCOLS) {
  for (const m of FAULT_MODELS) {
    test(`property: ${p.name} keeps its '${p.kind}' contract under ${m.name} (${m.seeds} seeds)`, () => {
      let crashes = 0;
      for (let seed = 1; seed <= m.seeds; seed++) {
        const trace = run(p.stack(), { seed, ...m.options(seed) });
        for (const e of trace) if (e.type === 'crash') crashes++;
        const verdicts = checkBroadcast(trace, p.kind);
        assertAllHold(verdicts, `${p.name}, ${m.name}, seed=${seed}`);
        assert.ok(
          (verdicts[0]?.checked ?? 0) >= 6,
          `${p.name}, ${m.name}, seed=${seed}: validity checked too little`,
        );
      }
      if (m.name.startsWith('crash')) assert.ok(crashes >= m.seeds, `only ${crashes} crashes`);
    });
  }
}
