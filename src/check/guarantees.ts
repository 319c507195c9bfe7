/**
 * The contract of each delivery guarantee and link, as a list of trace properties (see links.ts
 * for PL1 reliable delivery, PL2 no duplication, PL3 no creation and FIFO order):
 *
 *   at-most-once   PL2 + PL3 on applications   (loss allowed)
 *   at-least-once  PL1 + PL3 on deliveries     (duplicates allowed: NOT a violation)
 *   exactly-once   PL1 + PL2 + PL3 on applications
 *   perfect        PL1 + PL2 + PL3 on deliveries (the perfect link of Cachin et al. §2.4.4)
 *   fifo           perfect + FIFO order on deliveries
 *
 * At-most-once and exactly-once are about effects: they are judged on the `applied` durable
 * writes, since a crash between the persist and the `deliver` notification loses only the
 * notification. PL1 is a liveness property: judge it on a trace that ran long enough after the
 * faults ended.
 *
 * Guarantees: the trace is indexed once for all the properties of a contract. If the workload
 * repeats a message identity, the result is the single `workload-unique` verdict.
 * Assumes: the conventions of links.ts (sends are accepted `send` commands, unique payloads per
 * (from, to)); `correct` defaults to crash-stop ('never-crashed'), pass 'up-at-end' for runs
 * with crash-recover.
 */

import type { Guarantee } from '../protocols/delivery/guarantees.ts';
import {
  fifoOrder,
  indexTrace,
  noCreation,
  noDuplication,
  reliableDelivery,
  workloadUnique,
  type CorrectSpec,
  type CountMode,
  type LinkCheckOptions,
  type TraceIndex,
} from './links.ts';
import type { TraceEvent } from '../core/trace.ts';
import type { Verdict } from './verdict.ts';

/** A delivery guarantee of a channel, or a link abstraction. */
export type Contract = Guarantee | 'perfect' | 'fifo';

export const CONTRACTS: readonly Contract[] = [
  'at-most-once',
  'at-least-once',
  'exactly-once',
  'perfect',
  'fifo',
];

export interface GuaranteeCheckOptions {
  readonly correct?: CorrectSpec;
}

type Checker = (ix: TraceIndex, opts: LinkCheckOptions) => Verdict;

const CONTRACT: Record<Contract, { count: CountMode; checks: readonly Checker[] }> = {
  'at-most-once': { count: 'applications', checks: [noDuplication, noCreation] },
  'at-least-once': { count: 'deliveries', checks: [reliableDelivery, noCreation] },
  'exactly-once': {
    count: 'applications',
    checks: [reliableDelivery, noDuplication, noCreation],
  },
  perfect: { count: 'deliveries', checks: [reliableDelivery, noDuplication, noCreation] },
  fifo: {
    count: 'deliveries',
    checks: [reliableDelivery, noDuplication, noCreation, fifoOrder],
  },
};

/** The verdicts of every property in the contract of `guarantee`, in the order listed above. */
export function checkGuarantee(
  trace: readonly TraceEvent[],
  guarantee: Contract,
  opts: GuaranteeCheckOptions = {},
): Verdict[] {
  const ix = indexTrace(trace);
  const unique = workloadUnique(ix);
  if (unique !== undefined) return [unique];
  const { count, checks } = CONTRACT[guarantee];
  const linkOpts: LinkCheckOptions =
    opts.correct === undefined ? { count } : { count, correct: opts.correct };
  return checks.map((check) => check(ix, linkOpts));
}

export interface Summary {
  /** Every safety verdict holds. */
  readonly safe: boolean;
  /** Every liveness verdict holds. */
  readonly live: boolean;
  /** The first violated safety verdict, else the first violated liveness verdict. */
  readonly firstViolation?: { readonly property: string; readonly message: string };
}

export function summarize(verdicts: readonly Verdict[]): Summary {
  const failed = verdicts.filter((v) => !v.holds);
  const safe = !failed.some((v) => v.kind === 'safety');
  const live = !failed.some((v) => v.kind === 'liveness');
  const first = failed.find((v) => v.kind === 'safety') ?? failed[0];
  if (first === undefined) return { safe, live };
  return {
    safe,
    live,
    firstViolation: { property: first.property, message: first.violation?.message ?? '' },
  };
}
