import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EventHeap } from './heap.ts';

test('property: pops in (time, insertion) order', () => {
  fc.assert(
    fc.property(fc.array(fc.nat(50), { maxLength: 300 }), (times) => {
      const h = new EventHeap<{ at: number; seq: number; i: number }>();
      times.forEach((at, i) => {
        h.push({ at, seq: 0, i });
      });
      const expected = times.map((at, i) => ({ at, i })).sort((a, b) => a.at - b.at || a.i - b.i);
      const got: { at: number; i: number }[] = [];
      for (let e = h.pop(); e !== undefined; e = h.pop()) got.push({ at: e.at, i: e.i });
      assert.deepEqual(got, expected);
    }),
    { numRuns: 500 },
  );
});
