import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addMs, elapsedMs, instant } from './time.ts';

test('instants add and subtract in milliseconds', () => {
  const t = instant(1000);
  assert.equal(addMs(t, 250), 1250);
  assert.equal(elapsedMs(t, addMs(t, 40)), 40);
});
