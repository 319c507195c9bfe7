/**
 * The logged (crash-recovery) broadcasts: persist-before-deliver on a single node, a restart
 * after a crash at every output of a step (nothing announced twice, nothing stored lost, the
 * owed relays sent again), bounded state under many messages, and simulated runs under
 * crash-recover judged by the matrix's own specification (the delivered log, logged-log.ts).
 *
 * SIZE. Over 600 lines: one harness (a node driven through the step executor, crashed between
 * any two outputs and restarted from its durable state) serves the tests of all six logged
 * broadcasts, Bracha's included.
 */

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { drainOutputs, type OutputSink } from '../../core/executor.ts';
import { nodeIds, type NodeId } from '../../core/ids.ts';
import { applyWrites, type Output, type Protocol, type StackSpec } from '../../core/protocol.ts';
import { createRng } from '../../core/rng.ts';
import { instant } from '../../core/time.ts';
import type { TraceEvent } from '../../core/trace.ts';
import { formatVerdicts } from '../../check/verdict.ts';
import { findProtocol } from '../../matrix/registry.ts';
import { materialize, runSpec, type FaultModel } from '../../matrix/spec.ts';
import { Simulator, type ScheduledCommand } from '../../sim/simulator.ts';
import type { DataMsg, ReliableMsg } from '../link/reliable.ts';
import type { BroadcastCommand, BroadcastDeliver } from './base.ts';
import {
  loggedBestEffortBroadcast,
  loggedCausalBroadcast,
  loggedEagerReliableBroadcast,
  loggedFifoReliableBroadcast,
  parseLoggedKey,
  seenKey,
  slotKey,
} from './logged.ts';
import { loggedBrachaBroadcast } from './logged-bracha.ts';
import { LOG_KEY, loggedDelivery, logView, type LogEntry } from './logged-log.ts';
import { loggedUniformBroadcast } from './logged-uniform.ts';

type Stack = StackSpec<ReliableMsg, BroadcastCommand, BroadcastDeliver>;
type Out = Output<ReliableMsg, BroadcastDeliver>;

const STACKS: readonly [string, () => Stack][] = [
  ['logged-beb', () => loggedBestEffortBroadcast()],
  ['logged-urb', () => loggedUniformBroadcast()],
  ['logged-eager-rb', () => loggedEagerReliableBroadcast()],
  ['logged-fifo-rb', () => loggedFifoReliableBroadcast()],
  ['logged-causal', () => loggedCausalBroadcast()],
];

const ROWS = STACKS.map(([name]) => name);

/** One node driven by hand through the step executor, with durable state and crashes. */
class Node {
  readonly durable = new Map<string, unknown>();
  /** Every output carried out, across incarnations. */
  readonly outputs: Out[] = [];
  /** Every entry appended to the delivered log (ordinary persists only: never undone). */
  readonly appended: LogEntry[] = [];
  readonly notified: BroadcastDeliver[] = [];
  private incarnation = 0;
  proto!: Protocol<ReliableMsg, BroadcastCommand, BroadcastDeliver>;
  /** Index in `outputs` where the current incarnation began. */
  bootedAt = 0;

  constructor(
    private readonly stack: Stack,
    readonly id: NodeId,
    readonly nodes: readonly NodeId[],
  ) {
    this.boot();
  }

  private readonly sink: OutputSink<ReliableMsg, BroadcastDeliver> = {
    send: (o) => void this.outputs.push(o),
    setTimer: (o) => void this.outputs.push(o),
    cancelTimer: (o) => void this.outputs.push(o),
    deliver: (o) => {
      this.outputs.push(o);
      this.notified.push(o.event);
    },
    persist: (o, undoable) => {
      this.outputs.push(o);
      const before = o.writes.map((w) => [w.key, this.durable.get(w.key)] as const);
      applyWrites(this.durable, o.writes);
      for (const w of o.writes) if (w.key === LOG_KEY) this.appended.push(w.value as LogEntry);
      if (!undoable) return undefined;
      return () => {
        for (const [key, value] of before.reverse()) {
          if (value === undefined) this.durable.delete(key);
          else this.durable.set(key, value);
        }
      };
    },
  };

