import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeIds, type NodeId } from '../core/ids.ts';
import type { TraceEvent } from '../core/trace.ts';
import {
  channel,
  type ChannelDeliver,
  type ChannelSend,
  type Guarantee,
} from '../protocols/delivery/guarantees.ts';
import { fairLossLink } from '../protocols/link/fair-loss.ts';
import { fifoLink } from '../protocols/link/fifo.ts';
import { perfectLink } from '../protocols/link/perfect.ts';
import type { ReliableMsg } from '../protocols/link/reliable.ts';
import type { TimedAction } from '../sim/nemesis.ts';
import type { LinkFaults } from '../sim/network.ts';
import { Simulator, type ScheduledCommand } from '../sim/simulator.ts';
import { checkGuarantee, CONTRACTS, summarize } from './guarantees.ts';
import { noCreation, noDuplication, reliableDelivery } from './links.ts';
import { formatVerdicts, type Verdict } from './verdict.ts';

// ------------------------------------------------------------------ hand-written traces

function send(from: string, to: string, payload: unknown): TraceEvent {
  return { t: 0, type: 'command', node: from, cmd: { type: 'send', to, payload }, accepted: true };
}

function deliver(at: string, from: string, payload: unknown): TraceEvent {
  return { t: 0, type: 'deliver', node: at, event: { type: 'deliver', from, payload } };
}

function applied(at: string, from: string, payload: unknown): TraceEvent {
  return {
    t: 0,
    type: 'persist',
    node: at,
    writes: [{ key: 'rl/applied', value: { from, seq: 1, payload } }],
  };
}

function properties(vs: readonly Verdict[]): string[] {
  return vs.map((v) => `${v.holds ? '+' : '-'}${v.property}`);
}

test('each contract lists its properties', () => {
  const ok = [send('n1', 'n2', 'a'), applied('n2', 'n1', 'a'), deliver('n2', 'n1', 'a')];
  const expected: Record<string, string[]> = {
    'at-most-once': ['+no-duplication', '+no-creation'],
    'at-least-once': ['+reliable-delivery', '+no-creation'],
    'exactly-once': ['+reliable-delivery', '+no-duplication', '+no-creation'],
    perfect: ['+reliable-delivery', '+no-duplication', '+no-creation'],
    fifo: ['+reliable-delivery', '+no-duplication', '+no-creation', '+fifo-order'],
  };
  for (const c of CONTRACTS) assert.deepEqual(properties(checkGuarantee(ok, c)), expected[c], c);
});

test('at-least-once: duplicates are allowed, loss is not', () => {
  const dup = [send('n1', 'n2', 'a'), deliver('n2', 'n1', 'a'), deliver('n2', 'n1', 'a')];
  assert.deepEqual(properties(checkGuarantee(dup, 'at-least-once')), [
    '+reliable-delivery',
    '+no-creation',
  ]);
  assert.deepEqual(properties(checkGuarantee(dup, 'perfect')), [
    '+reliable-delivery',
    '-no-duplication',
    '+no-creation',
  ]);
  const lost = [send('n1', 'n2', 'a')];
  const vs = checkGuarantee(lost, 'at-least-once');
  assert.deepEqual(properties(vs), ['-reliable-delivery', '+no-creation']);
  assert.deepEqual(summarize(vs), {
    safe: true,
    live: false,
    firstViolation: {
      property: 'reliable-delivery',
      message: vs[0]?.violation?.message,
    },
  });
});

test('at-most-once and exactly-once count applications, not notifications', () => {
  // Applied once, notified twice (e.g. a replayed notification): not a duplicate effect.
  const trace = [
    send('n1', 'n2', 'a'),
    applied('n2', 'n1', 'a'),
    deliver('n2', 'n1', 'a'),
    deliver('n2', 'n1', 'a'),
  ];
  assert.ok(summarize(checkGuarantee(trace, 'exactly-once')).safe);
  assert.ok(summarize(checkGuarantee(trace, 'at-most-once')).safe);
  assert.equal(summarize(checkGuarantee(trace, 'perfect')).safe, false);
  // Applied twice: a violation, with both applications.
  const twice = [...trace, applied('n2', 'n1', 'a')];
  const vs = checkGuarantee(twice, 'exactly-once');
  assert.deepEqual(properties(vs), ['+reliable-delivery', '-no-duplication', '+no-creation']);
  assert.deepEqual(
    vs[1]?.violation?.events.map((e) => e.index),
    [1, 4],
  );
  // Notified but never applied: exactly-once's PL1 fails, at-most-once does not care.
  const notified = [send('n1', 'n2', 'a'), deliver('n2', 'n1', 'a')];
  assert.equal(summarize(checkGuarantee(notified, 'exactly-once')).live, false);
  assert.deepEqual(summarize(checkGuarantee(notified, 'at-most-once')), { safe: true, live: true });
});

