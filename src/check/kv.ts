/**
 * Checkers for the replicated key-value stores, over a trace: the client history is extracted
 * (a `kv` command is an operation's call, its `kv-result` delivery at the same node its return;
 * see src/protocols/kv/types.ts) and judged by:
 *
 *   linearizable (safety)      the history is linearizable (linearizability.ts), key by key; a
 *                              search that runs out of budget fails as "unknown", never passes
 *   increments-once (safety)   each counter key (one only incremented and read) ends, in every
 *                              final read, within the acceptable set: every increment
 *                              acknowledged before that read began, plus any subset of the others
 *                              (acknowledged later, or indefinite) begun before it ended
 *   no-lost-write (safety)     every final read of a register key returns a value that some write
 *                              begun before the read ended produced, a write not followed in real
 *                              time by another acknowledged before the read began (an
 *                              acknowledged write is never silently lost)
 *   completes (liveness)       every operation a correct node's client issued ended `ok`
 *   converges (liveness)       the final reads of each key agree across correct nodes (those
 *                              begun after the key's last acknowledged write returned)
 *
 * Accounting: `kvAccounting` counts what was planned (the workload), issued (accepted
 * commands), refused (commands at a node that was down), ok, failed, and in doubt
 * (indefinite: timed out, or the node crashed before answering). Nothing vanishes.
 *
 * Final reads: operations whose serial is ≥ `FINAL_SERIAL_BASE` are the workload's reads after
 * the faults stopped (kvWorkload); the convergence and lost-write checks read those. Operations
 * may still be in flight when they run (a slow store, a long workload): each read is judged
 * against the writes that real time says it must, or may, see.
 * Assumes: one client per (node, name) and unique serials per client; written values are
 * unique per write (the workload's are), so a value names its write.
 */

import type { NodeId } from '../core/ids.ts';
import type { TraceEvent } from '../core/trace.ts';
import { checkLinearizability, kvModel, type KvInput, type Operation } from './linearizability.ts';
import { canonicalJson, fail, pass, shortJson, type Verdict } from './verdict.ts';

/** Serials from here up are the workload's final reads (after the faults stopped). */
export const FINAL_SERIAL_BASE = 1_000_000;

export interface KvHistoryOp extends Operation<KvInput, unknown> {
  readonly node: NodeId;
  readonly serial: number;
  readonly status: 'ok' | 'fail' | 'indefinite';
  /** Its node crashed before answering (so its client died with it: nothing is owed). */
  readonly crashed: boolean;
  /** Trace positions of the call and (if any) the return. */
  readonly callIndex: number;
  readonly retIndex?: number;
}

export interface KvAccounting {
  readonly issued: number;
  readonly refused: number;
  readonly ok: number;
  readonly failed: number;
  /** Timed out, or their node crashed before answering. */
  readonly indefinite: number;
}

interface Extracted {
  readonly ops: readonly KvHistoryOp[];
  readonly refused: number;
}

function rec(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
}

/** The client history of a trace, every issued operation with its status. */
export function kvHistory(trace: readonly TraceEvent[]): Extracted {
  const open = new Map<
    string,
    { node: NodeId; index: number; t: number; cmd: Record<string, unknown> }
  >();
  const done: KvHistoryOp[] = [];
  let refused = 0;
  let id = 0;
  const key = (node: NodeId, client: unknown, serial: unknown): string =>
    `${node}\u0000${String(client)}\u0000${String(serial)}`;
  const close = (
    k: string,
    status: KvHistoryOp['status'],
    output: unknown,
    retIndex?: number,
    t?: number,
    crashed = false,
  ): void => {
    const o = open.get(k);
    if (o === undefined) return;
    open.delete(k);
    const base = {
      id: id++,
      client: `${o.node}/${String(o.cmd.client)}`,
      node: o.node,
      serial: o.cmd.serial as number,
      input: o.cmd.op as KvInput,
      call: o.t,
      callIndex: o.index,
      status,
      crashed,
    };
    done.push(
      status === 'ok' && retIndex !== undefined && t !== undefined
        ? { ...base, output, ret: t, retIndex }
        : { ...base, output: undefined },
    );
    endOf.set(base.id, t ?? Number.POSITIVE_INFINITY);
  };
  /** When each operation's client was done with it (its result or its node's crash). */
  const endOf = new Map<number, number>();
  trace.forEach((e, index) => {
    if (e.type === 'command') {
      const c = rec(e.cmd);
      if (c?.type !== 'kv') return;
      if (!e.accepted) {
        refused++;
        return;
      }
      open.set(key(e.node, c.client, c.serial), { node: e.node, index, t: e.t, cmd: c });
    } else if (e.type === 'deliver') {
      const d = rec(e.event);
      if (d?.type !== 'kv-result') return;
      const status = d.status === 'ok' || d.status === 'fail' ? d.status : 'indefinite';
      close(key(e.node, d.client, d.serial), status, d.output, index, e.t);
    } else if (e.type === 'crash') {
      // Everything in flight at the crashed node is in doubt.
      for (const [k, o] of [...open]) {
        if (o.node === e.node) close(k, 'indefinite', undefined, undefined, e.t, true);
      }
    }
  });
  for (const k of [...open.keys()]) close(k, 'indefinite', undefined);
  done.sort((a, b) => a.callIndex - b.callIndex);
  // A node runs each client's operations one at a time, in the order it was given them
  // (types.ts): an operation cannot take effect before its predecessor's client was done with
  // it, so its interval starts there. Exact under that contract, and it spares the search the
  // orders that contract rules out.
  const lastEnd = new Map<string, number>();
  const ops = done.map((o) => {
    const prev = lastEnd.get(o.client) ?? Number.NEGATIVE_INFINITY;
    lastEnd.set(o.client, Math.max(prev, endOf.get(o.id) ?? Number.POSITIVE_INFINITY));
    const narrow = Number.isFinite(prev) && prev > o.call && (o.ret === undefined || prev <= o.ret);
    return narrow ? { ...o, call: prev } : o;
  });
  return { ops, refused };
}

