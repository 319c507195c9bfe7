import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createRng } from '../../../core/rng.ts';
import { instant } from '../../../core/time.ts';
import { idemKey, parseKey, rxKey, seqKey, txKey } from './durable-keys.ts';
import { ReliableEndpoint } from './endpoint.ts';
import { MODES } from './wire.ts';
import { POLICY } from './policy.ts';
import { parseTimer, timerName } from './timers.ts';
import { RttEstimator } from './rtt.ts';
import type { StackSpec } from '../../../core/protocol.ts';
import { Pair } from '../../../sim/pair.ts';
import type { ReliableStats } from './out.ts';
import { isReliableMsg, type ReliableMsg, type ReliableSend } from './wire.ts';

const id = fc.string({ minLength: 1, maxLength: 12 });

test('durable keys: every key parses back to what was formatted, ids and keys with "/" included', () => {
  fc.assert(
    fc.property(id, fc.nat(), fc.string({ maxLength: 20 }), (peer, seq, key) => {
      assert.deepEqual(parseKey(seqKey(peer)), { kind: 'seq', peer });
      assert.deepEqual(parseKey(rxKey(peer)), { kind: 'rx', peer });
      assert.deepEqual(parseKey(txKey(peer, seq)), { kind: 'tx', peer, seq });
      assert.deepEqual(parseKey(idemKey(key)), { kind: 'key', key });
    }),
    { numRuns: 2000 },
  );
  assert.deepEqual(parseKey('app'), { kind: 'app' });
  assert.deepEqual(parseKey('applied'), { kind: 'applied' });
  for (const junk of ['', 'tx/', 'tx/a', 'tx/a/b', 'tx/a/-1', 'seq/', 'rx/', 'other/a']) {
    assert.equal(parseKey(junk), undefined, junk);
  }
});

test('timers: names parse back to { kind, peer } for every peer id; other names are not ours', () => {
  fc.assert(
    fc.property(fc.constantFrom('rto' as const, 'ack' as const), id, (kind, peer) => {
      assert.deepEqual(parseTimer(timerName({ kind, peer })), { kind, peer });
    }),
  );
  for (const junk of ['rto', 'x/n1', '', 'ackn1']) assert.equal(parseTimer(junk), undefined);
});

test('policy: one row per mode, and the rows are the guarantees the table in policy.ts states', () => {
  assert.deepEqual(Object.keys(POLICY).sort(), [...MODES].sort());
  // Only at-most-once sends once; only the durable modes keep a durable buffer.
  assert.deepEqual(
    MODES.filter((m) => !POLICY[m].retransmit),
    ['amo'],
  );
  assert.deepEqual(
    MODES.filter((m) => POLICY[m].durableBuffer),
    ['alo', 'eo'],
  );
  assert.deepEqual(
    MODES.filter((m) => !POLICY[m].dedup),
    ['alo'],
  );
  assert.deepEqual(
    MODES.filter((m) => POLICY[m].idempotencyKeys),
    ['eo'],
  );
});

test('RTT estimator: RFC 6298 arithmetic, backoff once per RTO interval, RTO kept in bounds', () => {
  const r = new RttEstimator({
    rtoInitialMs: 200,
    rtoMinMs: 100,
    rtoMaxMs: 1000,
    clockGranularityMs: 1,
  });
  assert.equal(r.rtoMs, 200);
  r.sample(40); // SRTT 40, RTTVAR 20, RTO 40 + 80 = 120
  assert.equal(r.srttMs, 40);
  assert.equal(r.rtoMs, 120);
  r.backoff(1000);
  assert.equal(r.rtoMs, 240);
  r.backoff(1100); // within the interval (until 1120): no second doubling
  assert.equal(r.rtoMs, 240);
  r.backoff(1120);
  assert.equal(r.rtoMs, 480);
  for (let t = 2000; t < 10_000; t += 2000) r.backoff(t);
  assert.equal(r.rtoMs, 1000);
  assert.equal(r.minRttMs, 40);
});

test('a node id containing "/" sends, restarts from its durable state and resends', () => {
  const ctx = { id: 'dc1/a', nodes: ['dc1/a', 'dc2/b'], rng: createRng(1) };
  const a = new ReliableEndpoint(ctx, { defaultMode: 'eo' });
  a.handleStart(instant(0), new Map());
  a.handleCommand(instant(0), { type: 'send', to: 'dc2/b', payload: 'x' });
  const durable = new Map<string, unknown>();
  for (let o = a.pollOutput(); o !== undefined; o = a.pollOutput()) {
    if (o.kind === 'persist') for (const w of o.writes) durable.set(w.key, w.value);
  }
  assert.ok(durable.has('tx/dc2/b/1'));
  const again = new ReliableEndpoint({ ...ctx, rng: createRng(2) }, { defaultMode: 'eo' });
  again.handleStart(instant(10), durable);
  const sent: { to: string; seq: unknown }[] = [];
  for (let o = again.pollOutput(); o !== undefined; o = again.pollOutput()) {
    if (o.kind === 'send') sent.push({ to: o.to, seq: (o.msg as { seq?: unknown }).seq });
  }
  assert.deepEqual(sent, [{ to: 'dc2/b', seq: 1 }]);
});

