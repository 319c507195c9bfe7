/**
 * The fault-tolerance matrix, computed from runs: every counterexample reproduces from its seed,
 * the shrinker's result still fails and is no larger, and the columns are the fault models they
 * claim to be (the README's claims about the cells are test/readme-matrix.test.ts).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runMatrix, type MatrixResult } from '../src/matrix/matrix.ts';
import { fails, size } from '../src/matrix/shrink.ts';
import { FAULT_MODELS, materialize, runSpec, simOptions } from '../src/matrix/spec.ts';

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

test('every column runs on an asynchronous network: random delays that reorder, drawn per seed', () => {
  for (const f of FAULT_MODELS) {
    const maxima = new Set<number>();
    for (let seed = 1; seed <= 30; seed++) {
      const d = materialize('eager-rb', f, 5, seed).network.delay;
      assert.ok(
        d?.kind === 'uniform' && d.maxMs > d.minMs,
        `${f} seed ${seed}: ${JSON.stringify(d)}`,
      );
      maxima.add(d.maxMs);
    }
    assert.ok(maxima.size > 10, `${f}: the delay bound is not drawn per seed`);
  }
});

test('liars are drawn from every node, the first one and the gossip hub included, and they race', () => {
  for (const f of ['byzantine', 'byzantine-noauth', 'byzantine-over'] as const) {
    const seen = new Set<string>();
    for (let seed = 1; seed <= 60; seed++) {
      const spec = materialize('gossip-rb', f, 5, seed);
      assert.equal(spec.byzantine.length, f === 'byzantine-over' ? 2 : 1);
      for (const n of spec.byzantine) seen.add(n);
      assert.deepEqual(simOptions(spec).racers, spec.byzantine);
    }
    assert.deepEqual([...seen].sort(), ['n1', 'n2', 'n3', 'n4', 'n5'], f);
  }
  assert.equal(simOptions(materialize('gossip-rb', 'omission', 5, 1)).racers, undefined);
});
