/**
 * Application effects a runtime node can be configured with (by name, from the cluster config).
 *
 * Guarantees: each is a pure reducer over plain data (an `Effect` of the reliable engine), so its
 * state is persisted atomically with the exactly-once dedup mark.
 *   - 'counter': `{ n, sum }`, the number of messages applied and the sum of their sequence
 *     numbers (`payload` itself when it is a number, else `payload.i`). After sending 0..N−1
 *     exactly once, n = N and sum = N(N−1)/2: a cheap whole-run check next to the applied log.
 *   - 'kv': the idempotent/non-idempotent key-value operations of src/protocols/delivery.
 * Assumes: payloads are plain data.
 */

import type { NodeId } from '../core/ids.ts';
import { kvEffect } from '../protocols/delivery/idempotence.ts';
import type { Effect } from '../protocols/link/reliable.ts';

export interface CounterState {
  readonly n: number;
  readonly sum: number;
}

/** The sequence number a workload payload carries: the number itself, or its `i` field. */
export function payloadIndex(payload: unknown): number | undefined {
  if (typeof payload === 'number') return payload;
  if (typeof payload === 'object' && payload !== null) {
    const i = (payload as { i?: unknown }).i;
    if (typeof i === 'number') return i;
  }
  return undefined;
}

export const counterEffect: Effect = {
  init: { n: 0, sum: 0 },
  apply(state: unknown, _from: NodeId, payload: unknown): unknown {
    const s = state as CounterState;
    return { n: s.n + 1, sum: s.sum + (payloadIndex(payload) ?? 0) };
  },
};

export type EffectName = 'none' | 'counter' | 'kv';

export function effectByName(name: EffectName): Effect | undefined {
  switch (name) {
    case 'none':
      return undefined;
    case 'counter':
      return counterEffect;
    case 'kv':
      return kvEffect;
  }
}
