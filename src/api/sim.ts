/**
 * `steadfast/sim`: the deterministic simulator, the protocols it runs, and the fault-tolerance
 * matrix built on it.
 *
 * Exports, stable in 0.x (names, signatures and the meaning of results):
 *   - `Simulator` (one seed reproduces a whole run, byte for byte) with `SimOptions`, its network
 *     faults (`LinkFaults`), nemesis actions and workload (`ScheduledCommand`), and `TraceEvent`;
 *   - `channel`, the point-to-point channel with a delivery guarantee (`GUARANTEES`);
 *   - the protocol registry (`protocols`, `findProtocol`: every protocol of the matrix with its
 *     stack, workload and specification), the fault models (`FAULT_MODELS`,
 *     `FAULT_DESCRIPTIONS`), one run as plain data (`materialize` → `RunSpec` → `runSpec`, the
 *     run `steadfast sim --protocol P --faults F --nodes N --seed S` makes) and the matrix runner
 *     (`runMatrix`, on worker threads);
 *   - the protocol interface (`Protocol`, `StackSpec`, `Output`, `NodeContext`) for writing one.
 * Exported but not yet stable (their options may change): the broadcast constructors.
 * Guarantees: nothing here does I/O but `runMatrix` (worker threads) and the shrinker's optional
 * trace files; a run's result is a pure function of its spec.
 * Assumes: Node ≥ 20.19; checkers for the traces are in `steadfast/check`.
 */

export {
  Simulator,
  SimulationError,
  type ScheduledCommand,
  type SimCounters,
  type SimOptions,
  type WireOptions,
} from '../sim/simulator.ts';
export { RELIABLE, type Delay, type LinkFaults } from '../sim/network.ts';
export { type NemesisAction, type TimedAction } from '../sim/nemesis.ts';
export {
  channel,
  GUARANTEES,
  type ChannelDeliver,
  type ChannelOptions,
  type ChannelSend,
  type Guarantee,
} from '../protocols/delivery/guarantees.ts';
export { bestEffortBroadcast } from '../protocols/broadcast/beb.ts';
export {
  causalBroadcast,
  eagerReliableBroadcast,
  fifoReliableBroadcast,
} from '../protocols/broadcast/eager.ts';
export { uniformReliableBroadcast } from '../protocols/broadcast/uniform.ts';
export { brachaBroadcast } from '../protocols/broadcast/bracha.ts';
export { gossipBroadcast } from '../protocols/broadcast/gossip.ts';
export {
  defaultProtocols,
  findProtocol,
  protocols,
  type CheckOptions as ProtocolCheckOptions,
  type ProtocolEntry,
} from '../matrix/registry.ts';
export {
  FAULT_DESCRIPTIONS,
  FAULT_MODELS,
  firstViolation,
  materialize,
  runSpec,
  simOptions,
  type FaultModel,
  type MaterializeOptions,
  type RunResult,
  type RunSpec,
  type RunStats,
} from '../matrix/spec.ts';
export {
  runMatrix,
  simCommand,
  type Cell,
  type CellExample,
  type MatrixOptions,
  type MatrixResult,
} from '../matrix/matrix.ts';
export type { NodeContext, Output, Protocol, StackSpec } from '../core/protocol.ts';
export type { TraceEvent } from '../core/trace.ts';
export { instant, type Instant } from '../core/time.ts';
export { nodeIds, type NodeId } from '../core/ids.ts';