// ------------------------------------------------------------------ replay resistance (issue 19)

const rlSpec = (ackDelayMs: number): StackSpec<ReliableMsg, ReliableSend, unknown> => ({
  name: 'rl',
  create: (ctx) => new ReliableEndpoint(ctx, { defaultMode: 'eo', ackDelayMs }),
  isMessage: isReliableMsg,
});

/** Moves every message of `p` in flight across after `ms` of network delay, acks included. */
function crossAll(p: Pair<ReliableMsg, ReliableSend, unknown>, ms: number): void {
  p.advance(ms);
  while (p.inFlight.length > 0) {
    for (let n = p.inFlight.length; n > 0; n--) p.deliverOne(); // what is in flight now, at once
    p.advance(1); // an owed ack leaves on its ack-delay timer
  }
}

/**
 * Messages 0..4 at t=0 reach b 10 ms later (their data frames are captured), are acked; 5 s on,
 * one new message goes out and, with `replay`, b receives the 5 captured frames in the same ack
 * window just before it. Returns a's round-trip estimate afterwards.
 */
function replayRun(replay: boolean, ackDelayMs: number): { srtt: number; rto: number } {
  const p = new Pair(rlSpec(ackDelayMs));
  for (let i = 0; i < 5; i++) p.command('a', { type: 'send', to: 'b', payload: i });
  const captured = p.inFlight.filter((m) => m.msg.type === 'data');
  assert.equal(captured.length, 5);
  crossAll(p, 10);
  assert.equal(p.proto('a').stats().inFlight, 0);
  p.advance(5000);
  p.command('a', { type: 'send', to: 'b', payload: 5 });
  p.advance(10);
  if (replay) for (const m of captured) p.inFlight.unshift(m); // old copies arrive first
  crossAll(p, 0);
  const a = p.proto('a').stats() as ReliableStats;
  assert.equal(a.inFlight, 0, 'the new message is acked');
  assert.equal(p.deliveredTo('b').length, 6, 'replayed frames are not delivered again');
  if (replay) assert.ok((p.proto('b').stats() as ReliableStats).duplicatesDropped >= 5);
  return { srtt: a.srttMsMax, rto: a.rtoMsMax };
}

test('replay: old data frames replayed in the ack window of a new one do not move SRTT or the RTO', () => {
  for (const ackDelayMs of [0, 1]) {
    const clean = replayRun(false, ackDelayMs);
    const attacked = replayRun(true, ackDelayMs);
    // Before the fix the ack echoed the replayed frames' ts (5 s old): SRTT jumped to ~600 ms.
    assert.ok(clean.srtt < 20, `clean srtt ${clean.srtt}`);
    assert.deepEqual(attacked, clean, `ackDelayMs ${ackDelayMs}`);
  }
});

test('replay: an echo naming no transmission of what the ack settles gives no sample', () => {
  const p = new Pair(rlSpec(0));
  p.command('a', { type: 'send', to: 'b', payload: 'x' });
  crossAll(p, 10);
  const before = p.proto('a').stats() as ReliableStats;
  assert.equal(before.srttMsMax, 11); // the data crosses at 10 ms, its ack at 11
  // A replayed or forged ack echoing a time a never sent at, settling a real new message.
  p.advance(3000);
  p.command('a', { type: 'send', to: 'b', payload: 'y' });
  p.inFlight.length = 0; // lost
  p.advance(5);
  p.proto('a').handleMessage(instant(p.now), 'b', { type: 'ack', cum: 2, sack: [], ts: 1 });
  const after = p.proto('a').stats() as ReliableStats;
  assert.equal(after.inFlight, 0, 'the ack settles the message');
  assert.equal(after.srttMsMax, before.srttMsMax);
  assert.equal(after.rtoMsMax, before.rtoMsMax);
  // The same ack echoing the transmission's own time is a sample of 5 ms.
  p.advance(100);
  p.command('a', { type: 'send', to: 'b', payload: 'z' });
  const sentAt = p.now;
  p.inFlight.length = 0;
  p.advance(5);
  p.proto('a').handleMessage(instant(p.now), 'b', { type: 'ack', cum: 3, sack: [], ts: sentAt });
  assert.ok((p.proto('a').stats() as ReliableStats).srttMsMax < before.srttMsMax);
});

test('replay: a duplicate is acked, with its D-SACK, without echoing its ts (RFC 7323)', () => {
  const p = new Pair(rlSpec(0));
  p.command('a', { type: 'send', to: 'b', payload: 'x' });
  const [data] = p.inFlight;
  assert.ok(data !== undefined && data.msg.type === 'data');
  assert.equal(typeof data.msg.ts, 'number');
  crossAll(p, 10);
  p.inFlight.push(data); // the old frame again
  p.deliverOne();
  const [ack] = p.inFlight;
  assert.ok(ack !== undefined && ack.msg.type === 'ack');
  assert.equal(ack.msg.ts, undefined);
  assert.equal(ack.msg.dup, true);
  assert.equal(ack.msg.cum, 1);
});