export function kvAccounting(trace: readonly TraceEvent[]): KvAccounting {
  const { ops, refused } = kvHistory(trace);
  return {
    issued: ops.length,
    refused,
    ok: ops.filter((o) => o.status === 'ok').length,
    failed: ops.filter((o) => o.status === 'fail').length,
    indefinite: ops.filter((o) => o.status === 'indefinite').length,
  };
}

const describe = (o: KvHistoryOp): string => kvModel.describe?.(o) ?? JSON.stringify(o.input);

function at(trace: readonly TraceEvent[], o: KvHistoryOp): { index: number; event: TraceEvent }[] {
  const out = [{ index: o.callIndex, event: trace[o.callIndex] as TraceEvent }];
  if (o.retIndex !== undefined)
    out.push({ index: o.retIndex, event: trace[o.retIndex] as TraceEvent });
  return out;
}

export function linearizable(trace: readonly TraceEvent[], ops: readonly KvHistoryOp[]): Verdict {
  const history = ops.filter((o) => o.status !== 'fail');
  const v = checkLinearizability(kvModel, history);
  if (v.result === 'ok') return pass('linearizable', 'safety', history.length);
  if (v.result === 'unknown') {
    return fail('linearizable', 'safety', history.length, `unknown: ${v.reason}`, []);
  }
  const minimal = v.minimal as readonly KvHistoryOp[];
  return fail(
    'linearizable',
    'safety',
    history.length,
    `no linearization of key ${JSON.stringify(v.part)}; smallest failing sub-history: ` +
      minimal.map(describe).join('; '),
    minimal.flatMap((o) => at(trace, o)),
  );
}

/** Keys only incremented and read: counters. */
function counterKeys(ops: readonly KvHistoryOp[]): Set<string> {
  const keys = new Set(ops.filter((o) => o.input.f === 'incr').map((o) => o.input.key));
  for (const o of ops) if (o.input.f !== 'incr' && o.input.f !== 'get') keys.delete(o.input.key);
  return keys;
}

const finalReads = (ops: readonly KvHistoryOp[], key: string): KvHistoryOp[] =>
  ops.filter(
    (o) =>
      o.serial >= FINAL_SERIAL_BASE &&
      o.input.f === 'get' &&
      o.input.key === key &&
      o.status === 'ok',
  );

/** The operations of each key, in history order. */
function byKey(ops: readonly KvHistoryOp[]): Map<string, KvHistoryOp[]> {
  const out = new Map<string, KvHistoryOp[]>();
  for (const o of ops) {
    const list = out.get(o.input.key);
    if (list === undefined) out.set(o.input.key, [o]);
    else list.push(o);
  }
  return out;
}

export function incrementsOnce(trace: readonly TraceEvent[], ops: readonly KvHistoryOp[]): Verdict {
  let checked = 0;
  const keyed = byKey(ops);
  for (const key of counterKeys(ops)) {
    const own = keyed.get(key) ?? [];
    const incs = own.filter((o) => o.input.f === 'incr' && o.status !== 'fail');
    const delta = (o: KvHistoryOp): number => (o.input.f === 'incr' ? o.input.delta : 0);
    for (const r of finalReads(own, key)) {
      checked++;
      const end = r.ret ?? Number.POSITIVE_INFINITY;
      // Owed: acknowledged before the read began. May: any other begun before it ended; the
      // read sees the owed sum plus the deltas of some subset of those (sums reachable).
      let owed = 0;
      let may = 0;
      let sums = new Set([0]);
      for (const o of incs) {
        if (o.status === 'ok' && (o.ret ?? Number.POSITIVE_INFINITY) < r.call) owed += delta(o);
        else if (o.call < end) {
          may += delta(o);
          sums = new Set([...sums, ...[...sums].map((x) => x + delta(o))]);
        }
      }
      const v = r.output === null ? 0 : r.output;
      if (typeof v === 'number' && sums.has(v - owed)) continue;
      return fail(
        'increments-once',
        'safety',
        checked,
        `counter ${key} reads ${shortJson(r.output)} at ${r.node} after the faults, but ${owed} ` +
          `was acknowledged before that read began and at most ${may} more could have applied by ` +
          `its end: ${
            typeof v === 'number' && v > owed + may
              ? 'an increment applied twice'
              : 'an acknowledged increment lost'
          }`,
        at(trace, r),
      );
    }
  }
  return pass('increments-once', 'safety', checked);
}

