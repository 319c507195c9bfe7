import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeIds } from '../core/ids.ts';
import { createRng } from '../core/rng.ts';
import type { TraceEvent } from '../core/trace.ts';
import type { StackSpec } from '../core/protocol.ts';
import type { BroadcastCommand, BroadcastDeliver } from '../protocols/broadcast/base.ts';
import type { ReliableMsg } from '../protocols/link/reliable.ts';
import {
  causalBroadcast,
  eagerReliableBroadcast,
  fifoReliableBroadcast,
} from '../protocols/broadcast/eager.ts';
import { uniformReliableBroadcast } from '../protocols/broadcast/uniform.ts';
import { Simulator, type ScheduledCommand } from '../sim/simulator.ts';
import {
  agreement,
  BROADCAST_KINDS,
  bcastNoCreation,
  bcastNoDuplication,
  bebValidity,
  brbConsistency,
  brbIntegrity,
  brbTotality,
  causalDelivery,
  checkBroadcast,
  fifoDelivery,
  indexBroadcastTrace,
  uniformAgreement,
  type BroadcastCheckOptions,
  type BroadcastKind,
  type BroadcastTraceInput,
} from './broadcast.ts';
import { formatVerdicts, type Verdict } from './verdict.ts';

// ------------------------------------------------------------------ trace builders

function bcast(node: string, payload: unknown, accepted = true): TraceEvent {
  return { t: 0, type: 'command', node, cmd: { type: 'broadcast', payload }, accepted };
}

function dlv(node: string, origin: string, n: number, payload: unknown): TraceEvent {
  return { t: 0, type: 'deliver', node, event: { type: 'deliver', origin, n, payload } };
}

function crash(node: string, lostOutputs = 0): TraceEvent {
  return { t: 0, type: 'crash', node, lostOutputs };
}

function start(node: string, incarnation = 0): TraceEvent {
  return { t: 0, type: 'start', node, incarnation, records: 0 };
}

function starts(...nodes: string[]): TraceEvent[] {
  return nodes.map((n) => start(n));
}

/** Gives events increasing times, so that messages and descriptions are realistic. */
function timed(events: TraceEvent[]): TraceEvent[] {
  return events.map((e, i) => ({ ...e, t: i * 10 }));
}

function indices(v: Verdict): number[] {
  return v.violation?.events.map((e) => e.index) ?? [];
}

function assertHolds(v: Verdict, what = ''): void {
  assert.equal(v.holds, true, `${what}${v.violation?.message ?? ''}`);
  assert.equal(v.violation, undefined);
}

type Check = (trace: BroadcastTraceInput, opts?: BroadcastCheckOptions) => Verdict;

const ALL_CHECKS: readonly Check[] = [
  bebValidity,
  bcastNoDuplication,
  bcastNoCreation,
  agreement,
  uniformAgreement,
  fifoDelivery,
  causalDelivery,
  brbConsistency,
  brbTotality,
  brbIntegrity,
];

// ------------------------------------------------------------------ a good trace

const good = timed([
  ...starts('n1', 'n2', 'n3'), // 0..2
  bcast('n1', 'a'), // 3
  dlv('n1', 'n1', 1, 'a'),
  dlv('n2', 'n1', 1, 'a'),
  bcast('n2', { k: 1, v: [1, 2] }), // 6: causally after "a" (n2 delivered it)
  dlv('n2', 'n2', 1, { k: 1, v: [1, 2] }),
  dlv('n3', 'n1', 1, 'a'),
  dlv('n3', 'n2', 1, { v: [1, 2], k: 1 }), // same payload, other key order
  dlv('n1', 'n2', 1, { k: 1, v: [1, 2] }),
  bcast('n3', 'a'), // 11: same payload, other origin: a different message
  dlv('n3', 'n3', 1, 'a'),
  dlv('n1', 'n3', 1, 'a'),
  dlv('n2', 'n3', 1, 'a'),
  bcast('n1', 'b'), // 15
  dlv('n1', 'n1', 2, 'b'),
  dlv('n3', 'n1', 2, 'b'),
  dlv('n2', 'n1', 2, 'b'),
  { t: 0, type: 'command', node: 'n1', cmd: { type: 'noop' }, accepted: true },
  { t: 0, type: 'note', text: 'end' },
]);

