/**
 * A protocol layer wrapped around the reliable engine (protocols compose by wrapping): the base
 * of the FIFO link, the delivery channels and every broadcast built on perfect links.
 *
 * Guarantees: inputs reach the engine first and its outputs are drained at once into this
 * layer's queue (timers and durable keys under the layer's `prefix`), so outputs keep program
 * order exactly: a subclass's `deliver()` and its `sendTo()`s appear in the order it made them,
 * and a crash between outputs tells "deliver, then relay" from "relay, then deliver".
 * Assumes: the subclass handles only its own timers in `onTimer` (names without the prefix).
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
import {
  ReliableEndpoint,
  type ReliableDeliver,
  type ReliableMsg,
  type ReliableOptions,
  type ReliableCommand,
} from './reliable.ts';

export abstract class OverReliableLink<C, D>
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
    linkOpts: Partial<ReliableOptions>,
    /** Prefix of the engine's timers and durable keys. */
    private readonly prefix: string,
  ) {
    super();
    this.link = new ReliableEndpoint(ctx, linkOpts);
    this.others = ctx.nodes.filter((n) => n !== ctx.id);
  }

  handleStart(now: Instant, durable: DurableState): void {
    this.now = now;
    this.link.handleStart(now, innerState(durable, this.prefix));
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
    const inner = innerName(name, this.prefix);
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
    return { ...this.link.stats(), malformed: this.malformed, ...this.extraStats() };
  }

  /** Hands a command to the engine (a send, an inbox ack), keeping output order. */
  protected linkSend(cmd: ReliableCommand): void {
    this.link.handleCommand(this.now, cmd);
    this.pull();
  }

  /** Sends `payload` to `to` in the engine's default mode, keeping output order. */
  protected sendTo(to: NodeId, payload: unknown): void {
    this.linkSend({ type: 'send', to, payload });
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

  /** A message delivered by the engine (`d.from`, `d.payload`, `d.seq`, `d.mode`, `d.state`). */
  protected abstract onLinkDeliver(from: NodeId, payload: unknown, d: ReliableDeliver): void;

  protected abstract onCommand(now: Instant, cmd: C): void;

  private pull(): void {
    drainInner(
      this.link,
      this.prefix,
      (o) => {
        this.emit(o);
      },
      (d) => {
        this.onLinkDeliver(d.from, d.payload, d);
      },
    );
  }
}
