/**
 * The matrix's HTML report as the CLI builds it (src/cli/reports.ts → src/viz/html.ts): what a
 * cell says and what its counterexample shows.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matrixHtml } from '../../src/cli/reports.ts';
import type { Cell, MatrixResult } from '../../src/matrix/matrix.ts';
import { firstViolation, materialize, runSpec, type RunSpec } from '../../src/matrix/spec.ts';
import { esc } from '../../src/viz/svg.ts';
import { tags, withClasses } from './svg-parse.ts';

/** A matrix of the given cells (typed loosely: the cell's optional fields vary by version). */
function matrixOf(cells: readonly Record<string, unknown>[]): MatrixResult {
  return {
    schema: 'steadfast.matrix/1',
    nodes: 3,
    seeds: 20,
    firstSeed: 1,
    messages: 4,
    protocols: [...new Set(cells.map((c) => c.protocol as string))],
    faults: [...new Set(cells.map((c) => c.faults as string))],
    cells: cells as unknown as Cell[],
    runs: 20 * cells.length,
    wallMs: 1,
  } as MatrixResult;
}

/** A small at-least-once run under omission that duplicates: the "shrunk" run of the tests. */
function duplicatingRun(): { spec: RunSpec; property: string; message: string } {
  for (let seed = 1; seed < 50; seed++) {
    const spec = materialize('at-least-once', 'omission', 3, seed, { messages: 2 });
    const v = firstViolation(runSpec(spec).verdicts);
    if (v?.violation !== undefined)
      return { spec, property: v.property, message: v.violation.message };
  }
  throw new Error('no seed of at-least-once under omission violates anything');
}

test('matrix report: the violation box and the text above it describe the drawn (shrunk) run', () => {
  const shrunk = duplicatingRun();
  const original = 'ORIGINAL RUN: 7 messages delivered twice, among them 4 from n5';
  const cell = {
    protocol: 'at-least-once',
    faults: 'omission',
    form: 'non-masking',
    runs: 20,
    safeRuns: 12,
    liveRuns: 20,
    vacuous: false,
    counterexample: { seed: 9, property: shrunk.property, kind: 'safety', message: original },
    example: {
      seed: 9,
      property: shrunk.property,
      kind: 'safety',
      message: original,
      reproduce: 'steadfast sim --protocol at-least-once --faults omission --nodes 5 --seed 9',
      shrunk: {
        spec: shrunk.spec,
        fromSize: 40,
        toSize: 9,
        property: shrunk.property,
        message: shrunk.message,
      },
    },
  };
  const html = matrixHtml(matrixOf([cell]));
  assert.ok(!html.includes('ORIGINAL RUN'), 'the unshrunk run is not described');
  const box = withClasses(tags(html), 'violation-label');
  assert.equal(box.length, 1);
  assert.equal(box[0]?.attrs.get('data-property'), shrunk.property);
  assert.ok(html.includes(esc(shrunk.message)), 'the shrunk run is described');
});