  /** Runs one input; with `crashAfter`, the step is cut after that many outputs (a crash). */
  step(
    input: (p: Protocol<ReliableMsg, BroadcastCommand, BroadcastDeliver>) => void,
    crashAfter?: number,
  ): boolean {
    input(this.proto);
    return drainOutputs(this.proto, this.sink, crashAfter) !== undefined;
  }

  /** A crash (volatile state lost) and a restart from the durable state. */
  boot(): void {
    this.proto = this.stack.create({
      id: this.id,
      nodes: this.nodes,
      rng: createRng(1).fork(`${this.id}:${this.incarnation++}`),
    });
    this.bootedAt = this.outputs.length;
    this.step((p) => {
      p.handleStart(instant(0), new Map(this.durable));
    });
  }

  /** Data sends (first transmissions and resends) since index `from`: [to, broadcast msg]. */
  dataSends(from = 0): [NodeId, Record<string, unknown>][] {
    const out: [NodeId, Record<string, unknown>][] = [];
    for (const o of this.outputs.slice(from)) {
      if (o.kind === 'send' && o.msg.type === 'data') {
        out.push([o.to, o.msg.payload as Record<string, unknown>]);
      }
    }
    return out;
  }
}

function data(seq: number, payload: unknown): DataMsg {
  return { type: 'data', seq, floor: 0, mode: 'alo', payload };
}

/** The message `origin` sends for its broadcast number `n` in `row`'s wire format. */
function wireMsg(row: string, origin: NodeId, n: number, payload: unknown, width: number) {
  switch (row) {
    case 'logged-beb':
      return { k: 'lbeb', o: origin, n, payload };
    case 'logged-urb':
      return { k: 'lurb', o: origin, n, payload };
    case 'logged-causal':
      return { k: 'lrb', o: origin, n, payload: { vc: new Array<number>(width).fill(0), payload } };
    default:
      return { k: 'lrb', o: origin, n, payload };
  }
}

/** Each deliver output comes right after the persist whose `log` write is that delivery. */
function assertPersistThenDeliver(outputs: readonly Out[], what: string): number {
  let delivers = 0;
  outputs.forEach((o, i) => {
    if (o.kind !== 'deliver') return;
    delivers++;
    const before = outputs[i - 1];
    assert.ok(
      before?.kind === 'persist' && before.lazy !== true,
      `${what}: deliver #${i} follows a persist`,
    );
    const log = before.writes.find((w) => w.key === LOG_KEY)?.value as LogEntry | undefined;
    assert.deepEqual(
      log,
      { origin: o.event.origin, n: o.event.n, payload: o.event.payload },
      `${what}: the persist before deliver #${i} logs it`,
    );
  });
  return delivers;
}

