/**
 * The CAP trade-off, computed: each replicated store through the same partition that cuts a
 * minority of the nodes off, with clients on both sides; per store, what fraction of the
 * operations each side issued during the partition completed before the heal (availability),
 * in how many runs the history was linearizable (consistency), and in how many the replicas
 * converged after the heal.
 *
 * THE RUN (per store and seed; N = 5 unless asked): the matrix's asynchronous network of the
 * `none` column (delays 1..D ms, D drawn per seed), no other fault. From `PARTITION.startMs` to
 * `PARTITION.endMs` the first ⌊(N−1)/2⌋ nodes (n1, n2: the minority, holding the first leader
 * or primary whenever it is n1) are cut off from the rest; `heal-all` at `faultPhaseMs`. Every
 * node's client `c` issues an operation every `intervalMs` (± jitter from the seed) while the
 * partition lasts: reads, writes and deletes of two register keys (values unique per write:
 * the register workload, so a failing linearizability check is the partition's doing, not a
 * read-modify-write's), then the final reads 70% into the healed phase.
 * An operation counts for its side when its command was issued during the partition, and as
 * completed when its `ok` answer came before the heal. The verdicts are the matrix's own
 * checkers (check/kv.ts): `linearizable` (an `unknown` search is counted apart, never as a
 * pass) and `converges`; and the session guarantees (check/session.ts: read-your-writes and
 * monotonic reads of each node's client).
 * Guarantees: every figure is computed from runs made now; runs are deterministic per (store,
 * seed, nodes).
 */

import { kvHistory } from '../check/kv.ts';
import { sessionGuarantees } from '../check/session.ts';
import { nodeIds, type NodeId } from '../core/ids.ts';
import { createRng } from '../core/rng.ts';
import type { KvCommand } from '../protocols/kv/types.ts';
import type { ScheduledCommand } from '../sim/simulator.ts';
import { FINAL_SERIAL_BASE } from '../check/kv.ts';
import { REGISTER_KEY, registerOp, SECOND_REGISTER_KEY } from './kv-workload.ts';
import { materialize, runSpec, type RunResult, type RunSpec } from './spec.ts';

/** The stores of the CAP table, one design each (ABD asked only what it is built for). */
export const CAP_STORES = ['kv-raft', 'kv-abd-rw', 'kv-crdt', 'kv-primary-backup'] as const;

/** The partition's span (ms). Warm-up before it: a first leader or primary is in place. */
export const PARTITION = { startMs: 1500, endMs: 6500 } as const;
const FAULT_PHASE_MS = 7000;
const LIVENESS_MS = 15_000;
const INTERVAL_MS = 250;
export const DEFAULT_CAP_SEEDS = 20;

export interface CapSide {
  readonly nodes: readonly NodeId[];
  /** Operations issued on this side during the partition. */
  readonly issued: number;
  /** Of those, answered `ok` before the heal. */
  readonly completed: number;
}

export interface CapRow {
  readonly protocol: string;
  readonly runs: number;
  readonly minority: CapSide;
  readonly majority: CapSide;
  /** Runs whose whole history was linearizable. */
  readonly linearizableRuns: number;
  /** Runs whose linearizability search ran out of budget (neither pass nor fail). */
  readonly unknownRuns: number;
  /** Runs whose replicas agreed in the final reads. */
  readonly convergedRuns: number;
  /** Runs where every session kept read-your-writes and monotonic reads (check/session.ts). */
  readonly sessionRuns: number;
  /** The first seed whose history was not linearizable. */
  readonly nonLinearizableSeed?: number;
}

export interface CapTable {
  readonly nodes: number;
  readonly seeds: number;
  readonly firstSeed: number;
  readonly partition: { readonly startMs: number; readonly endMs: number };
  readonly minority: readonly NodeId[];
  readonly rows: readonly CapRow[];
}

/** The run of `protocol` for the CAP table (see the module header). Pure. */
export function capSpec(protocol: string, nodes: number, seed: number): RunSpec {
  const base = materialize(protocol, 'none', nodes, seed, {
    faultPhaseMs: FAULT_PHASE_MS,
    livenessMs: LIVENESS_MS,
  });
  const ids = nodeIds(nodes);
  const cut = Math.floor((nodes - 1) / 2);
  const rng = createRng(seed).fork(`cap:${nodes}`);
  const workload: ScheduledCommand<unknown>[] = [];
  for (const node of ids) {
    let k = 0;
    for (let at = PARTITION.startMs; at < PARTITION.endMs - INTERVAL_MS; at += INTERVAL_MS) {
      const cmd: KvCommand = {
        type: 'kv',
        client: 'c',
        serial: k + 1,
        op: registerOp(rng, node, k),
      };
      workload.push({ at: at + rng.int(INTERVAL_MS), node, cmd });
      k++;
    }
    const finalAt = FAULT_PHASE_MS + Math.floor(LIVENESS_MS * 0.7);
    [REGISTER_KEY, SECOND_REGISTER_KEY].forEach((key, i) => {
      const cmd: KvCommand = {
        type: 'kv',
        client: 'c',
        serial: FINAL_SERIAL_BASE + i,
        op: { f: 'get', key },
      };
      workload.push({ at: finalAt + i, node, cmd });
    });
  }
  return {
    ...base,
    nemesis: [
      {
        at: PARTITION.startMs,
        action: { kind: 'partition', groups: [ids.slice(0, cut), ids.slice(cut)] },
      },
      { at: PARTITION.endMs, action: { kind: 'heal' } },
      { at: FAULT_PHASE_MS, action: { kind: 'heal-all', recoverCrashed: true } },
    ],
    workload: workload.sort((a, b) => a.at - b.at),
  };
}

