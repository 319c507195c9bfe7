/**
 * Best-effort broadcast (BEB): send the message to every process over perfect links, and deliver
 * it locally.
 *
 * Guarantees (crash-stop, over perfect links): BEB1 validity (if a correct process broadcasts m,
 * every correct process eventually delivers m), BEB2 no duplication, BEB3 no creation.
 * Not agreement: if the sender crashes midway through its loop of sends, some correct processes
 * deliver m and others never do (the course's first case).
 */

import type { ReliableOptions } from '../link/reliable.ts';
import type { NodeId } from '../../core/ids.ts';
import type { NodeContext } from '../../core/protocol.ts';
import type { Instant } from '../../core/time.ts';
import {
  isCount,
  isObject,
  broadcastStack,
  OverPerfectLinks,
  type BroadcastCommand,
  type BroadcastDeliver,
  requireBroadcastCommand,
} from './base.ts';

interface BebMsg {
  readonly k: 'beb';
  readonly n: number;
  readonly payload: unknown;
}

function isBebMsg(v: unknown): v is BebMsg {
  return isObject(v) && v.k === 'beb' && isCount(v.n) && 'payload' in v;
}

export class BestEffortBroadcast extends OverPerfectLinks<BroadcastCommand, BroadcastDeliver> {
  private broadcasts = 0;

  constructor(ctx: NodeContext, linkOpts: Partial<ReliableOptions> = {}) {
    super(ctx, linkOpts);
  }

  protected onCommand(_now: Instant, cmd: BroadcastCommand): void {
    requireBroadcastCommand('beb', cmd);
    const n = ++this.broadcasts;
    const msg: BebMsg = { k: 'beb', n, payload: cmd.payload };
    this.sendToOthers(msg);
    this.deliver({ type: 'deliver', origin: this.ctx.id, n, payload: cmd.payload });
  }

  protected onLinkDeliver(from: NodeId, payload: unknown): void {
    if (!isBebMsg(payload)) {
      this.malformed++;
      return;
    }
    // The perfect link already removed duplicates: every arrival is new.
    this.deliver({ type: 'deliver', origin: from, n: payload.n, payload: payload.payload });
  }
}

export function bestEffortBroadcast(linkOpts: Partial<ReliableOptions> = {}) {
  return broadcastStack('beb', (ctx) => new BestEffortBroadcast(ctx, linkOpts));
}
