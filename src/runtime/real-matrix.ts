/**
 * `steadfast cluster --matrix`: a grid of cells run on real processes under real faults
 * (real-cell.ts), each beside the simulator's form for the same protocol and fault model.
 *
 * A cell's real form: safe if every one of its `runs` runs was safe, live if every one was live
 * (check/classify.ts, as a simulator cell over its seeds). The simulator's form comes from
 * `runMatrix` over its default seeds for the same rows, columns and node count. The real fault
 * `pause` (SIGSTOP, then SIGCONT) has no simulator column of its own: a paused process is a slow
 * one, which the asynchronous network of every column models, so it is set beside `none`.
 *
 * WORSE. A real cell that lacks a property the simulator's cell has (the simulator says safe and
 * a real run is unsafe, or live and a real run is not) means the simulator's fault model misses
 * something the real world does, or the runtime has a bug: `worse` says which property, and the
 * command prints it loudly and exits 1. A real cell that is better than the simulator's is
 * expected (a few real runs rarely hit the schedule a violation needs) and is not reported.
 *
 * Guarantees: every cell runs `runs` runs with seeds seed, seed+1, … (each with the command that
 * repeats it); the grid's HTML is src/cli/real-matrix-report.ts.
 * Assumes: what runCluster assumes.
 */

import { join } from 'node:path';
import { formOf, type Form } from '../check/classify.ts';
import { runMatrix } from '../matrix/matrix.ts';
import type { FaultModel as SimFaultModel } from '../matrix/spec.ts';
import type { FaultModel } from './cluster.ts';
import { formLine, runRealCell, type RealCell, type RealRunSettings } from './real-cell.ts';

/** The simulator's column set beside a real fault model. */
export function simColumnOf(f: FaultModel): SimFaultModel {
  return f === 'pause' ? 'none' : f;
}

export interface RealMatrixOptions extends RealRunSettings {
  readonly protocols: readonly string[];
  readonly faults: readonly FaultModel[];
  readonly runs: number;
  readonly seed: number;
  /** Called after each cell. */
  readonly onCell?: (cell: RealMatrixCell) => void;
}

export interface RealRun {
  readonly seed: number;
  readonly safe: boolean;
  readonly live: boolean;
  readonly form: Form;
  readonly line: string;
  readonly repeat: string;
  readonly elapsedMs: number;
  readonly faults: readonly string[];
  readonly cell: RealCell;
}

export interface RealMatrixCell {
  readonly protocol: string;
  readonly fault: FaultModel;
  readonly runs: readonly RealRun[];
  readonly form: Form;
  readonly sim: { readonly column: SimFaultModel; readonly form: Form; readonly seeds: number };
  /** The properties the real cell lacks and the simulator's has (WORSE above); empty if none. */
  readonly worse: readonly ('safety' | 'liveness')[];
}

export interface RealMatrixResult {
  readonly cells: readonly RealMatrixCell[];
  readonly wallMs: number;
}

/** The simulator's form of each (protocol, real fault) pair, over its default seeds. */
export async function simForms(
  protocols: readonly string[],
  faults: readonly FaultModel[],
  nodes: number,
): Promise<Map<string, { column: SimFaultModel; form: Form; seeds: number }>> {
  const columns = [...new Set(faults.map(simColumnOf))];
  const m = await runMatrix({ protocols, faults: columns, nodes, shrink: false, capSeeds: 0 });
  const out = new Map<string, { column: SimFaultModel; form: Form; seeds: number }>();
  for (const p of protocols) {
    for (const f of faults) {
      const column = simColumnOf(f);
      const c = m.cells.find((x) => x.protocol === p && x.faults === column);
      if (c !== undefined) out.set(`${p}\u0000${f}`, { column, form: c.form, seeds: c.runs });
    }
  }
  return out;
}

/** What a real cell lacks that the simulator's has. */
export function worseThan(real: Form, sim: Form): ('safety' | 'liveness')[] {
  const safe = (f: Form) => f === 'masking' || f === 'fail-safe';
  const live = (f: Form) => f === 'masking' || f === 'non-masking';
  return [
    ...(safe(sim) && !safe(real) ? (['safety'] as const) : []),
    ...(live(sim) && !live(real) ? (['liveness'] as const) : []),
  ];
}

export async function runRealMatrix(o: RealMatrixOptions): Promise<RealMatrixResult> {
  const t0 = Date.now();
  const log = o.log ?? (() => undefined);
  log(
    `simulator: ${o.protocols.length} rows × ${new Set(o.faults.map(simColumnOf)).size} columns, default seeds`,
  );
  const sims = await simForms(o.protocols, o.faults, o.nodes);
  const cells: RealMatrixCell[] = [];
  for (const protocol of o.protocols) {
    for (const fault of o.faults) {
      const runs: RealRun[] = [];
      for (let k = 0; k < o.runs; k++) {
        const seed = o.seed + k;
        const cell = await runRealCell({
          protocol,
          fault,
          seed,
          nodes: o.nodes,
          transport: o.transport,
          network: o.network,
          messages: o.messages,
          faultMs: o.faultMs,
          livenessMs: o.livenessMs,
          dir: join(o.dir, `${protocol}-${fault}-${seed}`),
        });
        runs.push({
          seed,
          safe: cell.safe,
          live: cell.live,
          form: cell.form,
          line: formLine(fault, cell),
          repeat: cell.repeat,
          elapsedMs: cell.cluster.elapsedMs,
          faults: cell.cluster.faults,
          cell,
        });
      }
      const form = formOf(
        runs.every((r) => r.safe),
        runs.every((r) => r.live),
      );
      const sim = sims.get(`${protocol}\u0000${fault}`);
      if (sim === undefined) throw new RangeError(`no simulator cell for ${protocol} × ${fault}`);
      const done: RealMatrixCell = {
        protocol,
        fault,
        runs,
        form,
        sim,
        worse: worseThan(form, sim.form),
      };
      cells.push(done);
      o.onCell?.(done);
    }
  }
  return { cells, wallMs: Date.now() - t0 };
}
