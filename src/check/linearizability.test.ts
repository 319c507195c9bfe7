import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng, type Rng } from '../core/rng.ts';
import {
  checkLinearizability,
  kvModel,
  type KvInput,
  type KvOutput,
  type Model,
  type Operation,
} from './linearizability.ts';

type Op = Operation<KvInput, KvOutput>;

/** Every real-time-consistent order, tried one by one (no memo, no pruning beyond legality). */
function bruteForce<S, I, O>(model: Model<S, I, O>, ops: readonly Operation<I, O>[]): boolean {
  const n = ops.length;
  const before = ops.map((b) => ops.map((a) => a !== b && a.ret !== undefined && a.ret < b.call));
  const placed = new Array<boolean>(n).fill(false);
  const go = (state: S, count: number): boolean => {
    if (count === n) return true;
    for (let i = 0; i < n; i++) {
      if (placed[i] === true) continue;
      const preds = before[i] as boolean[];
      if (preds.some((p, j) => p && placed[j] !== true)) continue;
      const op = ops[i] as Operation<I, O>;
      const next = model.step(state, op.input, op.output);
      if (next === undefined) continue;
      placed[i] = true;
      if (go(next, count + 1)) return true;
      placed[i] = false;
    }
    return false;
  };
  return go(model.init(), 0);
}

/**
 * The whole store as one object (no partition): the brute force checks against it, so it also
 * checks that checking key by key (P-compositionality) loses nothing.
 */
const wholeMap: Model<Readonly<Record<string, unknown>>, KvInput, KvOutput> = {
  name: 'whole map',
  init: () => ({}),
  step(state, input, output) {
    const next = kvModel.step(state[input.key] ?? null, input, output);
    return next === undefined ? undefined : { ...state, [input.key]: next };
  },
  key: (s) => JSON.stringify(s),
};

function randomInput(rng: Rng, keys: readonly string[]): KvInput {
  const key = keys[rng.int(keys.length)] as string;
  switch (rng.int(5)) {
    case 0:
      return { f: 'get', key };
    case 1:
      return { f: 'put', key, value: rng.int(3) };
    case 2:
      return { f: 'delete', key };
    case 3:
      return { f: 'incr', key, delta: 1 + rng.int(2) };
    default:
      return { f: 'cas', key, from: rng.chance(0.3) ? null : rng.int(3), to: rng.int(3) };
  }
}

function randomOutput(rng: Rng, input: KvInput): KvOutput {
  switch (input.f) {
    case 'get':
      return rng.chance(0.3) ? null : rng.int(4);
    case 'put':
    case 'delete':
      return null;
    case 'incr':
      return rng.int(6);
    case 'cas':
      return rng.chance(0.5);
  }
}

/** A small random history: random intervals, random outputs (so both verdicts occur). */
function randomHistory(rng: Rng, n: number): Op[] {
  const ops: Op[] = [];
  for (let id = 0; id < n; id++) {
    const input = randomInput(rng, ['x', 'y']);
    const call = rng.int(10);
    const indefinite = rng.chance(0.15);
    ops.push(
      indefinite
        ? { id, client: `c${id % 3}`, input, output: undefined, call }
        : {
            id,
            client: `c${id % 3}`,
            input,
            output: randomOutput(rng, input),
            call,
            ret: call + rng.int(6),
          },
    );
  }
  return ops;
}

test('linearizability: agrees with brute force on 10,000 random small histories', () => {
  const rng = createRng(2024);
  let ok = 0;
  let bad = 0;
  for (let i = 0; i < 10_000; i++) {
    const history = randomHistory(rng, 1 + rng.int(7));
    const v = checkLinearizability(kvModel, history);
    const expected = bruteForce(wholeMap, history);
    assert.notEqual(v.result, 'unknown');
    assert.equal(v.result === 'ok', expected, JSON.stringify(history));
    if (expected) ok++;
    else bad++;
    if (v.result === 'violation') {
      // The minimal sub-history fails too, and dropping any one of its operations passes.
      assert.equal(bruteForce(wholeMap, v.minimal), false);
      for (const op of v.minimal) {
        assert.equal(
          bruteForce(
            wholeMap,
            v.minimal.filter((o) => o !== op),
          ),
          true,
        );
      }
    }
  }
  // Both verdicts were exercised in earnest.
  assert.ok(ok > 2000 && bad > 2000, `ok ${ok}, violations ${bad}`);
});

const op = (
  id: number,
  client: string,
  input: KvInput,
  output: KvOutput,
  call: number,
  ret?: number,
): Op =>
  ret === undefined
    ? { id, client, input, output: undefined, call }
    : { id, client, input, output, call, ret };

