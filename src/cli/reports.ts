/**
 * Turning simulator results into the HTML report and ShiViz logs of src/viz, for the CLI.
 */

import { writeFileSync } from 'node:fs';
import type { Verdict } from '../check/verdict.ts';
import type { TraceEvent } from '../core/trace.ts';
import type { MatrixResult } from '../matrix/matrix.ts';
import { FAULT_DESCRIPTIONS } from '../matrix/spec.ts';
import { firstViolation, runSpec, type RunSpec } from '../matrix/spec.ts';
import {
  highlightOf,
  renderMatrixReport,
  renderRunReport,
  type MatrixCell,
  type Scenario,
} from '../viz/html.ts';
import { toShiViz } from '../viz/shiviz.ts';
import { computeStats } from '../viz/stats.ts';

export function writeRunHtml(
  file: string,
  spec: RunSpec,
  trace: readonly TraceEvent[],
  verdicts: readonly Verdict[],
): void {
  const v = firstViolation(verdicts);
  const highlight = v === undefined ? undefined : highlightOf(v);
  writeFileSync(
    file,
    renderRunReport({
      title: `${spec.protocol} under ${spec.faults}, ${spec.nodes} nodes, seed ${spec.seed}`,
      subtitle: FAULT_DESCRIPTIONS[spec.faults],
      trace,
      verdicts,
      stats: computeStats(trace),
      ...(highlight === undefined ? {} : { diagram: { highlight } }),
    }),
  );
}

export function writeShiViz(file: string, trace: readonly TraceEvent[]): void {
  writeFileSync(file, toShiViz(trace));
}

/** The matrix as HTML: each cell short of masking opens its (shrunk) counterexample's diagram. */
export function writeMatrixHtml(
  file: string,
  m: MatrixResult,
  scenarios: readonly Scenario[] = [],
): void {
  const cells: MatrixCell[] = m.cells.map((c) => {
    const base = {
      protocol: c.protocol,
      faultModel: c.faults,
      form: c.form,
      runs: c.runs,
      unsafeRuns: c.runs - c.safeRuns,
      unliveRuns: c.runs - c.liveRuns,
    };
    const e = c.example;
    if (e === undefined) return base;
    // Draw the shrunk run when there is one (smaller, same violated property), else the original.
    const spec = e.shrunk?.spec;
    const run = spec === undefined ? undefined : runSpec(spec);
    const v = run?.verdicts.find((x) => x.property === e.property && !x.holds);
    return {
      ...base,
      seed: e.seed,
      violated: { property: e.property, message: e.message },
      ...(run === undefined || v?.violation === undefined
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
  writeFileSync(
    file,
    renderMatrixReport({
      title: 'steadfast fault-tolerance matrix',
      subtitle: `${m.nodes} nodes, ${m.seeds} seeds per cell, ${m.runs} runs; counterexamples shown shrunk`,
      protocols: m.protocols,
      faultModels: m.faults,
      cells,
      scenarios,
    }),
  );
}
