import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findProtocol } from '../../matrix/registry.ts';
import { materialize, runSpec, type FaultModel } from '../../matrix/spec.ts';
import { kvAccounting } from '../../check/kv.ts';

function verdicts(protocol: string, faults: FaultModel, seed: number) {
  const run = runSpec(materialize(protocol, faults, 5, seed));
  return { run, failed: run.verdicts.filter((v) => !v.holds) };
}

test('kv-raft: linearizable, exactly-once increments, complete and convergent under crash, crash-recover, omission and partition', () => {
  for (const faults of ['none', 'crash', 'crash-recover', 'omission', 'partition'] as const) {
    for (let seed = 1; seed <= 8; seed++) {
      const { run, failed } = verdicts('kv-raft', faults, seed);
      assert.deepEqual(
        failed.map((v) => `${v.property}: ${v.violation?.message ?? ''}`),
        [],
        `kv-raft × ${faults} seed ${seed}`,
      );
      // Every issued operation is accounted for, and they all completed.
      const a = kvAccounting(run.trace);
      assert.ok(a.issued > 0);
      assert.equal(a.ok + a.failed + a.indefinite, a.issued);
    }
  }
});

test('kv-raft without sessions applies a retried increment twice under omission (the lost-reply case)', () => {
  const props = new Set<string>();
  for (let seed = 1; seed <= 12; seed++) {
    for (const v of verdicts('kv-raft-nosession', 'omission', seed).failed) props.add(v.property);
  }
  assert.ok(props.has('increments-once') || props.has('linearizable'), [...props].join(', '));
  // The same runs with sessions are safe.
  for (let seed = 1; seed <= 12; seed++) {
    assert.deepEqual(
      verdicts('kv-raft', 'omission', seed).failed.map((v) => v.property),
      [],
    );
  }
});

test('kv-raft is a registered store row, judged by the kv specification', () => {
  const e = findProtocol('kv-raft');
  assert.equal(e.kind, 'kv');
  const names = runSpec(materialize('kv-raft', 'none', 3, 1)).verdicts.map((v) => v.property);
  assert.deepEqual(names, [
    'linearizable',
    'increments-once',
    'no-lost-write',
    'completes',
    'converges',
  ]);
});
