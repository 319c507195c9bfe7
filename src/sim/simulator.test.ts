import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeIds } from '../core/ids.ts';
import {
  OutputQueue,
  type DurableState,
  type NodeContext,
  type Protocol,
  type StackSpec,
} from '../core/protocol.ts';
import { addMs, type Instant } from '../core/time.ts';
import { toJsonLines, type TraceEvent } from '../core/trace.ts';
import { fairLossLink, type LinkSend } from '../protocols/link/fair-loss.ts';
import { generateNemesis } from './nemesis.ts';
import { SimulationError, Simulator, type ScheduledCommand } from './simulator.ts';
import { SteadfastError } from '../core/errors.ts';
import { createRng } from '../core/rng.ts';

const nodes = nodeIds(5);

/** Every node sends `perNode` messages to every other node, one per ms. */
function allToAll(perNode: number): ScheduledCommand<LinkSend>[] {
  const out: ScheduledCommand<LinkSend>[] = [];
  for (let k = 0; k < perNode; k++) {
    for (const from of nodes) {
      for (const to of nodes)
        if (to !== from)
          out.push({ at: k, node: from, cmd: { type: 'send', to, payload: `${from}:${to}:${k}` } });
    }
  }
  return out;
}

function count(
  trace: readonly TraceEvent[],
  type: TraceEvent['type'],
  pred: (e: TraceEvent) => boolean = () => true,
) {
  return trace.filter((e) => e.type === type && pred(e)).length;
}

function runFairLoss(
  seed: number,
  network: ConstructorParameters<typeof Simulator>[0]['network'] = {},
) {
  return new Simulator({
    seed,
    nodes,
    stack: fairLossLink,
    network,
    workload: allToAll(50),
  }).runToQuiescence();
}

test('same seed gives a byte-identical trace; a different seed a different one', () => {
  const net = {
    lossProbability: 0.2,
    duplicateProbability: 0.2,
    duplicateMaxCopies: 3,
    corruptProbability: 0.05,
  };
  const a = toJsonLines(runFairLoss(11, net).trace);
  const b = toJsonLines(runFairLoss(11, net).trace);
  const c = toJsonLines(runFairLoss(12, net).trace);
  assert.equal(a, b);
  assert.notEqual(a, c);
  assert.ok(a.length > 10_000);
});

test('loss drops about the configured share of sends', () => {
  const sim = runFairLoss(3, { lossProbability: 0.3 });
  const sends = count(sim.trace, 'send');
  const lost = count(sim.trace, 'drop', (e) => e.type === 'drop' && e.reason === 'loss');
  assert.equal(sends, 1000);
  assert.ok(lost > 240 && lost < 360, `lost ${lost} of ${sends}`);
  assert.equal(count(sim.trace, 'receive'), sends - lost);
});

test('duplication makes 1–3 extra copies that share the message id', () => {
  const sim = runFairLoss(4, { duplicateProbability: 0.5, duplicateMaxCopies: 3 });
  const dups = sim.trace.flatMap((e) => (e.type === 'duplicate' ? [e] : []));
  assert.ok(dups.length > 400 && dups.length < 600);
  for (const d of dups) assert.ok(d.copies >= 1 && d.copies <= 3);
  const extra = dups.reduce((s, d) => s + d.copies, 0);
  assert.equal(count(sim.trace, 'receive'), 1000 + extra);
  assert.ok(new Set(dups.map((d) => d.copies)).size === 3);
});

test('random delays reorder messages on a link; a fixed delay keeps order', () => {
  const order = (
    delay: { kind: 'fixed'; ms: number } | { kind: 'uniform'; minMs: number; maxMs: number },
  ) => {
    const sim = runFairLoss(5, { delay });
    return sim.trace
      .filter((e) => e.type === 'receive' && e.from === 'n1' && e.to === 'n2')
      .map((e) => (e.type === 'receive' ? e.id : 0));
  };
  const fixed = order({ kind: 'fixed', ms: 5 });
  assert.deepEqual(
    fixed,
    [...fixed].sort((x, y) => x - y),
  );
  const random = order({ kind: 'uniform', minMs: 1, maxMs: 100 });
  assert.notDeepEqual(
    random,
    [...random].sort((x, y) => x - y),
  );
});

