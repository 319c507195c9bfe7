/**
 * The replicated stores' workload and specification, shared by every kv row of the matrix.
 *
 * Workload: one client per node (named `c`, hosted by its node), `messages` + 2 operations each
 * at random times in the fault phase's first 60%: increments and reads of the counter key `n`
 * (incremented and read only, so `increments-once` applies), and puts (of values unique per
 * write), compare-and-sets and reads of the register key `x`. Then, 70% into the healed liveness
 * phase, every client reads every key once more: the final reads that `converges` and
 * `no-lost-write` compare (serials from FINAL_SERIAL_BASE).
 * `kvRegisterWorkload` is the same with reads and writes only: puts (values unique per write),
 * deletes and reads of two register keys `x` and `y`, for the rows that claim only those.
 * Specification: "a linearizable store with exactly-once increments": linearizable,
 * increments-once, no-lost-write (safety); completes, converges (liveness). See src/check/kv.ts.
 */

import type { NodeId } from '../core/ids.ts';
import type { Rng } from '../core/rng.ts';
import type { TraceEvent } from '../core/trace.ts';
import { checkKv, FINAL_SERIAL_BASE } from '../check/kv.ts';
import { correctProcesses, indexTrace } from '../check/links.ts';
import type { Verdict } from '../check/verdict.ts';
import type { KvCommand, KvOp } from '../protocols/kv/types.ts';
import type { ScheduledCommand } from '../sim/simulator.ts';
import type { CheckOptions, RunPhases } from './registry.ts';

export const COUNTER_KEY = 'n';
export const REGISTER_KEY = 'x';
export const SECOND_REGISTER_KEY = 'y';

type OpMaker = (rng: Rng, node: NodeId, k: number) => KvOp;

function mixedOp(rng: Rng, node: NodeId, k: number): KvOp {
  const r = rng.next();
  if (r < 0.4) return { f: 'incr', key: COUNTER_KEY, delta: 1 };
  if (r < 0.55) return { f: 'get', key: COUNTER_KEY };
  if (r < 0.75) return { f: 'put', key: REGISTER_KEY, value: `${node}#${k}` };
  if (r < 0.85) return { f: 'cas', key: REGISTER_KEY, from: null, to: `${node}#${k}cas` };
  return { f: 'get', key: REGISTER_KEY };
}

/** A read (40%), write (50%) or delete (10%) of `x` or `y`; written values unique per (node, k). */
export function registerOp(rng: Rng, node: NodeId, k: number): KvOp {
  const key = rng.next() < 0.5 ? REGISTER_KEY : SECOND_REGISTER_KEY;
  const r = rng.next();
  if (r < 0.5) return { f: 'put', key, value: `${node}#${k}` };
  if (r < 0.6) return { f: 'delete', key };
  return { f: 'get', key };
}

/** The workload of every store row but kv-abd-rw (see the module header). */
export function kvWorkload(
  nodes: readonly NodeId[],
  messages: number,
  spanMs: number,
  rng: Rng,
  phases: RunPhases,
): ScheduledCommand<unknown>[] {
  return workloadOf(mixedOp, [COUNTER_KEY, REGISTER_KEY], nodes, messages, spanMs, rng, phases);
}

/** Reads and writes only (see the module header). */
export function kvRegisterWorkload(
  nodes: readonly NodeId[],
  messages: number,
  spanMs: number,
  rng: Rng,
  phases: RunPhases,
): ScheduledCommand<unknown>[] {
  const keys = [REGISTER_KEY, SECOND_REGISTER_KEY];
  return workloadOf(registerOp, keys, nodes, messages, spanMs, rng, phases);
}

function workloadOf(
  op: OpMaker,
  finalKeys: readonly string[],
  nodes: readonly NodeId[],
  messages: number,
  spanMs: number,
  rng: Rng,
  phases: RunPhases,
): ScheduledCommand<unknown>[] {
  const out: ScheduledCommand<unknown>[] = [];
  const count = messages + 2;
  for (const node of nodes) {
    for (let k = 0; k < count; k++) {
      const cmd: KvCommand = { type: 'kv', client: 'c', serial: k + 1, op: op(rng, node, k) };
      out.push({ at: rng.int(Math.max(1, spanMs)), node, cmd });
    }
  }
  const finalAt = phases.faultPhaseMs + Math.floor((phases.runMs - phases.faultPhaseMs) * 0.7);
  for (const node of nodes) {
    finalKeys.forEach((key, i) => {
      const cmd: KvCommand = {
        type: 'kv',
        client: 'c',
        serial: FINAL_SERIAL_BASE + i,
        op: { f: 'get', key },
      };
      out.push({ at: finalAt + i, node, cmd });
    });
  }
  return out.sort((a, b) => a.at - b.at);
}

/** The specification of every kv row (see the module header). */
export function kvCheck(trace: readonly TraceEvent[], opts: CheckOptions): Verdict[] {
  const isCorrect = correctProcesses(indexTrace(trace), opts.correct);
  return checkKv(trace, (n) => isCorrect(n) && !opts.byzantine.includes(n));
}
