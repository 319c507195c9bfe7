/**
 * Accounting for a real cluster's workload (`steadfast cluster`): every command the workload
 * planned ends with exactly one fate, so nothing vanishes from the verdict.
 *
 *   refused    its node was down when it was due: never handed over. The supervisor records it
 *              in the merged trace as a `command` with `accepted: false`, as the simulator
 *              records a command to a crashed node, so the checkers see it too.
 *   rejected   handed over, and the node's stack refused it (an `error` reply; the node's own
 *              trace has it with `accepted: false`).
 *   in doubt   handed over, and the node crashed before answering (it died with the command in
 *              its pipe or in an uncommitted turn), or after accepting it and before it was
 *              done; or a store answered `indefinite` (its client gave up).
 *   done       its completion is in the merged trace (below); a store's `fail` counts as done
 *              (it definitely did not happen) and is counted as failed too.
 *   not done   accepted by a node that did not crash afterwards, and not done by the end: the
 *              protocol's own checkers judge whether that breaks its specification.
 * planned = refused + issued; issued = rejected + in doubt + done + not done (asserted).
 *
 * Completion, read off the command and delivery APIs of src/protocols:
 *   send { to, payload }    delivered at `to` from its node: a `deliver` event, or the durable
 *                           `applied` record an exactly-once application writes before its
 *                           notification (a crash may cut the notification off, never the effect)
 *   broadcast { payload }   delivered at its origin: a `deliver` event, or the delivered-log
 *                           entry a logged broadcast appends before its notification
 *   kv { client, serial }   its `kv-result` at its node: `ok`/`fail` done, `indefinite` in doubt
 * A command of any other type has no completion here: accepted, it counts as not done.
 *
 * Cross-checks against the durable traces (the `accounted` verdict fails on either): every
 * command a node accepted is in its durable trace unless it crashed after accepting it (the
 * driver commits the trace before anything it records becomes visible), and every accepted
 * command in the trace is one the supervisor handed over.
 * Assumes: commands are unique per node (the registry's workloads' are: payloads and
 * (client, serial) unique per node), as the checkers assume.
 */

import { assert } from '../core/errors.ts';
import type { NodeId } from '../core/ids.ts';
import { traceReplacer, type TraceEvent } from '../core/trace.ts';
import { appendedEntry } from '../protocols/broadcast/logged-log.ts';
import { isAppliedKey } from './storage.ts';

/** One planned command as the supervisor handled it (filled in while the run goes on). */
export interface OpRecord {
  readonly node: NodeId;
  readonly cmd: unknown;
  /** When it was refused or handed over (Unix-epoch ms, the nodes' clock). */
  t: number;
  handed: 'pending' | 'refused' | 'written';
  /** The node's reply to a written command, once it came. */
  answer?: 'accepted' | 'rejected';
}

export type Fate = 'refused' | 'rejected' | 'in-doubt' | 'done' | 'not-done';

export interface Accounting {
  readonly planned: number;
  readonly issued: number;
  readonly refused: number;
  readonly rejected: number;
  readonly inDoubt: number;
  /** Of the in-doubt ones: handed over, never answered (the node died first). */
  readonly unanswered: number;
  readonly done: number;
  /** Of the done ones: a store's `fail` (it did not happen). */
  readonly failed: number;
  readonly notDone: number;
  /** Each planned command's fate, in plan order. */
  readonly fates: readonly Fate[];
  /** Accepted by a node that never crashed afterwards, yet not in its durable trace. */
  readonly untraced: readonly string[];
  /** Accepted commands in the trace that the supervisor never handed over. */
  readonly unplanned: readonly string[];
  /** The first not-done commands, described. */
  readonly notDoneOps: readonly string[];
}

function rec(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
}

const json = (v: unknown): string => JSON.stringify(v, traceReplacer);

/** The key of a command's completion, or undefined for a command type with none. */
export function completionKey(node: NodeId, cmd: unknown): string | undefined {
  const c = rec(cmd);
  switch (c?.type) {
    case 'send':
      return typeof c.to === 'string' ? `send\0${c.to}\0${node}\0${json(c.payload)}` : undefined;
    case 'broadcast':
      return `broadcast\0${node}\0${json(c.payload)}`;
    case 'kv':
      return `kv\0${node}\0${String(c.client)}\0${String(c.serial)}`;
    default:
      return undefined;
  }
}

type Status = 'done' | 'failed' | 'in-doubt';

/** The completion a delivery at `node` stands for (see the module header). */
export function deliveryCompletion(
  node: NodeId,
  event: unknown,
): { readonly key: string; readonly status: Status } | undefined {
  const d = rec(event);
  if (d?.type === 'kv-result') {
    const status = d.status === 'ok' ? 'done' : d.status === 'fail' ? 'failed' : 'in-doubt';
    return { key: `kv\0${node}\0${String(d.client)}\0${String(d.serial)}`, status };
  }
  if (d?.type !== 'deliver' || !('payload' in d)) return undefined;
  if (typeof d.origin === 'string') {
    // A broadcast is done when its origin delivers it.
    if (d.origin !== node) return undefined;
    return { key: `broadcast\0${node}\0${json(d.payload)}`, status: 'done' };
  }
  if (typeof d.from === 'string') {
    return { key: `send\0${node}\0${d.from}\0${json(d.payload)}`, status: 'done' };
  }
  return undefined;
}