test('with checksums, every corrupted frame is dropped as an omission', () => {
  const sim = runFairLoss(6, { corruptProbability: 0.2 });
  const corrupted = count(sim.trace, 'corrupt');
  assert.ok(corrupted > 150, `corrupted ${corrupted}`);
  // A flip in the CRC-covered body fails the checksum; a flip in the length or magic fields is
  // caught even earlier by the framing checks (malformed). Either way: an omission.
  const checksum = count(sim.trace, 'drop', (e) => e.type === 'drop' && e.reason === 'checksum');
  const framing = count(sim.trace, 'drop', (e) => e.type === 'drop' && e.reason === 'malformed');
  assert.equal(checksum + framing, corrupted);
  assert.ok(checksum > framing);
  const sent = new Map(
    sim.trace.flatMap((e) => (e.type === 'send' ? [[e.id, JSON.stringify(e.msg)]] : [])),
  );
  for (const e of sim.trace)
    if (e.type === 'receive') assert.equal(JSON.stringify(e.msg), sent.get(e.id));
});

test('without checksums, corruption gets through as different messages (creation)', () => {
  const sim = new Simulator({
    seed: 6,
    nodes,
    stack: fairLossLink,
    network: { corruptProbability: 0.2, corruptMaxBits: 1 },
    wire: { frame: { checksum: false } },
    workload: allToAll(50),
  }).runToQuiescence();
  const sent = new Map(
    sim.trace.flatMap((e) => (e.type === 'send' ? [[e.id, JSON.stringify(e.msg)]] : [])),
  );
  const altered = sim.trace.filter(
    (e) => e.type === 'receive' && JSON.stringify(e.msg) !== sent.get(e.id),
  );
  assert.ok(altered.length > 0, 'some flipped bit should go unnoticed');
  assert.equal(
    count(sim.trace, 'drop', (e) => e.type === 'drop' && e.reason === 'checksum'),
    0,
  );
});

test('symmetric and one-way partitions block links until healed', () => {
  const sim = new Simulator({
    seed: 7,
    nodes,
    stack: fairLossLink,
    network: { delay: { kind: 'fixed', ms: 1 } },
    nemesis: [
      {
        at: 0,
        action: {
          kind: 'partition',
          groups: [
            ['n1', 'n2'],
            ['n3', 'n4', 'n5'],
          ],
        },
      },
      { at: 10, action: { kind: 'heal' } },
      { at: 20, action: { kind: 'partition-oneway', from: ['n1'], to: ['n2'] } },
      { at: 30, action: { kind: 'heal' } },
    ],
    workload: [
      { at: 5, node: 'n1', cmd: { type: 'send', to: 'n3', payload: 'cut' } },
      { at: 5, node: 'n1', cmd: { type: 'send', to: 'n2', payload: 'same side' } },
      { at: 15, node: 'n1', cmd: { type: 'send', to: 'n3', payload: 'healed' } },
      { at: 25, node: 'n1', cmd: { type: 'send', to: 'n2', payload: 'one-way cut' } },
      { at: 25, node: 'n2', cmd: { type: 'send', to: 'n1', payload: 'reverse ok' } },
      { at: 35, node: 'n1', cmd: { type: 'send', to: 'n2', payload: 'healed again' } },
    ],
  }).runToQuiescence();
  const got = sim.trace.flatMap((e) =>
    e.type === 'deliver' ? [(e.event as { payload: string }).payload] : [],
  );
  assert.deepEqual(got.sort(), ['healed', 'healed again', 'reverse ok', 'same side']);
  assert.equal(
    count(sim.trace, 'drop', (e) => e.type === 'drop' && e.reason === 'partition'),
    2,
  );
});

/** A test protocol: persists every message it receives, and on start delivers what it recovered. */
class Journal
  extends OutputQueue<{ n: number }, string>
  implements Protocol<{ n: number }, number, string>
{
  constructor(private readonly ctx: NodeContext) {
    super();
  }
  handleStart(now: Instant, durable: DurableState): void {
    this.deliver(`recovered ${[...durable.values()].join(',')}`);
    this.setTimer('tick', addMs(now, 10));
  }
  handleMessage(_now: Instant, _from: string, msg: { n: number }): void {
    this.persist([{ key: `m${msg.n}`, value: msg.n }]);
    this.deliver(`got ${msg.n}`);
    this.deliver(`after ${msg.n}`);
  }
  handleTimer(now: Instant, name: string): void {
    this.deliver(`timer ${name}`);
    if (now < 25) this.setTimer('tick', addMs(now, 10));
  }
  handleCommand(_now: Instant, n: number): void {
    this.send(this.ctx.nodes[1] ?? '', { n });
  }
  stats() {
    return {};
  }
}
const journal: StackSpec<{ n: number }, number, string> = {
  name: 'journal',
  create: (ctx) => new Journal(ctx),
  isMessage: (v): v is { n: number } =>
    typeof v === 'object' && v !== null && typeof (v as { n?: unknown }).n === 'number',
};

