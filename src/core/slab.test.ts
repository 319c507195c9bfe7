// allocBytes (slab.ts): regions never overlap, small ones share slabs, large ones own a buffer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allocBytes, SLAB_BYTES } from './slab.ts';

test('allocBytes: zero-filled, disjoint regions; small requests share a slab, large ones do not', () => {
  const small = Array.from({ length: 200 }, (_, i) => allocBytes(1 + (i % 700)));
  small.forEach((b, i) => {
    assert.equal(b.length, 1 + (i % 700));
    assert.ok(
      b.every((x) => x === 0),
      'zero-filled',
    );
    b.fill(i % 251);
  });
  // Every region still holds what was written into it: none overlaps another.
  small.forEach((b, i) => {
    assert.ok(
      b.every((x) => x === i % 251),
      `region ${i} intact`,
    );
  });
  assert.ok(
    small.some((b) => b.byteOffset > 0 && b.buffer.byteLength === SLAB_BYTES),
    'small regions are views into slabs',
  );
  const big = allocBytes(SLAB_BYTES / 8 + 1);
  assert.equal(big.byteOffset, 0);
  assert.equal(big.buffer.byteLength, big.length, 'a large request owns its buffer');
});
