/**
 * Session guarantees (Terry et al., "Session guarantees for weakly consistent replicated data",
 * 1994) of the replicated stores' clients, judged from a trace alone: each (node, client) is one
 * session, and its answered operations (`kv-result` deliveries with status ok) in trace order.
 *
 *   read-your-writes   a read reflects the session's own earlier writes
 *   monotonic reads    a read never returns something older than what the session already saw
 *
 * Checked per key, as the two together:
 * - Counter keys (only incremented and read; increments positive): a read (or an increment's
 *   output) never returns less than the session has already seen (an earlier read, or the
 *   output of its own increment).
 * - Register keys (written values unique per write): a read returns the session's latest
 *   observed value (its own last write, or its last read) or a value it has never observed (a
 *   newer write merged in); an earlier observed value coming back means the replica went back.
 *   A read of null is never judged older: every delete writes it, so it names no one write.
 * Weaker than linearizability (a linearizable store satisfies both for every session); the
 * property an eventually consistent store can keep while a client stays on its replica.
 * Assumes: one client per (node, name); written values unique per write; increments positive.
 */

import type { TraceEvent } from '../core/trace.ts';
import { canonicalJson, fail, pass, type Verdict } from './verdict.ts';

export const SESSION_PROPERTY = 'session-guarantees';

/** The fields of a store operation and its result that this check reads (protocols/kv/types.ts). */
interface Op {
  readonly f: string;
  readonly key: string;
  readonly value?: unknown;
  readonly to?: unknown;
}
interface Result {
  readonly client: string;
  readonly op: Op;
  readonly status: string;
  readonly output?: unknown;
}

export function sessionGuarantees(trace: readonly TraceEvent[]): Verdict {
  const counters = new Set<string>();
  const written = new Set<string>();
  for (const e of trace) {
    if (e.type !== 'command') continue;
    const op = (e.cmd as { op?: Op }).op;
    if (op === undefined) continue;
    if (op.f === 'incr') counters.add(op.key);
    else if (op.f !== 'get') written.add(op.key);
  }
  for (const k of written) counters.delete(k);
  const floor = new Map<string, { value: number; index: number }>();
  const observed = new Map<string, { latest: string; index: number; all: Map<string, number> }>();
  let checked = 0;
  for (let index = 0; index < trace.length; index++) {
    const e = trace[index] as TraceEvent;
    if (e.type !== 'deliver') continue;
    const ev = e.event as { readonly type?: unknown };
    if (ev.type !== 'kv-result') continue;
    const r = ev as Result;
    if (r.status !== 'ok') continue;
    const session = `${e.node}/${r.client}`;
    const at = `${session} at t=${e.t}: ${r.op.f}(${r.op.key}) → ${JSON.stringify(r.output)}`;
    const sk = `${session}\u0000${r.op.key}`;
    checked++;
    if (counters.has(r.op.key)) {
      const v = typeof r.output === 'number' ? r.output : 0;
      const min = floor.get(sk);
      if (min !== undefined && v < min.value) {
        return fail(
          SESSION_PROPERTY,
          'safety',
          checked,
          `${at}, but the session already saw ${min.value} (monotonic reads / read-your-writes)`,
          [
            { index: min.index, event: trace[min.index] as TraceEvent },
            { index, event: e },
          ],
        );
      }
      floor.set(sk, { value: v, index });
      continue;
    }
    let value: unknown;
    if (r.op.f === 'get') value = r.output;
    else if (r.op.f === 'put') value = r.op.value;
    else if (r.op.f === 'cas' && r.output === true) value = r.op.to;
    else if (r.op.f === 'delete') value = null;
    else continue;
    const key = canonicalJson(value);
    const o = observed.get(sk) ?? { latest: key, index, all: new Map<string, number>() };
    // null (a deleted or never written key) names no single write: never taken as older.
    if (r.op.f === 'get' && key !== o.latest && key !== 'null' && o.all.has(key)) {
      return fail(
        SESSION_PROPERTY,
        'safety',
        checked,
        `${at}, an older value than the session's latest ${o.latest} (monotonic reads / read-your-writes)`,
        [...new Set([o.all.get(key) ?? o.index, o.index, index])].map((i) => ({
          index: i,
          event: trace[i] as TraceEvent,
        })),
      );
    }
    if (!o.all.has(key)) o.all.set(key, index);
    observed.set(sk, { latest: key, index, all: o.all });
  }
  return pass(SESSION_PROPERTY, 'safety', checked);
}
