import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { checkKv, kvAccounting } from '../../check/kv.ts';
import { correctProcesses, indexTrace } from '../../check/links.ts';
import { sessionGuarantees } from '../../check/session.ts';
import { formatVerdicts, type Verdict } from '../../check/verdict.ts';
import { SteadfastError } from '../../core/errors.ts';
import { nodeIds, type NodeId } from '../../core/ids.ts';
import { applyWrites, type Output } from '../../core/protocol.ts';
import { createRng } from '../../core/rng.ts';
import { instant } from '../../core/time.ts';
import type { TraceEvent } from '../../core/trace.ts';
import { kvWorkload } from '../../matrix/kv-workload.ts';
import { generateNemesis, type TimedAction } from '../../sim/nemesis.ts';
import { Simulator } from '../../sim/simulator.ts';
import { KvCrdt, kvCrdt, type CrdtMsg } from './crdt.ts';
import { applyOp, type KvOp, type KvResult } from './types.ts';

// ------------------------------------------------------------------------------ helpers

const nodes = nodeIds(3);

function drain(p: KvCrdt): Output<CrdtMsg, KvResult>[] {
  const out: Output<CrdtMsg, KvResult>[] = [];
  for (let o = p.pollOutput(); o !== undefined; o = p.pollOutput()) out.push(o);
  return out;
}

function replica(id: NodeId, durable = new Map<string, unknown>()): KvCrdt {
  const p = new KvCrdt({ id, nodes, rng: createRng(1) });
  p.handleStart(instant(0), durable);
  drain(p);
  return p;
}

/** Runs `op` at `p`; returns its result and the outputs in order. */
function run(p: KvCrdt, op: KvOp, serial = 1): { result: KvResult; outs: string[] } {
  p.handleCommand(instant(1), { type: 'kv', client: 'c', serial, op });
  const outs = drain(p);
  const last = outs.at(-1);
  assert.ok(last?.kind === 'deliver');
  return { result: last.event, outs: outs.map((o) => o.kind) };
}

/** The anti-entropy message `p` sends next. */
function stateOf(p: KvCrdt): CrdtMsg {
  p.handleTimer(instant(1), 'gossip');
  const send = drain(p).find((o) => o.kind === 'send');
  assert.ok(send?.kind === 'send');
  return send.msg;
}

interface KvRun {
  readonly trace: readonly TraceEvent[];
  readonly verdicts: readonly Verdict[];
  readonly byName: ReadonlyMap<string, Verdict>;
}

/** A kv workload (kvWorkload) on 3 nodes, fault phase `faultPhaseMs`, then 10 s healed. */
function simulate(seed: number, nemesis: (faultPhaseMs: number) => TimedAction[]): KvRun {
  const faultPhaseMs = 3000;
  const runMs = faultPhaseMs + 10_000;
  const workload = kvWorkload(nodes, 10, 2400, createRng(seed).fork('test-workload'), {
    faultPhaseMs,
    runMs,
  });
  const sim = new Simulator({
    seed,
    nodes,
    stack: kvCrdt(),
    network: { delay: { kind: 'uniform', minMs: 1, maxMs: 50 } },
    nemesis: nemesis(faultPhaseMs),
    workload,
  }).runUntil(runMs);
  const correct = correctProcesses(indexTrace(sim.trace), 'never-crashed');
  const verdicts = checkKv(sim.trace, correct);
  return { trace: sim.trace, verdicts, byName: new Map(verdicts.map((v) => [v.property, v])) };
}

/** One node (drawn from the seed) cut off from the others for most of the fault phase. */
function isolateOne(seed: number): (faultPhaseMs: number) => TimedAction[] {
  return (faultPhaseMs) => {
    const alone = nodes[seed % nodes.length] as NodeId;
    const rest = nodes.filter((n) => n !== alone);
    return [
      { at: 100, action: { kind: 'partition', groups: [[alone], rest] } },
      { at: faultPhaseMs, action: { kind: 'heal-all', recoverCrashed: false } },
    ];
  };
}

/** The first session-guarantee violation's text (src/check/session.ts), or undefined. */
const sessionViolation = (trace: readonly TraceEvent[]): string | undefined =>
  sessionGuarantees(trace).violation?.message;

// ------------------------------------------------------------------------------ one replica

