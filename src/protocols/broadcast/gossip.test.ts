import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  TARGET_DEFAULTS,
  TARGETS,
  targetRun,
  targetScenario,
  type TargetFigures,
} from '../../../bench/broadcast.ts';
import { brbIntegrity, checkBroadcast } from '../../check/broadcast.ts';
import { formatVerdicts } from '../../check/verdict.ts';
import { SteadfastError } from '../../core/errors.ts';
import { nodeIds, type NodeId } from '../../core/ids.ts';
import { applyWrites } from '../../core/protocol.ts';
import { createRng } from '../../core/rng.ts';
import { instant } from '../../core/time.ts';
import type { TraceEvent } from '../../core/trace.ts';
import { generateNemesis, type TimedAction } from '../../sim/nemesis.ts';
import type { LinkFaults } from '../../sim/network.ts';
import { Simulator, type ScheduledCommand } from '../../sim/simulator.ts';
import type { BroadcastCommand } from './base.ts';
import {
  GossipBroadcast,
  gossipBroadcast,
  gossipTopology,
  type GossipMsg,
  type GossipOptions,
} from './gossip.ts';

// ------------------------------------------------------------------------------ helpers

/** Every delivered (origin, n) carries the payload of the origin's n-th accepted broadcast. */
function numbersMatch(trace: readonly TraceEvent[]): string | undefined {
  const sent = new Map<NodeId, unknown[]>();
  for (const e of trace) {
    if (e.type === 'command' && e.accepted) {
      const list = sent.get(e.node) ?? [];
      list.push((e.cmd as BroadcastCommand).payload);
      sent.set(e.node, list);
    } else if (e.type === 'deliver') {
      const d = e.event as { origin: NodeId; n: number; payload: unknown };
      const want = sent.get(d.origin)?.[d.n - 1];
      if (want !== d.payload) {
        return `${e.node} delivered (${d.origin}, ${d.n}) = ${JSON.stringify(d.payload)} at t=${e.t}, but that broadcast was ${JSON.stringify(want)}`;
      }
    }
  }
  return undefined;
}

interface Case {
  readonly seed: number;
  readonly n: number;
  readonly network: Partial<LinkFaults>;
  readonly nemesis: readonly TimedAction[];
  readonly faultEndMs: number;
  readonly broadcasts: number;
  readonly gossip: GossipOptions;
}

/** Runs a case past the heal and asserts the reliable-broadcast contract (validity included). */
function runCase(c: Case): void {
  const nodes = nodeIds(c.n);
  const rng = createRng(c.seed).fork('test-workload');
  const workload: ScheduledCommand<BroadcastCommand>[] = [];
  for (let i = 0; i < c.broadcasts; i++) {
    workload.push({
      at: rng.int(c.faultEndMs),
      node: nodes[rng.int(c.n)] as NodeId,
      cmd: { type: 'broadcast', payload: `m${i}` },
    });
  }
  const sim = new Simulator({
    seed: c.seed,
    nodes,
    stack: gossipBroadcast(c.gossip),
    network: c.network,
    workload,
    nemesis: c.nemesis,
  });
  // Tail: enough rounds of anti-entropy for every pair after the heal.
  sim.runUntil(c.faultEndMs + 25_000);
  const verdicts = [...checkBroadcast(sim.trace, 'rb'), brbIntegrity(sim.trace)];
  const failed = verdicts.filter((v) => !v.holds);
  const where = `seed=${c.seed} n=${c.n} ${JSON.stringify(c.gossip)}`;
  assert.equal(failed.length, 0, `${where}\n${formatVerdicts(failed)}`);
  assert.equal(numbersMatch(sim.trace), undefined, where);
}

// ------------------------------------------------------------------------------ tests

