/**
 * One unit of exploration work and its result, as plain data that crosses a worker boundary.
 */

import type { RunOutcome } from '../check/classify.ts';
import type { BroadcastKind } from '../check/broadcast.ts';
import { broadcastCheck } from './registry.ts';
import { firstViolation, materialize, runSpec, type FaultModel, type RunStats } from './spec.ts';

export interface Task {
  readonly protocol: string;
  readonly faults: FaultModel;
  readonly nodes: number;
  readonly seed: number;
  readonly messages: number;
  /** Judge by this broadcast contract instead of the protocol's matrix specification. */
  readonly contract?: BroadcastKind;
}

export interface TaskResult extends RunOutcome {
  readonly protocol: string;
  readonly faults: FaultModel;
  readonly nodes: number;
  readonly stats: RunStats;
  readonly wallMs: number;
}

/** Runs one task to completion (in whatever thread calls it). */
export function runTask(task: Task, clock: () => number): TaskResult {
  const t0 = clock();
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
  return v?.violation === undefined
    ? base
    : { ...base, violation: { property: v.property, kind: v.kind, message: v.violation.message } };
}
