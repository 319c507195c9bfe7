/**
 * Any protocol of the matrix registry (src/matrix/registry.ts) as the stack of a real node:
 * `"stack": { "protocol": "kv-raft" }` in the cluster config.
 *
 * THE SPEC. A registry entry builds its stack from a `RunSpec`, which describes a simulation
 * (fault model, network, nemesis, workload, phases). A real node has none of those; of what a
 * stack could read, it knows the node count, whether frames carry a CRC32C and whether they are
 * authenticated. `realRunSpec` fills exactly those from the config and gives the rest neutral
 * values (no faults, no Byzantine node, no schedule, no workload), so a stack that read the
 * simulation's fields would see "nothing scheduled" rather than a made-up run. Today only Bracha
 * reads its spec (`nodes`, for f = ⌊(N−1)/3⌋).
 *
 * UNDERNEATH. Nothing is added: in the simulator every message travels as a frame sealed by
 * core/executor.ts's `FrameEncoder` (msgpack, CRC32C, optional HMAC-SHA256) and is opened by
 * `decodeInbound`; the runtime driver seals and opens frames with the same code and the config's
 * checksum and auth, so a stack gets on UDP or TCP exactly the integrity and authentication it
 * has in the simulator. Reliability is the stack's own (its perfect or reliable links inside,
 * over the fair-loss transport), as in the simulator. Those inner links run with the registry's
 * settings: the channel form's runtime tuning (windows, UDP flow and congestion control, see
 * node.ts `linkOptions`) is not applied, because the entry builds the stack.
 *
 * DURABLE STATE. What a stack persists goes through the driver into the node's SQLite, in order
 * (a persist is durable before any later output), and comes back to `handleStart` after a
 * kill -9: a stack recovers exactly as it does from a simulated crash (kv-raft, the logged
 * broadcasts and the durable channels recover; the crash-stop broadcasts forget, as their
 * registry tolerance says).
 *
 * OPTIONS. An entry takes nothing but the spec (`ProtocolEntry.stack(spec)`), so `options` must
 * be empty: accepting, say, Raft's `electionMs` here would build stacks outside the registry.
 * Should entries declare options, `acceptedOptions` is the one place to read them.
 *
 * ADVERSARY. For testing what a protocol tolerates, `"byzantine": ["n4"]` in the stack makes the
 * listed nodes run the registry's adversary instead (src/matrix/liar.ts: the entry's own, such
 * as Bracha's equivocator, else the simulator's liar that rewrites the data of half its sends).
 * The honest nodes' stacks are unchanged; the checkers judge them alone. `realRunSpec` then lists
 * those nodes in `byzantine`, the one simulation field that is a fact of the real run too.
 *
 * Guarantees: `registryStackProblem` names the field and the accepted values of any bad name or
 * option; `registryStack` builds the very StackSpec the simulator runs for that entry.
 */

import type { NodeId } from '../core/ids.ts';
import type { StackSpec } from '../core/protocol.ts';
import { createRng } from '../core/rng.ts';
import { adversaryStack } from '../matrix/liar.ts';
import { protocols, type ProtocolEntry } from '../matrix/registry.ts';
import type { RunSpec } from '../matrix/spec.ts';

export function protocolNames(): string[] {
  return protocols().map((e) => e.name);
}

export function registryEntry(name: string): ProtocolEntry | undefined {
  return protocols().find((e) => e.name === name);
}

/** The options `entry` takes on a real node: none (see OPTIONS in the header). */
export function acceptedOptions(_entry: ProtocolEntry): readonly string[] {
  return [];
}

/** What is wrong with `{ protocol, options }`, naming the field and the accepted values. */
export function registryStackProblem(
  protocol: string,
  options: Readonly<Record<string, unknown>>,
): { readonly field: 'protocol' | 'options'; readonly message: string } | undefined {
  const entry = registryEntry(protocol);
  if (entry === undefined) {
    return {
      field: 'protocol',
      message: `unknown protocol ${JSON.stringify(protocol)}; accepted: ${protocolNames().join(', ')}`,
    };
  }
  const accepted = acceptedOptions(entry);
  const bad = Object.keys(options).filter((k) => !accepted.includes(k));
  if (bad.length === 0) return undefined;
  return {
    field: 'options',
    message:
      `${protocol} does not take ${bad.map((k) => JSON.stringify(k)).join(', ')}; accepted: ` +
      (accepted.length === 0
        ? 'none (its registry entry builds the stack from the config: node count, checksum, auth)'
        : accepted.join(', ')),
  };
}

/** What a real node can tell a registry entry about its run (see THE SPEC in the header). */
export interface RealRun {
  readonly protocol: string;
  readonly nodes: number;
  readonly checksum: boolean;
  readonly auth: boolean;
  /** This node (for the adversary: whether it is one of `byzantine`). */
  readonly id?: NodeId;
  /** The nodes that run the registry's adversary instead of the protocol (ADVERSARY above). */
  readonly byzantine?: readonly NodeId[];
}

/** A RunSpec for a real node: the config's facts, neutral values for the simulation's fields. */
export function realRunSpec(run: RealRun): RunSpec {
  return {
    protocol: run.protocol,
    faults: 'none',
    nodes: run.nodes,
    seed: 0,
    network: {},
    checksum: run.checksum,
    auth: run.auth,
    byzantine: run.byzantine ?? [],
    nemesis: [],
    workload: [],
    faultPhaseMs: 0,
    runMs: 0,
  };
}

/** The registry's stack for `run.protocol`; throws RangeError for an unknown name. */
export function registryStack(run: RealRun): StackSpec<unknown, unknown, unknown> {
  const entry = registryEntry(run.protocol);
  if (entry === undefined) {
    throw new RangeError(
      `unknown protocol ${JSON.stringify(run.protocol)}; accepted: ${protocolNames().join(', ')}`,
    );
  }
  const spec = realRunSpec(run);
  const index = run.id === undefined ? -1 : (run.byzantine ?? []).indexOf(run.id);
  return index < 0 ? entry.stack(spec) : adversaryStack(entry, spec, index);
}

/** The phases of a real run of a registry workload (ms after the workload begins). */
export interface RealPhases {
  /** Faults happen before this; the workload's commands in its first 60%. */
  readonly faultPhaseMs: number;
  /** The run ends here (a store's final reads come 70% into the liveness phase). */
  readonly runMs: number;
}

/**
 * The registry's own workload for `protocol` on nodes `ids`: `messages` per node (as the matrix
 * counts them), in the fault phase's first 60% as in `materialize` (src/matrix/spec.ts), drawn
 * from `seed`. Commands keep the registry's shapes, so the registry's `check` judges the run.
 */
export function registryPlan(
  protocol: string,
  ids: readonly NodeId[],
  opts: RealPhases & { readonly messages: number; readonly seed: number },
): { at: number; node: NodeId; cmd: unknown }[] {
  const entry = registryEntry(protocol);
  if (entry === undefined) throw new RangeError(`unknown protocol ${JSON.stringify(protocol)}`);
  const rng = createRng(opts.seed).fork(`workload:${protocol}:${ids.length}`);
  const phases = { faultPhaseMs: opts.faultPhaseMs, runMs: opts.runMs };
  return entry
    .workload(ids, opts.messages, Math.floor(opts.faultPhaseMs * 0.6), rng, phases)
    .map((c) => ({ at: c.at, node: c.node, cmd: c.cmd }));
}