describe('kv-crdt: one replica', () => {
  test('answers exactly what applyOp answers, for any mix of operations on any keys', () => {
    const opArb: fc.Arbitrary<KvOp> = fc.oneof(
      fc.record({ f: fc.constant('get' as const), key: fc.constantFrom('a', 'b') }),
      fc.record({
        f: fc.constant('put' as const),
        key: fc.constantFrom('a', 'b'),
        value: fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom('s', null)),
      }),
      fc.record({ f: fc.constant('delete' as const), key: fc.constantFrom('a', 'b') }),
      fc.record({
        f: fc.constant('incr' as const),
        key: fc.constantFrom('a', 'b'),
        delta: fc.integer({ min: -3, max: 3 }),
      }),
      fc.record({
        f: fc.constant('cas' as const),
        key: fc.constantFrom('a', 'b'),
        from: fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom('s', null)),
        to: fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom('s', null)),
      }),
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 30 }), (ops) => {
        const p = replica('n1');
        const model = new Map<string, unknown>();
        ops.forEach((op, i) => {
          const { result } = run(p, op, i + 1);
          assert.equal(result.status, 'ok');
          assert.deepEqual(result.output, applyOp(model, op), `op ${i}: ${JSON.stringify(op)}`);
        });
      }),
      { numRuns: 300 },
    );
  });

  test('persists a write before answering it; a read persists nothing', () => {
    const p = replica('n1');
    assert.deepEqual(run(p, { f: 'put', key: 'x', value: 1 }).outs, ['persist', 'deliver']);
    assert.deepEqual(run(p, { f: 'incr', key: 'n', delta: 2 }).outs, ['persist', 'deliver']);
    assert.deepEqual(run(p, { f: 'get', key: 'x' }).outs, ['deliver']);
    assert.deepEqual(run(p, { f: 'cas', key: 'x', from: 7, to: 8 }).outs, ['deliver']);
  });

  test('a crash-recover keeps every acknowledged operation, and new versions win', () => {
    const disk = new Map<string, unknown>();
    const p = new KvCrdt({ id: 'n1', nodes, rng: createRng(1) });
    p.handleStart(instant(0), disk);
    for (const op of [
      { f: 'put', key: 'x', value: 'a' },
      { f: 'put', key: 'x', value: 'b' },
      { f: 'incr', key: 'n', delta: 5 },
    ] as const) {
      p.handleCommand(instant(1), { type: 'kv', client: 'c', serial: 1, op });
      for (const o of drain(p)) if (o.kind === 'persist') applyWrites(disk, o.writes);
    }
    const q = replica('n1', disk);
    assert.equal(run(q, { f: 'get', key: 'x' }).result.output, 'b');
    assert.equal(run(q, { f: 'get', key: 'n' }).result.output, 5);
    run(q, { f: 'put', key: 'x', value: 'c' }); // its version must beat 'b''s
    assert.equal(run(q, { f: 'get', key: 'x' }).result.output, 'c');
    assert.deepEqual(q.entry('x')?.r?.slice(0, 2), [3, 'n1']);
  });

  test('a get answers the register once it was written, else the counter sum', () => {
    const p = replica('n1');
    assert.equal(run(p, { f: 'get', key: 'k' }).result.output, null);
    run(p, { f: 'incr', key: 'k', delta: 3 });
    assert.equal(run(p, { f: 'get', key: 'k' }).result.output, 3);
    run(p, { f: 'delete', key: 'k' });
    assert.equal(run(p, { f: 'get', key: 'k' }).result.output, null);
    assert.equal(run(p, { f: 'incr', key: 'k', delta: 1 }).result.output, 1); // register now
    assert.deepEqual(p.entry('k')?.p, [['n1', 3]]); // the counter is kept, unread
  });

  test('keysMax bounds the keys: a new one fails with a reason, merged ones are dropped', () => {
    const p = new KvCrdt({ id: 'n1', nodes, rng: createRng(1) }, { keysMax: 1 });
    p.handleStart(instant(0), new Map());
    drain(p);
    assert.equal(run(p, { f: 'put', key: 'a', value: 1 }).result.status, 'ok');
    const r = run(p, { f: 'put', key: 'b', value: 1 }).result;
    assert.equal(r.status, 'fail');
    assert.match(r.reason ?? '', /keysMax/);
    assert.equal(run(p, { f: 'get', key: 'b' }).result.status, 'ok');
    p.handleMessage(instant(2), 'n2', { k: 'state', e: [{ k: 'z', p: [['n2', 1]], n: [] }] });
    assert.equal(p.stats().keysDropped, 1);
  });

  test('malformed state messages are dropped and counted, never thrown', () => {
    const p = replica('n1');
    const bad: unknown[] = [
      { k: 'state', e: [{ k: 'x', p: [['nobody', 1]], n: [] }] },
      { k: 'state', e: [{ k: 'x', p: [['n2', -1]], n: [] }] },
      { k: 'state', e: [{ k: 'x', p: [], n: [], r: [0, 'n2', 'v'] }] },
      { k: 'state', e: [{ k: 'x', p: [], n: [], r: [1, 'n9', 'v'] }] },
      { k: 'state', e: [{ k: 1, p: [], n: [] }] },
      { k: 'state', e: [null] },
    ];
    for (const m of bad) p.handleMessage(instant(1), 'n2', m as CrdtMsg);
    p.handleMessage(instant(1), 'n9', { k: 'state', e: [] });
    assert.equal(p.stats().malformed, bad.length + 1);
    assert.equal(p.stats().keys, 0);
  });

  test('bad options throw a SteadfastError naming the field', () => {
    assert.throws(
      () => kvCrdt({ gossipIntervalMs: 0 }),
      (e: unknown) => e instanceof SteadfastError && /gossipIntervalMs/.test(e.message),
    );
  });
});