describe('gossip broadcast: topology and options', () => {
  test('hubs are spread over the node list and every other node has exactly one hub', () => {
    for (const [n, h] of [
      [1, 1],
      [5, 1],
      [25, 3],
      [100, 5],
      [7, 7],
      [4, 9],
    ] as const) {
      const t = gossipTopology(n, h);
      assert.equal(t.hubs.length, Math.min(n, h));
      assert.equal(new Set(t.hubs).size, t.hubs.length);
      const members = [...t.groups.values()].flat();
      assert.equal(members.length + t.hubs.length, n);
      assert.equal(new Set([...members, ...t.hubs]).size, n);
    }
  });

  test('bad options are refused, naming the field', () => {
    assert.throws(() => gossipBroadcast({ batchMs: -1 }), SteadfastError);
    assert.throws(() => gossipBroadcast({ hubs: 0 }), /hubs/);
    assert.throws(() => gossipBroadcast({ storeMax: 1.5 }), /storeMax/);
  });

  test('hostile or malformed messages are dropped and counted, never thrown', () => {
    const nodes = nodeIds(4);
    const p = new GossipBroadcast({ id: 'n1', nodes, rng: createRng(1) });
    p.handleStart(instant(0), new Map());
    const bad: unknown[] = [
      { k: 'b', w: [1, 2], m: [] },
      { k: 'b', w: [], m: [{ o: 9, n: 1, v: 1 }] },
      { k: 'b', w: [], m: [{ o: 1, n: 0, v: 1 }] },
      { k: 'b', w: [], m: [{ o: 1, n: 1 }] },
      { k: 'r', w: [-1, 0, 0, 0], m: [] },
      { k: 'd', w: [], x: [], pull: false },
      { k: 'd', w: [0, 0, 0, 0], x: [[7, 1]], pull: true },
      { k: 'd', w: [0, 0, 0, 0], x: [[1, 0.5]], pull: true },
      { k: 'd', w: [0, 0, 0, 0], x: ['x'], pull: false },
    ];
    for (const m of bad) p.handleMessage(instant(1), 'n2', m as GossipMsg);
    p.handleMessage(instant(1), 'n9', { k: 'b', w: [], m: [] });
    assert.equal(p.stats().malformed, bad.length + 1);
    assert.equal(p.stats().delivered, 0);
  });

  test('a full store evicts (counted) instead of growing', () => {
    const sim = new Simulator({
      seed: 7,
      nodes: nodeIds(3),
      stack: gossipBroadcast({ storeMax: 5 }),
      network: { delay: { kind: 'fixed', ms: 10 } },
      nemesis: [{ at: 0, action: { kind: 'partition', groups: [['n1'], ['n2', 'n3']] } }],
      workload: Array.from({ length: 20 }, (_, i) => ({
        at: i,
        node: 'n1',
        cmd: { type: 'broadcast' as const, payload: i },
      })),
      record: false,
    });
    sim.runUntil(2000);
    const s = sim.protocol('n1')?.stats() ?? {};
    assert.equal(s.stored, 5);
    assert.equal(s.evicted, 15);
  });
});

describe('gossip broadcast: reliable-broadcast properties across seeds', () => {
  test('under loss and duplication (120 seeds, 3–8 nodes, 1–3 hubs)', () => {
    for (let seed = 1; seed <= 120; seed++) {
      const n = 3 + (seed % 6);
      runCase({
        seed,
        n,
        network: {
          lossProbability: 0.2,
          duplicateProbability: 0.1,
          duplicateMaxCopies: 2,
          delay: { kind: 'uniform', minMs: 1, maxMs: 40 },
        },
        nemesis: [{ at: 3000, action: { kind: 'heal-all', recoverCrashed: false } }],
        faultEndMs: 3000,
        broadcasts: 15,
        gossip: { hubs: 1 + (seed % 3) },
      });
    }
  });

  test('under partitions that heal, with loss and crash-stop crashes (120 seeds, 4–9 nodes)', () => {
    for (let seed = 1001; seed <= 1120; seed++) {
      const n = 4 + (seed % 6);
      const nodes = nodeIds(n);
      const nemesis = generateNemesis(createRng(seed).fork('nemesis'), nodes, {
        faultPhaseMs: 4000,
        crashes: seed % 3,
        maxDown: Math.floor((n - 1) / 2),
        recover: false,
        partitions: 3,
      });
      runCase({
        seed,
        n,
        network: { lossProbability: 0.05, delay: { kind: 'uniform', minMs: 5, maxMs: 60 } },
        nemesis,
        faultEndMs: 4000,
        broadcasts: 20,
        gossip: seed % 2 === 0 ? { hubs: 2, batchMs: 20 } : {},
      });
    }
  });
});

describe('gossip broadcast: the 25-node target scenario', () => {
  const print = (f: TargetFigures, seed: number): void => {
    console.log(
      `seed ${seed}: ${f.ops} ops (${f.broadcasts} broadcasts), ${f.messages} messages = ` +
        `${f.msgsPerOp.toFixed(2)} per op; latency (unaffected, n=${f.unaffected.count}) median ` +
        `${f.unaffected.median} ms, max ${f.unaffected.max} ms; all broadcasts max ${f.all.max} ms; ` +
        `repair after heal max ${f.repairAfterHeal.max} ms; lost ${f.lost}`,
    );
  };

  test('messages/op ≤ 20, median ≤ 400 ms, max ≤ 600 ms, 0 lost, at once (seeds 1–3)', () => {
    for (const seed of [1, 2, 3]) {
      const o = { ...TARGET_DEFAULTS, seed };
      const sc = targetScenario(o);
      assert.ok(sc.partitions.length > 0, 'the scenario has partitions');
      const f = targetRun('gossip', o, sc);
      print(f, seed);
      assert.ok(f.msgsPerOp <= TARGETS.msgsPerOp, `seed ${seed}: ${f.msgsPerOp} messages/op`);
      assert.ok(f.unaffected.median <= TARGETS.medianMs, `seed ${seed}: median`);
      assert.ok(f.unaffected.max <= TARGETS.maxMs, `seed ${seed}: max`);
      assert.equal(f.lost, 0, `seed ${seed}: lost`);
      assert.equal(f.duplicates, 0, `seed ${seed}: duplicates`);
      // Broadcasts cut off by a partition are repaired soon after the heal.
      assert.ok(f.repairAfterHeal.max <= 1500, `seed ${seed}: repair ${f.repairAfterHeal.max} ms`);
    }
  });
});

