import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TraceEvent } from '../core/trace.ts';
import {
  authenticity,
  fifoOrder,
  indexTrace,
  noCreation,
  noDuplication,
  reliableDelivery,
} from './links.ts';
import { canonicalJson, describeEvent, formatVerdicts, type Verdict } from './verdict.ts';

// ------------------------------------------------------------------ trace builders

function send(from: string, to: string, payload: unknown, accepted = true): TraceEvent {
  return { t: 0, type: 'command', node: from, cmd: { type: 'send', to, payload }, accepted };
}

function deliver(at: string, from: string, payload: unknown): TraceEvent {
  return { t: 0, type: 'deliver', node: at, event: { type: 'deliver', from, payload } };
}

/** An at-most-once / exactly-once application as the channel writes it (inner prefix `rl`). */
function applied(at: string, from: string, payload: unknown, seq = 1): TraceEvent {
  return {
    t: 0,
    type: 'persist',
    node: at,
    writes: [
      { key: `rl/rx/${from}`, value: { w: seq, win: [] } },
      { key: 'rl/applied', value: { from, seq, payload } },
    ],
  };
}

function crash(node: string): TraceEvent {
  return { t: 0, type: 'crash', node, lostOutputs: 0 };
}

function start(node: string, incarnation = 1): TraceEvent {
  return { t: 0, type: 'start', node, incarnation, records: 0 };
}

/** Gives events increasing times, so that messages and descriptions are realistic. */
function timed(events: TraceEvent[]): TraceEvent[] {
  return events.map((e, i) => ({ ...e, t: i * 10 }));
}

function indices(v: Verdict): number[] {
  return v.violation?.events.map((e) => e.index) ?? [];
}

function assertHolds(v: Verdict): void {
  assert.equal(v.holds, true, v.violation?.message);
  assert.equal(v.violation, undefined);
}

// ------------------------------------------------------------------ a good trace

const good = timed([
  start('n1', 0),
  start('n2', 0),
  send('n1', 'n2', 'a'), // 2
  send('n1', 'n2', { k: 1, v: [1, 2] }), // 3
  send('n2', 'n1', 'a'), // 4: same payload, other direction: a different message
  { t: 0, type: 'send', id: 1, from: 'n1', to: 'n2', msg: { type: 'data' }, bytes: 10 },
  deliver('n2', 'n1', 'a'), // 6
  deliver('n2', 'n1', { v: [1, 2], k: 1 }), // 7: same payload, other key order
  deliver('n1', 'n2', 'a'), // 8
  { t: 0, type: 'command', node: 'n1', cmd: { type: 'cancel', ref: 'r' }, accepted: true },
]);

test('every property holds on a well-behaved trace (payloads compared canonically)', () => {
  const verdicts = [
    reliableDelivery(good),
    noDuplication(good),
    noCreation(good),
    fifoOrder(good),
    authenticity(good),
  ];
  for (const v of verdicts) assertHolds(v);
  assert.deepEqual(
    verdicts.map((v) => [v.property, v.kind, v.checked]),
    [
      ['reliable-delivery', 'liveness', 3],
      ['no-duplication', 'safety', 3],
      ['no-creation', 'safety', 3],
      ['fifo-order', 'safety', 3],
      ['authenticity', 'safety', 3],
    ],
  );
});

test('an empty trace satisfies every property', () => {
  for (const check of [reliableDelivery, noDuplication, noCreation, fifoOrder, authenticity]) {
    const v = check([]);
    assertHolds(v);
    assert.equal(v.checked, 0);
  }
});

// ------------------------------------------------------------------ PL1

test('PL1: the earliest undelivered send between correct nodes is the violation', () => {
  const trace = timed([
    send('n1', 'n2', 'a'), // 0
    send('n1', 'n2', 'b'), // 1: never delivered
    send('n1', 'n3', 'c'), // 2: never delivered
    deliver('n2', 'n1', 'a'),
  ]);
  const v = reliableDelivery(trace);
  assert.equal(v.holds, false);
  assert.equal(v.kind, 'liveness');
  assert.deepEqual(indices(v), [1]);
  assert.match(v.violation?.message ?? '', /n1 → n2 "b".*never delivered/);
});