test('crash-recover: volatile state and timers are lost, persisted records are replayed', () => {
  const sim = new Simulator({
    seed: 8,
    nodes: ['a', 'b'],
    stack: journal,
    network: { delay: { kind: 'fixed', ms: 1 } },
    nemesis: [
      { at: 12, action: { kind: 'crash', node: 'b' } },
      { at: 40, action: { kind: 'recover', node: 'b' } },
    ],
    workload: [
      { at: 1, node: 'a', cmd: 1 },
      { at: 2, node: 'a', cmd: 2 },
      { at: 20, node: 'a', cmd: 3 },
      { at: 30, node: 'b', cmd: 4 },
    ],
  }).runUntil(100);
  const b = sim.trace
    .filter((e) => e.type === 'deliver' && e.node === 'b')
    .map((e) => (e.type === 'deliver' ? e.event : ''));
  assert.deepEqual(b, [
    'recovered ',
    'got 1',
    'after 1',
    'got 2',
    'after 2',
    'timer tick',
    'recovered 1,2',
    'timer tick',
  ]);
  assert.equal(
    count(sim.trace, 'drop', (e) => e.type === 'drop' && e.reason === 'node-down'),
    1,
  );
  assert.equal(
    count(sim.trace, 'command', (e) => e.type === 'command' && !e.accepted),
    1,
  );
  assert.deepEqual(
    [...sim.durable('b')],
    [
      ['m1', 1],
      ['m2', 2],
    ],
  );
});

test('a crash between outputs carries out exactly the outputs before it', () => {
  for (const after of [0, 1, 2]) {
    const sim = new Simulator({
      seed: 9,
      nodes: ['a', 'b'],
      stack: journal,
      network: { delay: { kind: 'fixed', ms: 1 } },
      nemesis: [{ at: 5, action: { kind: 'crash', node: 'b', afterOutputs: after } }],
      workload: [{ at: 6, node: 'a', cmd: 7 }],
    }).runUntil(8);
    const crash = sim.trace.find((e) => e.type === 'crash');
    assert.ok(crash?.type === 'crash');
    assert.equal(crash.lostOutputs, 3 - after, `afterOutputs=${after}`);
    assert.equal(sim.durable('b').size, after >= 1 ? 1 : 0);
    const delivered = count(
      sim.trace,
      'deliver',
      (e) => e.type === 'deliver' && e.node === 'b' && e.event !== 'recovered ',
    );
    assert.equal(delivered, Math.max(0, after - 1));
  }
});

/** On a command: lazy write x, send, ordinary write s, lazy write y (over an old y), send. */
class LazyProbe
  extends OutputQueue<{ n: number }, string>
  implements Protocol<{ n: number }, number, string>
{
  constructor(private readonly ctx: NodeContext) {
    super();
  }
  handleStart(): void {
    if (this.ctx.id === 'a') this.persist([{ key: 'y', value: 'old' }]);
  }
  handleMessage(): void {
    // Nothing: b only receives.
  }
  handleTimer(): void {
    // No timers.
  }
  handleCommand(_now: Instant, n: number): void {
    const to = this.ctx.nodes[1] ?? '';
    this.persistLazy([{ key: 'x', value: n }]);
    this.send(to, { n });
    this.persist([{ key: 's', value: n }]);
    this.persistLazy([{ key: 'y', value: n }]);
    this.send(to, { n: n + 1 });
  }
  stats() {
    return {};
  }
}

test('a crash midway undoes the lazy writes no ordinary persist has followed yet', () => {
  const stack: StackSpec<{ n: number }, number, string> = {
    name: 'lazy-probe',
    create: (ctx) => new LazyProbe(ctx),
    isMessage: (v): v is { n: number } =>
      typeof v === 'object' && v !== null && typeof (v as { n?: unknown }).n === 'number',
  };
  const cases: [number, [string, unknown][], number | undefined, number][] = [
    // [afterOutputs, durable state of a after the crash, crash.lostWrites, frames sent]
    [1, [['y', 'old']], 1, 0],
    [2, [['y', 'old']], 1, 1],
    [
      3,
      [
        ['y', 'old'],
        ['x', 7],
        ['s', 7],
      ],
      undefined,
      1,
    ],
    [
      4,
      [
        ['y', 'old'],
        ['x', 7],
        ['s', 7],
      ],
      1,
      1,
    ],
  ];
  for (const [after, durable, lostWrites, sends] of cases) {
    const sim = new Simulator({
      seed: 10,
      nodes: ['a', 'b'],
      stack,
      network: { delay: { kind: 'fixed', ms: 1 } },
      nemesis: [{ at: 5, action: { kind: 'crash', node: 'a', afterOutputs: after } }],
      workload: [{ at: 6, node: 'a', cmd: 7 }],
    }).runUntil(8);
    const crash = sim.trace.find((e) => e.type === 'crash');
    assert.ok(crash?.type === 'crash');
    assert.equal(crash.lostWrites, lostWrites, `afterOutputs=${after}`);
    assert.deepEqual([...sim.durable('a')], durable, `afterOutputs=${after}`);
    assert.equal(count(sim.trace, 'send'), sends, `afterOutputs=${after}`);
    const lazy = sim.trace.filter((e) => e.type === 'persist' && e.node === 'a' && e.lazy);
    assert.equal(lazy.length, after >= 4 ? 2 : 1, 'lazy persists are marked in the trace');
  }
});

