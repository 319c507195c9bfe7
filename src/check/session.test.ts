import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TraceEvent } from '../core/trace.ts';
import { sessionGuarantees } from './session.ts';

type Op = { f: string; key: string; value?: unknown };
const res = (t: number, node: string, serial: number, op: Op, output: unknown): TraceEvent => ({
  t,
  type: 'deliver',
  node,
  event: { type: 'kv-result', client: 'c', serial, op, status: 'ok', output },
});
const put = (v: string): Op => ({ f: 'put', key: 'x', value: v });
const del: Op = { f: 'delete', key: 'x' };
const get: Op = { f: 'get', key: 'x' };

test('session guarantees: a read of null is never older (every delete writes it); a value seen before coming back is', () => {
  const deletes = sessionGuarantees([
    res(1, 'n1', 1, del, null),
    res(2, 'n1', 2, put('a'), null),
    res(3, 'n1', 3, get, null), // another client deleted x since
    res(4, 'n1', 4, get, 'b'),
    res(5, 'n1', 5, get, null),
  ]);
  assert.equal(deletes.holds, true);
  assert.equal(deletes.checked, 5);
  const back = sessionGuarantees([
    res(1, 'n1', 1, put('a'), null),
    res(2, 'n1', 2, get, null),
    res(3, 'n1', 3, get, 'a'),
  ]);
  assert.equal(back.holds, false);
  assert.match(back.violation?.message ?? '', /n1\/c at t=3: get\(x\) → "a", an older value/);
  // Where "a" was seen, the session's latest observation (null), and the read going back.
  assert.deepEqual(
    back.violation?.events.map((e) => e.index),
    [0, 1, 2],
  );
  // Sessions are per node: another node's client may see older state.
  const other = sessionGuarantees([
    res(1, 'n1', 1, put('a'), null),
    res(2, 'n1', 2, get, 'b'),
    res(3, 'n2', 1, get, 'a'),
  ]);
  assert.equal(other.holds, true);
});
