/**
 * The delivered log of the logged (crash-recovery) broadcasts: its durable record, and how a
 * trace is read when delivery means appending to it.
 *
 * In the crash-recovery model (Cachin, Guerraoui and Rodrigues, 2nd ed., ch. 3, the logged
 * broadcasts) a process "log-delivers" m by adding m to a `delivered` variable it stores; the
 * application reads the stored log, so a crash can neither take a delivery back nor make one
 * happen twice. Our logged broadcasts keep that log in bounded form (per-origin watermark +
 * window, logged.ts) and write, in the SAME atomic batch as the mark, the entry the batch appends
 * under the key `log` (one entry per batch, overwritten by the next: durable state stays
 * bounded, while the trace's `persist` events keep every append). The `deliver` output that
 * follows the batch is the notification of the append: a crash between the two loses the
 * notification, never the delivery, exactly as the reliable link's `applied` record stands for
 * an exactly-once application (ARCHITECTURE.md, "Exactly-once is about effects").
 *
 * So the specification reads a logged broadcast's trace through `logView`:
 *   - each `persist` whose batch appends an entry IS that node's delivery, at that place;
 *   - the `deliver` events (notifications) are left to `loggedDelivery`, which checks that each
 *     one follows the durable append of its entry, once, in the same step (only a crash may cut
 *     a notification off, and no restart announces an entry again);
 *   - a broadcast command whose step a crash cut before ANY output was carried out had no effect
 *     at all (nothing stored, nothing sent): it reads as refused, as if the node had been down.
 *     (The crash-stop checkers keep such a command "in doubt" and let it order the origin's
 *     later broadcasts, which is only sound when the origin never broadcasts again.)
 * The view has the trace's length and positions, so a violation's `#index` points into the real
 * trace (at the persist that made the delivery).
 *
 * Pure functions of the trace; no I/O.
 */

import type { NodeId } from '../../core/ids.ts';
import type { TraceEvent } from '../../core/trace.ts';

/** Durable key of the entry a batch appends to the delivered log (overwritten by the next). */
export const LOG_KEY = 'log';

/** One delivered-log entry: the delivery `{ type: 'deliver', origin, n, payload }` stands for. */
export interface LogEntry {
  readonly origin: NodeId;
  readonly n: number;
  readonly payload: unknown;
}

export function isLogEntry(v: unknown): v is LogEntry {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  return typeof e.origin === 'string' && typeof e.n === 'number' && 'payload' in e;
}

type PersistEvent = Extract<TraceEvent, { type: 'persist' }>;

/** The entry a persist event's batch appends to the delivered log, if any. */
export function appendedEntry(e: PersistEvent): LogEntry | undefined {
  for (const w of e.writes) {
    if (w.key === LOG_KEY && isLogEntry(w.value)) return w.value;
  }
  return undefined;
}

/** The delivery an entry stands for (the broadcasts' delivery event). */
function deliveryOf(e: PersistEvent, entry: LogEntry): Extract<TraceEvent, { type: 'deliver' }> {
  return {
    t: e.t,
    type: 'deliver',
    node: e.node,
    event: { type: 'deliver', origin: entry.origin, n: entry.n, payload: entry.payload },
  };
}

/**
 * The trace as the broadcast specification reads a logged broadcast (module header): same
 * length and positions; deliveries at the appends, notifications turned into notes, commands
 * with no carried-out output read as refused.
 */
