import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SeqSet } from './seqset.ts';

test('property: SeqSet agrees with a plain Set within its window, and stays bounded', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 200 }), { maxLength: 400 }), (xs) => {
      const s = new SeqSet(64);
      const model = new Set<number>();
      for (const x of xs) {
        const r = s.add(x);
        if (r === 'added') {
          assert.ok(!model.has(x));
          model.add(x);
        } else if (r === 'present') {
          assert.ok(model.has(x));
        } else {
          assert.ok(x > s.watermark + 64);
        }
        assert.ok(s.windowSize <= 64);
      }
      for (let n = 1; n <= 200; n++) assert.equal(s.has(n), model.has(n));
      const again = SeqSet.from(s.toJSON(), 64);
      for (let n = 1; n <= 200; n++) assert.equal(again.has(n), s.has(n));
    }),
    { numRuns: 2000 },
  );
});

test('advanceTo settles everything below and compacts', () => {
  const s = new SeqSet(10);
  s.add(5);
  s.add(7);
  s.advanceTo(4);
  assert.equal(s.watermark, 5);
  assert.ok(s.has(7) && !s.has(6));
  assert.equal(s.windowSize, 1);
});