/** Every completion the merged trace shows: deliveries, applied records, delivered-log entries. */
function completions(trace: readonly TraceEvent[]): Map<string, Status> {
  const out = new Map<string, Status>();
  const note = (c: { key: string; status: Status } | undefined) => {
    if (c === undefined) return;
    // A definite answer wins over an indefinite one (a retried operation answered later).
    if (out.get(c.key) === undefined || out.get(c.key) === 'in-doubt') out.set(c.key, c.status);
  };
  for (const e of trace) {
    if (e.type === 'deliver') note(deliveryCompletion(e.node, e.event));
    else if (e.type === 'persist') {
      for (const w of e.writes) {
        if (!isAppliedKey(w.key)) continue;
        const v = rec(w.value);
        if (v !== undefined && typeof v.from === 'string' && 'payload' in v) {
          note({ key: `send\0${e.node}\0${v.from}\0${json(v.payload)}`, status: 'done' });
        }
      }
      const entry = appendedEntry(e);
      if (entry !== undefined) {
        note(deliveryCompletion(e.node, { type: 'deliver', ...entry }));
      }
    }
  }
  return out;
}

const MAX_LISTED = 5;

/** The fate of every planned command (see the module header). */
export function accountOps(ops: readonly OpRecord[], trace: readonly TraceEvent[]): Accounting {
  const done = completions(trace);
  const lastCrash = new Map<NodeId, number>();
  const traced = new Map<string, number>();
  for (const e of trace) {
    if (e.type === 'crash') lastCrash.set(e.node, Math.max(lastCrash.get(e.node) ?? 0, e.t));
    else if (e.type === 'command' && e.accepted) {
      const k = `${e.node}\0${json(e.cmd)}`;
      traced.set(k, (traced.get(k) ?? 0) + 1);
    }
  }
  const crashedAfter = (o: OpRecord) => (lastCrash.get(o.node) ?? -Infinity) >= o.t;
  const describe = (o: OpRecord) => `${o.node}: ${json(o.cmd)}`;
  const untraced: string[] = [];
  const notDoneOps: string[] = [];
  let unanswered = 0;
  let failed = 0;
  const fates = ops.map((o): Fate => {
    if (o.handed === 'refused' || o.handed === 'pending') return 'refused';
    if (o.answer === 'rejected') return 'rejected';
    // Accepted (or unanswered: the node may have accepted it and died): its trace entry.
    const k = `${o.node}\0${json(o.cmd)}`;
    const inTrace = traced.get(k) ?? 0;
    if (inTrace > 0) traced.set(k, inTrace - 1);
    else if (o.answer === 'accepted' && !crashedAfter(o)) untraced.push(describe(o));
    const key = completionKey(o.node, o.cmd);
    const status = key === undefined ? undefined : done.get(key);
    if (status === 'done') return 'done';
    if (status === 'failed') {
      failed++;
      return 'done';
    }
    if (o.answer === undefined) {
      unanswered++;
      return 'in-doubt';
    }
    if (status === 'in-doubt' || crashedAfter(o)) return 'in-doubt';
    if (notDoneOps.length < MAX_LISTED) notDoneOps.push(describe(o));
    return 'not-done';
  });
  const unplanned: string[] = [];
  for (const [k, n] of traced) {
    if (n > 0 && unplanned.length < MAX_LISTED) unplanned.push(k.replace('\0', ': '));
  }
  const count = (f: Fate) => fates.filter((x) => x === f).length;
  const a: Accounting = {
    planned: ops.length,
    issued: ops.length - count('refused'),
    refused: count('refused'),
    rejected: count('rejected'),
    inDoubt: count('in-doubt'),
    unanswered,
    done: count('done'),
    failed,
    notDone: count('not-done'),
    fates,
    untraced: untraced.slice(0, MAX_LISTED),
    unplanned,
    notDoneOps,
  };
  assert(
    a.planned === a.refused + a.issued && a.issued === a.rejected + a.inDoubt + a.done + a.notDone,
    'accounting: every planned command has exactly one fate',
  );
  return a;
}

/** `planned 60 · issued 54 · refused 6 (node down) · …`: one line for a report. */
export function formatAccounting(a: Accounting): string {
  const parts = [
    `planned ${a.planned}`,
    `issued ${a.issued}`,
    `refused ${a.refused} (node down)`,
    ...(a.rejected > 0 ? [`rejected ${a.rejected} (by the stack)`] : []),
    `in doubt ${a.inDoubt}${a.unanswered > 0 ? ` (${a.unanswered} unanswered)` : ''}`,
    `done ${a.done}${a.failed > 0 ? ` (${a.failed} failed)` : ''}`,
    `not done ${a.notDone}`,
  ];
  return parts.join(' · ');
}
