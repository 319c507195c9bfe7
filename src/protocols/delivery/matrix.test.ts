/**
 * The delivery-guarantee test matrix: each guarantee × each network condition, over seeded
 * simulations, with the expected verdict of every property in every cell asserted (not eyeballed).
 * A cell expected to hold must hold in every seed; a cell expected to break must break in at
 * least one seed (and the failing seed is printed, so the run can be reproduced).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeIds } from '../../core/ids.ts';
import type { TraceEvent } from '../../core/trace.ts';
import {
  indexTrace,
  noCreation,
  noDuplication,
  reliableDelivery,
  type CountMode,
} from '../../check/links.ts';
import { generateNemesis, type TimedAction } from '../../sim/nemesis.ts';
import type { LinkFaults } from '../../sim/network.ts';
import { Simulator, type ScheduledCommand, type SimOptions } from '../../sim/simulator.ts';
import { createRng } from '../../core/rng.ts';
import { channel, GUARANTEES, type ChannelSend, type Guarantee } from './guarantees.ts';

const nodes = nodeIds(3);
const FAULT_PHASE_MS = 3000;
const RUN_MS = 60_000;

/** Each node sends 10 messages to each other node during the fault phase. */
function workload(): ScheduledCommand<ChannelSend>[] {
  const out: ScheduledCommand<ChannelSend>[] = [];
  for (let k = 0; k < 10; k++) {
    for (const from of nodes) {
      for (const to of nodes) {
        if (to !== from)
          out.push({
            at: k * 250 + 7,
            node: from,
            cmd: { type: 'send', to, payload: `${from}>${to}#${k}` },
          });
      }
    }
  }
  return out;
}

interface Condition {
  readonly name: string;
  readonly seeds: number;
  readonly network?: Partial<LinkFaults>;
  readonly checksum?: boolean;
  readonly nemesis?: (seed: number) => TimedAction[];
  readonly crashRecover?: boolean;
}

const healAt = (): TimedAction => ({
  at: FAULT_PHASE_MS,
  action: { kind: 'heal-all', recoverCrashed: true },
});

const CONDITIONS: readonly Condition[] = [
  { name: 'normal', seeds: 10 },
  { name: 'delayed', seeds: 10, network: { delay: { kind: 'uniform', minMs: 1, maxMs: 400 } } },
  { name: 'duplicated', seeds: 10, network: { duplicateProbability: 0.3, duplicateMaxCopies: 3 } },
  { name: 'dropped', seeds: 10, network: { lossProbability: 0.3 }, nemesis: () => [healAt()] },
  { name: 'corrupted', seeds: 10, network: { corruptProbability: 0.1 }, nemesis: () => [healAt()] },
  {
    name: 'corrupted, no checksums',
    seeds: 10,
    network: { corruptProbability: 0.1, corruptMaxBits: 1 },
    checksum: false,
    nemesis: () => [healAt()],
  },
  {
    name: 'partitioned then healed',
    seeds: 10,
    nemesis: (seed) =>
      generateNemesis(createRng(seed), nodes, {
        faultPhaseMs: FAULT_PHASE_MS,
        crashes: 0,
        maxDown: 0,
        recover: false,
        partitions: 3,
      }),
  },
  {
    name: 'receiver crash-recover',
    seeds: 10,
    crashRecover: true,
    nemesis: (seed) =>
      generateNemesis(createRng(seed), nodes, {
        faultPhaseMs: FAULT_PHASE_MS,
        crashes: 4,
        maxDown: 1,
        recover: true,
        partitions: 0,
        spare: ['n1'],
      }),
  },
  {
    name: 'chaos',
    seeds: 50,
    crashRecover: true,
    network: {
      lossProbability: 0.2,
      duplicateProbability: 0.2,
      corruptProbability: 0.05,
      delay: { kind: 'exponential', minMs: 1, meanMs: 40, maxMs: 500 },
    },
    nemesis: (seed) =>
      generateNemesis(createRng(seed), nodes, {
        faultPhaseMs: FAULT_PHASE_MS,
        crashes: 3,
        maxDown: 1,
        recover: true,
        partitions: 2,
      }),
  },
];

type Prop = 'reliable-delivery' | 'no-duplication' | 'no-creation';
/** 'holds': in every seed; 'breaks': in at least one seed; undefined: not asserted. */
type Expect = Partial<Record<Prop, 'holds' | 'breaks'>>;

const H = 'holds' as const;
const B = 'breaks' as const;

