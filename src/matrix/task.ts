/**
 * One unit of exploration work and its result, as plain data that crosses a worker boundary.
 */

import type { RunOutcome } from '../check/classify.ts';
import type { BroadcastKind } from '../check/broadcast.ts';
import type { TraceEvent } from '../core/trace.ts';
import { capRun, type CapRun } from './cap.ts';
import { explainRun } from './explain.ts';
import { broadcastCheck, findProtocol } from './registry.ts';
import { shrink } from './shrink.ts';
import {
  firstViolation,
  materialize,
  runSpec,
  type FaultModel,
  type RunSpec,
  type RunStats,
} from './spec.ts';

/** How many re-runs the shrinker may spend on one counterexample. */
export const SHRINK_BUDGET_RUNS = 150;

export interface Task {
  readonly protocol: string;
  readonly faults: FaultModel;
  readonly nodes: number;
  readonly seed: number;
  readonly messages: number;
  /** Judge by this broadcast contract instead of the protocol's matrix specification. */
  readonly contract?: BroadcastKind;
  /**
   * This run is a cell's counterexample: also explain it (explain.ts) and, with `shrink`, shrink
   * it to a smaller run that violates the same property (shrink.ts), in the worker.
   */
  readonly detail?: { readonly shrink: boolean };
  /** Run the CAP table's partition run for this store and seed instead (cap.ts). */
  readonly cap?: boolean;
}

/** What a detail task adds: the explanation and the shrunk run with its own trace and text. */
export interface TaskDetail {
  readonly explanation?: string;
  readonly shrunk?: {
    readonly spec: RunSpec;
    readonly from: number;
    readonly to: number;
    readonly property: string;
    readonly message: string;
    readonly trace: readonly TraceEvent[];
  };
}

export interface TaskResult extends RunOutcome {
  readonly protocol: string;
  readonly faults: FaultModel;
  readonly nodes: number;
  readonly stats: RunStats;
  readonly wallMs: number;
  readonly detail?: TaskDetail;
  /** A CAP task's figures. */
  readonly cap?: CapRun;
}

/** Runs one task to completion (in whatever thread calls it). */
export function runTask(task: Task, clock: () => number): TaskResult {
  const t0 = clock();
  if (task.cap === true) {
    const { figures, run } = capRun(task.protocol, task.nodes, task.seed);
    return {
      protocol: task.protocol,
      faults: task.faults,
      nodes: task.nodes,
      seed: task.seed,
      safe: run.safe,
      live: run.live,
      stats: run.stats,
      wallMs: clock() - t0,
      cap: figures,
    };
  }
  const spec = materialize(task.protocol, task.faults, task.nodes, task.seed, {
    messages: task.messages,
  });
  const result =
    task.contract === undefined ? runSpec(spec) : runSpec(spec, broadcastCheck(task.contract));
  const v = firstViolation(result.verdicts);
  const base = {
    protocol: task.protocol,
    faults: task.faults,
    nodes: task.nodes,
    seed: task.seed,
    safe: result.safe,
    live: result.live,
    stats: result.stats,
    wallMs: clock() - t0,
  };
  if (v?.violation === undefined) return base;
  const outcome = {
    ...base,
    violation: { property: v.property, kind: v.kind, message: v.violation.message },
  };
  return task.detail === undefined
    ? outcome
    : { ...outcome, detail: detailOf(spec, result.trace, v, task.detail.shrink) };
}

function detailOf(
  spec: RunSpec,
  trace: readonly TraceEvent[],
  v: NonNullable<ReturnType<typeof firstViolation>>,
  withShrink: boolean,
): TaskDetail {
  const explanation = explainRun(findProtocol(spec.protocol), spec, trace, v);
  const base = explanation === undefined ? {} : { explanation };
  if (!withShrink) return base;
  const s = shrink(spec, v.property, SHRINK_BUDGET_RUNS);
  const run = runSpec(s.spec);
  const own = run.verdicts.find((x) => !x.holds && x.property === v.property);
  return {
    ...base,
    shrunk: {
      spec: s.spec,
      from: s.from,
      to: s.to,
      property: v.property,
      message: own?.violation?.message ?? v.violation?.message ?? '',
      trace: run.trace,
    },
  };
}
