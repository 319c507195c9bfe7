/**
 * Application effects a runtime node can be configured with (by name, from the cluster config).
 *
 * Guarantees: each is a pure reducer over plain data (an `Effect` of the reliable engine), so its
 * state is persisted atomically with the exactly-once dedup mark.
 *   - 'counter': `{ n, sum }`, the number of messages applied and the sum of their sequence
 *     numbers (`payload` itself when it is a number, else `payload.i`). After sending 0..N−1
 *     exactly once, n = N and sum = N(N−1)/2: a cheap whole-run check next to the applied log.
 *   - 'kv': the idempotent/non-idempotent key-value operations of src/protocols/delivery.
 * An application's own effect (`startNode(cfg, id, { effect })`) goes through `checkedEffect`: its
 * `init` must be plain data (else `SteadfastError('bad-argument')` at once), and so must every
 * state its `apply` returns: a state that is not (a Map, a class instance, undefined, a
 * function…) could not be persisted, so `apply` then throws `SteadfastError('bad-argument')`
 * naming the message and what is wrong, before anything of that message is persisted or acked
 * (the node stops on it: its onFatal). An `apply` that throws stops the node the same way, with
 * its own error. The check walks the whole state per message: keep it small.
 * Assumes: payloads are plain data.
 */

import { SteadfastError } from '../core/errors.ts';
import type { NodeId } from '../core/ids.ts';
import { payloadSize } from '../core/payload.ts';
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

/**
 * An application-defined effect: a PURE reducer over the application's own state (plain data).
 * `apply` must not mutate `state` nor do I/O: the engine persists what it returns atomically with
 * the message's dedup mark, so each message's effect is in that state exactly once, across
 * crashes of either node; the state is read back at every start (`NodeHandle.state()`).
 */
export interface AppEffect<S = unknown> {
  readonly init: S;
  apply(state: S, from: NodeId, payload: unknown): S;
}

/** `e` as the engine's `Effect`, with its init and every state it returns checked (header). */
export function checkedEffect<S>(e: AppEffect<S>): Effect {
  const shape = e as Partial<AppEffect<S>> | null;
  if (typeof shape !== 'object' || shape === null || typeof shape.apply !== 'function') {
    throw new SteadfastError('bad-argument', 'effect: needs { init, apply(state, from, payload) }');
  }
  plainOrThrow(e.init, () => 'effect.init');
  return {
    init: e.init,
    apply(state: unknown, from: NodeId, payload: unknown): unknown {
      const next = e.apply(state as S, from, payload);
      plainOrThrow(next, () => `effect.apply's state after a message from ${from}`);
      return next;
    },
  };
}

function plainOrThrow(v: unknown, what: () => string): void {
  try {
    payloadSize(v);
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(/^not plain data: payload/, 'it') : '';
    throw new SteadfastError(
      'bad-argument',
      `${what()} must be plain data, to be persisted: ${why} (plain data: null, booleans, numbers, strings, Uint8Array, arrays and plain objects of them)`,
    );
  }
}