test('every property holds on a well-behaved trace (payloads compared canonically)', () => {
  const verdicts = ALL_CHECKS.map((check) => check(good));
  for (const v of verdicts) assertHolds(v, `${v.property}: `);
  assert.deepEqual(
    verdicts.map((v) => [v.property, v.kind, v.checked]),
    [
      ['validity', 'liveness', 4],
      ['no-duplication', 'safety', 12],
      ['no-creation', 'safety', 12],
      ['agreement', 'liveness', 4],
      ['uniform-agreement', 'liveness', 4],
      ['fifo-delivery', 'safety', 12],
      ['causal-delivery', 'safety', 12],
      ['brb-consistency', 'safety', 12],
      ['brb-totality', 'liveness', 4],
      ['brb-integrity', 'safety', 12],
    ],
  );
});

test('an empty trace satisfies every property', () => {
  for (const check of ALL_CHECKS) {
    const v = check([]);
    assertHolds(v);
    assert.equal(v.checked, 0);
  }
});

test('checkBroadcast returns the contract of each kind, from one index', () => {
  const names = (kind: BroadcastKind): string[] =>
    checkBroadcast(good, kind).map((v) => v.property);
  assert.deepEqual(names('beb'), ['validity', 'no-duplication', 'no-creation']);
  assert.deepEqual(names('rb'), ['validity', 'no-duplication', 'no-creation', 'agreement']);
  assert.deepEqual(names('urb'), [
    'validity',
    'no-duplication',
    'no-creation',
    'uniform-agreement',
  ]);
  assert.deepEqual(names('fifo'), [...names('rb'), 'fifo-delivery']);
  assert.deepEqual(names('causal'), [...names('rb'), 'causal-delivery']);
  assert.deepEqual(names('brb'), [
    'validity',
    'no-duplication',
    'no-creation',
    'brb-consistency',
    'brb-totality',
  ]);
  for (const kind of BROADCAST_KINDS) {
    for (const v of checkBroadcast(good, kind)) assertHolds(v, `${kind}/${v.property}: `);
  }
  // An index can be shared by several checkers and gives the same verdicts as the trace.
  const ix = indexBroadcastTrace(good);
  for (const check of ALL_CHECKS) assert.deepEqual(check(ix), check(good));
  assert.deepEqual(ix.nodes, ['n1', 'n2', 'n3']);
  assert.equal(ix.broadcasts.length, 4);
  assert.equal(ix.deliveries.length, 12);
});

