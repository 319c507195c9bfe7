/**
 * Delivery guarantees as an API: the application picks at-most-once, at-least-once or
 * exactly-once per channel, and may override it per message.
 *
 *   at-most-once  : sent once, never retransmitted; the receiver makes its dedup mark durable
 *                   before delivering, so a message is never delivered twice, even across a
 *                   receiver crash. Messages may be lost.
 *   at-least-once : the sender keeps the message in a durable send buffer and retransmits until it
 *                   is acked; the receiver delivers every copy that arrives. Never lost while both
 *                   ends eventually stay up; duplicates reach the application.
 *   exactly-once  : at-least-once delivery + receiver dedup, with the dedup mark and the
 *                   application's effect committed in ONE atomic persist before the ack. Across a
 *                   crash-recover of either end, no message is applied twice and none acked is lost.
 *                   Dedup is by (sender, seq), a watermark plus a bounded window; optionally also
 *                   by an application idempotency key, remembered for `keyWindowMs` (default 2
 *                   minutes, like NATS JetStream's duplicate window).
 *
 * OUTSIDE THE KEY WINDOW: a message with a key seen more than `keyWindowMs` ago (or pushed out by
 * `keyMax` newer keys) is applied again. Within it, the key is honoured across crashes (it is
 * persisted with the effect). Dedup by (sender, seq) has no time limit: seqs are never reused.
 *
 * Effects: exactly-once is about effects, not notifications. The channel takes the application's
 * state machine (`Effect`, a pure reducer); its new state is persisted in the same batch as the
 * dedup mark. The `deliver` event that follows is a notification: a crash between the persist and
 * the notification loses the notification, never the effect, and never applies it twice.
 *
 * Inbox (`inboxMax`, link/reliable/inbox.ts): exactly-once to an application that keeps its own
 * store. Each exactly-once delivery then carries `id` (`<from>/<seq>`: the seq after the last
 * '/', stable across re-offers) and stays in the node's durable inbox until the application
 * gives `{ type: 'inbox-ack', from, seq }`; what it still holds is delivered again (`again`) at
 * every start. At most `inboxMax` are held; a message arriving while it is full is not acked
 * (its sender retransmits).
 */

import type { NodeId } from '../../core/ids.ts';
import type { NodeContext, StackSpec } from '../../core/protocol.ts';
import type { Instant } from '../../core/time.ts';
import { OverReliableLink } from '../link/layer.ts';
import {
  isReliableMsg,
  type Effect,
  type InboxEntry,
  type Mode,
  type PendingSend,
  type ReliableDeliver,
  type ReliableInboxAck,
  type ReliableMsg,
  type ReliableOptions,
} from '../link/reliable.ts';

export type Guarantee = 'at-most-once' | 'at-least-once' | 'exactly-once';

export const GUARANTEES: readonly Guarantee[] = ['at-most-once', 'at-least-once', 'exactly-once'];

const MODE: Record<Guarantee, Mode> = {
  'at-most-once': 'amo',
  'at-least-once': 'alo',
  'exactly-once': 'eo',
};
const GUARANTEE: Record<Mode, Guarantee | 'perfect'> = {
  amo: 'at-most-once',
  alo: 'at-least-once',
  eo: 'exactly-once',
  pl: 'perfect',
};

export interface ChannelSend {
  readonly type: 'send';
  readonly to: NodeId;
  readonly payload: unknown;
  /** Overrides the channel's guarantee for this message. */
  readonly guarantee?: Guarantee;
  /** Application idempotency key (exactly-once only). */
  readonly key?: string;
}

/** The application has taken inbox message `seq` from `from` for good (module header). */
export interface ChannelInboxAck {
  readonly type: 'inbox-ack';
  readonly from: NodeId;
  readonly seq: number;
}

export type ChannelCommand = ChannelSend | ChannelInboxAck;

