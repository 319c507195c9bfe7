import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classify, formOf } from './classify.ts';

test('the 2×2 table', () => {
  assert.equal(formOf(true, true), 'masking');
  assert.equal(formOf(true, false), 'fail-safe');
  assert.equal(formOf(false, true), 'non-masking');
  assert.equal(formOf(false, false), 'none');
});

test('one counterexample decides; a safety violation is preferred as the counterexample', () => {
  const ok = { safe: true, live: true };
  const lost = {
    safe: true,
    live: false,
    violation: { property: 'reliable-delivery', kind: 'liveness' as const, message: 'lost' },
  };
  const dup = {
    safe: false,
    live: true,
    violation: { property: 'no-duplication', kind: 'safety' as const, message: 'dup' },
  };
  assert.equal(
    classify([
      { seed: 1, ...ok },
      { seed: 2, ...ok },
    ]).form,
    'masking',
  );
  const c = classify([
    { seed: 1, ...ok },
    { seed: 5, ...lost },
    { seed: 3, ...lost },
  ]);
  assert.equal(c.form, 'fail-safe');
  assert.equal(c.counterexample?.seed, 3);
  const d = classify([
    { seed: 2, ...lost },
    { seed: 9, ...dup },
  ]);
  assert.equal(d.form, 'none');
  assert.equal(d.counterexample?.property, 'no-duplication');
  assert.equal(d.runs, 2);
  assert.equal(d.safeRuns, 1);
});
