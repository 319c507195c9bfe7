import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createRng } from './rng.ts';

test('same seed, same sequence; different seeds, different sequences', () => {
  const a = createRng(42);
  const b = createRng(42);
  const c = createRng(43);
  const sa = Array.from({ length: 100 }, () => a.nextU32());
  const sb = Array.from({ length: 100 }, () => b.nextU32());
  const sc = Array.from({ length: 100 }, () => c.nextU32());
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
});

test('seed 0 is usable and the stream is not constant', () => {
  const r = createRng(0);
  const xs = new Set(Array.from({ length: 1000 }, () => r.nextU32()));
  assert.ok(xs.size > 990);
});

test('fork is independent of the parent stream position', () => {
  const a = createRng(7);
  const fa = a.fork('x').nextU32();
  a.nextU32();
  a.nextU32();
  assert.equal(a.fork('x').nextU32(), fa);
  assert.notEqual(a.fork('y').nextU32(), fa);
});

test('int(n) stays in range and is roughly uniform', () => {
  const r = createRng(99);
  const counts = new Array<number>(10).fill(0);
  for (let i = 0; i < 100_000; i++) {
    const x = r.int(10);
    assert.ok(x >= 0 && x < 10);
    counts[x] = (counts[x] ?? 0) + 1;
  }
  for (const c of counts) assert.ok(Math.abs(c - 10_000) < 500, `bucket ${c}`);
});

test('property: next() in [0,1), intBetween inclusive bounds', () => {
  fc.assert(
    fc.property(
      fc.integer(),
      fc.integer({ min: -1000, max: 1000 }),
      fc.nat(1000),
      (seed, lo, span) => {
        const r = createRng(seed);
        const x = r.next();
        const y = r.intBetween(lo, lo + span);
        return x >= 0 && x < 1 && y >= lo && y <= lo + span;
      },
    ),
    { numRuns: 2000 },
  );
});

test('int rejects bad bounds with a clear error', () => {
  assert.throws(() => createRng(1).int(0), /positive integer/);
  assert.throws(() => createRng(1).int(1.5), /positive integer/);
});
