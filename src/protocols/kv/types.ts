/**
 * The replicated key-value stores' shared API: the command an application gives a node, the
 * result the node delivers back, and the operations. Every design in this folder (consensus
 * log, quorum register, CRDT, primary-backup) speaks exactly this, so one workload, one history
 * extraction and one set of checkers (src/check/kv.ts) judge them all.
 *
 * A node hosts the clients named in its commands (a client library co-located with a replica,
 * like an etcd client talking to its local member): the command is the operation's CALL, the
 * `kv-result` delivery its RETURN.
 *
 *   command  { type: 'kv', client, serial, op }         client: a name; serial: 1, 2, … per client
 *   deliver  { type: 'kv-result', client, serial, op, status, output?, node? }
 *
 *   status 'ok'          it happened exactly once, with this output
 *   status 'fail'        it definitely did not happen (e.g. refused: no quorum reachable and
 *                        the design knows nothing was written); it is left out of the history
 *   status 'indefinite'  the client gave up (timeout): it may or may not have happened
 * An operation whose node crashed before its result is indefinite too.
 *
 * Outputs (as the linearizability model in src/check/linearizability.ts reads them):
 *   get → the value, or null when absent      put, delete → null
 *   incr → the new value (absent counts as 0) cas → true (swapped) or false
 */

import type { NodeId } from '../../core/ids.ts';

export type KvOp =
  | { readonly f: 'get'; readonly key: string }
  | { readonly f: 'put'; readonly key: string; readonly value: unknown }
  | { readonly f: 'delete'; readonly key: string }
  | { readonly f: 'incr'; readonly key: string; readonly delta: number }
  | { readonly f: 'cas'; readonly key: string; readonly from: unknown; readonly to: unknown };

export interface KvCommand {
  readonly type: 'kv';
  readonly client: string;
  readonly serial: number;
  readonly op: KvOp;
}

export type KvStatus = 'ok' | 'fail' | 'indefinite';

export interface KvResult {
  readonly type: 'kv-result';
  readonly client: string;
  readonly serial: number;
  readonly op: KvOp;
  readonly status: KvStatus;
  /** With status 'ok'. */
  readonly output?: unknown;
  /** The replica that answered (diagnostics). */
  readonly node?: NodeId;
  /** Why it failed or gave up (diagnostics). */
  readonly reason?: string;
}

/** The result of `cmd`: its client, serial and operation, then the status and `fields`. */
export function kvResult(
  cmd: KvCommand,
  status: KvStatus,
  fields: { readonly output?: unknown; readonly node?: NodeId; readonly reason?: string } = {},
): KvResult {
  return {
    type: 'kv-result',
    client: cmd.client,
    serial: cmd.serial,
    op: cmd.op,
    status,
    ...fields,
  };
}

export function isKvOp(v: unknown): v is KvOp {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  if (typeof o.key !== 'string') return false;
  switch (o.f) {
    case 'get':
    case 'delete':
      return true;
    case 'put':
      return 'value' in o;
    case 'incr':
      return typeof o.delta === 'number' && Number.isSafeInteger(o.delta);
    case 'cas':
      return 'from' in o && 'to' in o;
    default:
      return false;
  }
}

export function isKvCommand(v: unknown): v is KvCommand {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  return (
    c.type === 'kv' &&
    typeof c.client === 'string' &&
    typeof c.serial === 'number' &&
    Number.isSafeInteger(c.serial) &&
    c.serial >= 1 &&
    isKvOp(c.op)
  );
}

/** Canonical JSON (sorted keys): equal strings for equal plain values. */
export function canonical(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (typeof v !== 'object' || v === null) return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
    .join(',')}}`;
}

/**
 * Applies `op` to a map (the sequential specification every design must match): returns the
 * output; mutates `state`. Incr of a non-number value leaves it unchanged and outputs null.
 */
export function applyOp(state: Map<string, unknown>, op: KvOp): unknown {
  const cur = state.has(op.key) ? state.get(op.key) : null;
  switch (op.f) {
    case 'get':
      return cur ?? null;
    case 'put':
      state.set(op.key, op.value);
      return null;
    case 'delete':
      state.delete(op.key);
      return null;
    case 'incr': {
      if (cur !== null && typeof cur !== 'number') return null;
      const next = (cur ?? 0) + op.delta;
      state.set(op.key, next);
      return next;
    }
    case 'cas': {
      if (canonical(cur) !== canonical(op.from)) return false;
      state.set(op.key, op.to);
      return true;
    }
  }
}
