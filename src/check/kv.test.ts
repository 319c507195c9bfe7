import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { KvInput } from './linearizability.ts';
import { FINAL_SERIAL_BASE, incrementsOnce, noLostWrite, type KvHistoryOp } from './kv.ts';
import { canonicalJson } from './verdict.ts';

/**
 * The definition, spelled out quadratically: each final read must return a possible last write,
 * one begun before the read ended and not followed in real time by a write acknowledged before
 * the read began.
 */
function reference(ops: readonly KvHistoryOp[]): boolean {
  for (const key of new Set(ops.map((o) => o.input.key))) {
    const writes = ops.filter(
      (o) => o.input.key === key && o.status !== 'fail' && o.input.f === 'put',
    );
    for (const r of ops.filter(
      (o) => o.input.key === key && o.serial >= FINAL_SERIAL_BASE && o.status === 'ok',
    )) {
      const acked = writes.filter((w) => w.status === 'ok' && (w.ret ?? Infinity) < r.call);
      const candidates = writes.filter(
        (w) =>
          w.call < (r.ret ?? Infinity) &&
          !acked.some((a) => a !== w && (w.ret ?? Infinity) < a.call),
      );
      const seen = canonicalJson(r.output);
      const value = (w: KvHistoryOp): string =>
        canonicalJson(w.input.f === 'put' ? w.input.value : null);
      if (!candidates.some((w) => value(w) === seen) && !(seen === 'null' && acked.length === 0)) {
        return false;
      }
    }
  }
  return true;
}

/**
 * increments-once by brute force: a final read must return the increments acknowledged before
 * it began plus the deltas of SOME subset of the others begun before it ended (every subset
 * tried).
 */
function incrementsReference(ops: readonly KvHistoryOp[]): boolean {
  // A counter is a key that was incremented (and only read otherwise).
  if (!ops.some((o) => o.input.f === 'incr')) return true;
  const incs = ops.filter((o) => o.input.f === 'incr' && o.status !== 'fail');
  const delta = (o: KvHistoryOp): number => (o.input.f === 'incr' ? o.input.delta : 0);
  for (const r of ops.filter((o) => o.serial >= FINAL_SERIAL_BASE && o.status === 'ok')) {
    const owed = incs.filter((o) => o.status === 'ok' && (o.ret ?? Infinity) < r.call);
    const may = incs.filter((o) => !owed.includes(o) && o.call < (r.ret ?? Infinity));
    const base = owed.reduce((s, o) => s + delta(o), 0);
    let found = false;
    for (let mask = 0; mask < 1 << may.length && !found; mask++) {
      const sum = may.reduce((s, o, i) => ((mask >> i) & 1 ? s + delta(o) : s), base);
      if (sum === (r.output === null ? 0 : r.output)) found = true;
    }
    if (!found) return false;
  }
  return true;
}

const op = (
  id: number,
  input: KvInput,
  call: number,
  ret: number | undefined,
  status: KvHistoryOp['status'],
  output: unknown,
  serial: number,
): KvHistoryOp => ({
  id,
  client: `c${id % 3}`,
  node: `n${(id % 3) + 1}`,
  input,
  output: status === 'ok' ? output : undefined,
  call,
  ...(ret === undefined ? {} : { ret }),
  serial,
  status,
  crashed: false,
  callIndex: 0,
});

test('no-lost-write agrees with its quadratic definition on random histories', () => {
  const write = fc.record({
    key: fc.constantFrom('x', 'y'),
    value: fc.integer({ min: 0, max: 3 }),
    call: fc.integer({ min: 0, max: 50 }),
    len: fc.integer({ min: 0, max: 20 }),
    status: fc.constantFrom('ok', 'ok', 'indefinite', 'fail'),
  });
  const read = fc.record({
    key: fc.constantFrom('x', 'y'),
    output: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constant(null)),
    // Final reads may overlap writes still in flight (a slow store).
    call: fc.integer({ min: 0, max: 80 }),
    len: fc.integer({ min: 0, max: 20 }),
  });
  fc.assert(
    fc.property(fc.array(write, { maxLength: 8 }), fc.array(read, { maxLength: 4 }), (ws, rs) => {
      const ops: KvHistoryOp[] = [];
      ws.forEach((w, i) => {
        const st = w.status;
        ops.push(
          op(
            i,
            { f: 'put', key: w.key, value: w.value },
            w.call,
            st === 'indefinite' ? undefined : w.call + w.len,
            st,
            null,
            i + 1,
          ),
        );
      });
      rs.forEach((r, j) => {
        ops.push(
          op(
            100 + j,
            { f: 'get', key: r.key },
            r.call,
            r.call + r.len,
            'ok',
            r.output,
            FINAL_SERIAL_BASE + j,
          ),
        );
      });
      assert.equal(noLostWrite([], ops).holds, reference(ops));
    }),
    { numRuns: 3000 },
  );
});

test('increments-once agrees with its brute-force definition on random histories, reads overlapping increments', () => {
  const inc = fc.record({
    delta: fc.constantFrom(1, 1, 2, 5),
    call: fc.integer({ min: 0, max: 50 }),
    len: fc.integer({ min: 0, max: 30 }),
    status: fc.constantFrom('ok', 'ok', 'indefinite', 'fail'),
  });
  const read = fc.record({
    output: fc.oneof(fc.integer({ min: 0, max: 12 }), fc.constant(null)),
    call: fc.integer({ min: 0, max: 80 }),
    len: fc.integer({ min: 0, max: 20 }),
  });
  let failed = 0;
  fc.assert(
    fc.property(fc.array(inc, { maxLength: 7 }), fc.array(read, { maxLength: 3 }), (is, rs) => {
      const ops: KvHistoryOp[] = [];
      is.forEach((w, i) => {
        const st = w.status;
        ops.push(
          op(
            i,
            { f: 'incr', key: 'n', delta: w.delta },
            w.call,
            st === 'indefinite' ? undefined : w.call + w.len,
            st,
            0,
            i + 1,
          ),
        );
      });
      rs.forEach((r, j) => {
        ops.push(
          op(
            100 + j,
            { f: 'get', key: 'n' },
            r.call,
            r.call + r.len,
            'ok',
            r.output,
            FINAL_SERIAL_BASE + j,
          ),
        );
      });
      const holds = incrementsOnce([], ops).holds;
      if (!holds) failed++;
      assert.equal(holds, incrementsReference(ops));
    }),
    { numRuns: 3000 },
  );
  assert.ok(failed > 100, `the random histories include violations (${failed})`);
});
