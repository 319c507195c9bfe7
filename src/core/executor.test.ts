import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SteadfastError } from './errors.ts';
import {
  decodeInbound,
  drainOutputs,
  FrameEncoder,
  messageKind,
  type OutputSink,
  type StepCrash,
} from './executor.ts';
import { encodeFrame } from './frame.ts';
import { encodePayload } from './payload.ts';
import { applyWrites, OutputQueue, type Output } from './protocol.ts';
import { instant } from './time.ts';
import { TimerQueue, TimerTable } from './timers.ts';

/** A protocol stub whose outputs are given up front. */
class Canned extends OutputQueue<unknown, string> {
  constructor(outputs: readonly Output<unknown, string>[]) {
    super();
    for (const o of outputs) this.emit(o);
  }
}

const STEP: readonly Output<unknown, string>[] = [
  { kind: 'send', to: 'b', msg: { type: 'a' } },
  { kind: 'persist', writes: [{ key: 'lz1', value: 1 }], lazy: true },
  { kind: 'persist', writes: [{ key: 'k', value: 1 }] },
  { kind: 'persist', writes: [{ key: 'lz2', value: 2 }], lazy: true },
  { kind: 'setTimer', name: 't', at: instant(5) },
  { kind: 'deliver', event: 'done' },
];

function recordingSink(log: string[], durable: Map<string, unknown>): OutputSink<unknown, string> {
  return {
    send: (o) => log.push(`send ${o.to}`),
    setTimer: (o) => log.push(`set ${o.name}@${o.at}`),
    cancelTimer: (o) => log.push(`cancel ${o.name}`),
    deliver: (o) => log.push(`deliver ${o.event}`),
    persist: (o, undoable) => {
      log.push(`persist ${o.writes.map((w) => w.key).join(',')}`);
      const before = new Map(durable);
      applyWrites(durable, o.writes);
      return undoable
        ? () => {
            durable.clear();
            for (const [k, v] of before) durable.set(k, v);
          }
        : undefined;
    },
  };
}

test('executor: carries out every output in order', () => {
  const log: string[] = [];
  const durable = new Map<string, unknown>();
  assert.equal(drainOutputs(new Canned(STEP), recordingSink(log, durable)), undefined);
  assert.deepEqual(log, [
    'send b',
    'persist lz1',
    'persist k',
    'persist lz2',
    'set t@5',
    'deliver done',
  ]);
  assert.deepEqual([...durable.keys()], ['lz1', 'k', 'lz2']);
});

test('executor: a crash between outputs loses the rest and undoes lazy writes not yet followed', () => {
  const cases: [number, StepCrash | undefined, string[]][] = [
    [0, { lostOutputs: 6, after: 'input', before: 'send', lostWrites: 0 }, []],
    [2, { lostOutputs: 4, after: 'persist', before: 'persist', lostWrites: 1 }, []],
    [3, { lostOutputs: 3, after: 'persist', before: 'persist', lostWrites: 0 }, ['lz1', 'k']],
    [5, { lostOutputs: 1, after: 'setTimer', before: 'deliver', lostWrites: 1 }, ['lz1', 'k']],
    [6, undefined, ['lz1', 'k', 'lz2']],
  ];
  for (const [at, crash, kept] of cases) {
    const log: string[] = [];
    const durable = new Map<string, unknown>();
    const proto = new Canned(STEP);
    assert.deepEqual(drainOutputs(proto, recordingSink(log, durable), at), crash, `at ${at}`);
    assert.equal(log.length, Math.min(at, STEP.length), `carried out before ${at}`);
    assert.deepEqual([...durable.keys()], kept, `durable after a crash at ${at}`);
    assert.equal(proto.pollOutput(), undefined, 'every output was polled');
  }
});

test('executor: frames are encodeFrame(encodePayload) byte for byte; unencodable is typed', () => {
  const enc = new FrameEncoder({ checksum: true });
  const msg = { type: 'data', seq: 3, payload: ['x', 1, null] };
  assert.deepEqual(
    enc.encode('a', 'b', msg),
    encodeFrame({ from: 'a', to: 'b', payload: encodePayload(msg) }, { checksum: true }),
  );
  assert.throws(
    () => enc.encode('a', 'b', { type: 'data', payload: () => 1 }),
    (err: unknown) =>
      err instanceof SteadfastError &&
      err.code === 'unencodable' &&
      err.message.includes("'data' message from a to b") &&
      err.message.includes('payload.payload'),
  );
  assert.throws(
    () => enc.encode('a', 'b', { kind: 'big', blob: 'x'.repeat(2 * 1024 * 1024) }),
    (err: unknown) =>
      err instanceof SteadfastError &&
      err.code === 'unencodable' &&
      err.message.includes("'big'") &&
      err.message.includes('frame-too-large'),
  );
  assert.equal(messageKind([1]), 'array');
  assert.equal(messageKind('s'), 'string');
});

test('executor: inbound decoding checks frame, addressee, payload and message, in that order', () => {
  const isMessage = (v: unknown): v is { type: string } =>
    typeof v === 'object' && v !== null && 'type' in v;
  const stack = { isMessage };
  const opts = { checksum: true };
  const frame = new FrameEncoder(opts).encode('a', 'b', { type: 'ping' });
  assert.deepEqual(decodeInbound(frame, opts, 'b', stack), {
    ok: true,
    from: 'a',
    msg: { type: 'ping' },
  });
  const flipped = new Uint8Array(frame);
  flipped[flipped.length - 6] = (flipped[flipped.length - 6] ?? 0) ^ 1;
  const bad = decodeInbound(flipped, opts, 'b', stack);
  assert.ok(!bad.ok);
  assert.equal(bad.reason, 'checksum');
  assert.equal(bad.from, undefined);
  const other = decodeInbound(frame, opts, 'c', stack);
  assert.deepEqual(other, {
    ok: false,
    from: 'a',
    reason: 'malformed',
    detail: 'frame addressed to b',
  });
  const notMsg = new FrameEncoder(opts).encode('a', 'b', 42);
  assert.deepEqual(decodeInbound(notMsg, opts, 'b', stack), {
    ok: false,
    from: 'a',
    reason: 'malformed',
    detail: 'not a message of this stack',
  });
});

test('timers: a replaced or cancelled arming never fires; generations survive clear()', () => {
  const t = new TimerTable();
  const g1 = t.arm('rto');
  const g2 = t.arm('rto');
  assert.equal(t.fire('rto', g1), false);
  assert.equal(t.fire('rto', g2), true);
  assert.equal(t.fire('rto', g2), false, 'fired once');
  const g3 = t.arm('x');
  t.clear();
  const g4 = t.arm('x');
  assert.notEqual(g3, g4);
  assert.equal(t.fire('x', g3), false);

  const q = new TimerQueue();
  q.arm('a', 10);
  q.arm('b', 5);
  q.arm('c', 5);
  q.arm('b', 20); // replaces b@5
  q.cancel('c');
  assert.equal(q.next(), 10);
  assert.equal(q.popDue(9), undefined);
  assert.equal(q.popDue(30), 'a');
  assert.equal(q.popDue(30), 'b');
  assert.equal(q.popDue(30), undefined);
  assert.equal(q.next(), undefined);
});