test('PL1: rejected sends and sends from or to crashed nodes are not owed', () => {
  const trace = timed([
    send('n1', 'n2', 'a', false), // node down: never sent
    send('n1', 'n3', 'b'), // n3 crashes below
    send('n3', 'n1', 'c'), // n3 crashes below
    crash('n3'),
  ]);
  assertHolds(reliableDelivery(trace));
  assert.equal(reliableDelivery(trace).checked, 0);
});

test('PL1: a delivery before the send does not count as its delivery', () => {
  const trace = timed([deliver('n2', 'n1', 'a'), send('n1', 'n2', 'a')]);
  assert.deepEqual(indices(reliableDelivery(trace)), [1]);
});

test('PL1: the correct option chooses which crashed nodes still count', () => {
  const trace = timed([
    send('n1', 'n2', 'a'), // 0: never delivered
    crash('n2'),
    start('n2'), // n2 is back: correct in the crash-recover model
    send('n1', 'n3', 'b'), // 3: never delivered
    crash('n3'), // n3 stays down
  ]);
  assertHolds(reliableDelivery(trace)); // crash-stop: n2 and n3 are faulty
  assert.deepEqual(indices(reliableDelivery(trace, { correct: 'up-at-end' })), [0]);
  assert.deepEqual(indices(reliableDelivery(trace, { correct: ['n1', 'n3'] })), [3]);
  assertHolds(reliableDelivery(trace, { correct: ['n1'] }));
});

test('PL1 counting applications: a crash between the persist and the deliver loses nothing', () => {
  const trace = timed([
    send('n1', 'n2', 'a'),
    applied('n2', 'n1', 'a'), // the effect is durable ...
    crash('n2'), // ... the deliver notification is lost
    start('n2'),
  ]);
  assertHolds(reliableDelivery(trace, { count: 'applications', correct: 'up-at-end' }));
  assert.deepEqual(indices(reliableDelivery(trace, { correct: 'up-at-end' })), [0]);
});

test("PL1: a send cut short by its sender's crash is in doubt, not owed", () => {
  const trace = timed([
    send('n1', 'n2', 'a'), // 0: its step ends in a crash that lost outputs
    { t: 0, type: 'persist', node: 'n1', writes: [{ key: 'rl/seq/n2', value: 1025 }] },
    { t: 0, type: 'crash', node: 'n1', lostOutputs: 2 },
    start('n1'),
    send('n1', 'n2', 'b'), // 4: completed; n1 crashes later, between steps
    { t: 0, type: 'timer', node: 'n1', name: 'rl/rto/n2' },
    { t: 0, type: 'crash', node: 'n1', lostOutputs: 1 }, // cuts the timer's step, not the send's
    start('n1', 2),
    send('n1', 'n2', 'c'), // 8
    crash('n1'), // a crash between steps (no outputs lost)
    start('n1', 3),
    deliver('n2', 'n1', 'a'), // a receipt of a send in doubt is no creation
  ]);
  const v = reliableDelivery(trace, { correct: 'up-at-end' });
  assert.deepEqual(indices(v), [4]);
  assert.equal(v.checked, 1);
  assert.deepEqual(indices(reliableDelivery(trace.slice(0, 4), { correct: 'up-at-end' })), []);
  assertHolds(noCreation(trace));
  const ix = indexTrace(trace);
  assert.deepEqual(
    ix.sendList.map((s) => s.interrupted),
    [true, false, false],
  );
});

// ------------------------------------------------------------------ PL2