// ------------------------------------------------------------------------------ merge

describe('kv-crdt: merge', () => {
  test('any order, duplication or loss-then-resend of state messages gives the same state', () => {
    const opArb = fc.oneof(
      fc.record({
        f: fc.constant('incr' as const),
        key: fc.constant('n'),
        delta: fc.integer({ min: -2, max: 3 }),
      }),
      fc.record({ f: fc.constant('put' as const), key: fc.constant('x'), value: fc.integer() }),
      fc.record({ f: fc.constant('delete' as const), key: fc.constant('x') }),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 2 }), opArb), { maxLength: 20 }),
        fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 12 }),
        (ops, order1, order2) => {
          // Two writers (n2, n3); each sends a state message after every operation.
          const writers = nodes.map((id) => replica(id));
          const msgs: { from: NodeId; msg: CrdtMsg }[] = [];
          for (const [w, op] of ops) {
            const p = writers[w] as KvCrdt;
            run(p, op);
            msgs.push({ from: nodes[w] as NodeId, msg: stateOf(p) });
          }
          // Two readers take the messages in different orders, with duplicates, then all of
          // them once more (a lost message is resent by the next round).
          const final = [1, 2].map((_, i) => {
            const r = replica('n1');
            const order = i === 0 ? order1 : order2;
            for (const k of order) {
              const m = msgs[k % Math.max(1, msgs.length)];
              if (m !== undefined) r.handleMessage(instant(2), m.from, m.msg);
            }
            for (const m of msgs) r.handleMessage(instant(3), m.from, m.msg);
            return [r.entry('n'), r.entry('x')];
          });
          assert.deepEqual(final[0], final[1]);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('concurrent writes: the larger (Lamport counter, node id) wins everywhere', () => {
    const [a, b] = [replica('n1'), replica('n2')];
    run(a, { f: 'put', key: 'x', value: 'from-a' });
    run(b, { f: 'put', key: 'x', value: 'from-b' }); // same counter 1, larger id
    const ma = stateOf(a);
    const mb = stateOf(b);
    a.handleMessage(instant(2), 'n2', mb);
    b.handleMessage(instant(2), 'n1', ma);
    assert.equal(run(a, { f: 'get', key: 'x' }).result.output, 'from-b');
    assert.equal(run(b, { f: 'get', key: 'x' }).result.output, 'from-b');
    // a has now seen counter 1, so its next write (counter 2) wins over b's.
    run(a, { f: 'put', key: 'x', value: 'later-a' });
    b.handleMessage(instant(3), 'n1', stateOf(a));
    assert.equal(run(b, { f: 'get', key: 'x' }).result.output, 'later-a');
  });

  test('a merge that changes the state is persisted; a redundant one is not', () => {
    const [a, b] = [replica('n1'), replica('n2')];
    run(b, { f: 'incr', key: 'n', delta: 2 });
    const m = stateOf(b);
    a.handleMessage(instant(2), 'n2', m);
    assert.deepEqual(
      drain(a).map((o) => o.kind),
      ['persist'],
    );
    a.handleMessage(instant(2), 'n2', m);
    assert.deepEqual(drain(a), []);
  });
});

