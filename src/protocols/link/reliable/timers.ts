/**
 * The reliable link's timers, typed: the engine arms and handles `{ kind, peer }`; the names the
 * driver sees (`rto/<peer>`, `ack/<peer>`) are made and parsed only here, at the boundary.
 *
 *   rto/<peer>   armed while messages to <peer> are in flight, at or before the earliest
 *                retransmission deadline (an early wake-up finds nothing due and re-arms)
 *   ack/<peer>   armed while an ack to <peer> is owed and `ackDelayMs` > 0
 *
 * Guarantees: `parseTimer(timerName(t))` is `t` for every peer id (the peer is everything after
 * the first '/', so ids may contain '/'); any other name parses as undefined.
 */

import type { NodeId } from '../../../core/ids.ts';

export type TimerKind = 'rto' | 'ack';

export interface LinkTimer {
  readonly kind: TimerKind;
  readonly peer: NodeId;
}

export function timerName(t: LinkTimer): string {
  return `${t.kind}/${t.peer}`;
}

export function parseTimer(name: string): LinkTimer | undefined {
  const slash = name.indexOf('/');
  if (slash < 0) return undefined;
  const kind = name.slice(0, slash);
  if (kind !== 'rto' && kind !== 'ack') return undefined;
  return { kind, peer: name.slice(slash + 1) };
}
