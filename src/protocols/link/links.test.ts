import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeIds } from '../../core/ids.ts';
import { Pair } from '../../sim/pair.ts';
import { Simulator, type ScheduledCommand } from '../../sim/simulator.ts';
import { fairLossLink } from './fair-loss.ts';
import { stubbornLink, type StubbornCommand } from './stubborn.ts';

test('pair: fair-loss link sends once and never retransmits', () => {
  const p = new Pair(fairLossLink);
  p.command('a', { type: 'send', to: 'b', payload: 'hello' });
  assert.equal(p.inFlight.length, 1);
  p.drop();
  p.advance(10_000);
  assert.equal(p.inFlight.length, 0);
  assert.deepEqual(p.deliveredTo('b'), []);
});

test('pair: fair-loss link delivers duplicates the network makes (no dedup)', () => {
  const p = new Pair(fairLossLink);
  p.command('a', { type: 'send', to: 'b', payload: 'x' });
  p.duplicate();
  p.deliverOne();
  assert.deepEqual(p.deliveredTo('b'), [
    { type: 'deliver', from: 'a', payload: 'x' },
    { type: 'deliver', from: 'a', payload: 'x' },
  ]);
});

test('pair: stubborn link retransmits on its timer until cancelled', () => {
  const p = new Pair(stubbornLink({ retransmitIntervalMs: 50, pendingMax: 4 }));
  p.command('a', { type: 'send', to: 'b', payload: 'm', ref: 'r1' });
  p.drop();
  assert.equal(p.armed('a').get('retransmit'), 50);
  p.advance(49);
  assert.equal(p.inFlight.length, 0);
  p.advance(1);
  assert.equal(p.inFlight.length, 1, 'resent at t=50');
  p.deliverOne();
  p.advance(50);
  p.deliverOne();
  assert.equal(p.deliveredTo('b').length, 2, 'stubborn delivery: every copy is delivered');
  p.command('a', { type: 'cancel', ref: 'r1' });
  assert.equal(p.armed('a').size, 0, 'timer disarmed when nothing is pending');
  p.advance(1000);
  assert.equal(p.inFlight.length, 0);
});

test('pair: stubborn link bounds its pending set and rejects bad commands', () => {
  const p = new Pair(stubbornLink({ retransmitIntervalMs: 50, pendingMax: 2 }));
  p.command('a', { type: 'send', to: 'b', payload: 1, ref: 'r1' });
  p.command('a', { type: 'send', to: 'b', payload: 2, ref: 'r2' });
  assert.throws(() => p.command('a', { type: 'send', to: 'b', payload: 3, ref: 'r3' }), {
    code: 'buffer-full',
  });
  assert.throws(() => p.command('a', { type: 'send', to: 'zz', payload: 3, ref: 'r4' }), {
    code: 'unknown-peer',
  });
  assert.throws(() => p.command('a', { type: 'send', to: 'b', payload: 3, ref: 'r1' }), {
    code: 'bad-argument',
  });
});

test('5-node simulation: stubborn link delivers every message at every destination under 30% loss', () => {
  const nodes = nodeIds(5);
  const workload: ScheduledCommand<StubbornCommand>[] = [];
  for (const from of nodes) {
    for (const to of nodes) {
      if (to === from) continue;
      for (let k = 0; k < 10; k++)
        workload.push({
          at: k * 3,
          node: from,
          cmd: { type: 'send', to, payload: `${from}>${to}#${k}`, ref: `${to}#${k}` },
        });
    }
  }
  for (const seed of [1, 2, 3, 4, 5]) {
    const sim = new Simulator({
      seed,
      nodes,
      stack: stubbornLink({ retransmitIntervalMs: 40, pendingMax: 1024 }),
      network: { lossProbability: 0.3, delay: { kind: 'uniform', minMs: 1, maxMs: 20 } },
      workload,
    }).runUntil(2000);
    const delivered = new Set<string>();
    for (const e of sim.trace)
      if (e.type === 'deliver')
        delivered.add(`${e.node}:${(e.event as { payload: string }).payload}`);
    const missing = workload.filter(
      (w) => w.cmd.type === 'send' && !delivered.has(`${w.cmd.to}:${w.cmd.payload as string}`),
    );
    assert.equal(missing.length, 0, `seed=${seed}: ${missing.length} never delivered`);
    const received = sim.trace.filter((e) => e.type === 'deliver').length;
    assert.ok(
      received > workload.length,
      `seed=${seed}: stubborn delivery repeats (${received} deliveries)`,
    );
  }
});