test('generated nemesis schedules are seeded, bounded and end healed', () => {
  const opts = { faultPhaseMs: 1000, crashes: 10, maxDown: 2, recover: true, partitions: 3 };
  const a = generateNemesis(createRng(1), nodes, opts);
  assert.deepEqual(a, generateNemesis(createRng(1), nodes, opts));
  assert.notDeepEqual(a, generateNemesis(createRng(2), nodes, opts));
  assert.deepEqual(a.at(-1), { at: 1000, action: { kind: 'heal-all', recoverCrashed: true } });
  for (const x of a) assert.ok(x.at >= 0 && x.at <= 1000);
  const sim = new Simulator({
    seed: 1,
    nodes,
    stack: fairLossLink,
    nemesis: a,
    workload: allToAll(20),
  });
  let maxDown = 0;
  const down = new Set<string>();
  for (const e of sim.runUntil(2000).trace) {
    if (e.type === 'crash') down.add(e.node);
    if (e.type === 'start') down.delete(e.node);
    maxDown = Math.max(maxDown, down.size);
  }
  assert.ok(maxDown <= 2 && maxDown >= 1, `max down ${maxDown}`);
  assert.equal(down.size, 0);
});

test('the trace exports as JSON Lines, one parseable event per line', () => {
  const sim = runFairLoss(10, { lossProbability: 0.1 });
  const lines = toJsonLines(sim.trace).trimEnd().split('\n');
  assert.equal(lines.length, sim.trace.length);
  for (const line of lines) {
    const e = JSON.parse(line) as { t: number; type: string };
    assert.equal(typeof e.t, 'number');
    assert.equal(typeof e.type, 'string');
  }
});

test('bad network settings are refused with the field named', () => {
  assert.throws(
    () => new Simulator({ seed: 1, nodes, stack: fairLossLink, network: { lossProbability: 2 } }),
    /lossProbability must be in \[0, 1\]/,
  );
  assert.throws(
    () =>
      new Simulator({ seed: 1, nodes, stack: fairLossLink, network: { duplicateMaxCopies: 4 } }),
    /duplicateMaxCopies/,
  );
  assert.throws(
    () =>
      new Simulator({
        seed: 1,
        nodes,
        stack: fairLossLink,
        network: { corruptProbability: 0.1 },
        wire: { encode: false },
      }),
    /corruption needs encoded frames/,
  );
});

test('an unencodable message stops the run with a typed error naming its kind and the seed', () => {
  class Unencodable
    extends OutputQueue<unknown, never>
    implements Protocol<unknown, number, never>
  {
    constructor(private readonly ctx: NodeContext) {
      super();
    }
    handleStart(): void {
      // nothing at start
    }
    handleMessage(): void {
      // never receives
    }
    handleTimer(): void {
      // no timers
    }
    handleCommand(): void {
      this.send(this.ctx.nodes[1] ?? '', { type: 'bad', payload: new Map() });
    }
    stats() {
      return {};
    }
  }
  const sim = new Simulator({
    seed: 77,
    nodes: ['a', 'b'],
    stack: {
      name: 'unencodable',
      create: (ctx) => new Unencodable(ctx),
      isMessage: (v): v is unknown => v !== undefined,
    },
    workload: [{ at: 1, node: 'a', cmd: 0 }],
  });
  assert.throws(
    () => sim.runUntil(5),
    (err: unknown) =>
      err instanceof SimulationError &&
      err.seed === 77 &&
      err.message.includes('seed=77') &&
      err.cause instanceof SteadfastError &&
      err.cause.code === 'unencodable' &&
      err.cause.message.includes("'bad' message from a to b"),
  );
});