/** The expected verdicts. Rows: conditions; columns: guarantees. */
const EXPECTED: Record<string, Record<Guarantee, Expect>> = {
  normal: {
    'at-most-once': { 'reliable-delivery': H, 'no-duplication': H, 'no-creation': H },
    'at-least-once': { 'reliable-delivery': H, 'no-duplication': H, 'no-creation': H },
    'exactly-once': { 'reliable-delivery': H, 'no-duplication': H, 'no-creation': H },
  },
  delayed: {
    'at-most-once': { 'no-duplication': H, 'no-creation': H },
    'at-least-once': { 'reliable-delivery': H, 'no-creation': H },
    'exactly-once': { 'reliable-delivery': H, 'no-duplication': H, 'no-creation': H },
  },
  duplicated: {
    'at-most-once': { 'reliable-delivery': H, 'no-duplication': H, 'no-creation': H },
    'at-least-once': { 'reliable-delivery': H, 'no-duplication': B, 'no-creation': H },
    'exactly-once': { 'reliable-delivery': H, 'no-duplication': H, 'no-creation': H },
  },
  dropped: {
    'at-most-once': { 'reliable-delivery': B, 'no-duplication': H, 'no-creation': H },
    'at-least-once': { 'reliable-delivery': H, 'no-duplication': B, 'no-creation': H },
    'exactly-once': { 'reliable-delivery': H, 'no-duplication': H, 'no-creation': H },
  },
  corrupted: {
    'at-most-once': { 'reliable-delivery': B, 'no-duplication': H, 'no-creation': H },
    'at-least-once': { 'reliable-delivery': H, 'no-creation': H },
    'exactly-once': { 'reliable-delivery': H, 'no-duplication': H, 'no-creation': H },
  },
  'corrupted, no checksums': {
    'at-most-once': { 'no-creation': B },
    'at-least-once': { 'no-creation': B },
    'exactly-once': { 'no-creation': B },
  },
  'partitioned then healed': {
    'at-most-once': { 'reliable-delivery': B, 'no-duplication': H, 'no-creation': H },
    'at-least-once': { 'reliable-delivery': H, 'no-creation': H },
    'exactly-once': { 'reliable-delivery': H, 'no-duplication': H, 'no-creation': H },
  },
  'receiver crash-recover': {
    'at-most-once': { 'reliable-delivery': B, 'no-duplication': H, 'no-creation': H },
    'at-least-once': { 'reliable-delivery': H, 'no-duplication': B, 'no-creation': H },
    'exactly-once': { 'reliable-delivery': H, 'no-duplication': H, 'no-creation': H },
  },
  chaos: {
    'at-most-once': { 'reliable-delivery': B, 'no-duplication': H, 'no-creation': H },
    'at-least-once': { 'reliable-delivery': H, 'no-duplication': B, 'no-creation': H },
    'exactly-once': { 'reliable-delivery': H, 'no-duplication': H, 'no-creation': H },
  },
};

function simulate(g: Guarantee, c: Condition, seed: number): TraceEvent[] {
  const opts: SimOptions<unknown, ChannelSend, unknown> = {
    seed,
    nodes,
    stack: channel({ guarantee: g, rtoInitialMs: 100 }),
    network: { delay: { kind: 'uniform', minMs: 1, maxMs: 20 }, ...c.network },
    wire: { frame: { checksum: c.checksum ?? true } },
    nemesis: c.nemesis?.(seed) ?? [],
    workload: workload(),
  };
  return new Simulator(opts).runUntil(RUN_MS).trace;
}

for (const c of CONDITIONS) {
  test(`matrix: ${c.name} (${c.seeds} seeds × 3 guarantees)`, () => {
    for (const g of GUARANTEES) {
      const count: CountMode = g === 'at-least-once' ? 'deliveries' : 'applications';
      const correct = c.crashRecover === true ? 'up-at-end' : 'never-crashed';
      const failedIn = new Map<Prop, number>();
      for (let seed = 1; seed <= c.seeds; seed++) {
        const ix = indexTrace(simulate(g, c, seed));
        const verdicts = [
          reliableDelivery(ix, { count, correct }),
          noDuplication(ix, { count, correct }),
          noCreation(ix, { count, correct }),
        ];
        for (const v of verdicts) {
          const p = v.property as Prop;
          const want = EXPECTED[c.name]?.[g][p];
          if (!v.holds && !failedIn.has(p)) failedIn.set(p, seed);
          assert.ok(
            v.holds || want !== 'holds',
            `${g} under ${c.name}: ${p} broke at seed=${seed}: ${v.violation?.message ?? ''}`,
          );
        }
      }
      for (const [p, want] of Object.entries(EXPECTED[c.name]?.[g] ?? {})) {
        if (want === 'breaks') {
          assert.ok(
            failedIn.has(p as Prop),
            `${g} under ${c.name}: expected ${p} to break in some seed, it held in all ${c.seeds}`,
          );
        }
      }
    }
  });
}