// ------------------------------------------------------------------------------ durable mode

describe('gossip: durable mode (logged-gossip-rb)', () => {
  /** Drains a node's outputs, applying its persists (lazy ones too) to `disk`. */
  const drain = (p: GossipBroadcast, disk: Map<string, unknown>): string[] => {
    const kinds: string[] = [];
    for (let o = p.pollOutput(); o !== undefined; o = p.pollOutput()) {
      kinds.push(o.kind);
      if (o.kind === 'persist') applyWrites(disk, o.writes);
    }
    return kinds;
  };
  const nodes = nodeIds(3);

  test('a broadcast and a first receipt are stored (mark, payload, log entry) before they are delivered', () => {
    const disk = new Map<string, unknown>();
    const p = new GossipBroadcast({ id: 'n1', nodes, rng: createRng(1) }, { durable: true });
    p.handleStart(instant(0), disk);
    drain(p, disk);
    p.handleCommand(instant(1), { type: 'broadcast', payload: 'a' });
    const kinds = drain(p, disk);
    assert.ok(kinds.indexOf('persist') >= 0 && kinds.indexOf('persist') < kinds.indexOf('deliver'));
    assert.equal(disk.get('gb'), 1);
    assert.deepEqual(disk.get('log'), { origin: 'n1', n: 1, payload: 'a' });
    assert.deepEqual(disk.get('gs/0/1'), { v: 'a' });
    p.handleMessage(instant(2), 'n2', { k: 'b', w: [0, 0, 0], m: [{ o: 1, n: 1, v: 'b' }] });
    const again = drain(p, disk);
    assert.ok(again.indexOf('persist') < again.indexOf('deliver'));
    assert.deepEqual(disk.get('log'), { origin: 'n2', n: 1, payload: 'b' });
  });

  test('a restart delivers nothing again, keeps its numbers, and serves what it stored', () => {
    const disk = new Map<string, unknown>();
    const ctx = { id: 'n1' as NodeId, nodes, rng: createRng(1) };
    const p = new GossipBroadcast(ctx, { durable: true });
    p.handleStart(instant(0), disk);
    p.handleCommand(instant(1), { type: 'broadcast', payload: 'a' });
    p.handleMessage(instant(2), 'n2', { k: 'b', w: [0, 0, 0], m: [{ o: 1, n: 1, v: 'b' }] });
    drain(p, disk);
    // Crash, restart from the disk: the same items arrive again, a new broadcast is number 2.
    const q = new GossipBroadcast({ ...ctx, rng: createRng(2) }, { durable: true });
    q.handleStart(instant(10), disk);
    drain(q, disk);
    q.handleMessage(instant(11), 'n2', { k: 'b', w: [1, 1, 0], m: [{ o: 1, n: 1, v: 'b' }] });
    assert.ok(!drain(q, disk).includes('deliver'), 'a stored delivery came back');
    q.handleCommand(instant(12), { type: 'broadcast', payload: 'c' });
    drain(q, disk);
    assert.deepEqual(disk.get('log'), { origin: 'n1', n: 2, payload: 'c' });
    // A peer that lacks n1's first broadcast gets it from the restored store.
    q.handleMessage(instant(2000), 'n3', { k: 'd', w: [0, 0, 0], x: [], pull: true });
    const sends: GossipMsg[] = [];
    for (let o = q.pollOutput(); o !== undefined; o = q.pollOutput()) {
      if (o.kind === 'send') sends.push(o.msg);
    }
    const items = sends.flatMap((m) => (m.k === 'd' ? [] : m.m));
    assert.ok(
      items.some((it) => it.o === 0 && it.n === 1 && it.v === 'a'),
      JSON.stringify(sends),
    );
  });

  test('crash-stop (the default) persists nothing', () => {
    const disk = new Map<string, unknown>();
    const p = new GossipBroadcast({ id: 'n1', nodes, rng: createRng(1) });
    p.handleStart(instant(0), disk);
    p.handleCommand(instant(1), { type: 'broadcast', payload: 'a' });
    assert.ok(!drain(p, disk).includes('persist'));
  });
});
