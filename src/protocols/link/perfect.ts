/**
 * Perfect (reliable) link: the reliable engine in mode `pl`.
 *
 * Guarantees over fair-loss links, for processes that do not crash (crash-stop model):
 * PL1 reliable delivery (a message sent by a correct process to a correct process is eventually
 * delivered), PL2 no duplication, PL3 no creation. Keeps the message in a send buffer,
 * retransmits on an adaptive timeout, deletes on ack; the receiver deduplicates with a watermark
 * and a bounded window. See reliable.ts for the mechanism and its bounds.
 * Does NOT survive a crash-recover of either end (its buffer and dedup state are volatile): use a
 * delivery channel with `exactly-once` for that.
 */

import type { StackSpec } from '../../core/protocol.ts';
import {
  isReliableMsg,
  ReliableEndpoint,
  type ReliableDeliver,
  type ReliableMsg,
  type ReliableOptions,
  type ReliableSend,
} from './reliable.ts';

export function perfectLink(
  opts: Partial<Omit<ReliableOptions, 'defaultMode'>> = {},
): StackSpec<ReliableMsg, ReliableSend, ReliableDeliver> {
  return {
    name: 'perfect',
    create: (ctx) => new ReliableEndpoint(ctx, { ...opts, defaultMode: 'pl' }),
    isMessage: isReliableMsg,
  };
}
