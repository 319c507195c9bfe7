/**
 * What the README says of each replicated store, asserted over the matrix's own runs of its
 * row (seeds 1-40): the forms the theory predicts, and the property that breaks where one does.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findProtocol } from '../src/matrix/registry.ts';
import { materialize, runSpec, type FaultModel, type RunResult } from '../src/matrix/spec.ts';

const SEEDS = 40;

function runs(protocol: string, faults: FaultModel): RunResult[] {
  return Array.from({ length: SEEDS }, (_, i) => runSpec(materialize(protocol, faults, 5, i + 1)));
}

const failed = (r: RunResult, property: string): boolean =>
  r.verdicts.some((v) => v.property === property && !v.holds);

test('kv-raft is safe and live under crash, crash-recover, omission and partition', () => {
  for (const f of ['crash', 'crash-recover', 'omission', 'partition'] as const) {
    for (const r of runs('kv-raft', f)) {
      assert.ok(r.safe && r.live, `kv-raft × ${f} seed ${r.spec.seed}`);
    }
  }
});

test('kv-raft-nosession applies a retried increment twice under omission', () => {
  const twice = runs('kv-raft-nosession', 'omission').filter((r) =>
    r.verdicts.some(
      (v) => v.property === 'increments-once' && /applied twice/.test(v.violation?.message ?? ''),
    ),
  );
  assert.ok(twice.length > 0, 'no run showed a doubled increment');
});

test('kv-abd never blocks on a partition, and its read-then-write increments lose updates', () => {
  const rs = runs('kv-abd', 'partition');
  for (const r of rs) assert.ok(!failed(r, 'completes'), `seed ${r.spec.seed} did not complete`);
  assert.ok(rs.some((r) => !r.safe));
});

test('kv-crdt completes every operation and converges under a partition, but is not linearizable', () => {
  const rs = runs('kv-crdt', 'partition');
  for (const r of rs) {
    assert.ok(!failed(r, 'completes') && !failed(r, 'converges'), `seed ${r.spec.seed}`);
  }
  assert.ok(rs.some((r) => failed(r, 'linearizable')));
});

test('kv-primary-backup splits its brain under a partition: acknowledged writes are not safe', () => {
  const rs = runs('kv-primary-backup', 'partition');
  assert.ok(
    rs.some((r) => !r.safe),
    'no run of 40 showed split-brain',
  );
  // With no failover (omission only), it is safe.
  for (const r of runs('kv-primary-backup', 'omission')) assert.ok(r.safe, `seed ${r.spec.seed}`);
});

test('a lying store replica rewrites data, never the protocol fields its peers check (its lie is believed)', () => {
  const pb = findProtocol('kv-primary-backup').tamper;
  const raft = findProtocol('kv-raft').tamper;
  assert.ok(pb !== undefined && raft !== undefined);
  // Primary-backup: v is a view and s a sequence number; o is an output, value a written value.
  assert.deepEqual(
    pb({ k: 'op', v: 2, s: 7, op: { f: 'put', key: 'x', value: 'a' }, ck: 'c', e: 1, r: 3 }, 'F'),
    { k: 'op', v: 2, s: 7, op: { f: 'put', key: 'x', value: 'F' }, ck: 'c', e: 1, r: 3 },
  );
  assert.deepEqual(pb({ k: 'res', c: 'c', e: 1, r: 3, ok: true, o: 5 }, 'F'), {
    k: 'res',
    c: 'c',
    e: 1,
    r: 3,
    ok: true,
    o: 'F',
  });
  // Raft: terms and indices stay, an answer's output is forged.
  assert.deepEqual(raft({ k: 'rep', c: 'c', s: 1, ok: true, output: 3 }, 'F'), {
    k: 'rep',
    c: 'c',
    s: 1,
    ok: true,
    output: 'F',
  });
});
