/**
 * The CAP table's runs and figures (src/matrix/cap.ts); its claims over the default seeds are
 * asserted with the README's table in readme-matrix.test.ts.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCap } from '../src/cli/format.ts';
import { FINAL_SERIAL_BASE } from '../src/check/kv.ts';
import { capPlain, capRow, capRun, capSpec, PARTITION, type CapTable } from '../src/matrix/cap.ts';
import { renderMatrixReport } from '../src/viz/html.ts';
import type { KvCommand } from '../src/protocols/kv/types.ts';

test('cap: the run cuts n1, n2 off during the partition; clients read and write only then, and read at the end', () => {
  const spec = capSpec('kv-raft', 5, 3);
  assert.deepEqual(spec.nemesis[0], {
    at: PARTITION.startMs,
    action: {
      kind: 'partition',
      groups: [
        ['n1', 'n2'],
        ['n3', 'n4', 'n5'],
      ],
    },
  });
  assert.deepEqual(spec.nemesis[1], { at: PARTITION.endMs, action: { kind: 'heal' } });
  for (const w of spec.workload) {
    const cmd = w.cmd as KvCommand;
    if (cmd.serial >= FINAL_SERIAL_BASE) {
      assert.equal(cmd.op.f, 'get');
      assert.ok(w.at > spec.faultPhaseMs);
    } else {
      assert.ok(w.at >= PARTITION.startMs && w.at < PARTITION.endMs, `at ${w.at}`);
      assert.notEqual(cmd.op.f, 'incr');
      assert.notEqual(cmd.op.f, 'cas');
    }
  }
  assert.deepEqual(capSpec('kv-raft', 5, 3), spec, 'pure: same spec for the same seed');
});

test('cap: a run counts only what was issued during the partition, completed only before the heal', () => {
  const { figures, run } = capRun('kv-crdt', 5, 1);
  const issuedInPartition = run.trace.filter(
    (e) => e.type === 'command' && e.t >= PARTITION.startMs && e.t < PARTITION.endMs,
  ).length;
  assert.equal(figures.minority.issued + figures.majority.issued, issuedInPartition);
  assert.equal(figures.minority.completed, figures.minority.issued, 'the CRDT answers at once');
  const raft = capRun('kv-raft', 5, 1).figures;
  assert.equal(raft.minority.completed, 0);
  assert.ok(raft.minority.issued > 0);
});

test('cap: rows sum their runs and name the first non-linearizable seed; text and HTML say the same', () => {
  const r = capRow('kv-x', 5, [
    {
      seed: 4,
      minority: { issued: 10, completed: 0 },
      majority: { issued: 10, completed: 9 },
      linearizable: 'yes',
      converged: true,
      sessions: true,
    },
    {
      seed: 5,
      minority: { issued: 10, completed: 2 },
      majority: { issued: 10, completed: 10 },
      linearizable: 'no',
      converged: true,
      sessions: false,
    },
    {
      seed: 6,
      minority: { issued: 10, completed: 0 },
      majority: { issued: 10, completed: 10 },
      linearizable: 'unknown',
      converged: false,
      sessions: true,
    },
  ]);
  assert.deepEqual(
    [r.minority.completed, r.minority.issued, r.majority.completed, r.majority.issued],
    [2, 30, 29, 30],
  );
  assert.equal(r.linearizableRuns, 1);
  assert.equal(r.unknownRuns, 1);
  assert.equal(r.convergedRuns, 2);
  assert.equal(r.sessionRuns, 2);
  assert.equal(r.nonLinearizableSeed, 5);
  const t: CapTable = {
    nodes: 5,
    seeds: 3,
    firstSeed: 4,
    partition: { startMs: 1500, endMs: 6500 },
    minority: ['n1', 'n2'],
    rows: [{ ...r, protocol: 'kv-<x>' }],
  };
  const plain = capPlain(t);
  const row0 = plain.rows[0];
  assert.ok(row0 !== undefined);
  assert.deepEqual(row0.slice(0, 6), [
    'kv-<x>',
    '7% (2/30)',
    '97% (29/30)',
    '1/3 (1 unknown)',
    '2/3',
    '2/3',
  ]);
  assert.match(
    row0[6] ?? '',
    /available on the majority side only \(CP\); not linearizable in 1 of 3 runs/,
  );
  const text = formatCap(t, false);
  for (const line of text.split('\n')) assert.ok(line.length <= 120, line);
  assert.match(text, /kv-<x>: available on the majority side only/);
  assert.match(text, /kv-<x> +7% \(2\/30\)/);
  const html = renderMatrixReport({
    protocols: [],
    faultModels: [],
    cells: [],
    tables: [{ title: 'CAP', ...plain }],
  });
  assert.ok(html.includes('kv-&lt;x&gt;') && !html.includes('kv-<x>'), 'escaped');
  assert.ok(html.includes('97% (29/30)'));
});