export function logView(trace: readonly TraceEvent[]): TraceEvent[] {
  const out: TraceEvent[] = new Array<TraceEvent>(trace.length);
  /** Per node: the position of its last input, when that input was an accepted command. */
  const lastCommand = new Map<NodeId, number>();
  for (let i = 0; i < trace.length; i++) {
    const e = trace[i] as TraceEvent;
    out[i] = e;
    switch (e.type) {
      case 'persist': {
        const entry = appendedEntry(e);
        if (entry !== undefined) out[i] = deliveryOf(e, entry);
        break;
      }
      case 'deliver':
        out[i] = { t: e.t, type: 'note', text: `${e.node}: delivery notification` };
        break;
      case 'command':
        if (e.accepted) lastCommand.set(e.node, i);
        else lastCommand.delete(e.node);
        break;
      case 'receive':
        lastCommand.delete(e.to);
        break;
      case 'timer':
      case 'start':
        lastCommand.delete(e.node);
        break;
      case 'crash': {
        const at = lastCommand.get(e.node);
        const cmd = at === undefined ? undefined : trace[at];
        if (e.after === 'input' && e.lostOutputs > 0 && cmd?.type === 'command') {
          out[at as number] = { ...cmd, accepted: false };
        }
        lastCommand.delete(e.node);
        break;
      }
      default:
        break;
    }
  }
  return out;
}

/** What `loggedDelivery` finds: how many notifications it checked, and the first fault. */
export interface LoggedDeliveryResult {
  readonly checked: number;
  readonly fault?: {
    readonly message: string;
    readonly events: readonly { index: number; event: TraceEvent }[];
  };
}

function sameEntry(a: LogEntry, d: unknown): boolean {
  if (typeof d !== 'object' || d === null) return false;
  const x = d as Record<string, unknown>;
  return (
    x.origin === a.origin && x.n === a.n && JSON.stringify(x.payload) === JSON.stringify(a.payload)
  );
}

/**
 * Every `deliver` notification follows the durable append of its entry at that node, once, in
 * the same step: the output order persist-then-deliver, and no entry announced again after a
 * restart. An append whose notification a crash cut off is allowed (the delivery is in the log);
 * an append left unannounced by a step that ran to its end is not. The `byzantine` nodes are not
 * judged (what a Byzantine process announces is its own business, as for every checker).
 */
export function loggedDelivery(
  trace: readonly TraceEvent[],
  byzantine: readonly NodeId[] = [],
): LoggedDeliveryResult {
  const judged = (node: NodeId): boolean => !byzantine.includes(node);
  /** Per node: the append not yet announced, with its position. */
  const owed = new Map<NodeId, { entry: LogEntry; index: number }>();
  let checked = 0;
  const at = (index: number) => ({ index, event: trace[index] as TraceEvent });
  const inputAt = (node: NodeId, index: number): LoggedDeliveryResult | undefined => {
    const o = owed.get(node);
    if (o === undefined) return undefined;
    return {
      checked,
      fault: {
        message:
          `${node} appended (${o.entry.origin}, ${o.entry.n}) to its delivered log at ` +
          `#${o.index} but never announced it, though no crash cut that step short`,
        events: [at(o.index), at(index)],
      },
    };
  };
  for (let i = 0; i < trace.length; i++) {
    const e = trace[i] as TraceEvent;
    let fault: LoggedDeliveryResult | undefined;
    if ('node' in e && !judged(e.node)) continue;
    if (e.type === 'receive' && !judged(e.to)) continue;
    switch (e.type) {
      case 'persist': {
        const entry = appendedEntry(e);
        if (entry === undefined) break;
        fault = inputAt(e.node, i);
        owed.set(e.node, { entry, index: i });
        break;
      }
      case 'deliver': {
        checked++;
        const o = owed.get(e.node);
        if (o !== undefined && sameEntry(o.entry, e.event)) {
          owed.delete(e.node);
          break;
        }
        const ev = e.event as { origin?: unknown; n?: unknown };
        return {
          checked,
          fault: {
            message:
              `${e.node} announced (${String(ev.origin)}, ${String(ev.n)}) at #${i} without ` +
              'appending it to its delivered log first (or announced it twice)',
            events: o === undefined ? [at(i)] : [at(o.index), at(i)],
          },
        };
      }
      case 'crash':
        owed.delete(e.node);
        break;
      case 'receive':
        fault = inputAt(e.to, i);
        break;
      case 'timer':
      case 'command':
      case 'start':
        fault = inputAt(e.node, i);
        break;
      default:
        break;
    }
    if (fault !== undefined) return fault;
  }
  for (const [node] of owed) {
    const f = inputAt(node, trace.length - 1);
    if (f !== undefined) return f;
  }
  return { checked };
}
