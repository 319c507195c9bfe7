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
import { createRng, type Rng } from '../core/rng.ts';
import type { TraceEvent } from '../core/trace.ts';
import { hmacSha256, pairKeyRing } from '../platform/node-mac.ts';
import { generateNemesis, shuffle, type TimedAction } from '../sim/nemesis.ts';
import type { LinkFaults } from '../sim/network.ts';
import { Simulator, type ScheduledCommand, type SimOptions } from '../sim/simulator.ts';
import type { Verdict } from '../check/verdict.ts';
import { GENERIC_TAMPER_PROBABILITY } from './liar.ts';
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

/**
 * What every column does, exactly (the README's table and `--help` print these). Each run draws
 * its own fault parameters from its seed within the stated ranges (swarm testing: many kinds of
 * fault pressure, each reproducible from the seed), on top of the asynchronous network every
 * column shares. The models nest as the textbook layers them: crash ⊂ omission ⊂ Byzantine.
 */
export const FAULT_DESCRIPTIONS: Record<FaultModel, string> = {
  none: 'no faults: the asynchronous network (delays uniform in 1..D ms, D drawn in 10..200 per run: messages reorder), every node up',
  crash:
    'crash-stop: 1..f nodes (f = ⌊(N−1)/2⌋) stop for good, most of them between two outputs of a step; async network',
  'crash-recover':
    'crash-recover: 2f+1 crashes (at most f down at once, also between outputs), each node restarting from its durable state; async network',
  omission:
    'omission: each message lost with p in 10..50% and duplicated with p in 5..30% (drawn per run); async network',
  partition:
    'partitions: 1..3 splits (symmetric or one-way), each healed before the next; async network',
  corrupt:
    'corruption: each frame has 1..3 bits flipped with p in 2..20% (drawn per run), in half the runs always the same bit (a stuck line); CRC32C checksums on; async network',
  'corrupt-nocrc':
    'corruption without checksums: each frame has 1 bit flipped with p in 2..20%, in half the runs always the same bit (a stuck line); no CRC, no HMAC; async network',
  byzantine:
    "Byzantine: ⌊(N−1)/3⌋ liars drawn from all nodes tamper with what they send, racing (their messages take the least delay); frames authenticated with HMAC; plus the omission column's losses and duplicates",
  'byzantine-noauth':
    'Byzantine without authentication: the same liars, racing, who can also impersonate correct nodes; no HMAC; plus omission',
  'byzantine-over':
    'too many Byzantine nodes: ⌈N/3⌉ liars (N ≤ 3f), racing; frames authenticated with HMAC; plus omission',
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

/** A probability drawn uniformly in [lo, hi], rounded to whole percent (readable in a spec). */
function percent(rng: Rng, lo: number, hi: number): number {
  return rng.intBetween(Math.round(lo * 100), Math.round(hi * 100)) / 100;
}

/** The omission column's network: losses and duplicates on top of `base`, drawn per run. */
function omissionNetwork(rng: Rng, base: Partial<LinkFaults>): Partial<LinkFaults> {
  return {
    ...base,
    lossProbability: percent(rng, 0.1, 0.5),
    duplicateProbability: percent(rng, 0.05, 0.3),
    duplicateMaxCopies: 2,
  };
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
  const faultPhaseMs = opts.faultPhaseMs ?? entry.faultPhaseMs ?? 2000;
  const runMs = faultPhaseMs + (opts.livenessMs ?? entry.livenessMs ?? 30_000);
  const messages = opts.messages ?? 4;
  // Liars are drawn from every node (hubs, leaders and the first node included).
  const byzantine = shuffle(rng.fork('liars'), [...ids]).slice(0, byzantineCount(faults, nodes));
  const f = Math.floor((nodes - 1) / 2);
  const netRng = rng.fork('network');
  // Every column runs on the asynchronous network: random delays, so messages reorder.
  const asyncNet: Partial<LinkFaults> = {
    delay: { kind: 'uniform', minMs: 1, maxMs: netRng.intBetween(10, 200) },
  };
  let network: Partial<LinkFaults> = asyncNet;
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
        crashes: rng.intBetween(1, Math.max(1, f)),
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
      network = omissionNetwork(netRng, asyncNet);
      nemesis = [heal(false)];
      break;
    case 'partition':
      nemesis = generateNemesis(rng.fork('nemesis'), ids, {
        faultPhaseMs,
        crashes: 0,
        maxDown: 0,
        recover: false,
        partitions: rng.intBetween(1, 3),
      });
      break;
    case 'corrupt':
    case 'corrupt-nocrc':
      network = {
        ...asyncNet,
        corruptProbability: percent(netRng, 0.02, 0.2),
        corruptMaxBits: faults === 'corrupt' ? 3 : 1,
        // Half the runs have a stuck line: the same bit of every corrupted frame (counted from
        // its end, where the payload lies), so corrupted copies agree with each other.
        ...(netRng.chance(0.5) ? { corruptBitFromEnd: netRng.int(256) } : {}),
      };
      nemesis = [heal(false)];
      break;
    case 'byzantine':
    case 'byzantine-noauth':
    case 'byzantine-over':
      network = omissionNetwork(netRng, asyncNet);
      nemesis = [heal(false)];
      break;
  }
  const workload = entry.workload(
    ids,
    messages,
    Math.floor(faultPhaseMs * 0.6),
    rng.fork('workload'),
    { faultPhaseMs, runMs },
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
  /**
   * Fault events that reached the run: drops (loss, partition, node down, checksum, auth),
   * duplicates, corruptions, crashes, tampered or forged messages, and adversary processes.
   * Zero: nothing the column does touched this run.
   */
  readonly faults: number;
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
            tamperProbability:
              entry.byzantineStack === undefined ? GENERIC_TAMPER_PROBABILITY : 0.3,
            impersonate: spec.faults === 'byzantine-noauth',
            ...(entry.tamper === undefined ? {} : { tamper: entry.tamper }),
          },
        }
      : {}),
    // Every liar races: its messages take the network's least delay.
    ...(spec.byzantine.length > 0 ? { racers: spec.byzantine } : {}),
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
      faults:
        c.drops +
        c.duplicates +
        c.corruptions +
        c.crashes +
        c.tampered +
        (entry.byzantineStack === undefined ? 0 : spec.byzantine.length),
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
