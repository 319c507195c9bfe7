import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findProtocol } from '../../matrix/registry.ts';
import { materialize, runSpec, simOptions, type FaultModel } from '../../matrix/spec.ts';
import { nodeIds } from '../../core/ids.ts';
import { Simulator } from '../../sim/simulator.ts';
import { kvAccounting } from '../../check/kv.ts';
import { SteadfastError } from '../../core/errors.ts';
import { kvRaft } from './raft.ts';

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

test('kv-raft with an appends window (appendsInFlightMax 1) sends fewer messages and keeps every property under crash, crash-recover, omission and partition', () => {
  const entry = findProtocol('kv-raft');
  const windowed = kvRaft({ appendsInFlightMax: 1 });
  let sendsWindowed = 0;
  let sendsUnbounded = 0;
  for (const faults of ['none', 'crash', 'crash-recover', 'omission', 'partition'] as const) {
    for (let seed = 1; seed <= 8; seed++) {
      // More operations than the row's default, so appends have something to batch.
      const spec = materialize('kv-raft', faults, 5, seed, { messages: 12 });
      const sim = new Simulator({ ...simOptions(spec, entry), stack: windowed }).runUntil(
        spec.runMs,
      );
      const verdicts = entry.check(sim.trace, {
        nodes: nodeIds(spec.nodes),
        correct: faults === 'crash-recover' ? 'up-at-end' : 'never-crashed',
        byzantine: [],
      });
      assert.deepEqual(
        verdicts.filter((v) => !v.holds).map((v) => `${v.property}: ${v.violation?.message ?? ''}`),
        [],
        `kv-raft appendsInFlightMax 1 × ${faults} seed ${seed}`,
      );
      const a = kvAccounting(sim.trace);
      assert.ok(a.ok > 0, `kv-raft appendsInFlightMax 1 × ${faults} seed ${seed}: nothing done`);
      if (faults === 'none') {
        sendsWindowed += sim.counters.sends;
        sendsUnbounded += runSpec(spec).stats.sent;
      }
    }
  }
  assert.ok(
    sendsWindowed < sendsUnbounded,
    `the window sends fewer messages: ${sendsWindowed} vs ${sendsUnbounded} unbounded`,
  );
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

test('kv-raft with a majority down is fail-safe: nothing completes, nothing is wrong, and it recovers when they return', () => {
  const base = materialize('kv-raft', 'none', 5, 3);
  // n3, n4, n5 crash before the workload and come back only at the heal (crash-recover).
  const nemesis = [
    ...(['n3', 'n4', 'n5'] as const).map((node) => ({
      at: 0,
      action: { kind: 'crash' as const, node },
    })),
    { at: 4000, action: { kind: 'heal-all' as const, recoverCrashed: true } },
  ];
  const down = runSpec({ ...base, faults: 'crash-recover', nemesis, faultPhaseMs: 4000 });
  assert.ok(down.safe, down.verdicts.map((v) => v.property).join(', '));
  assert.ok(down.live, 'the operations issued while a majority was down complete after it returns');
  // Without the return, the same run never completes an operation, and stays safe.
  const stays = runSpec({ ...base, faults: 'crash', nemesis: nemesis.slice(0, 3) });
  assert.ok(stays.safe);
  assert.equal(stays.live, false);
  const a = kvAccounting(stays.trace);
  assert.equal(a.ok, 0); // no leader without a majority: not even a read is answered
  assert.ok(a.indefinite > 0 && a.refused > 0); // refused: commands at the nodes that are down
});

test('kv-raft: bad options throw a SteadfastError naming the field', () => {
  const refused = (opts: Parameters<typeof kvRaft>[0], field: RegExp): void => {
    assert.throws(
      () => kvRaft(opts),
      (e: unknown) => e instanceof SteadfastError && field.test(e.message),
    );
  };
  refused({ batchMax: 0 }, /batchMax must be an integer/);
  refused({ electionMs: 1.5 }, /electionMs must be an integer/);
  refused({ heartbeatMs: 1000, electionMs: 1000 }, /heartbeatMs \(1000\) must be below/);
  refused({ clientRetryMs: 500, clientRetryMsMax: 100 }, /retryMsMax \(100\)/);
  assert.equal(kvRaft({ batchMax: 1 }).name, 'kv-raft');
});
