/**
 * Turning simulator results into the HTML reports of src/viz, for the CLI (which writes them).
 */

import type { Verdict } from '../check/verdict.ts';
import type { TraceEvent } from '../core/trace.ts';
import { capPlain } from '../matrix/cap.ts';
import { describeSeeds, type MatrixResult } from '../matrix/matrix.ts';
import { FAULT_DESCRIPTIONS } from '../matrix/spec.ts';
import { firstViolation, runSpec, type RunSpec } from '../matrix/spec.ts';
import {
  highlightOf,
  renderMatrixReport,
  renderRunReport,
  type MatrixCell,
  type Scenario,
} from '../viz/html.ts';
import { computeStats } from '../viz/stats.ts';

/** The HTML report of one run, its first violation in red. */
export function runHtml(
  spec: RunSpec,
  trace: readonly TraceEvent[],
  verdicts: readonly Verdict[],
): string {
  const v = firstViolation(verdicts);
  const highlight = v === undefined ? undefined : highlightOf(v);
  return renderRunReport({
    title: `${spec.protocol} under ${spec.faults}, ${spec.nodes} nodes, seed ${spec.seed}`,
    subtitle: FAULT_DESCRIPTIONS[spec.faults],
    trace,
    verdicts,
    stats: computeStats(trace),
    ...(highlight === undefined ? {} : { diagram: { highlight } }),
  });
}

/**
 * Fields the matrix adds to a cell and to its shrunk example (src/matrix/matrix.ts), read as
 * optional so this compiles with and without them.
 */
interface CellExtras {
  readonly vacuous?: boolean;
  readonly explanation?: string;
}
/** The shrunk run's own first violation, when the matrix recorded it. */
function shrunkViolation(shrunk: unknown): { property?: string; message?: string } {
  const s = shrunk as { property?: unknown; message?: unknown } | undefined;
  return {
    ...(typeof s?.property === 'string' ? { property: s.property } : {}),
    ...(typeof s?.message === 'string' ? { message: s.message } : {}),
  };
}

/**
 * The matrix as HTML: each cell short of masking opens its (shrunk) counterexample's diagram.
 * The violation named above the diagram and in its red box is the drawn run's own: the shrunk
 * run's first violation when there is a shrunk run (its property and message), else the
 * original run's.
 */
export function matrixHtml(m: MatrixResult, scenarios: readonly Scenario[] = []): string {
  const cells: MatrixCell[] = m.cells.map((c) => {
    const extras: CellExtras = c;
    const base = {
      protocol: c.protocol,
      faultModel: c.faults,
      form: c.form,
      runs: c.runs,
      unsafeRuns: c.runs - c.safeRuns,
      unliveRuns: c.runs - c.liveRuns,
      safeRuns: c.safeRuns,
      liveRuns: c.liveRuns,
      ...(extras.vacuous === true ? { vacuous: true } : {}),
      ...(extras.explanation === undefined ? {} : { explanation: extras.explanation }),
    };
    const e = c.example;
    if (e === undefined) return base;
    // Draw the shrunk run when there is one (smaller, same violated property), else the original.
    const shrunk = e.shrunk;
    const own = shrunkViolation(shrunk);
    const run = shrunk === undefined ? undefined : runSpec(shrunk.spec);
    const property = own.property ?? e.property;
    const v = run?.verdicts.find((x) => x.property === property && !x.holds);
    const drawn = run !== undefined && v?.violation !== undefined;
    // The text of the run that is drawn: the shrunk run's, else (nothing drawn) the original's.
    const message = drawn ? (own.message ?? v.violation.message) : e.message;
    return {
      ...base,
      seed: e.seed,
      violated: { property: drawn ? property : e.property, message },
      ...(!drawn
        ? {}
        : {
            counterexample: {
              trace: run.trace,
              indices: v.violation.events.map((x) => x.index),
              verdicts: run.verdicts,
            },
          }),
    };
  });
  return renderMatrixReport({
    title: 'steadfast fault-tolerance matrix',
    subtitle: `${m.nodes} nodes, ${describeSeeds(m)}, ${m.runs} runs; counterexamples shown shrunk`,
    protocols: m.protocols,
    faultModels: m.faults,
    cells,
    ...(m.cap === undefined
      ? {}
      : { tables: [{ title: 'The CAP trade-off, computed', ...capPlain(m.cap) }] }),
    scenarios,
  });
}
