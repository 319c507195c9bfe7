/**
 * `steadfast/check`: the property checkers, for traces the simulator or a real node recorded and
 * for client histories an application recorded itself.
 *
 * Exports (stable in 0.x: the names, the signatures, and what a verdict means):
 *   - linearizability of a client history (Wing & Gong with Lowe's memo): `checkLinearizability`
 *     with a `Model`, the key-value `kvModel`, and the history types `Operation`, `KvInput`;
 *   - link and delivery-guarantee checkers over a trace: `checkGuarantee` (at-most-once,
 *     at-least-once, exactly-once, perfect, fifo) and the single properties `reliableDelivery`,
 *     `noDuplication`, `noCreation`, `authenticity`, `fifoOrder`;
 *   - broadcast checkers: `checkBroadcast` by kind (beb, rb, urb, fifo, causal, brb) and the single
 *     properties (validity, agreement, uniform agreement, FIFO and causal order, Bracha's);
 *   - the replicated stores' checkers over a trace (`checkKv`) and session guarantees;
 *   - verdicts: `Verdict`, `summarize`, `formatVerdicts`; the fault-tolerance forms (`classify`).
 * A checker never throws on a bad trace: it answers a verdict. Safety verdicts hold on every
 * prefix; a liveness verdict is only meaningful on a run whose network healed before the end.
 * Assumes: a trace is the `TraceEvent[]` steadfast records (see `steadfast/sim`); histories use
 * the caller's own clock for `call` and `ret`, any unit, consistent across clients.
 */

export {
  checkLinearizability,
  kvModel,
  type CheckOptions as LinearizabilityOptions,
  type KvInput,
  type KvOutput,
  type LinearizabilityVerdict,
  type Model,
  type Operation,
} from '../check/linearizability.ts';
export {
  checkGuarantee,
  CONTRACTS,
  summarize,
  type Contract,
  type GuaranteeCheckOptions,
  type Summary,
} from '../check/guarantees.ts';
export {
  authenticity,
  fifoOrder,
  noCreation,
  noDuplication,
  reliableDelivery,
  type CorrectSpec,
  type LinkCheckOptions,
} from '../check/links.ts';
export {
  agreement,
  bcastNoCreation,
  bcastNoDuplication,
  bebValidity,
  brbConsistency,
  brbIntegrity,
  brbTotality,
  BROADCAST_KINDS,
  causalDelivery,
  checkBroadcast,
  fifoDelivery,
  uniformAgreement,
  type BroadcastCheckOptions,
  type BroadcastKind,
} from '../check/broadcast.ts';
export { checkKv, kvHistory, type KvHistoryOp } from '../check/kv.ts';
export { sessionGuarantees } from '../check/session.ts';
export {
  classify,
  formOf,
  FORM_MEANING,
  FORMS,
  type Classification,
  type Form,
} from '../check/classify.ts';
export { formatVerdicts, type Verdict, type Violation } from '../check/verdict.ts';
export type { TraceEvent } from '../core/trace.ts';
