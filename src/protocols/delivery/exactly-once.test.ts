import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../../core/rng.ts';
import type { TraceEvent } from '../../core/trace.ts';
import type { TimedAction } from '../../sim/nemesis.ts';
import { Simulator, type ScheduledCommand } from '../../sim/simulator.ts';
import type { Effect } from '../link/reliable.ts';
import { channel, type ChannelSend, type Guarantee } from './guarantees.ts';

/** Test effect: the list of message ids applied, in order (grows; fine for a test). */
const audit: Effect = {
  init: [],
  apply: (state, _from, payload) => [...(state as string[]), (payload as { id: string }).id],
};

const MESSAGES = 30;
const FAULT_PHASE_MS = 3000;

function workload(): ScheduledCommand<ChannelSend>[] {
  return Array.from({ length: MESSAGES }, (_, i) => ({
    at: i * 50,
    node: 's',
    cmd: { type: 'send', to: 'r', payload: { id: `m${i}` } },
  }));
}

/** Crashes of both nodes at seeded times, each at a seeded point between outputs, each recovered. */
function crashSchedule(seed: number): TimedAction[] {
  const rng = createRng(seed);
  const out: TimedAction[] = [];
  for (let i = 0; i < 6; i++) {
    const node = rng.chance(0.7) ? 'r' : 's';
    const at = rng.int(FAULT_PHASE_MS - 400);
    const recoverAfterMs = 20 + rng.int(300);
    out.push({
      at,
      action: { kind: 'crash', node, afterOutputs: rng.int(3), withinMs: 200, recoverAfterMs },
    });
  }
  out.sort((a, b) => a.at - b.at);
  out.push({ at: FAULT_PHASE_MS, action: { kind: 'heal-all', recoverCrashed: true } });
  return out;
}

function run(guarantee: Guarantee, seed: number) {
  return new Simulator({
    seed,
    nodes: ['s', 'r'],
    stack: channel({ guarantee, effect: audit, rtoInitialMs: 100 }),
    network: {
      lossProbability: 0.2,
      duplicateProbability: 0.2,
      delay: { kind: 'uniform', minMs: 1, maxMs: 30 },
    },
    nemesis: crashSchedule(seed),
    workload: workload(),
  }).runUntil(30_000);
}

/**
 * Ids of sends the application really made: the command was accepted (the node was up) and the
 * step that took it was not cut short by a crash. A send cut short is indeterminate (like a
 * client call that timed out): it may take effect once or not at all, never twice.
 */
function sends(trace: readonly TraceEvent[]): { sure: Set<string>; maybe: Set<string> } {
  const sure = new Set<string>();
  const maybe = new Set<string>();
  for (let i = 0; i < trace.length; i++) {
    const e = trace[i];
    if (e?.type !== 'command' || !e.accepted) continue;
    const id = ((e.cmd as ChannelSend).payload as { id: string }).id;
    let interrupted = false;
    for (let j = i + 1; j < trace.length; j++) {
      const f = trace[j];
      if (f === undefined || f.type === 'command' || f.type === 'receive' || f.type === 'timer')
        break;
      if (f.type === 'crash' && f.node === e.node) interrupted = true;
    }
    (interrupted ? maybe : sure).add(id);
  }
  return { sure, maybe };
}

function crashPoints(trace: readonly TraceEvent[], node: string): Set<string> {
  const points = new Set<string>();
  for (const e of trace) {
    if (e.type === 'crash' && e.node === node && e.after !== undefined && e.before !== undefined) {
      points.add(`${e.after}→${e.before}`);
    }
  }
  return points;
}

test('exactly-once: across 60 seeds of crashes between outputs, every message is applied exactly once', () => {
  const receiverPoints = new Set<string>();
  const senderPoints = new Set<string>();
  for (let seed = 1; seed <= 60; seed++) {
    const sim = run('exactly-once', seed);
    for (const p of crashPoints(sim.trace, 'r')) receiverPoints.add(p);
    for (const p of crashPoints(sim.trace, 's')) senderPoints.add(p);
    const applied = (sim.durable('r').get('rl/app') ?? []) as string[];
    const counts = new Map<string, number>();
    for (const id of applied) counts.set(id, (counts.get(id) ?? 0) + 1);
    const twice = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
    const { sure, maybe } = sends(sim.trace);
    const lost = [...sure].filter((id) => !counts.has(id));
    const created = [...counts.keys()].filter((id) => !sure.has(id) && !maybe.has(id));
    assert.deepEqual(twice, [], `seed=${seed}: applied twice`);
    assert.deepEqual(lost, [], `seed=${seed}: never applied`);
    assert.deepEqual(created, [], `seed=${seed}: applied but never sent`);
    assert.ok(sure.size >= MESSAGES / 2, `seed=${seed}: too few sends to mean anything`);
    assert.equal(sim.protocol('s')?.stats().inFlight, 0, `seed=${seed}: sender buffer drained`);
  }
  // The receiver's data step is persist → deliver → send(ack): every gap was hit.
  for (const p of ['input→persist', 'persist→deliver', 'deliver→send']) {
    assert.ok(
      receiverPoints.has(p),
      `receiver never crashed at ${p}: ${[...receiverPoints].join(', ')}`,
    );
  }
  // The sender's send step is persist(tx) → send(data) → setTimer.
  for (const p of ['input→persist', 'persist→send']) {
    assert.ok(senderPoints.has(p), `sender never crashed at ${p}: ${[...senderPoints].join(', ')}`);
  }
});

test('the same crashes break at-least-once (applied twice) and at-most-once (lost), as they should', () => {
  let alTwice = 0;
  let amLost = 0;
  for (let seed = 1; seed <= 20; seed++) {
    const al = (run('at-least-once', seed).durable('r').get('rl/app') ?? []) as string[];
    alTwice += al.length - new Set(al).size;
    const am = (run('at-most-once', seed).durable('r').get('rl/app') ?? []) as string[];
    assert.equal(am.length, new Set(am).size, `seed=${seed}: at-most-once applied a message twice`);
    amLost += MESSAGES - am.length;
  }
  assert.ok(alTwice > 0, 'at-least-once should have applied some message twice');
  assert.ok(amLost > 0, 'at-most-once should have lost some message');
});

test('a restarted sender whose seqs jumped past the receiver window still gets through', () => {
  // A restart skips the rest of the reserved block (seqBlock 32), far beyond the receiver's
  // window (8): the window counts from the watermark the receiver will have once it sees the
  // frame's floor, not from its last cumulative ack, or nothing could ever be sent again.
  const sim = new Simulator({
    seed: 3,
    nodes: ['s', 'r'],
    stack: channel({
      guarantee: 'exactly-once',
      effect: audit,
      rtoInitialMs: 100,
      receiveWindowMax: 8,
      seqBlock: 32,
    }),
    network: { delay: { kind: 'fixed', ms: 5 } },
    nemesis: [
      { at: 500, action: { kind: 'crash', node: 's' } },
      { at: 600, action: { kind: 'recover', node: 's' } },
    ],
    workload: Array.from({ length: 20 }, (_, i) => ({
      at: i < 10 ? i * 10 : 1000 + i * 10,
      node: 's',
      cmd: { type: 'send' as const, to: 'r', payload: { id: `m${i}` } },
    })),
  }).runUntil(10_000);
  const applied = (sim.durable('r').get('rl/app') ?? []) as string[];
  assert.deepEqual(
    applied,
    Array.from({ length: 20 }, (_, i) => `m${i}`),
  );
  assert.equal(sim.protocol('s')?.stats().inFlight, 0);
});
