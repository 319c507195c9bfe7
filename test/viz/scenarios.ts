/**
 * Simulated runs shared by the viz tests and scripts/readme-images.ts.
 *
 * Guarantees: every run is a real Simulator run of a real stack, judged by the real checkers of
 * src/check; same code, same traces (seeded). `faultyRun` is a small three-node run that shows
 * every kind of fault at least once (the tests assert that before relying on it).
 * Assumes: the simulator and the delivery channel keep their documented behaviour.
 */

import { nodeIds, type NodeId } from '../../src/core/ids.ts';
import type { TraceEvent } from '../../src/core/trace.ts';
import { indexTrace, noCreation, noDuplication, reliableDelivery } from '../../src/check/links.ts';
import type { Verdict } from '../../src/check/verdict.ts';
import {
  channel,
  type ChannelSend,
  type Guarantee,
} from '../../src/protocols/delivery/guarantees.ts';
import type { TimedAction } from '../../src/sim/nemesis.ts';
import type { LinkFaults } from '../../src/sim/network.ts';
import { Simulator, type ScheduledCommand } from '../../src/sim/simulator.ts';
import { cellFromRuns, type MatrixCell, type MatrixReport } from '../../src/viz/html.ts';

export interface Run {
  readonly seed: number;
  readonly trace: TraceEvent[];
  readonly verdicts: Verdict[];
}

/**
 * The perfect-link properties judged on the effects a guarantee counts (applications for
 * at-most-once and exactly-once, deliveries for at-least-once): the matrix's yardstick, so that
 * at-least-once's duplicates show up as a safety violation.
 */
export function judge(trace: readonly TraceEvent[], g: Guarantee, crashRecover = false): Verdict[] {
  const ix = indexTrace(trace);
  const count = g === 'at-least-once' ? 'deliveries' : 'applications';
  const correct = crashRecover ? 'up-at-end' : 'never-crashed';
  return [
    reliableDelivery(ix, { count, correct }),
    noDuplication(ix, { count, correct }),
    noCreation(ix, { count, correct }),
  ];
}

function workload(
  nodes: readonly NodeId[],
  perLink: number,
  every: number,
): ScheduledCommand<ChannelSend>[] {
  const out: ScheduledCommand<ChannelSend>[] = [];
  const [first, ...rest] = nodes;
  if (first === undefined) return out;
  for (let k = 0; k < perLink; k++) {
    for (const to of rest) {
      out.push({
        at: 5 + k * every,
        node: first,
        cmd: { type: 'send', to, payload: `m${k}>${to}` },
      });
    }
  }
  return out;
}

/**
 * Three nodes, n1 sending to n2 and n3 over an at-least-once channel, with loss, duplication and
 * corruption on the links, a partition cutting n3 off, and a crash-recover of n2.
 */
export function faultyRun(seed = 3): Run {
  const nodes = nodeIds(3);
  const nemesis: TimedAction[] = [
    { at: 120, action: { kind: 'partition', groups: [['n1', 'n2'], ['n3']] } },
    { at: 260, action: { kind: 'heal' } },
    { at: 300, action: { kind: 'crash', node: 'n2', recoverAfterMs: 140 } },
    { at: 700, action: { kind: 'heal-all', recoverCrashed: true } },
  ];
  const links: Record<string, Partial<LinkFaults>> = {
    'n1->n2': { duplicateProbability: 0.4, lossProbability: 0.15 },
    'n1->n3': { corruptProbability: 0.35, lossProbability: 0.15 },
    'n2->n1': { lossProbability: 0.3 },
  };
  const sim = new Simulator({
    seed,
    nodes,
    stack: channel({ guarantee: 'at-least-once', rtoInitialMs: 100, rtoMinMs: 60 }),
    network: { delay: { kind: 'uniform', minMs: 3, maxMs: 14 } },
    links,
    nemesis,
    workload: workload(nodes, 5, 80),
  }).runUntil(1500);
  return { seed, trace: sim.trace, verdicts: judge(sim.trace, 'at-least-once', true) };
}

interface FaultModel {
  readonly name: string;
  readonly network: Partial<LinkFaults>;
  readonly nemesis: readonly TimedAction[];
  readonly crashRecover: boolean;
}

export const FAULT_MODELS: readonly FaultModel[] = [
  { name: 'no faults', network: {}, nemesis: [], crashRecover: false },
  {
    name: 'loss 30%',
    network: { lossProbability: 0.3 },
    nemesis: [{ at: 400, action: { kind: 'heal-all', recoverCrashed: true } }],
    crashRecover: false,
  },
  {
    name: 'duplication 30%',
    network: { duplicateProbability: 0.3 },
    nemesis: [{ at: 400, action: { kind: 'heal-all', recoverCrashed: true } }],
    crashRecover: false,
  },
  {
    name: 'receiver crash-recover',
    network: {},
    nemesis: [
      {
        at: 60,
        action: { kind: 'crash', node: 'n2', afterOutputs: 1, withinMs: 80, recoverAfterMs: 120 },
      },
      { at: 400, action: { kind: 'heal-all', recoverCrashed: true } },
    ],
    crashRecover: true,
  },
];

export const PROTOCOLS: readonly Guarantee[] = ['at-most-once', 'at-least-once', 'exactly-once'];

/** One two-node run of a guarantee under a fault model (n1 sends 6 messages to n2). */
export function matrixRun(g: Guarantee, fm: FaultModel, seed: number): Run {
  const nodes = nodeIds(2);
  const sim = new Simulator({
    seed,
    nodes,
    stack: channel({ guarantee: g, rtoInitialMs: 80, rtoMinMs: 50 }),
    network: { delay: { kind: 'uniform', minMs: 2, maxMs: 12 }, ...fm.network },
    nemesis: fm.nemesis,
    workload: workload(nodes, 6, 30),
  }).runUntil(3000);
  return { seed, trace: sim.trace, verdicts: judge(sim.trace, g, fm.crashRecover) };
}

/** A real small matrix: 3 guarantees × 4 fault models × `seeds` runs, judged by src/check. */
export function smallMatrix(seeds = 6): MatrixReport {
  const cells: MatrixCell[] = [];
  for (const g of PROTOCOLS) {
    for (const fm of FAULT_MODELS) {
      const runs: Run[] = [];
      for (let seed = 1; seed <= seeds; seed++) runs.push(matrixRun(g, fm, seed));
      cells.push(cellFromRuns(g, fm.name, runs));
    }
  }
  const scenario = faultyRun();
  return {
    title: 'Delivery guarantees under faults',
    subtitle: `${seeds} seeded runs per cell; properties PL1 reliable delivery, PL2 no duplication, PL3 no creation`,
    protocols: PROTOCOLS,
    faultModels: FAULT_MODELS.map((f) => f.name),
    cells,
    scenarios: [
      {
        name: 'at-least-once under every fault',
        description:
          'n1 sends to n2 and n3 over lossy, duplicating and corrupting links; n3 is partitioned off for a while and n2 crashes and recovers.',
        explanation:
          'Retransmissions make every message arrive once the faults end (PL1 holds), but a copy that arrives twice is delivered twice: at-least-once gives up PL2.',
        trace: scenario.trace,
        verdicts: scenario.verdicts,
      },
    ],
  };
}
