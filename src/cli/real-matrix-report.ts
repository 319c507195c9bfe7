/**
 * The HTML of `steadfast cluster --matrix` (src/runtime/real-matrix.ts): the simulator's matrix
 * report (viz/html.ts) with each cell's real form, its counterexample as the merged trace of the
 * real processes (space-time diagram, up to DIAGRAM_EVENTS_MAX events), an explanation naming
 * the simulator's form for the same cell, and a table of real beside simulated forms.
 */

import { classify } from '../check/classify.ts';
import type { RealMatrixOptions, RealMatrixResult } from '../runtime/real-matrix.ts';
import type { MatrixCell, MatrixReport } from '../viz/html.ts';

/** Largest merged trace drawn as a counterexample in the HTML (a diagram beyond is unreadable). */
const DIAGRAM_EVENTS_MAX = 20_000;

/** The grid as the simulator's matrix report: real forms, explanations naming the simulator's. */
export function realMatrixReport(r: RealMatrixResult, o: RealMatrixOptions): MatrixReport {
  const cells: MatrixCell[] = r.cells.map((c) => {
    const outcomes = c.runs.map((run) => ({
      seed: run.seed,
      safe: run.safe,
      live: run.live,
      ...(run.cell.first?.violation === undefined
        ? {}
        : {
            violation: {
              property: run.cell.first.property,
              kind: run.cell.first.kind,
              message: run.cell.first.violation.message,
            },
          }),
    }));
    const k = classify(outcomes);
    const bad = c.runs.find((run) => run.cell.first !== undefined);
    const trace = bad?.cell.cluster.trace;
    const explanation =
      `real: ${c.form} over ${c.runs.length} run${c.runs.length === 1 ? '' : 's'} on ${o.nodes} processes; ` +
      `simulator (${c.sim.column} column): ${c.sim.form} over ${c.sim.seeds} seeds` +
      (c.worse.length > 0
        ? ` — REAL IS WORSE (${c.worse.join(' and ')}): a bug in the simulator's fault model or in the runtime`
        : '') +
      `. Repeat: ${(bad ?? c.runs[0])?.repeat ?? ''}`;
    return {
      protocol: c.protocol,
      faultModel: c.fault,
      form: c.form,
      runs: k.runs,
      safeRuns: k.safeRuns,
      liveRuns: k.liveRuns,
      explanation,
      ...(bad === undefined || bad.cell.first === undefined
        ? {}
        : {
            seed: bad.seed,
            violated: {
              property: bad.cell.first.property,
              message: bad.cell.first.violation?.message ?? '',
            },
            ...(trace !== undefined && trace.length <= DIAGRAM_EVENTS_MAX
              ? {
                  counterexample: {
                    trace,
                    indices: (bad.cell.first.violation?.events ?? []).map((e) => e.index),
                    verdicts: bad.cell.verdicts,
                  },
                }
              : {}),
          }),
    };
  });
  return {
    title: 'Fault-tolerance matrix, on real processes',
    subtitle:
      `${o.nodes} OS processes per run over ${o.transport.toUpperCase()}` +
      `${o.network === 'netns' ? ', each in a network namespace of its own on a bridge' : ', on loopback'}; ` +
      `${o.runs} run${o.runs === 1 ? '' : 's'} per cell from seed ${o.seed}; faults injected for real (SIGKILL, SIGSTOP, nftables); ` +
      `${(r.wallMs / 1000).toFixed(0)} s`,
    protocols: o.protocols,
    faultModels: o.faults,
    cells,
    tables: [
      {
        title: 'Real beside the simulator',
        caption:
          'Each cell: its form on real processes, then the simulator’s form for the same protocol and fault model (pause beside the simulator’s none column: a paused process is a slow one). A real cell worse than the simulator’s is a bug in the fault model or the runtime.',
        head: ['protocol', ...o.faults],
        rows: o.protocols.map((p) => [
          p,
          ...o.faults.map((f) => {
            const c = r.cells.find((x) => x.protocol === p && x.fault === f);
            return c === undefined
              ? '–'
              : `${c.form} / ${c.sim.form}${c.worse.length > 0 ? ' (REAL WORSE)' : ''}`;
          }),
        ]),
      },
    ],
  };
}