/** One run's figures. */
export interface CapRun {
  readonly minority: { issued: number; completed: number };
  readonly majority: { issued: number; completed: number };
  readonly linearizable: 'yes' | 'no' | 'unknown';
  readonly converged: boolean;
  readonly sessions: boolean;
}

export function capRun(
  protocol: string,
  nodes: number,
  seed: number,
): { readonly figures: CapRun; readonly run: RunResult } {
  const spec = capSpec(protocol, nodes, seed);
  const run = runSpec(spec);
  const minorityNodes = new Set(nodeIds(nodes).slice(0, Math.floor((nodes - 1) / 2)));
  const sides = { minority: { issued: 0, completed: 0 }, majority: { issued: 0, completed: 0 } };
  for (const op of kvHistory(run.trace).ops) {
    const issuedAt = run.trace[op.callIndex]?.t ?? Number.NaN;
    if (issuedAt < PARTITION.startMs || issuedAt >= PARTITION.endMs) continue;
    const side = minorityNodes.has(op.node) ? sides.minority : sides.majority;
    side.issued++;
    const retAt = op.retIndex === undefined ? undefined : run.trace[op.retIndex]?.t;
    if (op.status === 'ok' && retAt !== undefined && retAt < PARTITION.endMs) side.completed++;
  }
  const lin = run.verdicts.find((v) => v.property === 'linearizable');
  const unknown = lin?.holds === false && /unknown/.test(lin.violation?.message ?? '');
  const figures: CapRun = {
    ...sides,
    linearizable: lin?.holds === true ? 'yes' : unknown ? 'unknown' : 'no',
    converged: run.verdicts.find((v) => v.property === 'converges')?.holds === true,
    sessions: sessionGuarantees(run.trace).holds,
  };
  return { figures, run };
}

/** One store's row from its runs (in seed order). */
export function capRow(
  protocol: string,
  nodes: number,
  runs: readonly (CapRun & { readonly seed: number })[],
): CapRow {
  const ids = nodeIds(nodes);
  const cut = Math.floor((nodes - 1) / 2);
  const sum = (side: 'minority' | 'majority', f: 'issued' | 'completed'): number =>
    runs.reduce((k, r) => k + r[side][f], 0);
  const nonLinearizableSeed = runs.find((r) => r.linearizable === 'no')?.seed;
  return {
    protocol,
    runs: runs.length,
    minority: {
      nodes: ids.slice(0, cut),
      issued: sum('minority', 'issued'),
      completed: sum('minority', 'completed'),
    },
    majority: {
      nodes: ids.slice(cut),
      issued: sum('majority', 'issued'),
      completed: sum('majority', 'completed'),
    },
    linearizableRuns: runs.filter((r) => r.linearizable === 'yes').length,
    unknownRuns: runs.filter((r) => r.linearizable === 'unknown').length,
    convergedRuns: runs.filter((r) => r.converged).length,
    sessionRuns: runs.filter((r) => r.sessions).length,
    ...(nonLinearizableSeed === undefined ? {} : { nonLinearizableSeed }),
  };
}

/** The stores of `protocols` that the CAP table has a row for, in its order. */
export function capStoresIn(protocols: readonly string[]): string[] {
  return CAP_STORES.filter((p) => protocols.includes(p));
}

const pct = (s: CapSide): string =>
  s.issued === 0 ? 'n/a' : `${Math.round((100 * s.completed) / s.issued)}%`;

/** The table's cells as text, shared by the terminal and the HTML report. */
export function capCells(r: CapRow): {
  minority: string;
  majority: string;
  linearizable: string;
  sessions: string;
  converged: string;
} {
  const unknown = r.unknownRuns > 0 ? ` (${r.unknownRuns} unknown)` : '';
  return {
    minority: `${pct(r.minority)} (${r.minority.completed}/${r.minority.issued})`,
    majority: `${pct(r.majority)} (${r.majority.completed}/${r.majority.issued})`,
    linearizable: `${r.linearizableRuns}/${r.runs}${unknown}`,
    sessions: `${r.sessionRuns}/${r.runs}`,
    converged: `${r.convergedRuns}/${r.runs}`,
  };
}

/** One sentence per store: what the figures say. */
export function capVerdict(r: CapRow): string {
  const avail = (s: CapSide): boolean => s.issued > 0 && s.completed / s.issued >= 0.5;
  const a =
    avail(r.minority) && avail(r.majority)
      ? 'available on both sides (AP)'
      : avail(r.majority)
        ? 'available on the majority side only (CP)'
        : 'available on neither side';
  const c =
    r.linearizableRuns === r.runs
      ? 'linearizable in every run'
      : `not linearizable in ${r.runs - r.linearizableRuns - r.unknownRuns} of ${r.runs} runs`;
  return `${a}; ${c}`;
}

/** The table as plain text cells (terminal and HTML): a caption, a head, a row per store. */
export function capPlain(t: CapTable): {
  readonly caption: string;
  readonly head: readonly string[];
  readonly rows: readonly (readonly string[])[];
} {
  const minority = t.minority.join(', ');
  return {
    caption:
      `${t.nodes} nodes; from ${t.partition.startMs} to ${t.partition.endMs} ms ${minority} (the minority) ` +
      `are cut off from the rest; every node's client reads and writes throughout; ${t.seeds} seeds per store. ` +
      `Completed: operations issued during the partition and answered ok before the heal.`,
    head: [
      'store',
      'minority side completed',
      'majority side completed',
      'linearizable runs',
      'session guarantees runs',
      'converged runs',
      'so',
    ],
    rows: t.rows.map((r) => {
      const c = capCells(r);
      return [
        r.protocol,
        c.minority,
        c.majority,
        c.linearizable,
        c.sessions,
        c.converged,
        capVerdict(r),
      ];
    }),
  };
}
