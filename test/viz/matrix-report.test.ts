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
    seedsPerProtocol: Object.fromEntries(cells.map((c) => [c.protocol as string, 20])),
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

test('matrix report: each cell shows runs / safe / live; vacuous cells and explanations', () => {
  const shrunk = duplicatingRun();
  const why = '2 of 5 crashed; Bracha is configured for f = 1 and needs 4 echoes';
  const cells = [
    {
      protocol: 'at-least-once',
      faults: 'omission',
      form: 'non-masking',
      runs: 20,
      safeRuns: 12,
      liveRuns: 20,
      vacuous: false,
      explanation: why,
      example: {
        seed: 9,
        property: shrunk.property,
        kind: 'safety',
        message: shrunk.message,
        reproduce: 'steadfast sim …',
        shrunk: { spec: shrunk.spec, fromSize: 40, toSize: 9 },
      },
    },
    {
      protocol: 'at-least-once',
      faults: 'byzantine',
      form: 'masking',
      runs: 20,
      safeRuns: 20,
      liveRuns: 20,
      vacuous: true,
    },
  ];
  const html = matrixHtml(matrixOf(cells));
  const all = tags(html);
  const td = (f: string) => withClasses(all, 'cell').find((t) => t.attrs.get('data-fault') === f);
  const counts = withClasses(all, 'n');
  assert.deepEqual(
    counts.map((t) => [
      t.attrs.get('data-runs'),
      t.attrs.get('data-safe'),
      t.attrs.get('data-live'),
    ]),
    [
      ['20', '12', '20'],
      ['20', '20', '20'],
    ],
  );
  assert.ok(html.includes('20 / 12 / 20'));
  // Vacuous: its own colour (class), its own word, a legend entry.
  assert.ok(td('byzantine')?.classes.has('f-vacuous'));
  assert.ok(!td('byzantine')?.classes.has('f-masking'));
  assert.match(html, /<div class="form">vacuous<\/div>/);
  assert.equal(withClasses(all, 'sw', 'f-vacuous').length, 1, 'a legend entry');
  // The explanation is in the cell's detail, under the counterexample line.
  const detail = html.slice(html.indexOf(`id="${td('omission')?.attrs.get('data-cx') ?? '?'}"`));
  assert.ok(detail.indexOf(esc(why)) > detail.indexOf('Counterexample: seed'));
  assert.ok(detail.indexOf(esc(why)) < detail.indexOf('sf-diagram'));
});
