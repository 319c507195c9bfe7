/**
 * Send acknowledgements for the application (issue 19): what `NodeHandle.send` hands back for a
 * message on the channel, and what `NodeHandle.pending` lists after a restart.
 *
 *   id         `<to>/<seq>`: the message's sequence number towards its receiver. Unique at this
 *              sender for ever (seqs are reserved durably and never reused, also across
 *              restarts); node ids cannot contain '/' (config.ts), so the id parses back.
 *   accepted   the send is DURABLE AT THE SENDER: the commit that holds its send-buffer entry has
 *              landed (or the receiver has acknowledged it, whichever comes first), so it will be
 *              delivered even if this process is killed now: a restarted sender resends it from
 *              its buffer. Until then the message is IN DOUBT: a crash may lose the entry, while
 *              its frame may already have reached the receiver (the frame does not wait for the
 *              entry's commit: the send buffer is written lazily, core/protocol.ts). An
 *              application that must neither lose nor duplicate resends, after a restart, what was
 *              not accepted WITH THE SAME idempotency key (exactly-once: the receiver applies a key
 *              once within `keyWindowMs`).
 *   delivered  the receiver ACKNOWLEDGED it: for exactly-once it has applied it (its dedup mark and
 *              effect are durable there); for at-least-once it has received it. Resolves no
 *              earlier than the ack arrives and at most once.
 *
 * Cost: nothing for a send whose promises are never read. `accepted` and `delivered` are made
 * on first access: `accepted` waits for the driver's next durability point (`whenDurable`: the
 * batch is committed at the end of the turn anyway, the data frames do not wait for it, so a
 * sender that does not await keeps the lazy-persist throughput); `delivered` registers a waiter
 * that the engine's ack (`SendObserver.acked`) resolves. Waiters are bounded by the send buffer
 * (sendWindowMax + sendQueueMax per peer): a message leaves the buffer exactly when it is acked.
 *
 * Errors: an at-most-once send is neither buffered nor acknowledged, so both promises reject
 * with `SteadfastError('bad-argument')`; when the node closes or stops on a fatal error, the
 * promises still waiting reject with `SteadfastError('not-running')` (after a restart,
 * `pending()` lists what the node still holds). Read a promise only to await it.
 * Assumes: one engine per node (the channel's) and the observer wired into it.
 */

import { SteadfastError } from '../core/errors.ts';
import type { NodeId } from '../core/ids.ts';
import type { Mode, PendingSend, SendObserver } from '../protocols/link/reliable.ts';

/** What `NodeHandle.send` returns for a channel message. */
export interface SentMessage {
  /** `<to>/<seq>` (module header). */
  readonly id: string;
  readonly to: NodeId;
  readonly seq: number;
  /** The application idempotency key it was sent with. */
  readonly key?: string;
  /** Durable at the sender: will be delivered even if the sender crashes now. */
  readonly accepted: Promise<void>;
  /** Acknowledged by the receiver (exactly-once: applied there). */
  readonly delivered: Promise<void>;
}

/** A send the node still holds (sent, not yet acknowledged): `NodeHandle.pending()`. */
export interface PendingMessage {
  readonly id: string;
  readonly to: NodeId;
  readonly seq: number;
  readonly key?: string;
  readonly payload: unknown;
  readonly delivered: Promise<void>;
}

/** What the acknowledgements need of the node: its channel's engine and its driver. */
export interface AckSource {
  /** Whether `seq` to `to` is still held by the engine (not yet acknowledged). */
  isPending(to: NodeId, seq: number): boolean;
  pendingSends(): readonly PendingSend[];
  /** Resolves when every write so far is durable (Driver.whenDurable). */
  whenDurable(): Promise<void>;
}

export function messageId(to: NodeId, seq: number): string {
  return `${to}/${seq}`;
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
  /** An `accepted` waiting for the ack too: resolved before any `delivered` of the message. */
  readonly accepted: boolean;
}

export class SendAcks {
  /** The seq the engine gave the last `send` command (set inside `handleCommand`). */
  private last: { to: NodeId; seq: number } | undefined;
  /** Message id → whoever awaits its `delivered`. Bounded by the send buffer (header). */
  private readonly waiting = new Map<string, Waiter[]>();
  private source: AckSource | undefined;
  private stopped: SteadfastError | undefined;

