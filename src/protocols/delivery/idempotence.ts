/**
 * Idempotent and non-idempotent operations on a small key-value state, for showing where each
 * delivery guarantee makes the count go wrong.
 *
 * An operation is idempotent when applying it twice leaves the same state as applying it once:
 * `set x = 5` is, `increment x` is not. Under at-least-once delivery duplicates happen, so only
 * idempotent operations end correct; exactly-once makes non-idempotent ones correct too.
 */

import type { NodeId } from '../../core/ids.ts';
import type { Effect } from '../link/reliable.ts';

export type KvOp =
  | { readonly op: 'set'; readonly key: string; readonly value: number }
  | { readonly op: 'incr'; readonly key: string; readonly by: number };

/** True for operations that may be applied more than once without changing the result. */
export function isIdempotent(op: KvOp): boolean {
  switch (op.op) {
    case 'set':
      return true;
    case 'incr':
      return false;
  }
}

export function isKvOp(v: unknown): v is KvOp {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  if (typeof o.key !== 'string') return false;
  if (o.op === 'set') return typeof o.value === 'number';
  if (o.op === 'incr') return typeof o.by === 'number';
  return false;
}

export type KvState = Readonly<Record<string, number>>;

/** Applies one operation (pure). Anything that is not a `KvOp` leaves the state unchanged. */
export function applyKvOp(state: KvState, op: unknown): KvState {
  if (!isKvOp(op)) return state;
  switch (op.op) {
    case 'set':
      return { ...state, [op.key]: op.value };
    case 'incr':
      return { ...state, [op.key]: (state[op.key] ?? 0) + op.by };
  }
}

/** The key-value state as a channel effect (persisted atomically with the dedup mark). */
export const kvEffect: Effect = {
  init: {},
  apply: (state: unknown, _from: NodeId, payload: unknown) => {
    const op =
      typeof payload === 'object' && payload !== null && 'op' in payload
        ? payload
        : (payload as { body?: unknown } | null)?.body;
    return applyKvOp(state as KvState, op);
  },
};