// ------------------------------------------------------------------------------ simulations

describe('kv-crdt: simulated runs', () => {
  test('under a partition every operation completes at once and replicas converge; reads go stale', () => {
    const seeds = [1, 2, 3, 4, 5, 6];
    let nonLinearizable = 0;
    for (const seed of seeds) {
      const r = simulate(seed, isolateOne(seed));
      const why = `seed=${seed}\n${formatVerdicts(r.verdicts)}`;
      for (const p of ['completes', 'converges', 'increments-once']) {
        assert.equal(r.byName.get(p)?.holds, true, `${p}: ${why}`);
      }
      const acc = kvAccounting(r.trace);
      assert.equal(acc.ok, acc.issued, why);
      // "At once": every result is delivered at the time of its command.
      const callT = new Map<string, number>();
      for (const e of r.trace) {
        if (e.type === 'command') {
          const c = e.cmd as { client: string; serial: number };
          callT.set(`${e.node}/${c.client}/${c.serial}`, e.t);
        } else if (e.type === 'deliver') {
          const d = e.event as KvResult;
          assert.equal(e.t, callT.get(`${e.node}/${d.client}/${d.serial}`), why);
        }
      }
      if (r.byName.get('linearizable')?.holds === false) nonLinearizable++;
    }
    assert.ok(
      nonLinearizable >= 1,
      `no stale read made a run non-linearizable in ${seeds.join(', ')}`,
    );
  });

  test('with no faults, replicas converge and increments count once', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = simulate(seed, (end) => [
        { at: end, action: { kind: 'heal-all', recoverCrashed: false } },
      ]);
      for (const p of ['completes', 'converges', 'increments-once']) {
        assert.equal(
          r.byName.get(p)?.holds,
          true,
          `seed=${seed} ${p}\n${formatVerdicts(r.verdicts)}`,
        );
      }
    }
  });

  test('session guarantees (read-your-writes, monotonic reads) hold under partitions and crash-recover', () => {
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const r = simulate(seed, (faultPhaseMs) =>
        generateNemesis(createRng(seed).fork('test-nemesis'), nodes, {
          faultPhaseMs,
          crashes: 3,
          maxDown: 1,
          recover: true,
          partitions: 2,
        }),
      );
      const why = `seed=${seed}\n${formatVerdicts(r.verdicts)}`;
      assert.equal(sessionViolation(r.trace), undefined, why);
      assert.equal(r.byName.get('converges')?.holds, true, why);
    }
  });

  test('the session check is not vacuous: a replica that goes back is caught', () => {
    const res = (t: number, serial: number, op: KvOp, output: unknown): TraceEvent => ({
      t,
      type: 'deliver',
      node: 'n1',
      event: { type: 'kv-result', client: 'c', serial, op, status: 'ok', output },
    });
    const cmd = (op: KvOp): TraceEvent => ({
      t: 0,
      type: 'command',
      node: 'n1',
      cmd: { type: 'kv', client: 'c', serial: 1, op },
      accepted: true,
    });
    const put = (v: string): KvOp => ({ f: 'put', key: 'x', value: v });
    const get: KvOp = { f: 'get', key: 'x' };
    const incr: KvOp = { f: 'incr', key: 'n', delta: 1 };
    const getN: KvOp = { f: 'get', key: 'n' };
    // Register: read b, then a again (monotonic reads), or own write b then a (read-your-writes).
    assert.match(
      sessionViolation([
        cmd(put('a')),
        res(1, 1, get, 'a'),
        res(2, 2, get, 'b'),
        res(3, 3, get, 'a'),
      ]) ?? '',
      /older value/,
    );
    assert.match(
      sessionViolation([
        cmd(put('a')),
        res(1, 1, get, 'a'),
        res(2, 2, put('b'), null),
        res(3, 3, get, 'a'),
      ]) ?? '',
      /older value/,
    );
    // Counter: own increment saw 3, a later read sees 2.
    assert.match(
      sessionViolation([cmd(incr), res(1, 1, incr, 3), res(2, 2, getN, 2)]) ?? '',
      /already saw 3/,
    );
    // A newer value merged in, or the same value again, is fine.
    assert.equal(
      sessionViolation([
        cmd(put('a')),
        res(1, 1, put('a'), null),
        res(2, 2, get, 'c'),
        res(3, 3, get, 'c'),
      ]),
      undefined,
    );
  });
});
