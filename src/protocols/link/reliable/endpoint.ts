/**
 * The reliable-link engine as one sans-I/O protocol: sequence numbers, a bounded send buffer,
 * retransmission on an adaptive timeout, cumulative + selective acks, and receiver dedup with a
 * contiguous watermark plus a bounded out-of-order window. The perfect link and the three
 * delivery guarantees are all this one engine with different per-message modes (policy.ts):
 *
 *   pl    perfect link (crash-stop): PL1 reliable delivery, PL2 no duplication, PL3 no creation
 *         over fair-loss links
 *   amo   at-most-once: never delivered twice, also across receiver crashes (the mark is durable
 *         before the delivery); may be lost
 *   alo   at-least-once: never lost while both ends eventually stay up (the send buffer is
 *         durable, so a restarted sender resends); duplicates visible
 *   eo    exactly-once: neither, across crashes of either end, because the dedup mark and the
 *         application's effect are one atomic persist that precedes the ack
 *
 * Parts: wire.ts (messages), options.ts, policy.ts (the modes), sender.ts (send buffer,
 * reservation, window limits, timeouts, RACK), rtt.ts (RTO estimation), receiver.ts (dedup,
 * delivery, effect, acks), seq-window.ts, keys.ts (idempotency keys), durable-keys.ts (the
 * durable key codec), timers.ts (typed timers), congestion.ts (flow and congestion hooks).
 *
 * Gaps: sequence numbers are never reused (blocks of `seqBlock` are reserved durably), so a
 * restarted sender leaves a gap, and at-most-once messages may be lost; `floor` on every data
 * message moves the receiver past both.
 *
 * Flow and congestion control are OFF by default (simulator runs); the UDP runtime turns them
 * on: `receiveWindowMax` (every ack carries `wnd`; until the first ack the sender assumes the
 * peer's window equals its own, as nodes of one cluster share a config) and `congestion` (a
 * loss-tolerant AIMD, congestion.ts; every RACK and timeout retransmission is a loss).
 *
 * Memory is O(peers × (sendWindowMax + sendQueueMax + dedupWindowMax) + keyMax).
 * Assumes: messages are plain data; `now` never goes backwards; the driver keeps the output-order
 * contract. Authentication and integrity are below this layer (frame CRC32C and HMAC): a frame that
 * fails them never reaches `handleMessage`.
 */

import { SteadfastError } from '../../../core/errors.ts';
import type { NodeId } from '../../../core/ids.ts';
import {
  OutputQueue,
  type DurableState,
  type NodeContext,
  type Protocol,
} from '../../../core/protocol.ts';
import { instant, type Instant } from '../../../core/time.ts';
import { parseKey } from './durable-keys.ts';
import { KeyTable } from './keys.ts';
import { resolveOptions, type ReliableOptions } from './options.ts';
import { newCounters, type LinkOut, type ReliableStats } from './out.ts';
import { newPeer, waitingCount, type Peer } from './peer.ts';
import { POLICY } from './policy.ts';
import { ReceiverHalf } from './receiver.ts';
import { SenderHalf } from './sender.ts';
import { parseTimer, timerName } from './timers.ts';
import type { InboxEntry } from './inbox.ts';
import type {
  DataMsg,
  Mode,
  ReliableCommand,
  ReliableDeliver,
  ReliableMsg,
  ReliableSend,
} from './wire.ts';

/** A message the sender still holds: sent, not yet acknowledged (`pendingSends`). */
export interface PendingSend {
  readonly to: NodeId;
  readonly seq: number;
  readonly mode: Mode;
  readonly payload: unknown;
  readonly key?: string;
}