test('summarize prefers a safety violation, and the correct option is passed through', () => {
  const trace: TraceEvent[] = [
    send('n1', 'n2', 'a'), // never delivered
    deliver('n2', 'n1', 'ghost'), // created
    { t: 0, type: 'crash', node: 'n2', lostOutputs: 0 },
    { t: 0, type: 'start', node: 'n2', incarnation: 1, records: 0 },
  ];
  const crashStop = checkGuarantee(trace, 'perfect');
  assert.deepEqual(properties(crashStop), [
    '+reliable-delivery', // n2 crashed: nothing owed to it
    '+no-duplication',
    '-no-creation',
  ]);
  const recovered = checkGuarantee(trace, 'perfect', { correct: 'up-at-end' });
  assert.deepEqual(properties(recovered), [
    '-reliable-delivery',
    '+no-duplication',
    '-no-creation',
  ]);
  const s = summarize(recovered);
  assert.equal(s.safe, false);
  assert.equal(s.live, false);
  assert.equal(s.firstViolation?.property, 'no-creation');
  assert.deepEqual(summarize([]), { safe: true, live: true });
});

test('a workload that repeats a message yields the single workload-unique verdict', () => {
  const trace = [send('n1', 'n2', 'a'), send('n1', 'n2', 'a'), deliver('n2', 'n1', 'a')];
  const vs = checkGuarantee(trace, 'exactly-once');
  assert.deepEqual(properties(vs), ['-workload-unique']);
  assert.equal(summarize(vs).safe, false);
});

// ------------------------------------------------------------------ simulations

const nodes = nodeIds(3);

/** Every node sends `perLink` unique messages to every other node, one every 2 ms. */
function workload(perLink: number): ScheduledCommand<ChannelSend>[] {
  const out: ScheduledCommand<ChannelSend>[] = [];
  for (let k = 0; k < perLink; k++) {
    for (const from of nodes) {
      for (const to of nodes) {
        if (to === from) continue;
        out.push({
          at: 2 * k,
          node: from,
          cmd: { type: 'send', to, payload: `${from}>${to}#${k}` },
        });
      }
    }
  }
  return out;
}

function runChannel(
  guarantee: Guarantee,
  seed: number,
  network: Partial<LinkFaults>,
  nemesis: readonly TimedAction[] = [],
): Simulator<ReliableMsg, ChannelSend, ChannelDeliver> {
  return new Simulator({
    seed,
    nodes,
    stack: channel({ guarantee }),
    network,
    nemesis,
    workload: workload(40),
  }).runUntil(20_000);
}

/** Asserts that every verdict holds, printing them all if one does not. */
function assertAllHold(vs: readonly Verdict[], what: string): void {
  assert.ok(
    vs.every((v) => v.holds),
    `${what}\n${formatVerdicts(vs)}`,
  );
}

function applications(e: TraceEvent | undefined): number {
  if (e?.type !== 'persist') return 0;
  return e.writes.filter((w) => w.key.endsWith('/applied') && w.value !== null).length;
}

function duplicateDeliveries(trace: readonly TraceEvent[]): number {
  const seen = new Set<string>();
  let dups = 0;
  for (const e of trace) {
    if (e.type !== 'deliver') continue;
    const d = e.event as { from: NodeId; payload: unknown };
    const key = `${d.from}>${e.node}:${JSON.stringify(d.payload)}`;
    if (seen.has(key)) dups++;
    seen.add(key);
  }
  return dups;
}

test('sim: the fair-loss link under 30% loss loses messages but never duplicates or creates', () => {
  const sim = new Simulator({
    seed: 1,
    nodes,
    stack: fairLossLink,
    network: { lossProbability: 0.3 },
    workload: workload(40),
  }).runToQuiescence();
  const pl1 = reliableDelivery(sim.trace);
  assert.equal(pl1.holds, false);
  const [first] = pl1.violation?.events ?? [];
  assert.equal(first?.event.type, 'command');
  assertAllHold([noDuplication(sim.trace), noCreation(sim.trace)], 'fair-loss, loss 0.3');
});

