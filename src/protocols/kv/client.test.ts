import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { SteadfastError } from '../../core/errors.ts';
import { createRng } from '../../core/rng.ts';
import { checkRetryPolicy, ClientQueues, retryDelayMs, type RetryPolicy } from './client.ts';
import type { KvCommand } from './types.ts';

const cmd = (client: string, serial: number): KvCommand => ({
  type: 'kv',
  client,
  serial,
  op: { f: 'get', key: 'x' },
});

describe('kv client: retry schedule', () => {
  test('the k-th retry waits in [d/2, d], d = min(retryMsMax, retryMs·2^(k−1))', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 0, max: 20_000 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer(),
        (retryMs, extra, retry, seed) => {
          const p: RetryPolicy = { retryMs, retryMsMax: retryMs + extra, timeoutMs: 1 };
          const d = Math.min(p.retryMsMax, retryMs * 2 ** (retry - 1));
          const w = retryDelayMs(p, retry, createRng(seed));
          assert.ok(w >= Math.max(1, d / 2) && w <= d, `${w} not in [${d / 2}, ${d}]`);
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('jitter spreads clients out; the backoff doubles up to its cap', () => {
    const p: RetryPolicy = { retryMs: 400, retryMsMax: 3200, timeoutMs: 25_000 };
    const rng = createRng(7);
    const firsts = new Set(Array.from({ length: 50 }, () => retryDelayMs(p, 1, rng)));
    assert.ok(firsts.size > 30, `only ${firsts.size} distinct first delays out of 50`);
    const mean = (k: number): number => {
      let sum = 0;
      for (let i = 0; i < 400; i++) sum += retryDelayMs(p, k, rng);
      return sum / 400;
    };
    assert.ok(mean(2) > 1.8 * mean(1) && mean(2) < 2.2 * mean(1));
    assert.ok(Math.abs(mean(10) - mean(4)) < 0.05 * mean(4), 'capped from the 4th retry');
  });

  test('a retry is never scheduled past the deadline; bad policies are refused by name', () => {
    const q = new ClientQueues<object>(
      { queueMax: 4, clientsMax: 4 },
      { retryMs: 400, retryMsMax: 3200, timeoutMs: 1000 },
    );
    assert.equal(q.submit(cmd('a', 1)), undefined);
    const op = q.startNext('a', 100, () => ({}));
    assert.ok(op !== undefined);
    assert.equal(op.deadlineAt, 1100);
    const rng = createRng(1);
    for (let i = 0; i < 10; i++) assert.ok(q.nextRetryAt(op, 900, rng) <= 1100);
    assert.equal(op.retries, 10);
    assert.throws(
      () => {
        checkRetryPolicy('t', { retryMs: 400, retryMsMax: 100, timeoutMs: 1 });
      },
      (e: unknown) => e instanceof SteadfastError && /retryMsMax/.test(e.message),
    );
    assert.throws(
      () => {
        checkRetryPolicy('t', { retryMs: 0, retryMsMax: 100, timeoutMs: 1 });
      },
      (e: unknown) => e instanceof SteadfastError && /retryMs must/.test(e.message),
    );
  });
});

describe('kv client: queues', () => {
  test('one operation in flight per client, in arrival order; the queue and clients are bounded', () => {
    const q = new ClientQueues<{ n: number }>(
      { queueMax: 2, clientsMax: 2 },
      { retryMs: 1, retryMsMax: 1, timeoutMs: 10 },
    );
    assert.equal(q.submit(cmd('a', 1)), undefined);
    assert.equal(q.submit(cmd('a', 2)), undefined);
    assert.match(q.submit(cmd('a', 3)) ?? '', /queueMax = 2/);
    assert.equal(q.submit(cmd('b', 1)), undefined);
    assert.match(q.submit(cmd('c', 1)) ?? '', /clientsMax = 2/);
    const first = q.startNext('a', 0, () => ({ n: 1 }));
    assert.equal(first?.cmd.serial, 1);
    assert.equal(
      q.startNext('a', 0, () => ({ n: 2 })),
      undefined,
      'busy',
    );
    assert.equal(q.submit(cmd('a', 3)), undefined, 'room again once one started');
    assert.equal(q.end('a'), first);
    assert.equal(q.startNext('a', 5, () => ({ n: 2 }))?.cmd.serial, 2);
    q.end('a');
    assert.equal(q.startNext('a', 6, () => ({ n: 3 }))?.cmd.serial, 3);
    q.end('a');
    assert.equal(
      q.startNext('a', 7, () => ({ n: 4 })),
      undefined,
      'nothing queued',
    );
    assert.equal(q.size, 2, 'clients are remembered for the incarnation');
  });
});
