/**
 * Runs as plain data: which protocol, which fault model, how many nodes, which seed — and,
 * materialized from those, the exact network settings, nemesis schedule and workload.
 *
 * Guarantees: `materialize(protocol, faults, nodes, seed)` is a pure function of its arguments,
 * so `steadfast sim --protocol P --faults F --nodes N --seed S` rebuilds the very run the matrix
 * made. A `RunSpec` is JSON: the shrinker edits its explicit lists, `replay` re-runs it from a
 * trace header, and the same spec always gives the same trace.
 * Every run has a safety phase (faults, workload) ending in `heal-all` at `faultPhaseMs`, then a
 * healed liveness phase until `runMs`: whatever is not delivered by then is a liveness violation.
 */

import type { NodeId } from '../core/ids.ts';
import { nodeIds } from '../core/ids.ts';
import { createRng } from '../core/rng.ts';
import type { TraceEvent } from '../core/trace.ts';
import { hmacSha256, pairKeyRing } from '../platform/node-mac.ts';
import { generateNemesis, type TimedAction } from '../sim/nemesis.ts';
import type { LinkFaults } from '../sim/network.ts';
import { Simulator, type ScheduledCommand, type SimOptions } from '../sim/simulator.ts';
import type { Verdict } from '../check/verdict.ts';
import { findProtocol, type ProtocolEntry } from './registry.ts';

export const FAULT_MODELS = [
  'none',
  'crash',
  'crash-recover',
  'omission',
  'partition',
  'corrupt',
  'corrupt-nocrc',
  'byzantine',
  'byzantine-noauth',
  'byzantine-over',
] as const;

export type FaultModel = (typeof FAULT_MODELS)[number];

export const FAULT_DESCRIPTIONS: Record<FaultModel, string> = {
  none: 'no faults: a reliable FIFO network (5 ms delay), every node up',
  crash: 'crash-stop: up to f < N/2 nodes stop for good, some between two outputs of a step',
  'crash-recover':
    'crash-recover: nodes stop (also between outputs) and restart from their durable state',
  omission: 'omission: 30% of messages lost, 20% duplicated, 1–100 ms delays (reordering)',
  partition: 'partitions: the network splits (symmetric or one-way), then heals',
  corrupt: 'corruption: 5% of frames get flipped bits; CRC32C checksums on',
  'corrupt-nocrc': 'corruption without checksums: 5% of frames get one flipped bit, CRC off',
  byzantine:
    'Byzantine: f < N/3 nodes lie (tamper with what they send); frames authenticated with HMAC',
  'byzantine-noauth':
    'Byzantine without authentication: f < N/3 liars who can also impersonate correct nodes',
  'byzantine-over': 'too many Byzantine nodes: f ≥ N/3 liars (N ≤ 3f), frames authenticated',
};

export interface RunSpec {
  readonly protocol: string;
  readonly faults: FaultModel;
  readonly nodes: number;
  readonly seed: number;
  readonly network: Partial<LinkFaults>;
  readonly checksum: boolean;
  readonly auth: boolean;
  readonly byzantine: readonly NodeId[];
  readonly nemesis: readonly TimedAction[];
  readonly workload: readonly ScheduledCommand<unknown>[];
  readonly faultPhaseMs: number;
  readonly runMs: number;
}

export interface MaterializeOptions {
  /** Messages (links) or broadcasts each node makes; default 4. */
  readonly messages?: number;
  readonly faultPhaseMs?: number;
  readonly livenessMs?: number;
}

const SECRET = new TextEncoder().encode('steadfast simulated cluster secret');

function byzantineCount(faults: FaultModel, n: number): number {
  if (faults === 'byzantine' || faults === 'byzantine-noauth') return Math.floor((n - 1) / 3);
  if (faults === 'byzantine-over') return Math.max(1, Math.ceil(n / 3));
  return 0;
}

