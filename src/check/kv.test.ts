import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { KvInput } from './linearizability.ts';
import { FINAL_SERIAL_BASE, noLostWrite, type KvHistoryOp } from './kv.ts';
import { canonicalJson } from './verdict.ts';

/** The definition, spelled out quadratically: a final read must return a possible last write. */
function reference(ops: readonly KvHistoryOp[]): boolean {
  for (const key of new Set(ops.map((o) => o.input.key))) {
    const writes = ops.filter(
      (o) => o.input.key === key && o.status !== 'fail' && o.input.f === 'put',
    );
    const acked = writes.filter((w) => w.status === 'ok');
    for (const r of ops.filter(
      (o) => o.input.key === key && o.serial >= FINAL_SERIAL_BASE && o.status === 'ok',
    )) {
      const candidates = writes.filter(
        (w) => !acked.some((a) => a !== w && (w.ret ?? Infinity) < a.call),
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
          op(100 + j, { f: 'get', key: r.key }, 100, 101, 'ok', r.output, FINAL_SERIAL_BASE + j),
        );
      });
      assert.equal(noLostWrite([], ops).holds, reference(ops));
    }),
    { numRuns: 3000 },
  );
});
