/**
 * ShiViz export: a trace as a log with vector clocks that ShiViz (and its fork TSViz) can open.
 *
 * What is emitted, exactly (ShiViz's file-upload format: the first line is the parser regular
 * expression, the second the multiple-executions delimiter, left empty because a trace is one
 * execution, then the log):
 *
 *   line 1   (?<event>.*)\n(?<host>\S*) (?<clock>{.*})        ← SHIVIZ_REGEX, ShiViz's default
 *   line 2   (empty: no multi-execution delimiter)
 *   then, per event, two lines:
 *            #12 t=5 n1 → n2 net-send #3 {"payload":"a",…}      ← `event`: trace index + describeEvent
 *            n1 {"n1":4,"n2":2}                                 ← `host`, then its vector clock (JSON)
 *
 * Guarantees:
 * - One event per host-local trace event, in trace order: start, command, send (at the sender),
 *   receive (at the receiver), deliver, timer, persist (the last two unless `internal: false`),
 *   crash, recover. Network-only events (drop, duplicate, corrupt, partition, network, note)
 *   happen at no host and are left out: a lost copy shows as a send without a receive.
 * - Vector clocks follow causality: every host event increments the host's own entry by exactly
 *   one, starting at 1 (ShiViz requires this); a receive first takes the entry-wise maximum with
 *   the clock of the send it receives (every copy of a message carries its send's clock). So
 *   clocks are monotone per host and a receive's clock dominates its send's.
 * - Entries that are still 0 are omitted; the host's own entry is always present.
 * - Lines never contain a newline; host names have whitespace replaced by `_` (the regex's
 *   `host` is `\S*`).
 * Assumes: wire ids are unique per send (the trace schema's rule).
 */

import type { NodeId } from '../core/ids.ts';
import type { TraceEvent } from '../core/trace.ts';
import { describeEvent } from '../check/verdict.ts';

/** The parser regular expression written on the first line (ShiViz's own default). */
export const SHIVIZ_REGEX = '(?<event>.*)\\n(?<host>\\S*) (?<clock>{.*})';

export interface ShiVizOptions {
  /** Include timers and persists (default true). */
  readonly internal?: boolean;
}

type Clock = Map<string, number>;

function hostName(node: NodeId): string {
  const h = node.replace(/\s/g, '_');
  return h === '' ? '_' : h;
}

function oneLine(s: string): string {
  return s.replace(/[\r\n\u2028\u2029]+/g, ' ');
}

function clockJson(c: Clock): string {
  const parts: string[] = [];
  for (const [h, v] of c) if (v > 0) parts.push(`${JSON.stringify(h)}:${v}`);
  return `{${parts.join(',')}}`;
}

/** The trace as a ShiViz log (see the module comment for the exact format). */
export function toShiViz(trace: readonly TraceEvent[], opts: ShiVizOptions = {}): string {
  const internal = opts.internal ?? true;
  const clocks = new Map<string, Clock>();
  const sent = new Map<number, Clock>();
  const out: string[] = [SHIVIZ_REGEX, ''];
  const clockOf = (h: string): Clock => {
    let c = clocks.get(h);
    if (c === undefined) {
      c = new Map();
      clocks.set(h, c);
    }
    return c;
  };
  const emit = (node: NodeId, index: number, e: TraceEvent, merge?: Clock): Clock => {
    const h = hostName(node);
    const c = clockOf(h);
    if (merge !== undefined) {
      for (const [k, v] of merge) if (v > (c.get(k) ?? 0)) c.set(k, v);
    }
    c.set(h, (c.get(h) ?? 0) + 1);
    out.push(oneLine(`#${index} ${describeEvent(e)}`), `${h} ${clockJson(c)}`);
    return c;
  };
  for (let i = 0; i < trace.length; i++) {
    const e = trace[i] as TraceEvent;
    switch (e.type) {
      case 'start':
      case 'command':
      case 'deliver':
      case 'crash':
      case 'recover':
        emit(e.node, i, e);
        break;
      case 'timer':
      case 'persist':
        if (internal) emit(e.node, i, e);
        break;
      case 'send':
        sent.set(e.id, new Map(emit(e.from, i, e)));
        break;
      case 'receive':
        emit(e.to, i, e, sent.get(e.id));
        break;
      default:
        break;
    }
  }
  return out.join('\n') + '\n';
}
