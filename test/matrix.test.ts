/**
 * The fault-tolerance matrix, computed from runs: the key cells the course predicts are
 * asserted, every counterexample reproduces from its seed, and the shrinker's result still fails
 * and is no larger.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runMatrix, type Cell, type MatrixResult } from '../src/matrix/matrix.ts';
import { fails, size } from '../src/matrix/shrink.ts';
import { materialize, runSpec, type FaultModel } from '../src/matrix/spec.ts';
import type { Form } from '../src/check/classify.ts';

let matrix: MatrixResult | undefined;

async function cells(): Promise<MatrixResult> {
  matrix ??= await runMatrix({
    protocols: ['at-most-once', 'at-least-once', 'exactly-once', 'perfect', 'beb', 'eager-rb'],
    faults: ['none', 'crash', 'crash-recover', 'omission', 'corrupt', 'corrupt-nocrc'],
    nodes: 5,
    seeds: 12,
    workers: 2,
  });
  return matrix;
}

function cell(m: MatrixResult, protocol: string, faults: FaultModel): Cell {
  const c = m.cells.find((x) => x.protocol === protocol && x.faults === faults);
  assert.ok(c !== undefined, `no cell ${protocol} × ${faults}`);
  return c;
}

function expectForm(m: MatrixResult, protocol: string, faults: FaultModel, form: Form) {
  const c = cell(m, protocol, faults);
  assert.equal(
    c.form,
    form,
    `${protocol} × ${faults}: ${c.form} (${JSON.stringify(c.example ?? {})})`,
  );
}

test('matrix: the delivery guarantees under omission and crash-recover', async () => {
  const m = await cells();
  expectForm(m, 'at-most-once', 'omission', 'fail-safe'); // never duplicates, loses
  expectForm(m, 'at-least-once', 'omission', 'non-masking'); // never loses, duplicates
  expectForm(m, 'exactly-once', 'omission', 'masking');
  expectForm(m, 'exactly-once', 'crash-recover', 'masking');
  assert.equal(cell(m, 'at-least-once', 'omission').example?.property, 'no-duplication');
  assert.equal(cell(m, 'at-most-once', 'omission').example?.property, 'reliable-delivery');
});

test('matrix: best-effort broadcast is not masking under crash; eager RB masks crash and omission', async () => {
  const m = await cells();
  assert.notEqual(cell(m, 'beb', 'crash').form, 'masking');
  assert.equal(cell(m, 'beb', 'crash').example?.property, 'agreement');
  expectForm(m, 'eager-rb', 'crash', 'masking');
  expectForm(m, 'eager-rb', 'omission', 'masking');
});

test('matrix: nothing masks corruption without checksums; checksums restore it', async () => {
  const m = await cells();
  for (const p of m.protocols) {
    assert.notEqual(
      cell(m, p, 'corrupt-nocrc').form,
      'masking',
      `${p} masked corruption without CRC`,
    );
  }
  for (const p of ['exactly-once', 'perfect', 'eager-rb', 'beb'])
    expectForm(m, p, 'corrupt', 'masking');
});

test('matrix: every counterexample seed reproduces its violation, and its shrunk run still fails and is no larger', async () => {
  const m = await cells();
  const examples = m.cells.filter((c) => c.example !== undefined);
  assert.ok(examples.length >= 8);
  for (const c of examples) {
    const e = c.example;
    if (e === undefined) continue;
    const spec = materialize(c.protocol, c.faults, m.nodes, e.seed, { messages: m.messages });
    assert.ok(fails(spec, e.property), `${e.reproduce} does not reproduce ${e.property}`);
    const shrunk = e.shrunk;
    assert.ok(shrunk !== undefined, `${c.protocol} × ${c.faults}: not shrunk`);
    assert.ok(fails(shrunk.spec, e.property), `${c.protocol} × ${c.faults}: shrunk run passes`);
    assert.ok(size(shrunk.spec) <= size(spec), `${c.protocol} × ${c.faults}: shrunk run is larger`);
    assert.equal(shrunk.toSize, size(shrunk.spec));
  }
  // Shrinking does real work somewhere.
  assert.ok(
    examples.some((c) => (c.example?.shrunk?.toSize ?? 0) < (c.example?.shrunk?.fromSize ?? 0) / 2),
  );
});

test('a run spec replays to the identical trace', () => {
  const spec = materialize('exactly-once', 'omission', 4, 42);
  const a = runSpec(spec);
  const b = runSpec(JSON.parse(JSON.stringify(spec)) as typeof spec);
  assert.deepEqual(b.trace, a.trace);
});
