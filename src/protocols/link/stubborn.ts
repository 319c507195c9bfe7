/**
 * Stubborn link (the textbook's SL): retransmit every message on a timer until it is cancelled.
 *
 * Guarantees, over a fair-loss network: SL1 stubborn delivery (a message sent to a correct node
 * is delivered there again and again while it stays pending), SL2 no creation. It does NOT
 * deduplicate: the receiver sees every copy. It is the "retransmit on timeout" half of reliable
 * delivery; the perfect link adds acks (delete on ack) and receiver dedup on top of the idea.
 * Bounds: at most `pendingMax` messages pending (a further send throws `buffer-full`); one timer.
 * Assumes: the application cancels a message (by its `ref`) when it no longer needs it sent.
 */

import { SteadfastError } from '../../core/errors.ts';
import type { NodeId } from '../../core/ids.ts';
import {
  OutputQueue,
  type NodeContext,
  type Protocol,
  type StackSpec,
} from '../../core/protocol.ts';
import { addMs, type Instant } from '../../core/time.ts';
import { isLinkData, type LinkData, type LinkDeliver } from './fair-loss.ts';

export type StubbornCommand =
  | { readonly type: 'send'; readonly to: NodeId; readonly payload: unknown; readonly ref: string }
  | { readonly type: 'cancel'; readonly ref: string };

export interface StubbornOptions {
  /** Period of the retransmission timer. */
  readonly retransmitIntervalMs: number;
  /** Most messages pending at once. */
  readonly pendingMax: number;
}

export const STUBBORN_DEFAULTS: StubbornOptions = { retransmitIntervalMs: 50, pendingMax: 1024 };

const RETRANSMIT = 'retransmit';

export class StubbornLink
  extends OutputQueue<LinkData, LinkDeliver>
  implements Protocol<LinkData, StubbornCommand, LinkDeliver>
{
  private readonly pending = new Map<string, { to: NodeId; msg: LinkData }>();
  /** Timer `retransmit`: armed while `pending` is non-empty, every retransmitIntervalMs. */
  private timerArmed = false;
  private retransmissions = 0;
  private received = 0;

  constructor(
    private readonly ctx: NodeContext,
    private readonly opts: StubbornOptions = STUBBORN_DEFAULTS,
  ) {
    super();
  }

  handleStart(): void {
    // Volatile by design: a crash forgets pending messages (the application resends).
  }

  handleMessage(_now: Instant, from: NodeId, msg: LinkData): void {
    this.received++;
    this.deliver({ type: 'deliver', from, payload: msg.payload });
  }

  handleTimer(now: Instant, name: string): void {
    if (name !== RETRANSMIT) return;
    this.timerArmed = false;
    for (const { to, msg } of this.pending.values()) {
      this.retransmissions++;
      this.send(to, msg);
    }
    this.arm(now);
  }

  handleCommand(now: Instant, cmd: StubbornCommand): void {
    switch (cmd.type) {
      case 'send': {
        if (!this.ctx.nodes.includes(cmd.to)) {
          throw new SteadfastError(
            'unknown-peer',
            `stubborn link: no node ${JSON.stringify(cmd.to)}`,
          );
        }
        if (this.pending.has(cmd.ref)) {
          throw new SteadfastError(
            'bad-argument',
            `stubborn link: ref ${cmd.ref} is already pending`,
          );
        }
        if (this.pending.size >= this.opts.pendingMax) {
          throw new SteadfastError(
            'buffer-full',
            `stubborn link: ${this.opts.pendingMax} messages pending`,
          );
        }
        const msg: LinkData = { type: 'data', payload: cmd.payload };
        this.pending.set(cmd.ref, { to: cmd.to, msg });
        this.send(cmd.to, msg);
        this.arm(now);
        break;
      }
      case 'cancel':
        this.pending.delete(cmd.ref);
        if (this.pending.size === 0 && this.timerArmed) {
          this.timerArmed = false;
          this.cancelTimer(RETRANSMIT);
        }
        break;
      default:
        throw new SteadfastError('unknown-command', `stubborn link: ${JSON.stringify(cmd)}`);
    }
  }

  private arm(now: Instant): void {
    if (this.timerArmed || this.pending.size === 0) return;
    this.timerArmed = true;
    this.setTimer(RETRANSMIT, addMs(now, this.opts.retransmitIntervalMs));
  }

  stats(): Readonly<Record<string, number>> {
    return {
      pending: this.pending.size,
      retransmissions: this.retransmissions,
      received: this.received,
    };
  }
}

export function stubbornLink(
  opts: StubbornOptions = STUBBORN_DEFAULTS,
): StackSpec<LinkData, StubbornCommand, LinkDeliver> {
  return { name: 'stubborn', create: (ctx) => new StubbornLink(ctx, opts), isMessage: isLinkData };
}
