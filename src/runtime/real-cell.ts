/**
 * One cell of the matrix run on real processes: a protocol (a registry entry, or the channel with
 * a delivery guarantee) under a fault model injected for real (cluster.ts `faultSchedule`), its
 * workload, the merged trace judged by the same checkers as the simulator's, and the cell's form.
 * Used by `steadfast cluster --faults F` (one run) and `steadfast cluster --matrix` (a grid).
 *
 * Judging: the registry's `check` (or `checkGuarantee` for the channel) on the merged trace with
 * `correct: 'up-at-end'` (a node killed for good is not required to deliver) and the schedule's
 * Byzantine nodes excluded, plus `accounted` (accountedVerdict: the supervisor's record of every
 * planned operation agrees with the nodes' durable traces). Safe: every safety verdict holds;
 * live: every liveness verdict holds; the form follows (check/classify.ts).
 *
 * Guarantees: the schedule is drawn from `seed` alone and returned (`schedule`, and `repeat`,
 * the command line that draws it again); every planned operation is accounted for in the result.
 * Assumes: what runCluster assumes (root and nftables for network faults and namespaces).
 */

import { FORM_MEANING, formOf, type Form } from '../check/classify.ts';
import { checkGuarantee, summarize } from '../check/guarantees.ts';
import { fail, pass, type Verdict } from '../check/verdict.ts';
import { nodeIds } from '../core/ids.ts';
import { createRng } from '../core/rng.ts';
import { findProtocol } from '../matrix/registry.ts';
import type { Guarantee } from '../protocols/delivery/guarantees.ts';
import type { Accounting } from './accounting.ts';
import {
  byzantineNodes,
  channelPlan,
  faultSchedule,
  runCluster,
  type ClusterFault,
  type ClusterResult,
  type FaultModel,
} from './cluster.ts';
import { registryPlan } from './registry-stack.ts';

/** How real runs are made: shared by one cell (runRealCell) and a grid (real-matrix.ts). */
export interface RealRunSettings {
  readonly nodes: number;
  readonly transport: 'udp' | 'tcp';
  readonly network: 'loopback' | 'netns';
  readonly messages: number;
  readonly faultMs: number;
  readonly livenessMs: number;
  readonly dir: string;
  readonly log?: (line: string) => void;
}

export interface RealCellOptions extends RealRunSettings {
  /** A registry protocol, or undefined for the channel with `guarantee`. */
  readonly protocol?: string;
  readonly guarantee?: Guarantee;
  /** A matrix fault model (schedule drawn from `seed`), or an explicit schedule. */
  readonly fault: FaultModel | { readonly label: string; readonly schedule: ClusterFault[] };
  readonly seed: number;
}

export interface RealCell {
  readonly cluster: ClusterResult;
  readonly schedule: readonly ClusterFault[];
  readonly verdicts: readonly Verdict[];
  readonly safe: boolean;
  readonly live: boolean;
  readonly form: Form;
  /** The first violated verdict, safety first. */
  readonly first?: Verdict;
  /** The command that repeats this run's schedule and workload. */
  readonly repeat: string;
}

/** What the form means, for a printed line. */
export function formLine(model: string, cell: RealCell): string {
  return (
    `form under ${model}: ${cell.form} (${FORM_MEANING[cell.form]})` +
    (cell.first === undefined
      ? ''
      : `; first violation: ${cell.first.property} (${cell.first.kind}): ${cell.first.violation?.message ?? ''}`)
  );
}

export async function runRealCell(o: RealCellOptions): Promise<RealCell> {
  const ids = nodeIds(o.nodes);
  const entry = o.protocol === undefined ? undefined : findProtocol(o.protocol);
  const guarantee = o.guarantee ?? 'exactly-once';
  const runMs = o.faultMs + o.livenessMs;
  const schedule =
    typeof o.fault === 'string'
      ? faultSchedule(o.fault, createRng(o.seed).fork('faults'), { ids, withinMs: o.faultMs })
      : o.fault.schedule;
  const byzantine = byzantineNodes(schedule);
  const cluster = await runCluster({
    nodes: o.nodes,
    transport: o.transport,
    network: o.network,
    stack: entry === undefined ? { guarantee, effect: 'counter' } : { protocol: entry.name },
    plan:
      entry === undefined
        ? channelPlan(ids, o.messages, o.faultMs)
        : registryPlan(entry.name, ids, {
            messages: o.messages,
            faultPhaseMs: o.faultMs,
            runMs,
            seed: o.seed,
          }),
    faults: schedule,
    seed: o.seed,
    runMs,
    // A registry stack's messages (a Raft append of a batch) are not sized for 1,200 bytes; every
    // node is on loopback or on one bridge, whose MTU is no smaller than 1,500 bytes (loopback
    // 64 KiB): the kernel fragments what exceeds it.
    ...(entry === undefined ? {} : { udpMaxDatagramBytes: 65_507 }),
    dir: o.dir,
    ...(o.log === undefined ? {} : { log: o.log }),
  });
  const verdicts = [
    ...(entry === undefined
      ? checkGuarantee(cluster.trace, guarantee, { correct: 'up-at-end' })
      : entry.check(cluster.trace, { nodes: ids, correct: 'up-at-end', byzantine })),
    accountedVerdict(cluster.accounting),
  ];
  const sum = summarize(verdicts);
  const first =
    verdicts.find((v) => !v.holds && v.kind === 'safety') ?? verdicts.find((v) => !v.holds);
  const model = typeof o.fault === 'string' ? o.fault : undefined;
  return {
    cluster,
    schedule,
    verdicts,
    safe: sum.safe,
    live: sum.live,
    form: formOf(sum.safe, sum.live),
    ...(first === undefined ? {} : { first }),
    repeat:
      model === undefined
        ? ''
        : `steadfast cluster --faults ${model} --seed ${o.seed} --nodes ${o.nodes}` +
          `${o.transport === 'tcp' ? ' --transport tcp' : ''} --network ${o.network}` +
          (entry === undefined ? ` --guarantee ${guarantee}` : ` --protocol ${entry.name}`) +
          ` --messages ${o.messages} --fault-ms ${o.faultMs} --liveness-ms ${o.livenessMs}`,
  };
}

/**
 * The accounting as a verdict: every planned operation has one fate (refused, rejected, in
 * doubt, done, not done: asserted in accounting.ts), and the supervisor's record agrees with the
 * nodes' durable traces (nothing a node accepted is missing unless it crashed after; nothing is
 * in them that was not handed over). Not done operations are judged by the specification.
 */
export function accountedVerdict(a: Accounting): Verdict {
  if (a.untraced.length === 0 && a.unplanned.length === 0) {
    return pass('accounted', 'safety', a.planned);
  }
  const parts = [
    ...(a.untraced.length > 0
      ? [
          `accepted by a node that never crashed after, yet not in its durable trace: ${a.untraced.join('; ')}`,
        ]
      : []),
    ...(a.unplanned.length > 0
      ? [`accepted in a trace, never handed over: ${a.unplanned.join('; ')}`]
      : []),
  ];
  return fail('accounted', 'safety', a.planned, parts.join('; '), []);
}