export interface ChannelDeliver {
  readonly type: 'deliver';
  readonly from: NodeId;
  readonly payload: unknown;
  readonly seq: number;
  readonly guarantee: Guarantee | 'perfect';
  /** Application state after the effect, when the channel has one. */
  readonly state?: unknown;
  /** Inbox messages only: `<from>/<seq>`, to ack it by and to deduplicate with (module header). */
  readonly id?: string;
  /** Inbox messages only: held until acked. */
  readonly inbox?: true;
  /** An inbox message offered again at start (it may have been seen before the restart). */
  readonly again?: true;
}

export interface ChannelOptions extends Partial<Omit<ReliableOptions, 'defaultMode' | 'effect'>> {
  readonly guarantee: Guarantee;
  readonly effect?: Effect;
}

const INNER = 'rl';

export class Channel extends OverReliableLink<ChannelCommand, ChannelDeliver> {
  private readonly guarantee: Guarantee;

  constructor(ctx: NodeContext, opts: ChannelOptions) {
    const { guarantee, ...rest } = opts;
    super(ctx, { ...rest, defaultMode: MODE[guarantee] }, INNER);
    this.guarantee = guarantee;
  }

  /** The application state the channel's effect has built. */
  get state(): unknown {
    return this.link.state;
  }

  /** Sends not yet acknowledged by their receiver (the engine's `pendingSends`). */
  pendingSends(): PendingSend[] {
    return this.link.pendingSends();
  }

  /** Whether the send `seq` to `to` is still unacknowledged (the engine's `isPending`). */
  isPending(to: NodeId, seq: number): boolean {
    return this.link.isPending(to, seq);
  }

  /** Whether the durable inbox holds message `seq` from `from` (false without one). */
  inboxHolds(from: NodeId, seq: number): boolean {
    return this.link.inboxHolds(from, seq);
  }

  /** What the durable inbox holds, not yet acked by the application (empty without one). */
  inboxEntries(): InboxEntry[] {
    return this.link.inboxEntries();
  }

  protected onCommand(_now: Instant, cmd: ChannelCommand): void {
    if (cmd.type === 'inbox-ack') {
      const ack: ReliableInboxAck = { type: 'inbox-ack', from: cmd.from, seq: cmd.seq };
      this.linkSend(ack);
      return;
    }
    const mode = MODE[cmd.guarantee ?? this.guarantee];
    this.linkSend(
      cmd.key === undefined
        ? { type: 'send', to: cmd.to, payload: cmd.payload, mode }
        : { type: 'send', to: cmd.to, payload: cmd.payload, mode, key: cmd.key },
    );
  }

  protected onLinkDeliver(from: NodeId, payload: unknown, d: ReliableDeliver): void {
    // Literals rather than a spread of a base object: once per delivery, and a spread is several
    // times slower in V8.
    const guarantee = GUARANTEE[d.mode];
    if (d.inbox === true) {
      const base = { type: 'deliver' as const, from, payload, seq: d.seq, guarantee };
      this.deliver({
        ...base,
        ...(d.state === undefined ? {} : { state: d.state }),
        id: `${from}/${d.seq}`,
        inbox: true,
        ...(d.again === true ? { again: true as const } : {}),
      });
      return;
    }
    this.deliver(
      d.state === undefined
        ? { type: 'deliver', from, payload, seq: d.seq, guarantee }
        : { type: 'deliver', from, payload, seq: d.seq, guarantee, state: d.state },
    );
  }
}

/**
 * The channel as a stack. Typed with the send as its command (what workloads and simulator runs
 * schedule); the runtime also hands it `ChannelInboxAck`, which `Channel` takes.
 */
export function channel(opts: ChannelOptions): StackSpec<ReliableMsg, ChannelSend, ChannelDeliver> {
  return {
    name: opts.guarantee,
    create: (ctx) => new Channel(ctx, opts),
    isMessage: isReliableMsg,
  };
}