export function noLostWrite(trace: readonly TraceEvent[], ops: readonly KvHistoryOp[]): Verdict {
  const counters = counterKeys(ops);
  let checked = 0;
  for (const [key, own] of byKey(ops)) {
    if (counters.has(key)) continue;
    const writes = own.filter(
      (o) =>
        o.status !== 'fail' &&
        (o.input.f === 'put' ||
          o.input.f === 'delete' ||
          (o.input.f === 'cas' && o.output !== false)),
    );
    const valueOf = (w: KvHistoryOp): string =>
      canonicalJson(w.input.f === 'put' ? w.input.value : w.input.f === 'cas' ? w.input.to : null);
    for (const r of finalReads(own, key)) {
      checked++;
      const end = r.ret ?? Number.POSITIVE_INFINITY;
      // Acknowledged before the read began: the read must see one of them or something later.
      const acked = writes.filter((w) => w.status === 'ok' && (w.ret ?? Infinity) < r.call);
      // Writes that could be the last the read sees: begun before it ended, and not followed in
      // real time by one of those, i.e. not returned before the latest call among them (that
      // write itself returns after its own call, so it is one).
      const latestCall = acked.reduce((m, a) => Math.max(m, a.call), -Infinity);
      const lastValues = new Set(
        writes.filter((w) => w.call < end && (w.ret ?? Infinity) >= latestCall).map(valueOf),
      );
      const seen = canonicalJson(r.output);
      const ok = lastValues.has(seen) || (seen === 'null' && acked.length === 0);
      if (ok) continue;
      const last = [...acked].sort((a, b) => (b.ret ?? 0) - (a.ret ?? 0))[0];
      return fail(
        'no-lost-write',
        'safety',
        checked,
        `${r.node} reads ${key} = ${shortJson(r.output)} after the faults, which no last write ` +
          `produced${last === undefined ? '' : `: the acknowledged ${describe(last)} is lost`}`,
        [...at(trace, r), ...(last === undefined ? [] : at(trace, last))],
      );
    }
  }
  return pass('no-lost-write', 'safety', checked);
}

export function completes(
  trace: readonly TraceEvent[],
  ops: readonly KvHistoryOp[],
  correct: (n: NodeId) => boolean,
): Verdict {
  let checked = 0;
  for (const o of ops) {
    if (!correct(o.node) || o.crashed) continue;
    checked++;
    if (o.status === 'ok') continue;
    return fail(
      'completes',
      'liveness',
      checked,
      `${describe(o)} issued at ${o.node} (t=${o.call}) ended ${o.status}, though ${o.node} is correct`,
      at(trace, o),
    );
  }
  return pass('completes', 'liveness', checked);
}

export function converges(
  trace: readonly TraceEvent[],
  ops: readonly KvHistoryOp[],
  correct: (n: NodeId) => boolean,
): Verdict {
  let checked = 0;
  for (const [key, own] of byKey(ops)) {
    // Reads begun while a write of the key was still to be acknowledged may differ rightly.
    const settled = own.reduce(
      (m, o) => (o.input.f !== 'get' && o.ret !== undefined ? Math.max(m, o.ret) : m),
      Number.NEGATIVE_INFINITY,
    );
    const reads = finalReads(own, key).filter((r) => correct(r.node) && r.call > settled);
    checked += reads.length;
    const first = reads[0];
    const other = reads.find((r) => canonicalJson(r.output) !== canonicalJson(first?.output));
    if (first === undefined || other === undefined) continue;
    return fail(
      'converges',
      'liveness',
      checked,
      `after the faults ${first.node} reads ${key} = ${shortJson(first.output)} but ${other.node} ` +
        `reads ${shortJson(other.output)}`,
      [...at(trace, first), ...at(trace, other)],
    );
  }
  return pass('converges', 'liveness', checked);
}

/** Every kv property, in the order above. */
export function checkKv(trace: readonly TraceEvent[], correct: (n: NodeId) => boolean): Verdict[] {
  const { ops } = kvHistory(trace);
  return [
    linearizable(trace, ops),
    incrementsOnce(trace, ops),
    noLostWrite(trace, ops),
    completes(trace, ops, correct),
    converges(trace, ops, correct),
  ];
}
