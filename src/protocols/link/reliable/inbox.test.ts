import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createRng } from '../../../core/rng.ts';
import type { Output } from '../../../core/protocol.ts';
import { instant } from '../../../core/time.ts';
import { inboxKey, parseKey } from './durable-keys.ts';
import { ReliableEndpoint } from './endpoint.ts';
import type { ReliableOptions } from './options.ts';
import type { DataMsg, ReliableDeliver, ReliableMsg } from './wire.ts';

const ctx = { id: 'r', nodes: ['s', 'r'], rng: createRng(1) };

/** Drains `e`, applying its persists to `durable` (a node's durable map). */
function drain(
  e: ReliableEndpoint,
  durable: Map<string, unknown>,
): Output<ReliableMsg, ReliableDeliver>[] {
  const outs: Output<ReliableMsg, ReliableDeliver>[] = [];
  for (let o = e.pollOutput(); o !== undefined; o = e.pollOutput()) {
    outs.push(o);
    if (o.kind === 'persist') {
      for (const w of o.writes) {
        if (w.value === null) durable.delete(w.key);
        else durable.set(w.key, w.value);
      }
    }
  }
  return outs;
}

const data = (seq: number, payload: unknown, key?: string): DataMsg =>
  key === undefined
    ? { type: 'data', seq, floor: 1, mode: 'eo', payload, ts: seq }
    : { type: 'data', seq, floor: 1, mode: 'eo', payload, key, ts: seq };

function receiver(opts: Partial<ReliableOptions>, durable: Map<string, unknown>) {
  const e = new ReliableEndpoint(ctx, { defaultMode: 'eo', ...opts });
  e.handleStart(instant(0), durable);
  return { e, outs: drain(e, durable) };
}

test('inbox: an exactly-once message is held in the same persist as its mark, before its ack; a full inbox neither marks nor acks', () => {
  const durable = new Map<string, unknown>();
  const { e } = receiver({ inboxMax: 2 }, durable);
  for (const seq of [1, 2]) {
    e.handleMessage(instant(seq), 's', data(seq, { i: seq }));
    const outs = drain(e, durable);
    const persist = outs.findIndex((o) => o.kind === 'persist');
    const deliver = outs.findIndex((o) => o.kind === 'deliver');
    const ack = outs.findIndex((o) => o.kind === 'send');
    assert.ok(persist >= 0 && persist < deliver && deliver < ack, 'persist, deliver, ack');
    const p = outs[persist];
    assert.ok(p?.kind === 'persist');
    const keys = p.writes.map((w) => w.key);
    assert.ok(keys.includes('rx/s') && keys.includes(inboxKey('s', seq)), keys.join(','));
    const d = outs[deliver];
    assert.ok(d?.kind === 'deliver');
    assert.equal(d.event.inbox, true);
    assert.equal(d.event.again, undefined);
  }
  // Full: seq 3 is dropped before its mark: nothing persisted, delivered or acked.
  e.handleMessage(instant(3), 's', data(3, { i: 3 }));
  assert.deepEqual(drain(e, durable), []);
  assert.equal(e.stats().inboxFullDropped, 1);
  assert.equal(e.stats().inbox, 2);
  assert.deepEqual(
    e.inboxEntries().map((x) => x.seq),
    [1, 2],
  );
  // The application acks seq 1: deleted durably; an ack again is a no-op.
  e.handleCommand(instant(4), { type: 'inbox-ack', from: 's', seq: 1 });
  assert.deepEqual(drain(e, durable), [
    { kind: 'persist', writes: [{ key: inboxKey('s', 1), value: null }] },
  ]);
  e.handleCommand(instant(4), { type: 'inbox-ack', from: 's', seq: 1 });
  assert.deepEqual(drain(e, durable), []);
  // Seq 3, retransmitted, now fits.
  e.handleMessage(instant(5), 's', data(3, { i: 3 }));
  const outs = drain(e, durable);
  assert.ok(outs.some((o) => o.kind === 'deliver' && o.event.seq === 3));
  assert.deepEqual([...durable.keys()].filter((k) => parseKey(k)?.kind === 'inbox').sort(), [
    inboxKey('s', 2),
    inboxKey('s', 3),
  ]);
});

test('inbox: after a restart what is still held is offered again (again: true), with its key; a duplicate is not held twice', () => {
  const durable = new Map<string, unknown>();
  const first = receiver({ inboxMax: 10 }, durable).e;
  first.handleMessage(instant(1), 's', data(1, 'a'));
  first.handleMessage(instant(2), 's', data(2, 'b', 'k2'));
  first.handleMessage(instant(3), 's', data(2, 'b', 'k2')); // a duplicate copy
  drain(first, durable);
  first.handleCommand(instant(4), { type: 'inbox-ack', from: 's', seq: 1 });
  drain(first, durable);
  // Restart (a crash after those commits): seq 2 comes back, seq 1 does not.
  const { e, outs } = receiver({ inboxMax: 10 }, durable);
  const offered = outs.filter((o) => o.kind === 'deliver').map((o) => o.event);
  assert.deepEqual(offered, [
    { type: 'deliver', from: 's', payload: 'b', seq: 2, mode: 'eo', inbox: true, again: true },
  ]);
  assert.deepEqual(e.inboxEntries(), [{ from: 's', seq: 2, payload: 'b', key: 'k2' }]);
  // The dedup mark came back too: a retransmission of seq 2 is dropped, not held twice.
  e.handleMessage(instant(5), 's', data(2, 'b', 'k2'));
  assert.ok(!drain(e, durable).some((o) => o.kind === 'deliver'));
  assert.equal(e.inboxEntries().length, 1);
});

test('inbox: off by default (no inbox keys, plain notifications); inbox-ack without one is misuse; at-least-once is never held', () => {
  const durable = new Map<string, unknown>();
  const { e } = receiver({}, durable);
  e.handleMessage(instant(1), 's', data(1, 'a'));
  const outs = drain(e, durable);
  const d = outs.find((o) => o.kind === 'deliver');
  assert.ok(d?.kind === 'deliver');
  assert.equal(d.event.inbox, undefined);
  assert.equal([...durable.keys()].filter((k) => k.startsWith('inbox/')).length, 0);
  assert.equal(e.stats().inbox, undefined);
  assert.throws(
    () => {
      e.handleCommand(instant(2), { type: 'inbox-ack', from: 's', seq: 1 });
    },
    { code: 'bad-argument' },
  );
  const withInbox = receiver({ inboxMax: 1 }, new Map()).e;
  withInbox.handleMessage(instant(1), 's', { ...data(1, 'x'), mode: 'alo' });
  const o2 = drain(withInbox, new Map());
  assert.ok(o2.some((o) => o.kind === 'deliver' && o.event.inbox === undefined));
  assert.equal(withInbox.inboxEntries().length, 0);
  assert.throws(() => new ReliableEndpoint(ctx, { inboxMax: 0 }), { code: 'bad-argument' });
});

test('inbox keys: every inbox key parses back to its peer and seq, ids with "/" included', () => {
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 12 }), fc.nat(), (peer, seq) => {
      assert.deepEqual(parseKey(inboxKey(peer, seq)), { kind: 'inbox', peer, seq });
    }),
    { numRuns: 2000 },
  );
  for (const junk of ['inbox/', 'inbox/a', 'inbox/a/b', 'inbox/a/-1']) {
    assert.equal(parseKey(junk), undefined, junk);
  }
});
