/**
 * FIFO perfect link: a perfect link that also delivers each sender's messages in the order they
 * were sent (FIFO delivery), by wrapping the perfect link.
 *
 * Guarantees (crash-stop, over fair-loss links): PL1–PL3 plus FIFO order per sender. Each message
 * carries a per-destination FIFO sequence number; the receiver holds a message that arrives ahead
 * of its turn until the gap is filled. The hold-back buffer is bounded: the perfect link below
 * never delivers more than `dedupWindowMax` seqs ahead of its watermark, and each FIFO number rides
 * on one link message, so at most that many messages wait per sender.
 * Assumes: crash-stop (like the perfect link); sequence state is volatile.
 */

import type { NodeId } from '../../core/ids.ts';
import type { NodeContext, StackSpec } from '../../core/protocol.ts';
import type { Instant } from '../../core/time.ts';
import { OverReliableLink } from './layer.ts';
import { isReliableMsg, type ReliableMsg, type ReliableOptions } from './reliable.ts';

export interface FifoSend {
  readonly type: 'send';
  readonly to: NodeId;
  readonly payload: unknown;
}

export interface FifoDeliver {
  readonly type: 'deliver';
  readonly from: NodeId;
  readonly payload: unknown;
  /** Position of this message in the sender's stream to this receiver (1, 2, 3…). */
  readonly fseq: number;
}

interface Envelope {
  readonly fseq: number;
  readonly payload: unknown;
}

function isEnvelope(v: unknown): v is Envelope {
  return (
    typeof v === 'object' &&
    v !== null &&
    Number.isSafeInteger((v as { fseq?: unknown }).fseq) &&
    'payload' in v
  );
}

const INNER = 'pl';

export class FifoLink extends OverReliableLink<FifoSend, FifoDeliver> {
  private readonly nextOut = new Map<NodeId, number>();
  private readonly nextIn = new Map<NodeId, number>();
  private readonly held = new Map<NodeId, Map<number, unknown>>();
  private heldPeak = 0;

  constructor(ctx: NodeContext, opts: Partial<ReliableOptions> = {}) {
    super(ctx, { ...opts, defaultMode: 'pl' }, INNER);
  }

  protected onCommand(_now: Instant, cmd: FifoSend): void {
    const fseq = (this.nextOut.get(cmd.to) ?? 0) + 1;
    this.sendTo(cmd.to, { fseq, payload: cmd.payload });
    this.nextOut.set(cmd.to, fseq); // only after the inner layer accepted it
  }

  protected override extraStats(): Record<string, number> {
    return { heldPeak: this.heldPeak };
  }

  protected onLinkDeliver(from: NodeId, envelope: unknown): void {
    if (!isEnvelope(envelope)) {
      this.malformed++;
      return;
    }
    const expected = this.nextIn.get(from) ?? 1;
    if (envelope.fseq < expected) return; // cannot happen over a perfect link; dropped defensively
    let held = this.held.get(from);
    if (held === undefined) {
      held = new Map();
      this.held.set(from, held);
    }
    held.set(envelope.fseq, envelope.payload);
    if (held.size > this.heldPeak) this.heldPeak = held.size;
    let next = expected;
    while (held.has(next)) {
      const payload = held.get(next);
      held.delete(next);
      this.deliver({ type: 'deliver', from, payload, fseq: next });
      next++;
    }
    this.nextIn.set(from, next);
  }
}

export function fifoLink(
  opts: Partial<ReliableOptions> = {},
): StackSpec<ReliableMsg, FifoSend, FifoDeliver> {
  return { name: 'fifo', create: (ctx) => new FifoLink(ctx, opts), isMessage: isReliableMsg };
}