describe('logged broadcasts on one node', () => {
  for (const [row, stack] of STACKS) {
    test(`${row}: a broadcast is stored before anything goes out; every delivery after its persist`, () => {
      const nodes = nodeIds(3);
      const a = new Node(stack(), 'n1', nodes);
      const start = a.outputs.length;
      a.step((p) => {
        p.handleCommand(instant(1), { type: 'broadcast', payload: 'x' });
      });
      const first = a.outputs[start];
      assert.ok(first?.kind === 'persist' && first.lazy !== true, `${row}: first output`);
      assert.ok(first.writes.some((w) => w.key === 'bcast' && w.value === 1));
      // A message from n2, then its relay by n3 (URB's majority), then a duplicate.
      const m = wireMsg(row, 'n2', 1, 'y', nodes.length);
      a.step((p) => {
        p.handleMessage(instant(2), 'n2', data(1, m));
      });
      a.step((p) => {
        p.handleMessage(instant(3), 'n3', data(1, m));
      });
      a.step((p) => {
        p.handleMessage(instant(4), 'n2', data(1, m));
      });
      const delivers = assertPersistThenDeliver(a.outputs, row);
      const expected = row === 'logged-urb' ? 1 : 2; // URB's own one waits for a majority
      assert.equal(delivers, expected, `${row}: each delivered once`);
      assert.deepEqual(
        a.notified.map((d) => d.payload).sort(),
        expected === 2 ? ['x', 'y'] : ['y'],
      );
    });
  }

  test('FIFO: a message with a gap below it is stored held back, then released in order', () => {
    const a = new Node(loggedFifoReliableBroadcast(), 'n1', nodeIds(3));
    a.step((p) => {
      p.handleMessage(instant(1), 'n2', data(1, wireMsg('', 'n2', 2, 'b', 3)));
    });
    assert.equal(a.notified.length, 0);
    assert.equal(a.durable.get(slotKey('held', 'n2', 2)), 'b');
    a.boot(); // the held message survives a restart
    a.step((p) => {
      p.handleMessage(instant(2), 'n2', data(2, wireMsg('', 'n2', 1, 'a', 3)));
    });
    assert.deepEqual(
      a.notified.map((d) => d.payload),
      ['a', 'b'],
    );
    assert.equal(a.durable.has(slotKey('held', 'n2', 2)), false);
    assertPersistThenDeliver(a.outputs, 'fifo');
  });

  for (const row of ['logged-fifo-rb', 'logged-causal']) {
    test(`${row}: a crash in the middle of a release; the restart finishes it, in order, once`, () => {
      const stack = row === 'logged-fifo-rb' ? loggedFifoReliableBroadcast : loggedCausalBroadcast;
      // n2's messages 2, 3, 4 arrive first (held back), then 1 releases all four.
      const msg = (n: number) =>
        row === 'logged-fifo-rb'
          ? wireMsg(row, 'n2', n, `m${n}`, 3)
          : { k: 'lrb', o: 'n2', n, payload: { vc: [0, n - 1, 0], payload: `m${n}` } };
      const probe = new Node(stack(), 'n1', nodeIds(3));
      for (const n of [4, 2, 3]) {
        probe.step((p) => {
          p.handleMessage(instant(n), 'n2', data(n, msg(n)));
        });
      }
      const at = probe.outputs.length;
      probe.step((p) => {
        p.handleMessage(instant(9), 'n2', data(1, msg(1)));
      });
      const total = probe.outputs.length - at;
      assert.deepEqual(
        probe.notified.map((d) => d.n),
        [1, 2, 3, 4],
      );
      for (let k = 0; k <= total; k++) {
        const a = new Node(stack(), 'n1', nodeIds(3));
        for (const n of [4, 2, 3]) {
          a.step((p) => {
            p.handleMessage(instant(n), 'n2', data(n, msg(n)));
          });
        }
        a.step((p) => {
          p.handleMessage(instant(9), 'n2', data(1, msg(1)));
        }, k);
        a.boot();
        if (k === 0) {
          a.step((p) => {
            p.handleMessage(instant(10), 'n2', data(1, msg(1)));
          });
        }
        assert.deepEqual(
          a.appended.map((e) => e.n),
          [1, 2, 3, 4],
          `${row}, crash after ${k} of ${total}: logged once each, in order`,
        );
        assert.deepEqual(
          [...a.durable.keys()].filter((key) => key.startsWith('held/')),
          [],
          `${row}, crash after ${k}: nothing left held`,
        );
        assertPersistThenDeliver(a.outputs, `${row}, crash after ${k}`);
      }
    });
  }
});

/**
 * Crash n2 after every prefix of one step's outputs (a first receipt from n1, or its own
 * broadcast), restart it, and check: nothing it logged is announced again, the message ends up
 * in its log exactly once, and the sends it owed (to everyone but the origin) go out again.
 */