test('PL2: the repeat that happens first is reported, with both receipts', () => {
  const trace = timed([
    send('n1', 'n2', 'a'), // 0
    send('n1', 'n2', 'b'), // 1
    deliver('n2', 'n1', 'a'), // 2
    deliver('n2', 'n1', 'b'), // 3
    deliver('n2', 'n1', 'b'), // 4: first repeat
    deliver('n2', 'n1', 'a'), // 5: later repeat
  ]);
  const v = noDuplication(trace);
  assert.equal(v.holds, false);
  assert.equal(v.kind, 'safety');
  assert.deepEqual(indices(v), [3, 4]);
  assert.equal(v.checked, 3);
  assert.match(v.violation?.message ?? '', /"b" delivered twice \(#3 and #4\)/);
});

test('PL2: the same payload at two receivers or from two senders is no duplicate', () => {
  const trace = timed([
    send('n1', 'n2', 'x'),
    send('n1', 'n3', 'x'),
    send('n3', 'n2', 'x'),
    deliver('n2', 'n1', 'x'),
    deliver('n3', 'n1', 'x'),
    deliver('n2', 'n3', 'x'),
  ]);
  assertHolds(noDuplication(trace));
});

test('PL2 counting applications: repeated deliver notifications do not count, applications do', () => {
  const trace = timed([
    send('n1', 'n2', 'a'), // 0
    applied('n2', 'n1', 'a'), // 1
    deliver('n2', 'n1', 'a'), // 2
    deliver('n2', 'n1', 'a'), // 3
  ]);
  assertHolds(noDuplication(trace, { count: 'applications' }));
  assert.deepEqual(indices(noDuplication(trace)), [2, 3]);
  const twice = timed([...trace, applied('n2', 'n1', 'a')]);
  assert.deepEqual(indices(noDuplication(twice, { count: 'applications' })), [1, 4]);
});

test('applications: the bare `applied` key counts, deletions and other keys do not', () => {
  const trace = timed([
    send('n1', 'n2', 'a'),
    {
      t: 0,
      type: 'persist',
      node: 'n2',
      writes: [{ key: 'applied', value: { from: 'n1', seq: 1, payload: 'a' } }],
    },
    { t: 0, type: 'persist', node: 'n2', writes: [{ key: 'applied', value: null }] },
    {
      t: 0,
      type: 'persist',
      node: 'n2',
      writes: [{ key: 'rl/not-applied', value: { from: 'n1', seq: 1, payload: 'a' } }],
    },
  ]);
  const ix = indexTrace(trace);
  assert.deepEqual(
    ix.applications.map((r) => r.index),
    [1],
  );
  assertHolds(noDuplication(trace, { count: 'applications' }));
});

// ------------------------------------------------------------------ PL3

test('PL3: a delivery nobody sent is reported with a note', () => {
  const trace = timed([
    send('n1', 'n2', 'a'), // 0
    deliver('n2', 'n1', 'a'), // 1
    deliver('n2', 'n1', 'z'), // 2: created
    deliver('n2', 'n3', 'a'), // 3: right payload, wrong sender
  ]);
  const v = noCreation(trace);
  assert.equal(v.holds, false);
  assert.deepEqual(indices(v), [2]);
  assert.match(v.violation?.message ?? '', /no send of it by n1 to n2 precedes it/);
});

test('PL3: the wrong sender, a later send or a rejected command do not justify a delivery', () => {
  const wrongSender = timed([send('n1', 'n2', 'a'), deliver('n2', 'n3', 'a')]);
  assert.deepEqual(indices(noCreation(wrongSender)), [1]);
  const wrongReceiver = timed([send('n1', 'n2', 'a'), deliver('n3', 'n1', 'a')]);
  assert.deepEqual(indices(noCreation(wrongReceiver)), [1]);
  const later = timed([deliver('n2', 'n1', 'a'), send('n1', 'n2', 'a')]);
  const v = noCreation(later);
  assert.deepEqual(indices(v), [0]);
  assert.match(v.violation?.message ?? '', /its send comes later, at #1/);
  const rejected = timed([send('n1', 'n2', 'a', false), deliver('n2', 'n1', 'a')]);
  const r = noCreation(rejected);
  assert.deepEqual(indices(r), [1]);
  assert.match(r.violation?.message ?? '', /at #0, was rejected/);
});

test('PL3 counting applications: a created application is caught, deliveries are ignored', () => {
  const trace = timed([
    send('n1', 'n2', 'a'),
    deliver('n2', 'n1', 'ghost'), // not counted
    applied('n2', 'n1', 'a'),
    applied('n2', 'n1', 'ghost'), // 3
  ]);
  const v = noCreation(trace, { count: 'applications' });
  assert.deepEqual(indices(v), [3]);
  assert.match(v.violation?.message ?? '', /applied at #3/);
  assert.deepEqual(indices(noCreation(trace)), [1]);
});

// ------------------------------------------------------------------ authenticity

test('authenticity: a forgery in the name of a correct process is caught', () => {
  const trace = timed([
    send('n1', 'n2', 'a'),
    deliver('n2', 'n1', 'a'),
    deliver('n2', 'n3', 'pay me'), // 2: forged, n3 never sent it
  ]);
  const v = authenticity(trace);
  assert.equal(v.property, 'authenticity');
  assert.deepEqual(indices(v), [2]);
  assert.match(v.violation?.message ?? '', /in the name of correct process n3/);
});

test('authenticity: a message in the name of a faulty process is not its concern', () => {
  const trace = timed([crash('n3'), deliver('n2', 'n3', 'pay me')]);
  assertHolds(authenticity(trace));
  assert.equal(authenticity(trace).checked, 0);
  assert.deepEqual(indices(authenticity(trace, { correct: 'up-at-end' })), []);
  assert.deepEqual(indices(authenticity(trace, { correct: ['n3'] })), [1]);
  assert.deepEqual(indices(noCreation(trace)), [1]); // PL3 covers every sender
});

// ------------------------------------------------------------------ FIFO

test('FIFO: an inversion is reported with both sends and both deliveries', () => {
  const trace = timed([
    send('n1', 'n2', 'm1'), // 0
    send('n1', 'n2', 'm2'), // 1
    send('n1', 'n2', 'm3'), // 2
    deliver('n2', 'n1', 'm1'), // 3
    deliver('n2', 'n1', 'm3'), // 4
    deliver('n2', 'n1', 'm2'), // 5: m2 after m3
  ]);
  const v = fifoOrder(trace);
  assert.equal(v.holds, false);
  assert.equal(v.property, 'fifo-order');
  assert.deepEqual(indices(v), [1, 2, 4, 5]);
  assert.match(v.violation?.message ?? '', /"m2" was sent \(#1\) before "m3" \(#2\)/);
});

test('FIFO: per link only; repeats and gaps are not FIFO breaks', () => {
  const trace = timed([
    send('n1', 'n2', 'a1'),
    send('n3', 'n2', 'b1'),
    send('n1', 'n2', 'a2'),
    send('n3', 'n2', 'b2'),
    send('n1', 'n2', 'a3'), // never delivered: a gap
    send('n1', 'n2', 'a4'),
    deliver('n2', 'n3', 'b1'),
    deliver('n2', 'n1', 'a1'),
    deliver('n2', 'n1', 'a2'),
    deliver('n2', 'n1', 'a1'), // a repeat: only first deliveries are ordered
    deliver('n2', 'n3', 'b2'),
    deliver('n2', 'n1', 'a4'),
  ]);
  assertHolds(fifoOrder(trace));
  assert.equal(fifoOrder(trace).checked, 5);
});

test('FIFO: the first inversion in trace order wins', () => {
  const trace = timed([
    send('n1', 'n2', 'a1'), // 0
    send('n1', 'n2', 'a2'), // 1
    send('n3', 'n2', 'b1'), // 2
    send('n3', 'n2', 'b2'), // 3
    deliver('n2', 'n3', 'b2'), // 4
    deliver('n2', 'n1', 'a2'), // 5
    deliver('n2', 'n3', 'b1'), // 6: first inversion (b)
    deliver('n2', 'n1', 'a1'), // 7: second inversion (a)
  ]);
  assert.deepEqual(indices(fifoOrder(trace)), [2, 3, 4, 6]);
});

// ------------------------------------------------------------------ workload-unique

test('a workload that repeats a message identity gets a workload-unique verdict', () => {
  const trace = timed([
    send('n1', 'n2', { a: 1, b: 2 }), // 0
    send('n1', 'n2', 'other'),
    send('n1', 'n2', { b: 2, a: 1 }), // 2: same identity as #0
    deliver('n2', 'n1', { a: 1, b: 2 }),
  ]);
  for (const check of [reliableDelivery, noDuplication, noCreation, fifoOrder, authenticity]) {
    const v = check(trace);
    assert.equal(v.property, 'workload-unique');
    assert.equal(v.holds, false);
    assert.deepEqual(indices(v), [0, 2]);
  }
  // A rejected command is never sent: it cannot collide.
  const ok = timed([send('n1', 'n2', 'x', false), send('n1', 'n2', 'x')]);
  assert.equal(noCreation(ok).property, 'no-creation');
});

// ------------------------------------------------------------------ helpers

test('canonicalJson sorts keys at every level and tags bytes and bigints', () => {
  assert.equal(
    canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } }),
    '{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1}',
  );
  assert.equal(canonicalJson('x'), '"x"');
  assert.equal(canonicalJson(undefined), 'null');
  assert.equal(canonicalJson({ a: undefined, b: [undefined] }), '{"b":[null]}');
  assert.equal(canonicalJson(new Uint8Array([0, 255])), '{"$hex":"00ff"}');
  assert.equal(canonicalJson(12n), '{"$bigint":"12"}');
  assert.equal(canonicalJson(Number.NaN), 'null');
});

test('describeEvent and formatVerdicts give one readable line per event', () => {
  assert.equal(describeEvent({ ...send('n1', 'n2', 'a'), t: 5 }), 't=5 n1 send to n2 "a"');
  assert.equal(
    describeEvent({ ...send('n1', 'n2', 'a', false), t: 5 }),
    't=5 n1 send to n2 "a" (rejected: node down)',
  );
  assert.equal(
    describeEvent({ ...deliver('n2', 'n1', { x: 1 }), t: 7 }),
    't=7 n2 deliver from n1 {"x":1}',
  );
  assert.match(
    describeEvent(applied('n2', 'n1', 'a')),
    /persist rl\/rx\/n1, rl\/applied \(from n1 "a"\)/,
  );
  for (const e of [
    crash('n1'),
    start('n1'),
    { t: 1, type: 'note', text: 'hi' },
    { t: 1, type: 'drop', id: 1, copy: 0, from: 'a', to: 'b', reason: 'loss' },
  ] satisfies TraceEvent[]) {
    assert.ok(!describeEvent(e).includes('\n'));
  }
  const trace = timed([send('n1', 'n2', 'a'), deliver('n2', 'n1', 'a'), deliver('n2', 'n1', 'a')]);
  const text = formatVerdicts([noCreation(trace), noDuplication(trace)]);
  assert.equal(
    text,
    [
      '✓ no-creation (safety, 2 checked)',
      '✗ no-duplication (safety, 2 checked): n1 → n2 "a" delivered twice (#1 and #2)',
      '    #1 t=10 n2 deliver from n1 "a"',
      '    #2 t=20 n2 deliver from n1 "a"',
      '',
    ].join('\n'),
  );
});

// ------------------------------------------------------------------ performance

test('a 500,000-event trace is checked in a few seconds (linear-time checkers)', () => {
  const trace: TraceEvent[] = [];
  const nodes = ['n1', 'n2', 'n3', 'n4'];
  let k = 0;
  while (trace.length < 500_000) {
    const from = nodes[k % 4] ?? 'n1';
    const to = nodes[(k + 1) % 4] ?? 'n2';
    const payload = k % 2 === 0 ? `m${k}` : { k, body: 'x'.repeat(8) };
    trace.push({
      t: k,
      type: 'command',
      node: from,
      cmd: { type: 'send', to, payload },
      accepted: true,
    });
    trace.push({
      t: k,
      type: 'deliver',
      node: to,
      event: { type: 'deliver', from, payload, seq: k },
    });
    k++;
  }
  // CPU time, not wall time: what the checkers cost, whatever else shares the machine.
  const cpuMs = (since?: NodeJS.CpuUsage) => {
    const u = process.cpuUsage(since);
    return (u.user + u.system) / 1000;
  };
  const began = process.cpuUsage();
  const ix = indexTrace(trace);
  const verdicts = [
    reliableDelivery(ix),
    noDuplication(ix),
    noCreation(ix),
    fifoOrder(ix),
    authenticity(ix),
  ];
  const ms = cpuMs(began);
  for (const v of verdicts) assertHolds(v);
  assert.equal(verdicts[0]?.checked, 250_000);
  assert.ok(ms < 10_000, `took ${Math.round(ms)} ms of CPU`);
  // Every checker from the raw trace too (each indexes it again).
  const again = process.cpuUsage();
  assertHolds(noCreation(trace));
  assert.ok(cpuMs(again) < 5_000);
});
