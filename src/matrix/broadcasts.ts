/**
 * The broadcast protocols in the matrix. Every broadcast is judged as a reliable broadcast at
 * least (validity and agreement are its liveness properties, no duplication and no creation its
 * safety properties), so best-effort broadcast's missing agreement shows; uniform, FIFO and
 * causal broadcast add their own property.
 */

import { checkBroadcast, type BroadcastKind } from '../check/broadcast.ts';
import type { StackSpec } from '../core/protocol.ts';
import type { TraceEvent } from '../core/trace.ts';
import { bestEffortBroadcast } from '../protocols/broadcast/beb.ts';
import {
  causalBroadcast,
  eagerReliableBroadcast,
  fifoReliableBroadcast,
} from '../protocols/broadcast/eager.ts';
import { uniformReliableBroadcast } from '../protocols/broadcast/uniform.ts';
import { broadcastWorkload, registerProtocol, type CheckOptions } from './registry.ts';

type AnyStack = StackSpec<unknown, unknown, unknown>;

export function broadcastCheck(kind: BroadcastKind) {
  return (trace: readonly TraceEvent[], opts: CheckOptions) =>
    checkBroadcast(trace, kind, {
      nodes: opts.nodes,
      correct: opts.correct,
      byzantine: opts.byzantine,
    });
}

const entries: [string, string, () => AnyStack, BroadcastKind][] = [
  [
    'beb',
    'best-effort broadcast: send to all over perfect links (no relay)',
    () => bestEffortBroadcast(),
    'rb',
  ],
  [
    'eager-rb',
    'eager reliable broadcast: relay on first receipt, remember what was delivered',
    () => eagerReliableBroadcast(),
    'rb',
  ],
  [
    'urb',
    'majority-ack uniform reliable broadcast: deliver once a majority has relayed',
    () => uniformReliableBroadcast(),
    'urb',
  ],
  [
    'fifo-rb',
    'FIFO reliable broadcast: eager RB delivering each origin in order',
    () => fifoReliableBroadcast(),
    'fifo',
  ],
  [
    'causal',
    'causal broadcast: eager RB + vector clocks (waiting causal order)',
    () => causalBroadcast(),
    'causal',
  ],
];

for (const [name, description, stack, kind] of entries) {
  registerProtocol({
    name,
    kind: 'broadcast',
    description,
    stack,
    workload: broadcastWorkload,
    check: broadcastCheck(kind),
  });
}