describe('logged broadcasts: a crash at every output of a step, then a restart', () => {
  for (const [row, stack] of STACKS) {
    const own = row === 'logged-beb'; // BEB relays nothing: crash its own broadcast's step
    test(`${row}: ${own ? 'own broadcast' : 'first receipt'} cut after k outputs`, () => {
      const nodes = nodeIds(4);
      const origin: NodeId = own ? 'n2' : 'n1';
      const m = wireMsg(row, origin, 1, 'm', nodes.length);
      const input = (p: Protocol<ReliableMsg, BroadcastCommand, BroadcastDeliver>): void => {
        if (own) p.handleCommand(instant(1), { type: 'broadcast', payload: 'm' });
        else p.handleMessage(instant(1), 'n1', data(1, m));
      };
      const total = (() => {
        const probe = new Node(stack(), 'n2', nodes);
        const at = probe.outputs.length;
        probe.step(input);
        return probe.outputs.length - at;
      })();
      assert.ok(total >= 3, `${row}: the step has outputs (${total})`);
      // URB sends to everyone (its acknowledgement); the others to everyone but origin and sender.
      const owedTo = nodes.filter((q) => q !== 'n2' && (row === 'logged-urb' || q !== origin));
      for (let k = 0; k <= total; k++) {
        const what = `${row}, crash after ${k} of ${total} outputs`;
        const b = new Node(stack(), 'n2', nodes);
        b.step(input, k);
        const stored = b.appended.length;
        const notifiedBefore = b.notified.length;
        b.boot();
        const afterBoot = b.bootedAt;
        // Nothing is announced again at start, and what is stored is never lost.
        assert.equal(b.notified.length, notifiedBefore, `${what}: no delivery at start`);
        if (k === 0) {
          assert.equal(
            b.durable.size,
            0,
            `${what}: a step cut before its first output left nothing`,
          );
          if (own) continue; // the command never happened
          b.step((p) => {
            p.handleMessage(instant(5), 'n1', data(1, m));
          }); // n1 resends it
        }
        if (row === 'logged-urb') {
          // The others' acknowledgements (their relays, or answers to the re-ask).
          for (const q of ['n3', 'n4'] as const) {
            b.step((p) => {
              p.handleMessage(instant(6), q, data(1, m));
            });
          }
        }
        // Late copies: the origin's link resending, a relay.
        b.step((p) => {
          p.handleMessage(instant(7), 'n1', data(2, m));
        });
        b.step((p) => {
          p.handleMessage(instant(8), 'n3', data(2, m));
        });
        const logged = b.appended.filter((e) => e.origin === origin && e.n === 1);
        assert.equal(
          logged.length,
          1,
          `${what}: in the log exactly once (stored before: ${stored})`,
        );
        assert.ok(b.notified.length <= b.appended.length, `${what}: notifications ≤ appends`);
        assert.ok(
          b.notified.filter((d) => d.origin === origin && d.n === 1).length <= 1,
          `${what}: announced at most once`,
        );
        // What it owed went out (again) after the restart, or at once when nothing was stored.
        const sentAfter = new Set(
          b
            .dataSends(afterBoot)
            .filter(([, p]) => p.o === origin && p.n === 1)
            .map(([to]) => to),
        );
        for (const q of owedTo)
          assert.ok(sentAfter.has(q), `${what}: sent to ${q} after the restart`);
        assertPersistThenDeliver(b.outputs, what);
      }
    });
  }

  test('an owed record outlives the step exactly when a crash lost some of its sends', () => {
    const nodes = nodeIds(4);
    const m = wireMsg('logged-eager-rb', 'n1', 1, 'm', 4);
    const probe = new Node(loggedEagerReliableBroadcast(), 'n2', nodes);
    const at = probe.outputs.length;
    probe.step((p) => {
      p.handleMessage(instant(1), 'n1', data(1, m));
    });
    const total = probe.outputs.length - at;
    assert.equal(probe.durable.has(slotKey('owed', 'n1', 1)), false, 'a whole step owes nothing');
    for (let k = 1; k < total; k++) {
      const b = new Node(loggedEagerReliableBroadcast(), 'n2', nodes);
      b.step((p) => {
        p.handleMessage(instant(1), 'n1', data(1, m));
      }, k);
      assert.equal(b.durable.has(slotKey('owed', 'n1', 1)), true, `crash after ${k}: owed`);
      b.boot();
      assert.equal(b.durable.has(slotKey('owed', 'n1', 1)), false, `crash after ${k}: resent`);
    }
  });
});

