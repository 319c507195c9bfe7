/**
 * Shared plumbing of the broadcast protocols: each one is a layer wrapped around a perfect link
 * (the reliable engine in mode `pl`), as the textbook builds broadcast on perfect links.
 *
 * Guarantees: outputs keep program order exactly. A subclass's `deliver()` and its link sends
 * appear in the output list in the order the subclass made them (each `sendTo` drains the
 * link's outputs at once), so "deliver, then relay" and "relay, then deliver" are different
 * programs and a crash between outputs tells them apart, as the course's cases need.
 * Assumes: crash-stop (broadcast state is volatile; a recovered node starts afresh).
 *
 * The API common to every broadcast: command `{ type: 'broadcast', payload }`; delivery
 * `{ type: 'deliver', origin, n, payload }` where `n` is the origin's broadcast number (1, 2, …).
 */

import type { NodeId } from '../../core/ids.ts';
import {
  drainInner,
  innerName,
  innerState,
  OutputQueue,
  type DurableState,
  type NodeContext,
  type Protocol,
} from '../../core/protocol.ts';
import type { Instant } from '../../core/time.ts';
import { ReliableEndpoint, type ReliableMsg, type ReliableOptions } from '../link/reliable.ts';

export interface BroadcastCommand {
  readonly type: 'broadcast';
  readonly payload: unknown;
}

export interface BroadcastDeliver {
  readonly type: 'deliver';
  readonly origin: NodeId;
  readonly n: number;
  readonly payload: unknown;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

export function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
}

const LINK = 'pl';

export abstract class OverPerfectLinks<C, D>
  extends OutputQueue<ReliableMsg, D>
  implements Protocol<ReliableMsg, C, D>
{
  protected readonly link: ReliableEndpoint;
  /** Every node but this one. */
  protected readonly others: readonly NodeId[];
  protected now: Instant = 0 as Instant;
  protected malformed = 0;

  constructor(
    protected readonly ctx: NodeContext,
    linkOpts: Partial<ReliableOptions> = {},
  ) {
    super();
    this.link = new ReliableEndpoint(ctx, { ...linkOpts, defaultMode: 'pl' });
    this.others = ctx.nodes.filter((n) => n !== ctx.id);
  }

  handleStart(now: Instant, durable: DurableState): void {
    this.now = now;
    this.link.handleStart(now, innerState(durable, LINK));
    this.pull();
    this.onStart(now);
  }

  handleMessage(now: Instant, from: NodeId, msg: ReliableMsg): void {
    this.now = now;
    this.link.handleMessage(now, from, msg);
    this.pull();
  }

  handleTimer(now: Instant, name: string): void {
    this.now = now;
    const inner = innerName(name, LINK);
    if (inner !== undefined) {
      this.link.handleTimer(now, inner);
      this.pull();
    } else {
      this.onTimer(now, name);
    }
  }

  handleCommand(now: Instant, cmd: C): void {
    this.now = now;
    this.onCommand(now, cmd);
  }

  stats(): Readonly<Record<string, number>> {
    const l = this.link.stats();
    return {
      linkSent: l.sent ?? 0,
      linkRetransmissions: l.retransmissions ?? 0,
      malformed: this.malformed,
      ...this.extraStats(),
    };
  }

  /** Sends `payload` to `to` over the perfect link, keeping output order. */
  protected sendTo(to: NodeId, payload: unknown): void {
    this.link.handleCommand(this.now, { type: 'send', to, payload });
    this.pull();
  }

  /** Sends `payload` to every other node, in the fixed node order. */
  protected sendToOthers(payload: unknown, except?: NodeId): void {
    for (const to of this.others) if (to !== except) this.sendTo(to, payload);
  }

  protected onStart(_now: Instant): void {
    // Nothing by default.
  }

  protected onTimer(_now: Instant, _name: string): void {
    // No timers by default.
  }

  protected extraStats(): Record<string, number> {
    return {};
  }

  /** A message from `from` delivered by the perfect link. */
  protected abstract onLinkDeliver(from: NodeId, payload: unknown): void;

  protected abstract onCommand(now: Instant, cmd: C): void;

  private pull(): void {
    drainInner(
      this.link,
      LINK,
      (o) => {
        this.emit(o);
      },
      (d) => {
        this.onLinkDeliver(d.from, d.payload);
      },
    );
  }
}
