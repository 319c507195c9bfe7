/**
 * Every broadcast protocol across at least 200 seeds per applicable fault model, its own
 * properties asserted in every run (run on worker threads; each failure names the seed and the
 * command that reproduces it).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BroadcastKind } from '../src/check/broadcast.ts';
import { runPool } from '../src/matrix/pool.ts';
import type { FaultModel } from '../src/matrix/spec.ts';
import type { Task } from '../src/matrix/task.ts';

const SEEDS = 200;

/** Protocol → its own contract and the fault models it claims to tolerate. */
const PLAN: [string, BroadcastKind, FaultModel[]][] = [
  ['beb', 'beb', ['none', 'crash', 'omission', 'partition', 'corrupt']],
  ['eager-rb', 'rb', ['none', 'crash', 'omission', 'partition', 'corrupt']],
  ['urb', 'urb', ['none', 'crash', 'omission', 'partition', 'corrupt']],
  ['fifo-rb', 'fifo', ['none', 'crash', 'omission', 'partition', 'corrupt']],
  ['causal', 'causal', ['none', 'crash', 'omission', 'partition', 'corrupt']],
  ['gossip-rb', 'rb', ['none', 'crash', 'omission', 'partition', 'corrupt']],
  // Bracha tolerates f = 1 of 5: Byzantine or omission, not the crash model's two crashes.
  ['bracha', 'brb', ['none', 'byzantine', 'omission', 'partition', 'corrupt']],
];

test(`broadcasts keep their contracts across ${SEEDS} seeds per applicable fault model`, async () => {
  const tasks: Task[] = [];
  for (const [protocol, contract, faults] of PLAN) {
    for (const f of faults) {
      for (let seed = 1; seed <= SEEDS; seed++) {
        tasks.push({ protocol, faults: f, nodes: 5, seed, messages: 2, contract });
      }
    }
  }
  const results = await runPool(tasks, { workers: 2 });
  assert.equal(results.length, tasks.length);
  const failures = results
    .filter((r) => !r.safe || !r.live)
    .map(
      (r) =>
        `${r.protocol} × ${r.faults} seed=${r.seed}: ${r.violation?.property ?? '?'}: ${r.violation?.message ?? ''} (steadfast sim --protocol ${r.protocol} --faults ${r.faults} --seed ${r.seed} --messages 2)`,
    );
  assert.deepEqual(failures, []);
  const perCell = new Map<string, number>();
  for (const r of results)
    perCell.set(`${r.protocol}/${r.faults}`, (perCell.get(`${r.protocol}/${r.faults}`) ?? 0) + 1);
  for (const n of perCell.values()) assert.ok(n >= SEEDS);
});