describe('logged broadcasts: bounded state', () => {
  test('many messages, reordered and lost: per-origin watermark + small window; nothing left owed', () => {
    for (const [row, stack] of STACKS) {
      const nodes = nodeIds(3);
      const workload: ScheduledCommand<BroadcastCommand>[] = [];
      for (let i = 0; i < 1500; i++) {
        workload.push({
          at: i,
          node: nodes[i % 3] as NodeId,
          cmd: { type: 'broadcast', payload: `${row}:${i}` },
        });
      }
      const sim = new Simulator({
        seed: 11,
        nodes,
        stack: stack(),
        network: {
          delay: { kind: 'uniform', minMs: 1, maxMs: 60 },
          lossProbability: 0.1,
          duplicateProbability: 0.1,
          duplicateMaxCopies: 1,
        },
        nemesis: [{ at: 2000, action: { kind: 'heal-all', recoverCrashed: true } }],
        workload,
        record: false,
      });
      let windowPeak = 0;
      for (let t = 100; t <= 20_000; t += 100) {
        sim.runUntil(t);
        for (const n of nodes) {
          windowPeak = Math.max(windowPeak, sim.protocol(n)?.stats().deliveredWindow ?? 0);
        }
      }
      assert.ok(windowPeak < 200, `${row}: the delivered window stays small (peak ${windowPeak})`);
      for (const n of nodes) {
        const durable = sim.durable(n);
        for (const o of nodes) {
          const seen = durable.get(seenKey(o)) as { w: number; above: number[] } | undefined;
          assert.deepEqual(seen, { w: 500, above: [] }, `${row}: ${n} stored all 500 of ${o}`);
        }
        const left = [...durable.keys()].filter((k) => {
          const p = parseLoggedKey(k);
          return (
            (p !== undefined &&
              p.kind !== 'seen' &&
              p.kind !== 'bcast' &&
              p.kind !== 'log' &&
              p.kind !== 'vc') ||
            k.startsWith('link/tx/')
          );
        });
        assert.deepEqual(left, [], `${row}: ${n} owes nothing, holds nothing, buffers nothing`);
        assert.ok(durable.size <= 2 * nodes.length + 4, `${row}: ${n} has ${durable.size} keys`);
      }
    }
  });
});

describe('logged broadcasts: the delivered log as the specification reads it', () => {
  const ev = (e: TraceEvent): TraceEvent => e;
  const entry = { origin: 'n1', n: 1, payload: 'm' };
  const logged = ev({
    t: 1,
    type: 'persist',
    node: 'n2',
    writes: [{ key: LOG_KEY, value: entry }],
  });
  const notice = ev({ t: 1, type: 'deliver', node: 'n2', event: { type: 'deliver', ...entry } });

  test('an append is a delivery at its place; a notification is not', () => {
    const view = logView([logged, notice]);
    assert.equal(view.length, 2);
    assert.deepEqual(view[0], {
      t: 1,
      type: 'deliver',
      node: 'n2',
      event: { type: 'deliver', ...entry },
    });
    assert.equal(view[1]?.type, 'note');
  });

  test('a command whose step a crash cut before any output reads as refused', () => {
    const cmd = ev({
      t: 5,
      type: 'command',
      node: 'n1',
      cmd: { type: 'broadcast', payload: 'x' },
      accepted: true,
    });
    const cut = ev({
      t: 5,
      type: 'crash',
      node: 'n1',
      lostOutputs: 4,
      after: 'input',
      before: 'persist',
    });
    const later = ev({
      t: 5,
      type: 'crash',
      node: 'n1',
      lostOutputs: 3,
      after: 'persist',
      before: 'deliver',
    });
    assert.deepEqual(logView([cmd, cut])[0], { ...cmd, accepted: false });
    assert.deepEqual(logView([cmd, later])[0], cmd);
  });

  test('logged-delivery: a notification needs its append first, once; a crash may cut it off', () => {
    assert.equal(loggedDelivery([logged, notice]).fault, undefined);
    const crash = ev({
      t: 2,
      type: 'crash',
      node: 'n2',
      lostOutputs: 1,
      after: 'persist',
      before: 'deliver',
    });
    assert.equal(loggedDelivery([logged, crash]).fault, undefined);
    assert.match(loggedDelivery([notice]).fault?.message ?? '', /without appending/);
    assert.match(loggedDelivery([logged, notice, notice]).fault?.message ?? '', /twice/);
    const input = ev({ t: 3, type: 'timer', node: 'n2', name: 'x' });
    assert.match(loggedDelivery([logged, input]).fault?.message ?? '', /never announced/);
    assert.equal(loggedDelivery([notice], ['n2']).fault, undefined, 'a liar is not judged');
  });

  test('durable keys parse back to what was formatted, ids with slashes included', () => {
    const id = fc.string({ minLength: 1, maxLength: 8 });
    fc.assert(
      fc.property(
        id,
        fc.integer({ min: 1, max: 1e9 }),
        fc.constantFrom('owed', 'held', 'pending'),
        (o, n, kind) => {
          assert.deepEqual(parseLoggedKey(slotKey(kind as 'owed', o, n)), { kind, origin: o, n });
          assert.deepEqual(parseLoggedKey(seenKey(o)), { kind: 'seen', origin: o });
        },
      ),
    );
    for (const k of ['bcast', 'vc', 'log']) assert.deepEqual(parseLoggedKey(k), { kind: k });
    for (const k of ['seen/', 'owed/n1', 'held/n1/0', 'pending//3', 'link/seq/n2', 'x/y/1']) {
      assert.equal(parseLoggedKey(k), undefined, k);
    }
  });
});

