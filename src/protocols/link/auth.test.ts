import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authenticity, noCreation, noDuplication } from '../../check/links.ts';
import type { FrameOptions } from '../../core/frame.ts';
import { hmacSha256, pairKeyRing } from '../../platform/node-mac.ts';
import type { TimedAction } from '../../sim/nemesis.ts';
import { Simulator } from '../../sim/simulator.ts';
import { channel } from '../delivery/guarantees.ts';
import { perfectLink } from './perfect.ts';

const nodes = ['n1', 'n2', 'n3'];
const secret = new TextEncoder().encode('a cluster secret for tests');
const AUTH: FrameOptions = { checksum: true, auth: { mac: hmacSha256, keys: pairKeyRing(secret) } };
const NO_AUTH: FrameOptions = { checksum: true };

/** n3 forges a data message to n2 that claims to come from n1. */
const forgery: TimedAction = {
  at: 50,
  action: {
    kind: 'forge',
    from: 'n3',
    as: 'n1',
    to: 'n2',
    msg: { type: 'data', seq: 7, floor: 7, mode: 'pl', payload: 'pay the attacker' },
  },
};

function run(frame: FrameOptions, nemesis: TimedAction[]) {
  return new Simulator({
    seed: 1,
    nodes,
    stack: perfectLink(),
    wire: { frame },
    nemesis,
    workload: [
      { at: 0, node: 'n1', cmd: { type: 'send', to: 'n2', payload: 'hello' } },
      { at: 10, node: 'n1', cmd: { type: 'send', to: 'n2', payload: 'world' } },
    ],
  }).runUntil(5000);
}

test('without authentication a forged message is delivered as if n1 sent it', () => {
  const sim = run(NO_AUTH, [forgery]);
  const forged = sim.trace.find(
    (e) => e.type === 'deliver' && (e.event as { payload: unknown }).payload === 'pay the attacker',
  );
  assert.ok(forged?.type === 'deliver');
  assert.equal((forged.event as { from: string }).from, 'n1');
  const v = authenticity(sim.trace);
  assert.equal(v.holds, false);
  assert.match(v.violation?.message ?? '', /pay the attacker/);
});

test('with HMAC-SHA256 per pair the forgery is dropped and counted; authenticity holds', () => {
  const sim = run(AUTH, [forgery]);
  const drops = sim.trace.filter((e) => e.type === 'drop' && e.reason === 'auth');
  assert.equal(drops.length, 1);
  assert.ok(authenticity(sim.trace).holds);
  assert.ok(noCreation(sim.trace).holds);
  assert.equal(sim.trace.filter((e) => e.type === 'deliver').length, 2);
});

test('a replayed genuine frame passes the HMAC but is not delivered twice', () => {
  for (const stack of [perfectLink(), channel({ guarantee: 'exactly-once' })]) {
    const sim = new Simulator({
      seed: 2,
      nodes,
      stack: stack as ReturnType<typeof perfectLink>,
      wire: { frame: AUTH },
      nemesis: [
        { at: 500, action: { kind: 'replay', id: 1 } },
        { at: 600, action: { kind: 'replay', id: 1 } },
      ],
      workload: [{ at: 0, node: 'n1', cmd: { type: 'send', to: 'n2', payload: 'once' } }],
    }).runUntil(5000);
    const replays = sim.trace.filter((e) => e.type === 'receive' && e.id > 1 && e.to === 'n2');
    assert.ok(replays.length >= 2, `${stack.name}: the replays reached n2`);
    assert.ok(noDuplication(sim.trace).holds, stack.name);
    assert.equal(sim.trace.filter((e) => e.type === 'deliver').length, 1, stack.name);
  }
});

test('tampering is caught by the HMAC even with checksums off', () => {
  const sim = new Simulator({
    seed: 3,
    nodes,
    stack: perfectLink(),
    network: { corruptProbability: 0.3, corruptMaxBits: 1 },
    wire: { frame: { ...AUTH, checksum: false } },
    workload: Array.from({ length: 50 }, (_, i) => ({
      at: i,
      node: 'n1',
      cmd: { type: 'send' as const, to: 'n2', payload: `m${i}` },
    })),
  }).runUntil(20_000);
  const corrupted = sim.trace.filter((e) => e.type === 'corrupt').length;
  const caught = sim.trace.filter(
    (e) => e.type === 'drop' && (e.reason === 'auth' || e.reason === 'malformed'),
  ).length;
  assert.ok(corrupted > 10);
  assert.equal(caught, corrupted);
  assert.ok(noCreation(sim.trace).holds);
});