export class ReliableEndpoint
  extends OutputQueue<ReliableMsg, ReliableDeliver>
  implements Protocol<ReliableMsg, ReliableCommand, ReliableDeliver>
{
  private readonly peers = new Map<NodeId, Peer>();
  private readonly opts: ReliableOptions;
  private readonly keys: KeyTable;
  private readonly counters = newCounters();
  private readonly sender: SenderHalf;
  private readonly receiver: ReceiverHalf;

  constructor(
    private readonly ctx: NodeContext,
    opts: Partial<ReliableOptions> = {},
  ) {
    super();
    this.opts = resolveOptions(opts);
    this.keys = new KeyTable(this.opts.keyWindowMs, this.opts.keyMax);
    const out: LinkOut = {
      send: (to, msg) => {
        this.send(to, msg);
      },
      setTimer: (t, at) => {
        this.setTimer(timerName(t), instant(at));
      },
      cancelTimer: (t) => {
        this.cancelTimer(timerName(t));
      },
      deliver: (d) => {
        this.deliver(d);
      },
      persist: (w) => {
        this.persist(w);
      },
      persistLazy: (w) => {
        this.persistLazy(w);
      },
    };
    this.sender = new SenderHalf(this.opts, ctx.rng, this.counters, out);
    this.receiver = new ReceiverHalf(this.opts, this.keys, this.counters, out);
  }

  /** The application state the effect has built (undefined without an effect). */
  get state(): unknown {
    return this.receiver.appState;
  }

  handleStart(now: Instant, durable: DurableState): void {
    const resend: Peer[] = [];
    for (const [key, value] of durable) {
      const k = parseKey(key);
      if (k === undefined) continue;
      switch (k.kind) {
        case 'app':
          this.receiver.appState = value;
          break;
        case 'applied':
          break;
        case 'key':
          if (typeof value === 'number') this.keys.restore(k.key, value);
          break;
        case 'seq': {
          const peer = this.peer(k.peer);
          if (typeof value === 'number') {
            // Everything below the old reservation may have been used: start after it.
            peer.tx.nextSeq = value;
            peer.tx.reservedUpTo = value;
          }
          break;
        }
        case 'rx': {
          const peer = this.peer(k.peer);
          if (typeof value === 'object' && value !== null) {
            this.receiver.restore(peer, value as { w: number; win: number[] });
          }
          break;
        }
        case 'tx': {
          const peer = this.peer(k.peer);
          peer.tx.waiting.push({ seq: k.seq, msg: value as DataMsg });
          if (!resend.includes(peer)) resend.push(peer);
          break;
        }
        case 'inbox':
          // Without an inbox (inboxMax unset) entries stay on disk, untouched, until one is.
          this.receiver.inbox?.restore(k.peer, k.seq, value);
          break;
      }
    }
    // What the inbox still holds is offered again: its first notification may have been lost.
    this.receiver.reoffer();
    for (const peer of resend) this.sender.resume(now, peer);
  }

  handleCommand(now: Instant, cmd: ReliableCommand): void {
    if (cmd.type === 'inbox-ack') {
      this.inboxAck(cmd.from, cmd.seq);
      return;
    }
    this.sendCommand(now, cmd);
  }

  /**
   * The application has taken inbox message `seq` from `from` (inbox.ts): deletes it, durably.
   * False if the inbox does not hold it (already acked: a no-op). Throws `bad-argument` without an
   * inbox (`inboxMax` unset).
   */
  inboxAck(from: NodeId, seq: number): boolean {
    if (this.receiver.inbox === undefined) {
      throw new SteadfastError('bad-argument', 'inbox-ack: this endpoint has no inbox (inboxMax)');
    }
    return this.receiver.inboxAck(from, seq);
  }

  /** Whether the inbox holds message `seq` from `from` (false without an inbox). */
  inboxHolds(from: NodeId, seq: number): boolean {
    return this.receiver.inbox?.has(from, seq) ?? false;
  }

  /** The messages the inbox holds, not yet acked by the application, in arrival order. */
  inboxEntries(): InboxEntry[] {
    return this.receiver.inboxEntries();
  }

  private sendCommand(now: Instant, cmd: ReliableSend): void {
    if (cmd.to === this.ctx.id || !this.ctx.nodes.includes(cmd.to)) {
      throw new SteadfastError(
        'unknown-peer',
        `reliable link: cannot send to ${JSON.stringify(cmd.to)}`,
      );
    }
    const mode = cmd.mode ?? this.opts.defaultMode;
    const policy = POLICY[mode];
    if (cmd.key !== undefined && !policy.idempotencyKeys) {
      throw new SteadfastError('bad-argument', 'an idempotency key needs exactly-once mode');
    }
    const peer = this.peer(cmd.to);
    const queued = waitingCount(peer.tx);
    if (policy.retransmit && queued >= this.opts.sendQueueMax) {
      throw new SteadfastError(
        'buffer-full',
        `reliable link: ${queued} messages wait for ${cmd.to}`,
      );
    }
    const seq = this.sender.takeSeq(peer);
    const payload = cmd.payload;
    const msg: DataMsg =
      cmd.key === undefined
        ? { type: 'data', seq, floor: 0, mode, payload }
        : { type: 'data', seq, floor: 0, mode, payload, key: cmd.key };
    this.opts.observer?.sent(peer.id, seq);
    this.sender.send(now, peer, msg);
  }

  /**
   * The messages this sender still holds (in flight or waiting, retransmitting modes): sent and
   * not yet acknowledged, per peer in seq order. After a restart: what the durable send buffer
   * gave back, which the engine is resending. At most (sendWindowMax + sendQueueMax) per peer.
   */
  pendingSends(): PendingSend[] {
    const out: PendingSend[] = [];
    for (const p of this.peers.values()) {
      const msgs: DataMsg[] = [];
      for (const e of p.tx.inFlight.values()) msgs.push(e.msg);
      for (let i = p.tx.waitingHead; i < p.tx.waiting.length; i++) {
        const w = p.tx.waiting[i];
        if (w !== undefined) msgs.push(w.msg);
      }
      for (const m of msgs) {
        out.push(
          m.key === undefined
            ? { to: p.id, seq: m.seq, mode: m.mode, payload: m.payload }
            : { to: p.id, seq: m.seq, mode: m.mode, payload: m.payload, key: m.key },
        );
      }
    }
    return out;
  }

  /** Whether message `seq` to `to` is still held (in flight or waiting): O(log n). */
  isPending(to: NodeId, seq: number): boolean {
    const tx = this.peers.get(to)?.tx;
    if (tx === undefined) return false;
    if (tx.inFlight.has(seq)) return true;
    // `waiting` from its head is in ascending seq order: binary search.
    let lo = tx.waitingHead;
    let hi = tx.waiting.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = tx.waiting[mid]?.seq ?? Number.POSITIVE_INFINITY;
      if (s === seq) return true;
      if (s < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }

  handleMessage(now: Instant, from: NodeId, msg: ReliableMsg): void {
    if (from === this.ctx.id || !this.ctx.nodes.includes(from)) {
      this.counters.malformedDropped++;
      return;
    }
    const peer = this.peer(from);
    if (msg.type === 'ack') this.sender.onAck(now, peer, msg);
    else this.receiver.onData(now, peer, msg);
  }

  handleTimer(now: Instant, name: string): void {
    const t = parseTimer(name);
    if (t === undefined) return;
    const peer = this.peers.get(t.peer);
    if (peer === undefined) return;
    if (t.kind === 'rto') this.sender.onTimeout(now, peer);
    else this.receiver.onAckTimer(peer);
  }

  stats(): ReliableStats {
    let inFlight = 0;
    let waiting = 0;
    let dedupEntries = 0;
    let cwnd = 0;
    let lossBaseline = 0;
    let congestionEpisodes = 0;
    let rtoMsMax = 0;
    let srttMsMax = 0;
    let minRttMs = Number.POSITIVE_INFINITY;
    for (const p of this.peers.values()) {
      const rtt = p.tx.rtt;
      rtoMsMax = Math.max(rtoMsMax, rtt.rtoMs);
      srttMsMax = Math.max(srttMsMax, rtt.srttMs ?? 0);
      minRttMs = Math.min(minRttMs, rtt.minRttMs);
      inFlight += p.tx.inFlight.size;
      waiting += waitingCount(p.tx);
      dedupEntries += 1 + p.rx.window.size;
      if (p.tx.cc !== undefined) {
        cwnd += p.tx.cc.window();
        lossBaseline = Math.max(lossBaseline, p.tx.cc.lossBaseline());
        congestionEpisodes += p.tx.cc.episodes;
      }
    }
    const base = {
      ...this.counters,
      inFlight,
      waiting,
      dedupEntries,
      keys: this.keys.size,
      rtoMsMax,
      srttMsMax,
      minRttMs: Number.isFinite(minRttMs) ? minRttMs : 0,
    };
    const inbox = this.receiver.inbox;
    const withInbox =
      inbox === undefined
        ? base
        : { ...base, inbox: inbox.size, inboxFullDropped: this.receiver.inboxFullDropped };
    if (this.opts.congestion === undefined) return withInbox;
    return { ...withInbox, cwnd, lossBaseline, congestionEpisodes };
  }

  private peer(id: NodeId): Peer {
    let p = this.peers.get(id);
    if (p === undefined) {
      p = newPeer(id, this.opts, this.opts.congestion, this.opts.receiveWindowMax);
      this.peers.set(id, p);
    }
    return p;
  }
}