function assertRowHolds(row: string, faults: FaultModel, seed: number): void {
  const r = runSpec(materialize(row, faults, 5, seed));
  const failed = r.verdicts.filter((v) => !v.holds);
  assert.equal(
    failed.length,
    0,
    `${row} × ${faults} seed ${seed} (steadfast sim --protocol ${row} --faults ${faults} --seed ${seed}):\n${formatVerdicts(failed)}`,
  );
}

describe('logged broadcasts in the simulator', () => {
  test('every property holds under crash-recover (matrix runs, seeds 1-6)', () => {
    for (const row of ROWS)
      for (let seed = 1; seed <= 6; seed++) assertRowHolds(row, 'crash-recover', seed);
  });

  test('and where the crash-stop rows mask: omission, partition, crash (seeds 1-3)', () => {
    for (const row of ROWS) {
      for (const f of ['omission', 'partition'] as const) {
        for (let seed = 1; seed <= 3; seed++) assertRowHolds(row, f, seed);
      }
      if (row !== 'logged-beb')
        for (let seed = 1; seed <= 3; seed++) assertRowHolds(row, 'crash', seed);
    }
  });

  test('a crash between any two outputs of n2 (k = 0..11), then a restart: every property holds', () => {
    for (const row of ROWS) {
      const entry = findProtocol(row);
      for (let k = 0; k <= 11; k++) {
        for (const seed of [1, 2]) {
          const nodes = nodeIds(5);
          const workload: ScheduledCommand<unknown>[] = nodes.flatMap((n, i) => [
            { at: 5 + i, node: n, cmd: { type: 'broadcast', payload: `${n}#0` } },
            { at: 40 + i, node: n, cmd: { type: 'broadcast', payload: `${n}#1` } },
          ]);
          const sim = new Simulator({
            seed,
            nodes,
            stack: entry.stack(materialize(row, 'none', 5, seed)),
            network: { delay: { kind: 'uniform', minMs: 1, maxMs: 30 } },
            nemesis: [
              {
                at: 3 + seed,
                action: {
                  kind: 'crash',
                  node: 'n2',
                  afterOutputs: k,
                  withinMs: 200,
                  recoverAfterMs: 50,
                },
              },
              { at: 1000, action: { kind: 'heal-all', recoverCrashed: true } },
            ],
            workload,
          }).runUntil(20_000);
          const crash = sim.trace.find((e) => e.type === 'crash');
          assert.ok(crash !== undefined, `${row} k=${k}: n2 crashed`);
          const verdicts = entry.check(sim.trace, { nodes, correct: 'up-at-end', byzantine: [] });
          const failed = verdicts.filter((v) => !v.holds);
          assert.equal(
            failed.length,
            0,
            `${row}, crash after ${k}, seed ${seed}:\n${formatVerdicts(failed)}`,
          );
        }
      }
    }
  });
});

