// kv-raft's idempotency-key sessions (raft.ts, IDEMPOTENCY KEYS) in the simulator: one key sent
// through three nodes, across a crash of one and a restart of every node, applies once and
// answers its first output; the key reused for another operation is refused, not applied; a key
// whose session was evicted (beyond sessionMax) applies again, as documented.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TimedAction } from '../../sim/nemesis.ts';
import { Simulator } from '../../sim/simulator.ts';
import { SteadfastError } from '../../core/errors.ts';
import { createRng } from '../../core/rng.ts';
import { instant } from '../../core/time.ts';
import { IDEM_KEY_MAX, kvRaft, RaftKv, type RaftKvCommand } from './raft.ts';
import type { KvResult } from './types.ts';

const NODES = ['n1', 'n2', 'n3'];

function run(
  workload: { at: number; node: string; cmd: RaftKvCommand }[],
  opts: { sessionMax?: number; nemesis?: TimedAction[]; untilMs?: number } = {},
): KvResult[] {
  const sim = new Simulator({
    seed: 5,
    nodes: NODES,
    stack: kvRaft({
      snapshotEvery: 4,
      ...(opts.sessionMax === undefined ? {} : { sessionMax: opts.sessionMax }),
    }),
    workload,
    nemesis: opts.nemesis ?? [],
  });
  sim.runUntil(opts.untilMs ?? 30_000);
  return sim.trace.flatMap((e) => (e.type === 'deliver' ? [e.event as KvResult] : []));
}

const incr = (client: string, serial: number, idem?: string): RaftKvCommand => ({
  type: 'kv',
  client,
  serial,
  op: { f: 'incr', key: 'c', delta: 1 },
  ...(idem === undefined ? {} : { idem }),
});
const get = (client: string, serial: number): RaftKvCommand => ({
  type: 'kv',
  client,
  serial,
  op: { f: 'get', key: 'c' },
});

test('kv-raft idem: one key through three nodes, a crash of n1 and a restart of every node applies once', () => {
  const r = run(
    [
      { at: 3000, node: 'n1', cmd: incr('a', 1, 'K') },
      { at: 3000, node: 'n2', cmd: incr('b', 1, 'K') },
      { at: 6000, node: 'n3', cmd: incr('c', 1, 'K') },
      { at: 20_000, node: 'n2', cmd: incr('b', 2, 'K') },
      { at: 22_000, node: 'n1', cmd: get('a', 2) },
    ],
    {
      nemesis: [
        { at: 4000, action: { kind: 'crash', node: 'n1' } },
        { at: 5000, action: { kind: 'recover', node: 'n1' } },
        ...NODES.map((node) => ({ at: 10_000, action: { kind: 'crash' as const, node } })),
        ...NODES.map((node) => ({ at: 11_000, action: { kind: 'recover' as const, node } })),
      ],
    },
  );
  const incrs = r.filter((x) => x.op.f === 'incr' && x.status === 'ok');
  assert.ok(incrs.length >= 3, JSON.stringify(r));
  assert.ok(
    incrs.every((x) => x.output === 1),
    'every answer is the first one',
  );
  const read = r.find((x) => x.op.f === 'get');
  assert.deepEqual([read?.status, read?.output], ['ok', 1], 'applied once');
});

test('kv-raft idem: a key reused for another operation is refused and not applied', () => {
  const r = run([
    { at: 3000, node: 'n1', cmd: incr('a', 1, 'K') },
    {
      at: 5000,
      node: 'n2',
      cmd: { type: 'kv', client: 'b', serial: 1, op: { f: 'put', key: 'c', value: 9 }, idem: 'K' },
    },
    { at: 7000, node: 'n3', cmd: get('c', 1) },
  ]);
  const put = r.find((x) => x.op.f === 'put');
  assert.ok(put !== undefined);
  assert.equal(put.status, 'fail');
  assert.match(put.reason ?? '', /^idempotency-key-reused/);
  assert.equal(r.find((x) => x.op.f === 'get')?.output, 1);
});

test('kv-raft idem: a key whose session was evicted (sessionMax) applies again', () => {
  const later = [1, 2, 3].map((i) => ({
    at: 4000 + i * 200,
    node: 'n1',
    cmd: incr('a', i + 1, `other-${i}`),
  }));
  const r = run(
    [
      { at: 3000, node: 'n1', cmd: incr('a', 1, 'K') },
      ...later,
      { at: 6000, node: 'n2', cmd: incr('b', 1, 'K') },
      { at: 8000, node: 'n3', cmd: get('c', 1) },
    ],
    { sessionMax: 3 },
  );
  // K (1), three other keys (4) evict K's session; K again is new: 5.
  assert.equal(r.find((x) => x.op.f === 'get')?.output, 5);
});

test('kv-raft idem: a malformed key is refused with a SteadfastError', () => {
  const node = kvRaft().create({ id: 'n1', nodes: NODES, rng: createRng(1) });
  node.handleStart(instant(0), new Map());
  for (const idem of ['', 'x'.repeat(IDEM_KEY_MAX + 1), 7]) {
    assert.throws(
      () => {
        node.handleCommand(instant(1), { ...incr('a', 1), idem } as unknown as RaftKvCommand);
      },
      (e: unknown) => e instanceof SteadfastError && /idem must be a string/.test(e.message),
    );
  }
});

test('kv-raft: a follower brought up by InstallSnapshot holds the leader state, each entry applied once (no sessions to hide a double application)', () => {
  for (const count of [9, 10, 11]) {
    const sim = new Simulator({
      seed: 7,
      nodes: NODES,
      stack: kvRaft({ sessions: false, snapshotEvery: 4 }),
      // n3 is down while the others apply `count` increments, then comes back far behind.
      workload: Array.from({ length: count }, (_, i) => ({
        at: 3000 + i * 50,
        node: 'n1',
        cmd: incr('a', i + 1),
      })),
      nemesis: [
        { at: 0, action: { kind: 'crash', node: 'n3' } },
        { at: 8000, action: { kind: 'recover', node: 'n3' } },
      ],
    });
    sim.runUntil(20_000);
    const values = NODES.map((n) => {
      const p = sim.protocol(n);
      return p instanceof RaftKv ? p.readLocal('c') : undefined;
    });
    assert.deepEqual(
      values,
      [count, count, count],
      `${count} increments: ${JSON.stringify(values)}`,
    );
  }
});