/** Builds the explicit run for (protocol, fault model, nodes, seed). Pure. */
export function materialize(
  protocol: string,
  faults: FaultModel,
  nodes: number,
  seed: number,
  opts: MaterializeOptions = {},
): RunSpec {
  const entry = findProtocol(protocol);
  const ids = nodeIds(nodes);
  const rng = createRng(seed).fork(`materialize:${protocol}:${faults}:${nodes}`);
  const faultPhaseMs = opts.faultPhaseMs ?? 2000;
  const runMs = faultPhaseMs + (opts.livenessMs ?? 30_000);
  const messages = opts.messages ?? 4;
  const byzantineN = byzantineCount(faults, nodes);
  const byzantine = ids.slice(nodes - byzantineN);
  const f = Math.floor((nodes - 1) / 2);
  // Outside the omission model the network neither loses nor reorders: a fixed 5 ms delay.
  let network: Partial<LinkFaults> = { delay: { kind: 'fixed', ms: 5 } };
  let nemesis: TimedAction[] = [];
  const heal = (recoverCrashed: boolean): TimedAction => ({
    at: faultPhaseMs,
    action: { kind: 'heal-all', recoverCrashed },
  });
  switch (faults) {
    case 'none':
      break;
    case 'crash':
      nemesis = generateNemesis(rng.fork('nemesis'), ids, {
        faultPhaseMs,
        crashes: Math.max(1, f),
        maxDown: Math.max(1, f),
        recover: false,
        partitions: 0,
        armWithinMs: 400,
      });
      break;
    case 'crash-recover':
      nemesis = generateNemesis(rng.fork('nemesis'), ids, {
        faultPhaseMs,
        crashes: 2 * Math.max(1, f) + 1,
        maxDown: Math.max(1, f),
        recover: true,
        partitions: 0,
      });
      break;
    case 'omission':
      network = {
        lossProbability: 0.3,
        duplicateProbability: 0.2,
        duplicateMaxCopies: 2,
        delay: { kind: 'uniform', minMs: 1, maxMs: 100 },
      };
      nemesis = [heal(false)];
      break;
    case 'partition':
      nemesis = generateNemesis(rng.fork('nemesis'), ids, {
        faultPhaseMs,
        crashes: 0,
        maxDown: 0,
        recover: false,
        partitions: 2,
      });
      break;
    case 'corrupt':
    case 'corrupt-nocrc':
      network = {
        ...network,
        corruptProbability: 0.05,
        corruptMaxBits: faults === 'corrupt' ? 3 : 1,
      };
      nemesis = [heal(false)];
      break;
    case 'byzantine':
    case 'byzantine-noauth':
    case 'byzantine-over':
      break;
  }
  const workload = entry.workload(
    ids,
    messages,
    Math.floor(faultPhaseMs * 0.6),
    rng.fork('workload'),
  );
  return {
    protocol,
    faults,
    nodes,
    seed,
    network,
    checksum: faults !== 'corrupt-nocrc',
    auth: faults === 'byzantine' || faults === 'byzantine-over',
    byzantine,
    nemesis,
    workload,
    faultPhaseMs,
    runMs,
  };
}

export interface RunResult {
  readonly spec: RunSpec;
  readonly trace: readonly TraceEvent[];
  readonly verdicts: readonly Verdict[];
  readonly safe: boolean;
  readonly live: boolean;
  readonly stats: RunStats;
}

export interface RunStats {
  readonly sent: number;
  readonly dropped: number;
  readonly duplicated: number;
  readonly corrupted: number;
  readonly delivered: number;
  readonly crashes: number;
  readonly events: number;
}

/** Simulator options for a spec (the one place a spec becomes a simulation). */
export function simOptions(spec: RunSpec, entry: ProtocolEntry = findProtocol(spec.protocol)) {
  const ids = nodeIds(spec.nodes);
  const stacks =
    entry.byzantineStack === undefined
      ? undefined
      : Object.fromEntries(
          spec.byzantine.map((id, i) => [id, entry.byzantineStack?.(spec, i) ?? entry.stack(spec)]),
        );
  const opts: SimOptions<unknown, unknown, unknown> = {
    seed: spec.seed,
    nodes: ids,
    stack: entry.stack(spec),
    ...(stacks === undefined ? {} : { stacks }),
    // Generic liars tamper with what their protocol sends; protocol-specific adversaries
    // (stacks above) do their own lying. Without authentication both also impersonate.
    ...(spec.byzantine.length > 0 &&
    (entry.byzantineStack === undefined || spec.faults === 'byzantine-noauth')
      ? {
          byzantine: {
            nodes: spec.byzantine,
            tamperProbability: entry.byzantineStack === undefined ? 0.5 : 0.3,
            impersonate: spec.faults === 'byzantine-noauth',
            ...(entry.tamper === undefined ? {} : { tamper: entry.tamper }),
          },
        }
      : {}),
    network: spec.network,
    wire: {
      frame: spec.auth
        ? { checksum: spec.checksum, auth: { mac: hmacSha256, keys: pairKeyRing(SECRET) } }
        : { checksum: spec.checksum },
    },
    nemesis: spec.nemesis,
    workload: spec.workload,
  };
  return opts;
}

/**
 * Runs a spec: the safety phase, the healed liveness phase, then every checker of its
 * specification (or of `check`, e.g. a protocol's own weaker contract).
 */
export function runSpec(spec: RunSpec, check?: ProtocolEntry['check']): RunResult {
  const entry = findProtocol(spec.protocol);
  const sim = new Simulator(simOptions(spec, entry)).runUntil(spec.runMs);
  const correct =
    spec.faults === 'crash-recover' ? ('up-at-end' as const) : ('never-crashed' as const);
  const verdicts = (check ?? entry.check)(sim.trace, {
    nodes: nodeIds(spec.nodes),
    correct,
    byzantine: spec.byzantine,
  });
  const c = sim.counters;
  return {
    spec,
    trace: sim.trace,
    verdicts,
    safe: verdicts.every((v) => v.holds || v.kind !== 'safety'),
    live: verdicts.every((v) => v.holds || v.kind !== 'liveness'),
    stats: {
      sent: c.sends,
      dropped: c.drops,
      duplicated: c.duplicates,
      corrupted: c.corruptions,
      delivered: c.delivers,
      crashes: c.crashes,
      events: c.events,
    },
  };
}

/** The first violated verdict: safety before liveness. */
export function firstViolation(verdicts: readonly Verdict[]): Verdict | undefined {
  return (
    verdicts.find((v) => !v.holds && v.kind === 'safety') ??
    verdicts.find((v) => !v.holds && v.kind === 'liveness')
  );
}