describe('logged Bracha', () => {
  const nodes = nodeIds(4); // f = 1: 3 ECHOes, 3 READYs (2f + 1), READY on 2 (f + 1)
  const brb = (t: 'send' | 'echo' | 'ready', m: unknown) => ({ k: 'brb', t, o: 'n1', n: 1, m });

  test('a vote is stored before it goes out; a received vote before the link acknowledges it', () => {
    const a = new Node(loggedBrachaBroadcast(), 'n2', nodes);
    const at = a.outputs.length;
    a.step((p) => {
      p.handleMessage(instant(1), 'n1', data(1, brb('send', 'm')));
    });
    const step = a.outputs.slice(at);
    const first = step[0];
    assert.ok(first?.kind === 'persist' && first.lazy !== true);
    assert.deepEqual((first.writes[0]?.value as { e?: unknown }).e, 'm');
    const echoes = step.filter((o) => o.kind === 'send' && o.msg.type === 'data');
    assert.equal(echoes.length, 3, 'ECHO to the three others');
    const at2 = a.outputs.length;
    a.step((p) => {
      p.handleMessage(instant(2), 'n3', data(1, brb('echo', 'm')));
    });
    const kinds = a.outputs.slice(at2).map((o) => (o.kind === 'send' ? o.msg.type : o.kind));
    assert.ok(
      kinds.indexOf('persist') < kinds.indexOf('ack'),
      `stored, then acked: ${kinds.join(' ')}`,
    );
  });

  test('a crash at every output of the delivering step: same votes, one delivery, votes resent', () => {
    // n2 has echoed m and holds n3's READY; n4's READY makes f + 1 = 2: n2 readies, and its
    // own READY (handled later in the step) makes 2f + 1 = 3: it delivers, in the same step.
    const prefix = (a: Node): void => {
      a.step((p) => {
        p.handleMessage(instant(1), 'n1', data(1, brb('send', 'm')));
      });
      a.step((p) => {
        p.handleMessage(instant(2), 'n3', data(1, brb('ready', 'm')));
      });
    };
    const last = (p: Protocol<ReliableMsg, BroadcastCommand, BroadcastDeliver>): void => {
      p.handleMessage(instant(3), 'n4', data(1, brb('ready', 'm')));
    };
    const probe = new Node(loggedBrachaBroadcast(), 'n2', nodes);
    prefix(probe);
    const at = probe.outputs.length;
    probe.step(last);
    const total = probe.outputs.length - at;
    assert.deepEqual(
      probe.notified.map((d) => d.payload),
      ['m'],
      'the probe delivers in that step',
    );
    for (let k = 0; k <= total; k++) {
      const a = new Node(loggedBrachaBroadcast(), 'n2', nodes);
      prefix(a);
      a.step(last, k);
      a.boot();
      const afterBoot = a.bootedAt;
      if (k === 0) {
        a.step((p) => {
          p.handleMessage(instant(4), 'n4', data(2, brb('ready', 'm')));
        });
      }
      // Late copies and a forged second payload from n4 change nothing.
      a.step((p) => {
        p.handleMessage(instant(5), 'n1', data(2, brb('send', 'x')));
      });
      a.step((p) => {
        p.handleMessage(instant(6), 'n4', data(3, brb('echo', 'x')));
      });
      assert.deepEqual(
        a.appended.map((e) => e.payload),
        ['m'],
        `crash after ${k} of ${total}: delivered m once`,
      );
      const votes = a
        .dataSends()
        .filter(([, p]) => p.k === 'brb' && p.t !== 'send')
        .map(([, p]) => `${String(p.t)}:${String(p.m)}`);
      assert.ok(
        votes.every((v) => v === 'echo:m' || v === 'ready:m'),
        `crash after ${k}: only m voted (${votes.join(' ')})`,
      );
      if (k > 0 && k < total) {
        const resent = new Set(
          a
            .dataSends(afterBoot)
            .filter(([, p]) => p.t === 'ready')
            .map(([to]) => to),
        );
        assert.deepEqual([...resent].sort(), ['n1', 'n3', 'n4'], `crash after ${k}: READY again`);
      }
      assertPersistThenDeliver(a.outputs, `bracha, crash after ${k}`);
    }
  });

  test('simulated: crash-recover, and Byzantine liars on authenticated links (seeds 1-4)', () => {
    for (let seed = 1; seed <= 4; seed++) {
      assertRowHolds('logged-bracha', 'crash-recover', seed);
      assertRowHolds('logged-bracha', 'byzantine', seed);
    }
  });
});