test('sim: exactly-once under 30% loss and 30% duplication keeps its whole contract', () => {
  for (const seed of [1, 2, 3]) {
    const sim = runChannel('exactly-once', seed, {
      lossProbability: 0.3,
      duplicateProbability: 0.3,
      duplicateMaxCopies: 3,
    });
    const vs = checkGuarantee(sim.trace, 'exactly-once');
    assertAllHold(vs, `exactly-once seed=${seed}`);
    assert.equal(vs[0]?.checked, 240);
    assert.ok(sim.trace.some((e) => e.type === 'duplicate'));
  }
});

test('sim: exactly-once across crash-recover of both ends (crash between outputs too)', () => {
  let lostNotification = 0;
  for (const afterOutputs of [0, 1, 2, 3]) {
    const nemesis: TimedAction[] = [
      { at: 15, action: { kind: 'crash', node: 'n2', afterOutputs, withinMs: 300 } },
      { at: 30, action: { kind: 'crash', node: 'n1' } },
      { at: 300, action: { kind: 'recover', node: 'n1' } },
      { at: 400, action: { kind: 'heal-all', recoverCrashed: true } },
    ];
    for (const seed of [1, 2, 3, 4]) {
      const sim = runChannel(
        'exactly-once',
        seed,
        { lossProbability: 0.2, duplicateProbability: 0.3 },
        nemesis,
      );
      const crash = sim.trace.findIndex((e) => e.type === 'crash' && e.node === 'n2');
      assert.ok(crash > 0);
      if (sim.trace[crash - 1]?.type === 'persist' && applications(sim.trace[crash - 1]) > 0) {
        lostNotification++; // applied, then crashed before the deliver
      }
      const vs = checkGuarantee(sim.trace, 'exactly-once', { correct: 'up-at-end' });
      assertAllHold(vs, `exactly-once crash-recover afterOutputs=${afterOutputs} seed=${seed}`);
    }
  }
  assert.ok(lostNotification > 0, 'some crash should fall between an application and its deliver');
});

test('sim: at-least-once under loss and duplication delivers everything, some twice', () => {
  const sim = runChannel('at-least-once', 1, {
    lossProbability: 0.3,
    duplicateProbability: 0.5,
  });
  const vs = checkGuarantee(sim.trace, 'at-least-once');
  assertAllHold(vs, 'at-least-once');
  assert.ok(duplicateDeliveries(sim.trace) > 0, 'the network duplicated, so should deliveries');
  const pl2 = noDuplication(sim.trace);
  assert.equal(pl2.holds, false);
  assert.equal(pl2.violation?.events.length, 2);
});

test('sim: at-most-once under loss never duplicates but loses messages', () => {
  const sim = runChannel('at-most-once', 1, {
    lossProbability: 0.3,
    duplicateProbability: 0.3,
  });
  const vs = checkGuarantee(sim.trace, 'at-most-once');
  assertAllHold(vs, 'at-most-once');
  assert.ok(noDuplication(sim.trace).holds, 'no duplicate notifications either');
  assert.equal(reliableDelivery(sim.trace, { count: 'applications' }).holds, false);
  assert.equal(reliableDelivery(sim.trace).holds, false);
});

test('sim: the perfect link and the FIFO link keep their contracts under loss and reordering', () => {
  const network: Partial<LinkFaults> = {
    lossProbability: 0.3,
    duplicateProbability: 0.3,
    delay: { kind: 'uniform', minMs: 1, maxMs: 50 },
  };
  const perfect = new Simulator({
    seed: 5,
    nodes,
    stack: perfectLink(),
    network,
    workload: workload(40),
  }).runUntil(20_000);
  assertAllHold(checkGuarantee(perfect.trace, 'perfect'), 'perfect link');
  // Random delays reorder a perfect link's deliveries: FIFO order is not among its guarantees.
  assert.equal(checkGuarantee(perfect.trace, 'fifo')[3]?.holds, false);
  const fifo = new Simulator({
    seed: 5,
    nodes,
    stack: fifoLink(),
    network,
    workload: workload(40),
  }).runUntil(20_000);
  assertAllHold(checkGuarantee(fifo.trace, 'fifo'), 'fifo link');
});