test('verdicts are plain data: events are {index, event} pairs that survive JSON', () => {
  const v = agreement(timed([...starts('n1', 'n2'), bcast('n1', 'a'), dlv('n1', 'n1', 1, 'a')]));
  assert.equal(v.holds, false);
  assert.deepEqual(JSON.parse(JSON.stringify(v)), v);
  assert.deepEqual(Object.keys(v.violation?.events[0] ?? {}).sort(), ['event', 'index']);
  assert.match(formatVerdicts([v]), /✗ agreement .*\n {4}#3 t=30 n1 deliver/);
});

test('a repeated broadcast identity is reported as workload-unique, not guessed', () => {
  const trace = timed([
    start('n1'),
    bcast('n1', { a: 1, b: 2 }), // 1
    dlv('n1', 'n1', 1, { a: 1, b: 2 }),
    bcast('n1', { b: 2, a: 1 }), // 3: the same identity
  ]);
  for (const check of [bebValidity, bcastNoDuplication, bcastNoCreation, agreement]) {
    const v = check(trace);
    assert.equal(v.property, 'workload-unique');
    assert.deepEqual(indices(v), [1, 3]);
  }
  const all = checkBroadcast(trace, 'causal');
  assert.equal(all.length, 1);
  const [only] = all;
  assert.ok(only !== undefined);
  assert.equal(only.property, 'workload-unique');
  assert.match(only.violation?.message ?? '', /broadcast twice \(#1 and #3\)/);
});

// ------------------------------------------------------------------ validity

test('validity: the earliest broadcast some correct process never delivered is the violation', () => {
  const trace = timed([
    ...starts('n1', 'n2'),
    bcast('n1', 'a'), // 2
    bcast('n1', 'b'), // 3: n1 itself never delivers it
    dlv('n1', 'n1', 1, 'a'),
    dlv('n2', 'n1', 1, 'a'),
    dlv('n2', 'n1', 2, 'b'),
    bcast('n2', 'c'), // 7: nobody delivers it
  ]);
  const v = bebValidity(trace);
  assert.equal(v.holds, false);
  assert.equal(v.kind, 'liveness');
  assert.deepEqual(indices(v), [3]);
  assert.match(v.violation?.message ?? '', /"b" of n1 broadcast at #3 .*correct n1$/);
  assert.equal(v.checked, 2);
});

test('validity: a delivery before the broadcast does not count', () => {
  const trace = timed([start('n1'), dlv('n1', 'n1', 1, 'a'), bcast('n1', 'a')]);
  assert.deepEqual(indices(bebValidity(trace)), [2]);
});

test('validity: rejected, faulty and interrupted broadcasts are not owed', () => {
  const rejected = timed([...starts('n1', 'n2'), bcast('n1', 'a', false)]);
  assertHolds(bebValidity(rejected));
  assert.equal(bebValidity(rejected).checked, 0);

  const interrupted = timed([
    ...starts('n1', 'n2'),
    bcast('n1', 'a'), // 2: its step is cut short
    crash('n1', 3),
    start('n1', 1), // n1 is back: correct in the crash-recover model
  ]);
  assertHolds(bebValidity(interrupted)); // crash-stop: n1 is faulty
  assertHolds(bebValidity(interrupted, { correct: 'up-at-end' })); // in doubt: not owed
  assert.equal(bebValidity(interrupted, { correct: 'up-at-end' }).checked, 0);

  // The same crash after the step completed: the broadcast is owed once n1 is back.
  const completed = timed([
    ...starts('n1', 'n2'),
    bcast('n1', 'a'),
    crash('n1', 0),
    start('n1', 1),
  ]);
  assertHolds(bebValidity(completed));
  assert.deepEqual(indices(bebValidity(completed, { correct: 'up-at-end' })), [2]);
  // An input of the node in between ends the step: a later crash does not interrupt it.
  const later = timed([
    ...starts('n1', 'n2'),
    bcast('n1', 'a'),
    { t: 0, type: 'timer', node: 'n1', name: 'x' },
    crash('n1', 2),
    start('n1', 1),
  ]);
  assert.deepEqual(indices(bebValidity(later, { correct: 'up-at-end' })), [2]);
});

test('validity: correct, byzantine and nodes options choose who must deliver', () => {
  const trace = timed([
    ...starts('n1', 'n2', 'n3'),
    bcast('n1', 'a'), // 3
    dlv('n1', 'n1', 1, 'a'),
    dlv('n2', 'n1', 1, 'a'),
    bcast('n3', 'c'), // 6: only n3 delivers it
    dlv('n3', 'n3', 1, 'c'),
  ]);
  assert.deepEqual(indices(bebValidity(trace)), [3]); // n3 never delivered "a"
  assert.deepEqual(indices(bebValidity(trace, { byzantine: ['n3'] })), []);
  assert.deepEqual(indices(bebValidity(trace, { correct: ['n1', 'n3'] })), [3]);
  assertHolds(bebValidity(trace, { correct: ['n1', 'n2'] }));
  // A process the trace never mentions still counts when the run's nodes are given.
  const v = bebValidity(trace, { byzantine: ['n3'], nodes: ['n1', 'n2', 'n3', 'n4'] });
  assert.deepEqual(indices(v), [3]);
  assert.match(v.violation?.message ?? '', /correct n4$/);
});

// ------------------------------------------------------------------ no duplication, no creation

test('no duplication: the first repeat at an honest process, shown with the first delivery', () => {
  const trace = timed([
    ...starts('n1', 'n2'),
    bcast('n1', 'a'), // 2
    dlv('n1', 'n1', 1, 'a'), // 3
    dlv('n2', 'n1', 1, 'a'), // 4
    dlv('n2', 'n1', 1, 'a'), // 5: repeat at n2
    dlv('n1', 'n1', 1, 'a'), // 6: repeat at n1
  ]);
  const v = bcastNoDuplication(trace);
  assert.equal(v.kind, 'safety');
  assert.deepEqual(indices(v), [4, 5]);
  assert.match(
    v.violation?.message ?? '',
    /n2 delivered \(n1, 1\) twice: "a" \(#4\) and "a" \(#5\)/,
  );
  assert.deepEqual(indices(bcastNoDuplication(trace, { byzantine: ['n2'] })), [3, 6]);
  // A crashed process is still bound by a safety property.
  assert.deepEqual(indices(bcastNoDuplication([...trace, crash('n2')])), [4, 5]);
});

test('no creation: deliveries without an earlier broadcast by their origin', () => {
  const never = timed([...starts('n1', 'n2'), dlv('n2', 'n1', 1, 'x')]);
  assert.deepEqual(indices(bcastNoCreation(never)), [2]);
  assert.match(bcastNoCreation(never).violation?.message ?? '', /n1 never broadcast it before/);

  const later = timed([dlv('n2', 'n1', 1, 'a'), bcast('n1', 'a')]);
  assert.match(bcastNoCreation(later).violation?.message ?? '', /comes later, at #1/);

  const rejected = timed([bcast('n1', 'a', false), dlv('n2', 'n1', 1, 'a')]);
  assert.deepEqual(indices(bcastNoCreation(rejected)), [1]);
  assert.match(bcastNoCreation(rejected).violation?.message ?? '', /at #0, was rejected/);

  const otherOrigin = timed([bcast('n1', 'a'), dlv('n2', 'n3', 1, 'a')]);
  assert.deepEqual(indices(bcastNoCreation(otherOrigin)), [1]);

  // A broadcast whose step was cut short still justifies its deliveries.
  const interrupted = timed([
    bcast('n1', { x: [1] }),
    crash('n1', 2),
    dlv('n2', 'n1', 1, { x: [1] }),
  ]);
  assertHolds(bcastNoCreation(interrupted));
});

test('no creation with Byzantine processes: only correct origins, at honest processes', () => {
  const trace = timed([
    ...starts('n1', 'n2', 'n3', 'n4'),
    dlv('n2', 'n4', 1, 'forged'), // 4: Byzantine origin: anything goes
    dlv('n4', 'n1', 1, 'lie'), // 5: a Byzantine process's own delivery: ignored
    crash('n3'),
    dlv('n2', 'n3', 1, 'old'), // 7: origin crashed: not correct, not checked
    dlv('n2', 'n1', 1, 'made-up'), // 8: correct origin n1 never broadcast it
  ]);
  assert.deepEqual(indices(bcastNoCreation(trace)), [4]);
  const v = bcastNoCreation(trace, { byzantine: ['n4'] });
  assert.deepEqual(indices(v), [8]);
  assert.equal(v.checked, 1);
});

// ------------------------------------------------------------------ agreement

/** n1 delivers "a" and crashes; "b" reaches everyone; "c" reaches only its origin n3. */
const agreementTrace = timed([
  ...starts('n1', 'n2', 'n3'), // 0..2
  bcast('n1', 'a'), // 3
  dlv('n1', 'n1', 1, 'a'), // 4
  crash('n1', 2), // 5
  bcast('n2', 'b'), // 6
  dlv('n2', 'n2', 1, 'b'),
  dlv('n3', 'n2', 1, 'b'),
  bcast('n3', 'c'), // 9
  dlv('n3', 'n3', 1, 'c'), // 10
]);

test('agreement: the earliest delivery at a correct process that another correct one lacks', () => {
  const v = agreement(agreementTrace);
  assert.equal(v.kind, 'liveness');
  assert.deepEqual(indices(v), [10]);
  assert.match(v.violation?.message ?? '', /correct n3 delivered "c" of n3 at #10 .*n2 never did/);
  assert.equal(v.checked, 2); // "b" and "c"; "a" was delivered only by faulty n1
  assertHolds(agreement(agreementTrace, { correct: ['n3'] }));
  assertHolds(agreement(agreementTrace, { byzantine: ['n2'] }));
});

test('uniform agreement: a delivery by a process that crashed later counts too', () => {
  const v = uniformAgreement(agreementTrace);
  assert.equal(v.kind, 'liveness');
  assert.deepEqual(indices(v), [4]);
  assert.match(v.violation?.message ?? '', /faulty n1 delivered "a" of n1 .*n2, n3 never did/);
  // Byzantine deliveries mean nothing: without n1's, the first is "c".
  assert.deepEqual(indices(uniformAgreement(agreementTrace, { byzantine: ['n1'] })), [10]);
  // Validity is about correct origins only: "c" (n3 correct) is the violation, "a" is not owed.
  assert.deepEqual(indices(bebValidity(agreementTrace)), [9]);
});

// ------------------------------------------------------------------ FIFO

test('FIFO: delivering m2 before an earlier broadcast m1 of the same origin is the violation', () => {
  const trace = timed([
    ...starts('n1', 'n2', 'n3'),
    bcast('n1', 'a'), // 3
    bcast('n1', 'b'), // 4
    bcast('n1', 'c'), // 5
    bcast('n2', 'x'), // 6
    dlv('n2', 'n1', 1, 'a'),
    dlv('n2', 'n2', 1, 'x'),
    dlv('n2', 'n1', 2, 'b'),
    dlv('n2', 'n1', 1, 'a'), // 10: a repeat: no duplication's business
    dlv('n3', 'n2', 1, 'x'),
    dlv('n3', 'n1', 1, 'a'),
    dlv('n3', 'n1', 3, 'c'), // 13: "b" is missing at n3
    dlv('n3', 'n1', 2, 'b'),
  ]);
  const v = fifoDelivery(trace);
  assert.equal(v.kind, 'safety');
  assert.deepEqual(indices(v), [4, 5, 13]);
  assert.match(v.violation?.message ?? '', /n3 delivered "c" of n1 \(#13\) before "b" of n1/);
  // Without the last two deliveries at n3 the order holds (a message never delivered is not a
  // FIFO violation).
  assertHolds(fifoDelivery(trace.slice(0, 13)));
  // Byzantine processes' deliveries are ignored; a crashed process is still bound.
  assertHolds(fifoDelivery(trace, { byzantine: ['n3'] }));
  assert.deepEqual(indices(fifoDelivery([...trace, crash('n3')])), [4, 5, 13]);
});

test('FIFO, agreement and uniform agreement bind honest origins only: a Byzantine origin orders and spreads its messages as it likes', () => {
  const trace = timed([
    ...starts('n1', 'n2', 'n3'),
    bcast('n3', 'a'), // 3
    bcast('n3', 'b'), // 4
    dlv('n1', 'n3', 2, 'b'), // 5: before "a", and n2 never delivers "b"
    dlv('n1', 'n3', 1, 'a'),
    dlv('n2', 'n3', 1, 'a'),
  ]);
  // Judged as honest, n3's messages break FIFO order and agreement.
  assert.deepEqual(indices(fifoDelivery(trace)), [3, 4, 5]);
  assert.equal(agreement(trace).holds, false);
  assert.equal(uniformAgreement(trace).holds, false);
  // n3 is Byzantine: no order or agreement is owed for its messages.
  for (const check of [fifoDelivery, agreement, uniformAgreement]) {
    assertHolds(check(trace, { byzantine: ['n3'] }));
  }
});

test('FIFO: a delivery never broadcast or broadcast later does not count as delivered', () => {
  const trace = timed([
    start('n1'),
    dlv('n2', 'n1', 1, 'a'), // 1: before its broadcast (no creation's business)
    bcast('n1', 'a'), // 2
    bcast('n1', 'b'), // 3
    dlv('n2', 'n1', 2, 'b'), // 4: "a" was not delivered after its broadcast
  ]);
  assert.deepEqual(indices(fifoDelivery(trace)), [2, 3, 4]);
});

// ------------------------------------------------------------------ causal

test('causal: m1 delivered by the broadcaster of m2 must be delivered before m2 (FIFO holds)', () => {
  const trace = timed([
    ...starts('n1', 'n2', 'n3'),
    bcast('n1', 'a'), // 3
    dlv('n1', 'n1', 1, 'a'),
    dlv('n2', 'n1', 1, 'a'), // 5: n2 now knows "a"
    bcast('n2', 'b'), // 6: so "a" happened-before "b"
    dlv('n2', 'n2', 1, 'b'),
    dlv('n3', 'n2', 1, 'b'), // 8: n3 has not delivered "a"
    dlv('n3', 'n1', 1, 'a'),
  ]);
  assertHolds(fifoDelivery(trace));
  const v = causalDelivery(trace);
  assert.equal(v.kind, 'safety');
  assert.deepEqual(indices(v), [3, 6, 8]);
  assert.match(
    v.violation?.message ?? '',
    /n3 delivered "b" of n2 \(#8\) before "a" of n1, though the broadcast of the latter \(#3\) happened-before that of the former \(#6\)/,
  );
  // Had n2 broadcast "b" BEFORE delivering "a", the two would be concurrent: any order is fine.
  const concurrent = timed([
    ...starts('n1', 'n2', 'n3'),
    bcast('n1', 'a'),
    bcast('n2', 'b'),
    dlv('n2', 'n1', 1, 'a'),
    dlv('n3', 'n2', 1, 'b'),
    dlv('n3', 'n1', 1, 'a'),
    dlv('n1', 'n1', 1, 'a'),
    dlv('n1', 'n2', 1, 'b'),
  ]);
  assertHolds(causalDelivery(concurrent));
});

test('causal: program order (FIFO) and transitive dependencies are causal too', () => {
  const sameOrigin = timed([
    ...starts('n1', 'n2'),
    bcast('n1', 'a'), // 2
    bcast('n1', 'b'), // 3
    dlv('n2', 'n1', 2, 'b'), // 4
  ]);
  assert.deepEqual(indices(causalDelivery(sameOrigin)), [2, 3, 4]);
  assert.match(causalDelivery(sameOrigin).violation?.message ?? '', /n1 broadcast it first/);

  // a (n1) → delivered at n2 → b (n2) → delivered at n3 → c (n3); n4 delivers only c.
  const chain = timed([
    ...starts('n1', 'n2', 'n3', 'n4'),
    bcast('n1', 'a'), // 4
    dlv('n2', 'n1', 1, 'a'),
    bcast('n2', 'b'), // 6
    dlv('n3', 'n1', 1, 'a'),
    dlv('n3', 'n2', 1, 'b'),
    bcast('n3', 'c'), // 9
    dlv('n4', 'n3', 1, 'c'), // 10: lacks "a" and "b"; "a" (origin n1, first in node order)
  ]);
  const v = causalDelivery(chain);
  assert.deepEqual(indices(v), [4, 9, 10]);
  // n4 delivering a, b, c in order is fine; b before a is not.
  const ok = [...chain.slice(0, 10), dlv('n4', 'n1', 1, 'a'), dlv('n4', 'n2', 1, 'b')];
  assertHolds(causalDelivery([...ok, dlv('n4', 'n3', 1, 'c')]));
  const bad = [...chain.slice(0, 10), dlv('n4', 'n2', 1, 'b')];
  assert.deepEqual(indices(causalDelivery(bad)), [4, 6, 10]);
});

test('causal: the past of a broadcast only grows with deliveries before it', () => {
  const trace = timed([
    ...starts('n1', 'n2', 'n3'),
    bcast('n2', 'b'), // 3: before n2 delivers "a"
    bcast('n1', 'a'), // 4
    dlv('n2', 'n1', 1, 'a'),
    bcast('n2', 'b2'), // 6: after: depends on "a" and "b"
    dlv('n3', 'n2', 1, 'b'), // fine: "b" is concurrent with "a"
    dlv('n3', 'n2', 2, 'b2'), // 8: "a" missing
  ]);
  assert.deepEqual(indices(causalDelivery(trace)), [4, 6, 8]);
  assertHolds(causalDelivery(trace.slice(0, 8)));
});

// ------------------------------------------------------------------ Byzantine reliable broadcast

/** n4 is Byzantine and equivocates: it sends "x" to n1, n2 and "y" to n3. */
const brbTrace = timed([
  ...starts('n1', 'n2', 'n3', 'n4'), // 0..3
  dlv('n1', 'n4', 1, 'x'), // 4
  dlv('n2', 'n4', 1, 'x'), // 5
  dlv('n4', 'n4', 1, 'evil'), // 6: a Byzantine delivery: ignored
  dlv('n3', 'n4', 1, 'y'), // 7: conflicts with #4
  dlv('n1', 'n4', 2, 'z'), // 8: nobody else delivers (n4, 2)
  dlv('n2', 'n4', 1, 'x2'), // 9: a second delivery for (n4, 1) at n2
]);

test('BRB consistency: two correct processes delivering different payloads for one (origin, n)', () => {
  const v = brbConsistency(brbTrace, { byzantine: ['n4'] });
  assert.equal(v.kind, 'safety');
  assert.deepEqual(indices(v), [4, 7]);
  assert.match(v.violation?.message ?? '', /correct n1 and n3 delivered different payloads/);
  // Without n3's delivery, consistency holds (n2's second payload is integrity's business).
  const noN3 = brbTrace.filter((_, i) => i !== 7);
  assertHolds(brbConsistency(noN3.slice(0, 8), { byzantine: ['n4'] }));
  assert.deepEqual(indices(brbConsistency(noN3, { byzantine: ['n4'] })), [4, 8]);
  // A process that is not correct is not bound.
  assertHolds(brbConsistency(brbTrace.slice(0, 9), { byzantine: ['n3', 'n4'] }));
});

test('BRB totality: every correct process delivers something for a delivered (origin, n)', () => {
  const v = brbTotality(brbTrace, { byzantine: ['n4'] });
  assert.equal(v.kind, 'liveness');
  assert.deepEqual(indices(v), [8]); // (n4, 1) was delivered by all (any payload), (n4, 2) not
  assert.match(v.violation?.message ?? '', /n2, n3 delivered nothing for it/);
  assertHolds(brbTotality(brbTrace.slice(0, 8), { byzantine: ['n4'] }));
});

test('BRB integrity: at most one delivery per (origin, n) at each correct process', () => {
  const v = brbIntegrity(brbTrace, { byzantine: ['n4'] });
  assert.equal(v.kind, 'safety');
  assert.deepEqual(indices(v), [5, 9]);
  assertHolds(brbIntegrity(brbTrace.slice(0, 9), { byzantine: ['n4'] }));
  // The Byzantine node's own deliveries never count.
  const byzDup = [...brbTrace.slice(0, 9), dlv('n4', 'n4', 1, 'again')];
  assertHolds(brbIntegrity(byzDup, { byzantine: ['n4'] }));
});

test('the BRB contract on an equivocating origin: no creation is only owed for correct origins', () => {
  const opts = { byzantine: ['n4'] };
  const verdicts = checkBroadcast(brbTrace, 'brb', opts);
  assert.deepEqual(
    verdicts.map((v) => [v.property, v.holds]),
    [
      ['validity', true],
      ['no-duplication', false], // n2 delivered two payloads for (n4, 1)
      ['no-creation', true],
      ['brb-consistency', false],
      ['brb-totality', false],
    ],
  );
  // A correct origin, delivered consistently everywhere, while n4 equivocates to nobody's harm.
  const fine = timed([
    ...starts('n1', 'n2', 'n3', 'n4'),
    bcast('n1', 'a'),
    dlv('n1', 'n1', 1, 'a'),
    dlv('n2', 'n1', 1, 'a'),
    dlv('n3', 'n1', 1, 'a'),
    dlv('n1', 'n4', 1, 'x'),
    dlv('n2', 'n4', 1, 'x'),
    dlv('n3', 'n4', 1, 'x'),
    dlv('n4', 'n4', 1, 'y'),
  ]);
  for (const v of checkBroadcast(fine, 'brb', opts)) assertHolds(v, `${v.property}: `);
  // Forged delivery in the name of correct n1: a creation.
  const forged = [...fine, dlv('n2', 'n1', 2, 'forged')];
  const nc = checkBroadcast(forged, 'brb', opts).find((v) => v.property === 'no-creation');
  assert.deepEqual(nc === undefined ? [] : indices(nc), [12]);
});

// ------------------------------------------------------------------ real simulations

const nodes = nodeIds(5);

/** Each node broadcasts `per` messages at increasing random times in [0, 300). */
function workload(seed: number, per: number): ScheduledCommand<BroadcastCommand>[] {
  const rng = createRng(seed ^ 0x5eed);
  const out: ScheduledCommand<BroadcastCommand>[] = [];
  for (const node of nodes) {
    const times = Array.from({ length: per }, () => rng.int(300)).sort((a, b) => a - b);
    times.forEach((at, k) =>
      out.push({ at, node, cmd: { type: 'broadcast', payload: `${node}#${k}` } }),
    );
  }
  return out;
}

type BroadcastStack = StackSpec<ReliableMsg, BroadcastCommand, BroadcastDeliver>;

const LOSSY = { lossProbability: 0.3 };
const HEAL = [{ at: 1500, action: { kind: 'heal-all', recoverCrashed: false } } as const];

test('5-node simulations under 30% loss: RB, URB, FIFO and causal contracts hold', () => {
  const cases = [
    ['rb', eagerReliableBroadcast()],
    ['urb', uniformReliableBroadcast()],
    ['fifo', fifoReliableBroadcast()],
    ['causal', causalBroadcast()],
  ] as const;
  for (const [kind, stack] of cases) {
    for (let seed = 1; seed <= 5; seed++) {
      const sim = new Simulator({
        seed,
        nodes,
        stack,
        network: LOSSY,
        nemesis: HEAL,
        workload: workload(seed, 3),
      }).runUntil(8000);
      const verdicts = checkBroadcast(sim.trace, kind);
      for (const v of verdicts) {
        assert.ok(v.holds, `${kind} seed=${seed}:\n${formatVerdicts(verdicts)}`);
        assert.ok(v.checked > 0, `${kind} seed=${seed}: ${v.property} checked nothing`);
      }
    }
  }
});

test('the order checkers catch real violations: eager RB is not FIFO, FIFO RB is not causal', () => {
  let fifoBroken: number | undefined;
  let causalBroken: number | undefined;
  for (
    let seed = 1;
    seed <= 30 && (fifoBroken === undefined || causalBroken === undefined);
    seed++
  ) {
    const run = (stack: BroadcastStack): TraceEvent[] =>
      new Simulator({ seed, nodes, stack, network: LOSSY, workload: workload(seed, 2) }).runUntil(
        1500,
      ).trace;
    if (fifoBroken === undefined) {
      const trace = run(eagerReliableBroadcast());
      const v = fifoDelivery(trace);
      if (!v.holds) {
        fifoBroken = seed;
        // The reported events really show it: m1 broadcast before m2 by the same origin, m2
        // delivered at a node that had not delivered m1 yet.
        const [m1, m2, d] = v.violation?.events ?? [];
        assert.ok(m1 && m2 && d, `seed=${seed}`);
        assert.ok(m1.event.type === 'command' && m2.event.type === 'command');
        assert.equal(m1.event.node, m2.event.node);
        assert.ok(d.event.type === 'deliver');
        const at = d.event.node;
        const p1 = (m1.event.cmd as { payload: unknown }).payload;
        assert.ok(
          !trace
            .slice(0, d.index)
            .some(
              (e) =>
                e.type === 'deliver' &&
                e.node === at &&
                (e.event as { payload: unknown }).payload === p1,
            ),
          `seed=${seed}: m1 was delivered at ${at} before`,
        );
      }
      for (const x of [bcastNoDuplication(trace), bcastNoCreation(trace)]) {
        assertHolds(x, `eager RB seed=${seed}: `);
      }
    }
    if (causalBroken === undefined) {
      const trace = run(fifoReliableBroadcast());
      assertHolds(fifoDelivery(trace), `fifo seed=${seed}: `);
      if (!causalDelivery(trace).holds) causalBroken = seed;
    }
  }
  assert.notEqual(fifoBroken, undefined, 'eager RB never broke FIFO order in 30 seeds');
  assert.notEqual(causalBroken, undefined, 'FIFO RB never broke causal order in 30 seeds');
});

// ------------------------------------------------------------------ performance

test('a 1M-event trace is checked in a few seconds (one index, linear passes)', () => {
  const ids = nodeIds(5);
  const trace: TraceEvent[] = ids.map((n) => start(n));
  for (let i = 0, t = 0; trace.length < 1_000_000; i++) {
    const origin = ids[i % 5] as string;
    const k = Math.floor(i / 5);
    const payload = `${origin}#${k}`;
    trace.push({ ...bcast(origin, payload), t: ++t });
    for (const q of ids) {
      if (q !== origin)
        trace.push({ t, type: 'send', id: i, from: origin, to: q, msg: {}, bytes: 10 });
      trace.push({ ...dlv(q, origin, k + 1, payload), t });
    }
  }
  const began = performance.now();
  const ix = indexBroadcastTrace(trace);
  const verdicts = [...checkBroadcast(ix, 'causal'), uniformAgreement(ix)];
  const ms = performance.now() - began;
  for (const v of verdicts) assertHolds(v, `${v.property}: `);
  assert.equal(verdicts[0]?.checked, 100_000);
  // A few seconds on a quiet machine; the bound leaves room for a loaded CI runner.
  assert.ok(ms < 30_000, `took ${Math.round(ms)} ms`);
});