test('linearizability: known cases — stale read, lost update, read of an unwritten value', () => {
  // Stale read: B reads the old value after A's write returned.
  const stale = [
    op(0, 'A', { f: 'put', key: 'x', value: 1 }, null, 0, 1),
    op(1, 'A', { f: 'put', key: 'x', value: 2 }, null, 2, 3),
    op(2, 'B', { f: 'get', key: 'x' }, 1, 4, 5),
  ];
  assert.equal(checkLinearizability(kvModel, stale).result, 'violation');
  // Concurrent with the second write, the same read is fine.
  assert.equal(
    checkLinearizability(kvModel, [
      stale[0] as Op,
      stale[1] as Op,
      op(2, 'B', { f: 'get', key: 'x' }, 1, 2.5, 5),
    ]).result,
    'ok',
  );
  // Lost update: two increments from 0, both acknowledged with 1 (read-then-write increments).
  const lost = [
    op(0, 'A', { f: 'incr', key: 'n', delta: 1 }, 1, 0, 2),
    op(1, 'B', { f: 'incr', key: 'n', delta: 1 }, 1, 1, 3),
  ];
  const v = checkLinearizability(kvModel, lost);
  assert.equal(v.result, 'violation');
  assert.equal(v.part, 'n');
  // Read of a value nobody wrote.
  assert.equal(
    checkLinearizability(kvModel, [op(0, 'A', { f: 'get', key: 'x' }, 7, 0, 1)]).result,
    'violation',
  );
  // An indefinite write may or may not have happened: both reads are fine.
  const maybe = [
    op(0, 'A', { f: 'put', key: 'x', value: 1 }, undefined, 0),
    op(1, 'B', { f: 'get', key: 'x' }, null, 1, 2),
    op(2, 'B', { f: 'get', key: 'x' }, 1, 3, 4),
  ];
  assert.equal(checkLinearizability(kvModel, maybe).result, 'ok');
  // …but not undone once seen.
  assert.equal(
    checkLinearizability(kvModel, [...maybe, op(3, 'B', { f: 'get', key: 'x' }, null, 5, 6)])
      .result,
    'violation',
  );
});

test('linearizability: a budget too small for the search says unknown, never ok', () => {
  const rng = createRng(5);
  const history = randomHistory(rng, 7);
  const v = checkLinearizability(kvModel, history, { stepBudget: 2 });
  assert.equal(v.result, 'unknown');
});

/** A linearizable history: 16 clients, each running operations one after another. */
export function generatedHistory(rng: Rng, opsCount: number, keys: number, clients: number): Op[] {
  const keyNames = Array.from({ length: keys }, (_, i) => `k${i}`);
  const clock = new Array<number>(clients).fill(0);
  // Each operation takes effect at one point inside its interval; apply in that order.
  const planned: { client: number; input: KvInput; call: number; ret: number; at: number }[] = [];
  for (let i = 0; i < opsCount; i++) {
    const c = rng.int(clients);
    const call = (clock[c] ?? 0) + rng.int(3);
    const ret = call + 1 + rng.int(20);
    clock[c] = ret + 1;
    planned.push({
      client: c,
      input: randomInput(rng, keyNames),
      call,
      ret,
      at: call + rng.next() * (ret - call),
    });
  }
  const state = new Map<string, unknown>();
  const ops: Op[] = [];
  [...planned]
    .map((p, id) => ({ ...p, id }))
    .sort((a, b) => a.at - b.at)
    .forEach((p) => {
      const cur = state.get(p.input.key) ?? null;
      const i = p.input;
      let output: KvOutput = null;
      if (i.f === 'get') output = cur;
      else if (i.f === 'put') state.set(i.key, i.value);
      else if (i.f === 'delete') state.delete(i.key);
      else if (i.f === 'incr') {
        const next = (typeof cur === 'number' ? cur : 0) + i.delta;
        state.set(i.key, next);
        output = next;
      } else {
        output = JSON.stringify(cur) === JSON.stringify(i.from);
        if (output) state.set(i.key, i.to);
      }
      ops.push(op(p.id, `c${p.client}`, i, output, p.call, p.ret));
    });
  return ops.sort((a, b) => a.id - b.id);
}

test('linearizability: 10,000 operations over 100 keys from 16 clients in under 1 s', () => {
  const history = generatedHistory(createRng(7), 10_000, 100, 16);
  const t0 = performance.now();
  const v = checkLinearizability(kvModel, history);
  const ms = performance.now() - t0;
  assert.equal(v.result, 'ok');
  assert.equal(v.parts, 100);
  assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
  // One corrupted read makes it a violation, found and minimized within the budget.
  const target = history.find((o) => o.id >= 5000 && o.input.f === 'get');
  assert.ok(target !== undefined);
  const broken = history.map((o) => (o === target ? { ...o, output: 'never written' } : o));
  const w = checkLinearizability(kvModel, broken);
  assert.equal(w.result, 'violation');
  assert.deepEqual(
    w.minimal.map((o) => o.id),
    [target.id],
  );
});
