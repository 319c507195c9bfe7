/**
 * Fair-loss link (the textbook's FLL): send once, deliver what arrives.
 *
 * Guarantees, given a fair-loss network: FLL1 fair-loss (a message sent infinitely often is
 * delivered infinitely often), FLL2 finite duplication, FLL3 no creation. It adds nothing the
 * network does not give: no retransmission, no dedup, no ordering. Every other link wraps or
 * replaces it.
 * Assumes: nothing of the network beyond fairness.
 */

import { SteadfastError } from '../../core/errors.ts';
import type { NodeId } from '../../core/ids.ts';
import {
  OutputQueue,
  type NodeContext,
  type Protocol,
  type StackSpec,
} from '../../core/protocol.ts';
import type { Instant } from '../../core/time.ts';

export interface LinkSend {
  readonly type: 'send';
  readonly to: NodeId;
  readonly payload: unknown;
}

export interface LinkData {
  readonly type: 'data';
  readonly payload: unknown;
}

export interface LinkDeliver {
  readonly type: 'deliver';
  readonly from: NodeId;
  readonly payload: unknown;
}

export function isLinkData(value: unknown): value is LinkData {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { type?: unknown }).type === 'data' &&
    'payload' in value
  );
}

export class FairLossLink
  extends OutputQueue<LinkData, LinkDeliver>
  implements Protocol<LinkData, LinkSend, LinkDeliver>
{
  private sent = 0;
  private received = 0;

  constructor(private readonly ctx: NodeContext) {
    super();
  }

  handleStart(): void {
    // Stateless: nothing to recover.
  }

  handleMessage(_now: Instant, from: NodeId, msg: LinkData): void {
    this.received++;
    this.deliver({ type: 'deliver', from, payload: msg.payload });
  }

  handleTimer(): void {
    // No timers.
  }

  handleCommand(_now: Instant, cmd: LinkSend): void {
    if (!this.ctx.nodes.includes(cmd.to)) {
      throw new SteadfastError('unknown-peer', `fair-loss link: no node ${JSON.stringify(cmd.to)}`);
    }
    this.sent++;
    this.send(cmd.to, { type: 'data', payload: cmd.payload });
  }

  stats(): Readonly<Record<string, number>> {
    return { sent: this.sent, received: this.received };
  }
}

export const fairLossLink: StackSpec<LinkData, LinkSend, LinkDeliver> = {
  name: 'fair-loss',
  create: (ctx) => new FairLossLink(ctx),
  isMessage: isLinkData,
};