  /** The engine's observer (ReliableOptions.observer). */
  readonly observer: SendObserver = {
    sent: (to, seq) => {
      this.last = { to, seq };
    },
    acked: (to, seq) => {
      if (this.waiting.size === 0) return;
      const id = messageId(to, seq);
      const ws = this.waiting.get(id);
      if (ws === undefined) return;
      this.waiting.delete(id);
      // accepted before delivered, so their reactions (and the JSON lines) come in that order
      for (const w of ws) if (w.accepted) w.resolve();
      for (const w of ws) if (!w.accepted) w.resolve();
    },
  };

  /** The node is started: its engine and driver. */
  attach(source: AckSource): void {
    this.source = source;
  }

  /**
   * Runs `give` (which hands one send command to the engine) and returns the message it made.
   * Throws what `give` throws (the command was refused: no message).
   */
  track(give: () => void, mode: Mode, key: string | undefined): SentMessage {
    this.last = undefined;
    give();
    const taken = this.last as { to: NodeId; seq: number } | undefined;
    if (taken === undefined) {
      throw new SteadfastError('bad-argument', 'send: the engine took no message');
    }
    this.last = undefined;
    return this.message(taken.to, taken.seq, mode, key);
  }

  /** What the engine still holds, each with its `delivered`. */
  pending(): PendingMessage[] {
    const src = this.need();
    return src.pendingSends().map((p) => {
      const delivered = () => this.delivered(p.to, p.seq, p.mode);
      return {
        id: messageId(p.to, p.seq),
        to: p.to,
        seq: p.seq,
        ...(p.key === undefined ? {} : { key: p.key }),
        payload: p.payload,
        get delivered() {
          return delivered();
        },
      };
    });
  }

  /** The node closed or failed: every promise still waiting rejects (module header). */
  stop(reason: string): void {
    this.stopped = new SteadfastError('not-running', reason);
    const ws = [...this.waiting.values()];
    this.waiting.clear();
    for (const list of ws) for (const w of list) w.reject(this.stopped);
  }

  private message(to: NodeId, seq: number, mode: Mode, key: string | undefined): SentMessage {
    let accepted: Promise<void> | undefined;
    let delivered: Promise<void> | undefined;
    const getAccepted = () => (accepted ??= this.accepted(to, seq, mode));
    const getDelivered = () => (delivered ??= this.delivered(to, seq, mode));
    return {
      id: messageId(to, seq),
      to,
      seq,
      ...(key === undefined ? {} : { key }),
      get accepted() {
        return getAccepted();
      },
      get delivered() {
        return getDelivered();
      },
    };
  }

  private accepted(to: NodeId, seq: number, mode: Mode): Promise<void> {
    return new Promise((resolve, reject) => {
      if (mode === 'amo') {
        reject(unacknowledged());
        return;
      }
      this.need().whenDurable().then(resolve, reject);
      // Acknowledged before this sender's own commit landed: delivered, so surely accepted.
      if (!this.register(to, seq, { resolve, reject: () => undefined, accepted: true })) resolve();
    });
  }

  private delivered(to: NodeId, seq: number, mode: Mode): Promise<void> {
    return new Promise((resolve, reject) => {
      if (mode === 'amo') {
        reject(unacknowledged());
        return;
      }
      if (this.stopped !== undefined) {
        reject(this.stopped);
        return;
      }
      // Not held any more: the ack has already come back.
      if (!this.register(to, seq, { resolve, reject, accepted: false })) resolve();
    });
  }

  /** Waits `w` on the ack of `seq` to `to`; false (nothing registered) if it is not pending. */
  private register(to: NodeId, seq: number, w: Waiter): boolean {
    if (!this.need().isPending(to, seq)) return false;
    const id = messageId(to, seq);
    const ws = this.waiting.get(id);
    if (ws === undefined) this.waiting.set(id, [w]);
    else ws.push(w);
    return true;
  }

  private need(): AckSource {
    if (this.source === undefined) {
      throw new SteadfastError('not-running', 'send acknowledgements: the node is not started');
    }
    return this.source;
  }
}

function unacknowledged(): SteadfastError {
  return new SteadfastError(
    'bad-argument',
    'an at-most-once send is neither buffered nor acknowledged: no accepted/delivered',
  );
}
