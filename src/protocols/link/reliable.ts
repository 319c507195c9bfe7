/**
 * The reliable-link engine: sequence numbers, a bounded send buffer, retransmission on an
 * adaptive timeout, cumulative + selective acks, and receiver dedup with a contiguous watermark
 * plus a bounded out-of-order window. The perfect link and the three delivery guarantees are all
 * this one engine with different per-message modes:
 *
 *   mode  sender                              receiver                                 gives
 *   pl    buffer in memory, retransmit        dedup in memory, deliver, ack            perfect link (crash-stop)
 *   amo   send once, never retransmit         persist dedup mark + effect, deliver     at-most-once
 *   alo   durable buffer, retransmit          deliver EVERY copy (+effect), ack        at-least-once
 *   eo    durable buffer, retransmit          new: persist mark + effect atomically,   exactly-once
 *                                             deliver, ack; duplicate: ack only
 *
 * Guarantees (pl, over fair-loss links, crash-stop): PL1 reliable delivery, PL2 no duplication,
 * PL3 no creation. amo: never delivered twice, also across receiver crashes (the mark is durable
 * before the delivery). alo: never lost while both ends eventually stay up (the send buffer is
 * durable, so a sender crash-recover resends), duplicates visible. eo: neither, across crashes
 * of either end, because the dedup mark and the application's effect are one atomic persist
 * that precedes the ack (the output-order contract).
 *
 * Memory is O(peers × (sendWindowMax + sendQueueMax + dedupWindowMax)): the receiver keeps, per
 * sender, a watermark W (every seq ≤ W is settled) and the seqs in (W, W + dedupWindowMax] seen
 * out of order; a seq beyond that window is dropped unacked (the sender retries later). Never a
 * set of every id ever seen.
 *
 * Gaps: sequence numbers are never reused (blocks of `seqBlock` are reserved durably), so a
 * restarted sender leaves a gap, and at-most-once messages may be lost. Every data message carries
 * `floor`: every seq below it is acked or abandoned. The receiver moves W up to floor − 1, so a
 * gap never stalls it.
 *
 * Timeout (RFC 6298): SRTT/RTTVAR from round-trip samples — one per ack, timed by the `ts` the
 * ack echoes (RFC 7323's RTTM: every data frame carries its send time, the ack returns the
 * earliest it answers), else by Karn's rule (messages sent once) for acks without one — RTO = SRTT +
 * max(G, 4·RTTVAR) clamped to [rtoMinMs, rtoMaxMs]; on a timeout RTO doubles (capped) and only the
 * lowest expired message is resent (RACK resends the rest once acks resume, see onTimeout), and every
 * retransmission deadline is stretched by up to `jitterRatio` (never shortened: a shorter wait
 * than the RTO only adds spurious retransmissions) with the injected Rng so retries of many
 * nodes do not synchronise.
 *
 * Flow and congestion control (both OFF by default, so simulator runs and their traces are
 * unchanged; the UDP runtime turns them on):
 *   - `receiveWindowMax` (receiver window): every ack carries `wnd`, how many seqs above `cum`
 *     the receiver accepts (min(receiveWindowMax, dedupWindowMax)); the sender never sends a seq
 *     beyond the latest `cum + wnd` it has seen. Until the first ack it assumes the peer's window
 *     equals its own `receiveWindowMax` (nodes of one cluster share a config). The runtime sizes
 *     it so that a window's worth of frames fits the receiver's socket buffer: a fast sender
 *     never overruns it.
 *   - `congestion` (congestion window, congestion.ts): a loss-tolerant AIMD; at most
 *     min(sendWindowMax, cwnd) messages are in flight. Newly acked messages feed it; every
 *     loss-detection (RACK) retransmission and every timeout retransmission is a loss.
 *
 * Assumes: messages are plain data; `now` never goes backwards; the driver keeps the output-order
 * contract. Authentication and integrity are below this layer (frame CRC32C and HMAC): a frame that
 * fails them never reaches `handleMessage`.
 */

import { SteadfastError } from '../../core/errors.ts';
import type { NodeId } from '../../core/ids.ts';
import {
  OutputQueue,
  type DurableState,
  type DurableWrite,
  type NodeContext,
  type Protocol,
} from '../../core/protocol.ts';
import { addMs, instant, type Instant } from '../../core/time.ts';
import {
  CONGESTION_DEFAULTS,
  CongestionWindow,
  validateCongestion,
  type CongestionOptions,
} from './congestion.ts';

export type Mode = 'pl' | 'amo' | 'alo' | 'eo';

/** Wire messages of the engine. Field names are short because every frame carries them. */
export type ReliableMsg =
  | {
      readonly type: 'data';
      readonly seq: number;
      /** Every seq below `floor` is acked or abandoned by the sender. */
      readonly floor: number;
      readonly mode: Mode;
      readonly payload: unknown;
      /** Application idempotency key (exactly-once only). */
      readonly key?: string;
      /**
       * The sender's clock (ms) when it sent THIS transmission; the receiver's ack echoes it, so
       * the sender times round trips exactly (RFC 7323's RTTM), retransmissions included.
       */
      readonly ts?: number;
    }
  | {
      readonly type: 'ack';
      /** Every seq ≤ cum has been received. */
      readonly cum: number;
      /**
       * Selective acks: ranges of seqs above `cum` received out of order, as a flat list of
       * inclusive pairs [first1, last1, first2, last2, …] in ascending order (at most `sackMax`
       * ranges; when there are more, the lowest are kept: the holes nearest `cum` matter most).
       */
      readonly sack: readonly number[];
      /**
       * D-SACK (RFC 2883): set when the ack answers a duplicate arrival, so the sender learns a
       * retransmission was spurious and widens its reordering window.
       */
      readonly dup?: true;
      /** Receiver window: the sender may send seqs ≤ cum + wnd (absent: none advertised). */
      readonly wnd?: number;
      /** Echo of the `ts` of the earliest data frame this ack answers (see `data.ts`). */
      readonly ts?: number;
    };

export interface ReliableSend {
  readonly type: 'send';
  readonly to: NodeId;
  readonly payload: unknown;
  /** Default: the endpoint's `defaultMode`. */
  readonly mode?: Mode;
  /** Application idempotency key (exactly-once): a second message with the same key is not applied. */
  readonly key?: string;
}

export interface ReliableDeliver {
  readonly type: 'deliver';
  readonly from: NodeId;
  readonly payload: unknown;
  readonly seq: number;
  readonly mode: Mode;
  /** The application state after this message's effect (when an effect is configured). */
  readonly state?: unknown;
}

/**
 * An application effect applied atomically with the dedup mark (a pure reducer). Its state is
 * persisted under the key `app` in the same batch as the mark.
 */
export interface Effect {
  readonly init: unknown;
  apply(state: unknown, from: NodeId, payload: unknown): unknown;
}

export interface ReliableOptions {
  /** Most messages in flight (sent, not acked) per peer. */
  readonly sendWindowMax: number;
  /** Most messages waiting for window space per peer; beyond it `send` throws `buffer-full`. */
  readonly sendQueueMax: number;
  /** Out-of-order seqs remembered per sender above the watermark. */
  readonly dedupWindowMax: number;
  /** Most selective-ack ranges per ack. */
  readonly sackMax: number;
  readonly rtoInitialMs: number;
  readonly rtoMinMs: number;
  readonly rtoMaxMs: number;
  /** Clock granularity G of RFC 6298. */
  readonly clockGranularityMs: number;
  /** Retransmission deadlines are stretched by a random factor in [1, 1 + jitterRatio]. */
  readonly jitterRatio: number;
  /** Delay acks by up to this long to batch them (0: ack at once). */
  readonly ackDelayMs: number;
  /**
   * How long the receiver may keep waiting for an at-most-once message that was overtaken by later
   * ones (reordering); after it, a late arrival is dropped, which at-most-once allows.
   */
  readonly lateHorizonMs: number;
  /** Seq numbers reserved per durable write. */
  readonly seqBlock: number;
  /** Exactly-once application keys are remembered this long (like NATS JetStream's 2 minutes). */
  readonly keyWindowMs: number;
  /** Most application keys remembered; the oldest is forgotten first when full. */
  readonly keyMax: number;
  /** Mode of a `send` that names none. */
  readonly defaultMode: Mode;
  readonly effect?: Effect;
  /** Receiver window advertised in acks, in messages (undefined: off, no `wnd` sent). */
  readonly receiveWindowMax?: number;
  /** Congestion control (undefined: off). */
  readonly congestion?: Partial<CongestionOptions>;
}

export const RELIABLE_DEFAULTS: ReliableOptions = {
  sendWindowMax: 256,
  sendQueueMax: 100_000,
  dedupWindowMax: 4096,
  sackMax: 64,
  rtoInitialMs: 200,
  rtoMinMs: 100,
  rtoMaxMs: 5_000,
  clockGranularityMs: 1,
  jitterRatio: 0.1,
  ackDelayMs: 0,
  lateHorizonMs: 1000,
  seqBlock: 1024,
  keyWindowMs: 120_000,
  keyMax: 100_000,
  defaultMode: 'pl',
};

interface InFlight {
  readonly seq: number;
  readonly msg: ReliableMsg & { type: 'data' };
  firstSentAt: number;
  transmissions: number;
  deadline: number;
  /** When the latest transmission left (RACK's per-packet send time). */
  lastSentAt: number;
}

interface Waiting {
  readonly seq: number;
  readonly msg: ReliableMsg & { type: 'data' };
}

interface Peer {
  readonly id: NodeId;
  // --- sender side ---
  nextSeq: number;
  /** Seqs below this are reserved in durable state (never reused after a crash). */
  reservedUpTo: number;
  readonly inFlight: Map<number, InFlight>;
  readonly waiting: Waiting[];
  waitingHead: number;
  srtt: number | undefined;
  /** Smallest RTT sample seen (RACK's reordering window is a fraction of it). */
  minRtt: number;
  /** Highest cumulative ack received: the receiver's watermark as far as we know. */
  cumAcked: number;
  /** Latest send time of any message acked so far (RACK: anything sent before it is suspect). */
  rackSentAt: number;
  rttvar: number;
  rto: number;
  /**
   * Timer `rto/<peer>`: armed while inFlight is non-empty, at or before the earliest deadline
   * (an ack does not re-arm it; an early wake-up finds nothing due and re-arms).
   */
  rtoTimerAt: number | undefined;
  /** No further RTO doubling before this time (one backoff per RTO interval). */
  backoffUntil: number;
  /** Congestion window (when congestion control is on). */
  readonly cc: CongestionWindow | undefined;
  /**
   * The peer's advertised receiver window, in seqs above its watermark (undefined: none known).
   * The send limit is max(cumAcked, floor − 1) + sendWnd: relative to the watermark the peer will
   * have once it sees our floor, so a gap in our seqs (a restart skips the rest of a reserved
   * block) never counts against the window.
   */
  sendWnd: number | undefined;
  /** At-most-once messages sent within the last lateHorizonMs (bounded), oldest first. */
  readonly amoRecent: { seq: number; at: number }[];
  amoHead: number;
  // --- receiver side ---
  /** Every seq ≤ w from this sender is settled. */
  w: number;
  /** Seqs in (w, w + dedupWindowMax] received out of order. */
  readonly window: SeqWindow;
  /** Timer `ack/<peer>`: armed while an ack is owed and ackDelayMs > 0. */
  ackOwed: boolean;
  /** The ack owed answers a duplicate arrival (D-SACK). */
  ackDup: boolean;
  /** `ts` of the earliest data frame the owed ack answers (undefined: none carried one). */
  tsEcho: number | undefined;
  /** RACK reordering window multiplier, doubled on each D-SACK (RFC 8985 §6.2). */
  reoMult: number;
  /** Loss-detection retransmissions since the last D-SACK: every 16 halve reoMult again. */
  rackSinceDup: number;
}

/**
 * The receiver's out-of-order seqs above its watermark: a set for membership plus the same seqs
 * in ascending order (an array with a moving head), kept sorted on insertion. Seqs mostly arrive
 * in order, so an insertion is near the end; the durable `rx` record and every ack need the
 * sorted list, which is then a copy instead of a sort of the whole window per message.
 */
class SeqWindow {
  private readonly set = new Set<number>();
  private arr: number[] = [];
  private head = 0;

  get size(): number {
    return this.set.size;
  }

  has(seq: number): boolean {
    return this.set.has(seq);
  }

  add(seq: number): void {
    if (this.set.has(seq)) return;
    this.set.add(seq);
    const a = this.arr;
    if (a.length === this.head || (a[a.length - 1] ?? 0) < seq) {
      a.push(seq);
      return;
    }
    let lo = this.head;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((a[mid] ?? 0) < seq) lo = mid + 1;
      else hi = mid;
    }
    a.splice(lo, 0, seq);
  }

  /** Removes every seq ≤ `w` (they are the smallest). */
  deleteUpTo(w: number): void {
    const a = this.arr;
    while (this.head < a.length && (a[this.head] ?? 0) <= w) {
      this.set.delete(a[this.head] ?? 0);
      this.head++;
    }
    if (this.head === a.length) {
      this.arr = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > a.length) {
      this.arr = a.slice(this.head);
      this.head = 0;
    }
  }

  /** The seqs in ascending order (a fresh array). */
  sorted(): number[] {
    return this.arr.slice(this.head);
  }
}

const APP_KEY = 'app';
/** Durable key naming the last message applied (amo/eo), written in the same batch as its mark. */
export const APPLIED_KEY = 'applied';

export function isReliableMsg(v: unknown): v is ReliableMsg {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Record<string, unknown>;
  if (m.type === 'data') {
    return (
      isSeq(m.seq) &&
      isSeq(m.floor) &&
      (m.mode === 'pl' || m.mode === 'amo' || m.mode === 'alo' || m.mode === 'eo') &&
      'payload' in m &&
      (m.key === undefined || typeof m.key === 'string') &&
      (m.ts === undefined || isTime(m.ts))
    );
  }
  if (m.type === 'ack') {
    return (
      isSeq(m.cum) &&
      (m.dup === undefined || m.dup === true) &&
      Array.isArray(m.sack) &&
      m.sack.length <= 4096 &&
      m.sack.length % 2 === 0 &&
      m.sack.every(isSeq) &&
      (m.wnd === undefined || isSeq(m.wnd)) &&
      (m.ts === undefined || isTime(m.ts))
    );
  }
  return false;
}

/**
 * The data message as it goes on the wire: `m` with this transmission's `floor` and `ts`. The
 * same fields in the same order as `{ ...m, floor, ts }` (so frames and traces are unchanged),
 * built as literals: this runs once per transmission, and a spread is several times slower.
 */
function onWire(m: ReliableMsg & { type: 'data' }, floor: number, ts: number): ReliableMsg {
  return m.key === undefined
    ? { type: 'data', seq: m.seq, floor, mode: m.mode, payload: m.payload, ts }
    : { type: 'data', seq: m.seq, floor, mode: m.mode, payload: m.payload, key: m.key, ts };
}

function isTime(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x) && x >= 0;
}

function isSeq(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

export class ReliableEndpoint
  extends OutputQueue<ReliableMsg, ReliableDeliver>
  implements Protocol<ReliableMsg, ReliableSend, ReliableDeliver>
{
  private readonly peers = new Map<NodeId, Peer>();
  private readonly opts: ReliableOptions;
  private appState: unknown;
  /** Bound on amoRecent per peer: half the receiver's window, so the floor never lags past it. */
  private readonly amoRecentMax: number;
  /** Exactly-once application keys → expiry time, oldest first (Map insertion order). */
  private readonly keys = new Map<string, number>();
  private readonly counters = {
    sent: 0,
    retransmissions: 0,
    fastRetransmissions: 0,
    delivered: 0,
    duplicatesDropped: 0,
    keyDuplicatesDropped: 0,
    outOfWindowDropped: 0,
    malformedDropped: 0,
    acksSent: 0,
    persists: 0,
    inFlightPeak: 0,
  };

  constructor(
    private readonly ctx: NodeContext,
    opts: Partial<ReliableOptions> = {},
  ) {
    super();
    this.opts = { ...RELIABLE_DEFAULTS, ...opts };
    const o = this.opts;
    for (const [name, v] of Object.entries({
      sendWindowMax: o.sendWindowMax,
      sendQueueMax: o.sendQueueMax,
      dedupWindowMax: o.dedupWindowMax,
      sackMax: o.sackMax,
      seqBlock: o.seqBlock,
      keyMax: o.keyMax,
    })) {
      if (!Number.isInteger(v) || v < 1) {
        throw new SteadfastError('bad-argument', `${name} must be a positive integer, got ${v}`);
      }
    }
    if (!(o.rtoMinMs > 0 && o.rtoMinMs <= o.rtoInitialMs && o.rtoInitialMs <= o.rtoMaxMs)) {
      throw new SteadfastError('bad-argument', 'need 0 < rtoMinMs ≤ rtoInitialMs ≤ rtoMaxMs');
    }
    if (
      o.receiveWindowMax !== undefined &&
      (!Number.isInteger(o.receiveWindowMax) || o.receiveWindowMax < 1)
    ) {
      throw new SteadfastError(
        'bad-argument',
        `receiveWindowMax must be a positive integer, got ${o.receiveWindowMax}`,
      );
    }
    if (o.congestion !== undefined) validateCongestion({ ...CONGESTION_DEFAULTS, ...o.congestion });
    this.appState = o.effect?.init;
    this.amoRecentMax = Math.max(1, Math.floor(o.dedupWindowMax / 2));
  }

  /** The application state the effect has built (undefined without an effect). */
  get state(): unknown {
    return this.appState;
  }

  handleStart(now: Instant, durable: DurableState): void {
    const resend: Peer[] = [];
    for (const [key, value] of durable) {
      if (key === APP_KEY) {
        this.appState = value;
        continue;
      }
      if (key === APPLIED_KEY) continue;
      if (key.startsWith('key/')) {
        if (typeof value === 'number') this.keys.set(key.slice(4), value);
        continue;
      }
      const [kind, peerId, seqText] = key.split('/');
      if (peerId === undefined) continue;
      const peer = this.peer(peerId);
      if (kind === 'seq' && typeof value === 'number') {
        // Everything below the old reservation may have been used: start after it.
        peer.nextSeq = value;
        peer.reservedUpTo = value;
      } else if (kind === 'rx' && typeof value === 'object' && value !== null) {
        const rx = value as { w: number; win: number[] };
        peer.w = rx.w;
        for (const s of rx.win) if (s > peer.w) peer.window.add(s);
      } else if (kind === 'tx' && seqText !== undefined) {
        const msg = value as ReliableMsg & { type: 'data' };
        peer.waiting.push({ seq: Number(seqText), msg });
        if (!resend.includes(peer)) resend.push(peer);
      }
    }
    for (const peer of resend) {
      // Recovered send buffer: resend in seq order through the normal window.
      const sorted = peer.waiting.slice(peer.waitingHead).sort((a, b) => a.seq - b.seq);
      peer.waiting.length = 0;
      peer.waitingHead = 0;
      peer.waiting.push(...sorted);
      this.pump(now, peer);
    }
  }

  handleCommand(now: Instant, cmd: ReliableSend): void {
    if (cmd.to === this.ctx.id || !this.ctx.nodes.includes(cmd.to)) {
      throw new SteadfastError(
        'unknown-peer',
        `reliable link: cannot send to ${JSON.stringify(cmd.to)}`,
      );
    }
    const mode = cmd.mode ?? this.opts.defaultMode;
    if (cmd.key !== undefined && mode !== 'eo') {
      throw new SteadfastError('bad-argument', 'an idempotency key needs exactly-once mode');
    }
    const peer = this.peer(cmd.to);
    const queued = peer.waiting.length - peer.waitingHead;
    if (mode !== 'amo' && queued >= this.opts.sendQueueMax) {
      throw new SteadfastError(
        'buffer-full',
        `reliable link: ${queued} messages wait for ${cmd.to}`,
      );
    }
    const seq = this.takeSeq(peer);
    const payload = cmd.payload;
    const msg: ReliableMsg & { type: 'data' } =
      cmd.key === undefined
        ? { type: 'data', seq, floor: 0, mode, payload }
        : { type: 'data', seq, floor: 0, mode, payload, key: cmd.key };
    if (mode === 'amo') {
      // Sent once, never buffered: the floor moves past it at once.
      this.counters.sent++;
      peer.amoRecent.push({ seq, at: now });
      if (peer.amoRecent.length - peer.amoHead > this.amoRecentMax) peer.amoHead++;
      this.send(peer.id, onWire(msg, this.floor(now, peer), now));
      return;
    }
    if (mode === 'alo' || mode === 'eo') {
      // Lazy: the frame need not wait for it (only for the seq reservation, an ordinary persist).
      // If a crash loses it, the message is in doubt — maybe delivered, never resent — as when
      // a crash cuts the command short (see LAZY PERSISTS in core/protocol.ts).
      this.persistLazy([{ key: `tx/${peer.id}/${seq}`, value: msg }]);
      this.counters.persists++;
    }
    peer.waiting.push({ seq, msg });
    this.pump(now, peer);
  }

  handleMessage(now: Instant, from: NodeId, msg: ReliableMsg): void {
    if (from === this.ctx.id || !this.ctx.nodes.includes(from)) {
      this.counters.malformedDropped++;
      return;
    }
    const peer = this.peer(from);
    if (msg.type === 'ack') this.onAck(now, peer, msg);
    else this.onData(now, peer, msg);
  }

  handleTimer(now: Instant, name: string): void {
    const slash = name.indexOf('/');
    const kind = name.slice(0, slash);
    const peer = this.peers.get(name.slice(slash + 1));
    if (peer === undefined) return;
    if (kind === 'rto') {
      peer.rtoTimerAt = undefined;
      this.onTimeout(now, peer);
    } else if (kind === 'ack' && peer.ackOwed) {
      peer.ackOwed = false;
      this.sendAck(peer);
    }
  }

  stats(): Readonly<Record<string, number>> {
    let inFlight = 0;
    let waiting = 0;
    let dedupEntries = 0;
    let cwnd = 0;
    let lossBaseline = 0;
    let congestionEpisodes = 0;
    // Round-trip estimates: the largest RTO and SRTT, the smallest minimum RTT over the peers.
    let rtoMsMax = 0;
    let srttMsMax = 0;
    let minRttMs = Number.POSITIVE_INFINITY;
    for (const p of this.peers.values()) {
      rtoMsMax = Math.max(rtoMsMax, p.rto);
      srttMsMax = Math.max(srttMsMax, p.srtt ?? 0);
      minRttMs = Math.min(minRttMs, p.minRtt);
      inFlight += p.inFlight.size;
      waiting += p.waiting.length - p.waitingHead;
      dedupEntries += 1 + p.window.size;
      if (p.cc !== undefined) {
        cwnd += p.cc.window();
        lossBaseline = Math.max(lossBaseline, p.cc.lossBaseline());
        congestionEpisodes += p.cc.episodes;
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
    if (this.opts.congestion === undefined) return base;
    return { ...base, cwnd, lossBaseline, congestionEpisodes };
  }

  // ---------------------------------------------------------------- sender

  private peer(id: NodeId): Peer {
    let p = this.peers.get(id);
    if (p === undefined) {
      p = {
        id,
        nextSeq: 1,
        reservedUpTo: 1,
        inFlight: new Map(),
        waiting: [],
        waitingHead: 0,
        srtt: undefined,
        minRtt: Number.POSITIVE_INFINITY,
        rackSentAt: Number.NEGATIVE_INFINITY,
        cumAcked: 0,
        rttvar: 0,
        rto: this.opts.rtoInitialMs,
        rtoTimerAt: undefined,
        backoffUntil: 0,
        cc:
          this.opts.congestion === undefined
            ? undefined
            : new CongestionWindow(this.opts.congestion),
        sendWnd: this.opts.receiveWindowMax,
        amoRecent: [],
        amoHead: 0,
        w: 0,
        window: new SeqWindow(),
        ackOwed: false,
        ackDup: false,
        tsEcho: undefined,
        reoMult: 1,
        rackSinceDup: 0,
      };
      this.peers.set(id, p);
    }
    return p;
  }

  private takeSeq(peer: Peer): number {
    if (peer.nextSeq >= peer.reservedUpTo) {
      peer.reservedUpTo = peer.nextSeq + this.opts.seqBlock;
      this.persist([{ key: `seq/${peer.id}`, value: peer.reservedUpTo }]);
      this.counters.persists++;
    }
    return peer.nextSeq++;
  }

  /**
   * Lowest seq not yet settled on the sending side: the smallest in flight or waiting, or an
   * at-most-once message sent less than `lateHorizonMs` ago (it may still arrive late, reordered;
   * once the horizon has passed the receiver stops waiting for it).
   */
  private floor(now: Instant, peer: Peer): number {
    let f = peer.nextSeq;
    for (const s of peer.inFlight.keys()) {
      if (s < f) f = s;
      break; // seq order: the first is the smallest
    }
    const w = peer.waiting[peer.waitingHead];
    if (w !== undefined && w.seq < f) f = w.seq;
    const recent = peer.amoRecent;
    while (
      peer.amoHead < recent.length &&
      (recent[peer.amoHead]?.at ?? 0) + this.opts.lateHorizonMs < now
    ) {
      peer.amoHead++;
    }
    if (peer.amoHead === recent.length && peer.amoHead > 0) {
      recent.length = 0;
      peer.amoHead = 0;
    }
    const oldest = recent[peer.amoHead];
    if (oldest !== undefined && oldest.seq < f) f = oldest.seq;
    return f;
  }

  /** Moves waiting messages into the window and sends them. */
  private pump(now: Instant, peer: Peer): void {
    // Never send beyond the receiver's dedup window (it would drop the message unacked). The
    // receiver's watermark is at least our last cumulative ack, and at least floor − 1.
    // With a receiver window, also never more than its advertised `wnd` above that watermark
    // (not above the last `cum`: after a restart our seqs jump past a gap, and an edge of
    // cum + wnd would stay below them for ever — no frame could carry the floor that moves the
    // receiver past the gap); with congestion control, never more than cwnd in flight.
    // The floor is the same for every message this call sends: each one moves from the head of
    // `waiting` into `inFlight`, so the lowest seq of the two together does not change.
    const floor = this.floor(now, peer);
    const watermark = Math.max(peer.cumAcked, floor - 1);
    let limit = watermark + this.opts.dedupWindowMax;
    if (peer.sendWnd !== undefined && watermark + peer.sendWnd < limit) {
      limit = watermark + peer.sendWnd;
    }
    const inFlightMax = Math.min(this.opts.sendWindowMax, peer.cc?.window() ?? Infinity);
    while (peer.inFlight.size < inFlightMax && peer.waitingHead < peer.waiting.length) {
      const w = peer.waiting[peer.waitingHead] as Waiting;
      if (w.seq > limit) break;
      peer.waiting[peer.waitingHead++] = undefined as unknown as Waiting;
      const deadline = now + this.jittered(peer.rto);
      peer.inFlight.set(w.seq, {
        seq: w.seq,
        msg: w.msg,
        firstSentAt: now,
        transmissions: 1,
        deadline,
        lastSentAt: now,
      });
      this.counters.sent++;
      this.send(peer.id, onWire(w.msg, floor, now));
      if (peer.rtoTimerAt === undefined || deadline < peer.rtoTimerAt) {
        peer.rtoTimerAt = deadline;
        this.setTimer(`rto/${peer.id}`, instant(deadline));
      }
    }
    if (peer.waitingHead === peer.waiting.length && peer.waitingHead > 0) {
      peer.waiting.length = 0;
      peer.waitingHead = 0;
    }
    if (peer.inFlight.size > this.counters.inFlightPeak)
      this.counters.inFlightPeak = peer.inFlight.size;
  }

  private jittered(ms: number): number {
    return Math.max(1, Math.round(ms * (1 + this.opts.jitterRatio * this.ctx.rng.next())));
  }

  /**
   * Retransmission timeout: only the LOWEST expired message is resent; the other expired ones get
   * a new (backed-off) deadline without being resent. When acks resume, RACK (detectLoss) resends
   * at once every message sent before the one acked, so real losses are repaired one round trip
   * after the probe; and when the timeout was spurious (the round trip stretched past the RTO —
   * on a busy node, a long group commit at either end does that), one message is sent twice
   * instead of a whole window. Resending every expired message, as this did before, sent 4,096
   * duplicates per 100,000 exactly-once messages on loopback with a 2,048-message window. TCP
   * does the same: on RTO it resends the first unacked segment, and loss recovery does the rest.
   */
  private onTimeout(now: Instant, peer: Peer): void {
    let earliest = Number.POSITIVE_INFINITY;
    let probed = false;
    for (const e of peer.inFlight.values()) {
      if (e.deadline > now) {
        if (e.deadline < earliest) earliest = e.deadline;
        continue;
      }
      if (now >= peer.backoffUntil) {
        // Exponential backoff, once per RTO interval however many messages expire together.
        peer.backoffUntil = now + peer.rto;
        peer.rto = Math.min(this.opts.rtoMaxMs, peer.rto * 2);
      }
      e.deadline = now + this.jittered(peer.rto);
      if (e.deadline < earliest) earliest = e.deadline;
      if (probed) continue; // inFlight iterates in seq order: the first expired is the lowest
      probed = true;
      e.transmissions++;
      e.lastSentAt = now;
      peer.cc?.onLost(1);
      this.counters.retransmissions++;
      this.send(peer.id, onWire(e.msg, this.floor(now, peer), now));
    }
    if (earliest !== Number.POSITIVE_INFINITY) {
      peer.rtoTimerAt = earliest;
      this.setTimer(`rto/${peer.id}`, instant(earliest));
    }
  }

  private onAck(now: Instant, peer: Peer, ack: ReliableMsg & { type: 'ack' }): void {
    const cumBefore = peer.cumAcked;
    if (ack.cum > peer.cumAcked) peer.cumAcked = ack.cum;
    let opened = false;
    if (ack.wnd !== undefined) {
      if (peer.sendWnd === undefined || ack.wnd > peer.sendWnd || ack.cum > cumBefore) {
        opened = true;
      }
      peer.sendWnd = ack.wnd;
    }
    if (ack.dup === true) {
      peer.reoMult = Math.min(peer.reoMult * 2, 256);
      peer.rackSinceDup = 0;
    }
    // inFlight is in seq order (Map insertion order), so the cumulative part is a prefix.
    const acked: InFlight[] = [];
    for (const e of peer.inFlight.values()) {
      if (e.seq > ack.cum) break;
      acked.push(e);
    }
    for (const e of acked) peer.inFlight.delete(e.seq);
    const sack = ack.sack;
    for (let i = 0; i + 1 < sack.length; i += 2) {
      const first = Math.max(sack[i] ?? 0, ack.cum + 1);
      // A range can only cover what this sender has in flight: bound the walk by the window.
      const last = Math.min(sack[i + 1] ?? 0, first + this.opts.sendWindowMax);
      for (let seq = first; seq <= last; seq++) {
        const e = peer.inFlight.get(seq);
        if (e === undefined) continue;
        peer.inFlight.delete(seq);
        acked.push(e);
      }
    }
    if (acked.length === 0) {
      if (opened) this.pump(now, peer); // a window update alone
      return;
    }
    peer.cc?.onAcked(acked.length);
    const deletes: DurableWrite[] = [];
    // Round trips: from the echoed `ts` (one exact sample per ack, retransmissions included).
    // An ack without one (a peer that sends none) falls back to Karn's rule below: a sample per
    // newly acked message sent once. Per-message samples are correlated (an ack covering hundreds
    // of messages feeds SRTT/RTTVAR hundreds of near-equal values, so the RTO forgets earlier
    // variance), and under ack loss their age is not a round trip; the echo has neither flaw.
    const echoed = ack.ts !== undefined && ack.ts <= now;
    if (echoed) this.rttSample(peer, now - ack.ts);
    for (const e of acked) {
      if (!echoed && e.transmissions === 1) this.rttSample(peer, now - e.firstSentAt);
      // RACK: an ack for a transmission sent at lastSentAt, if it cannot be an ack of an earlier
      // transmission: with an echo, every frame this ack answers was sent at or after it; without,
      // it came back no faster than the fastest round trip seen. (The min-RTT test alone misfires
      // when commits stretch round trips far beyond the minimum: an original acked late made a
      // fresh retransmission look delivered, and every message sent before it look lost.)
      if (
        e.lastSentAt > peer.rackSentAt &&
        (e.transmissions === 1 ||
          (echoed ? ack.ts >= e.lastSentAt : now - e.lastSentAt >= peer.minRtt))
      ) {
        peer.rackSentAt = e.lastSentAt;
      }
      if (e.msg.mode === 'alo' || e.msg.mode === 'eo') {
        deletes.push({ key: `tx/${peer.id}/${e.seq}`, value: null });
      }
    }
    this.detectLoss(now, peer);
    this.pump(now, peer);
    if (peer.inFlight.size === 0 && peer.rtoTimerAt !== undefined) {
      peer.rtoTimerAt = undefined;
      this.cancelTimer(`rto/${peer.id}`);
    }
    // The send-buffer deletes go LAST, and lazy: nothing depends on them being durable (a crash
    // that loses them only resends acked messages, which the receiver's dedup absorbs), so no
    // output, of this turn or a later one, waits for them.
    if (deletes.length > 0) {
      this.persistLazy(deletes);
      this.counters.persists++;
    }
  }

  /**
   * Time-based loss detection after RACK (RFC 8985): a message still unacked although a message
   * sent more than a reordering window after it has been acked is deemed lost and resent at once,
   * instead of waiting for its RTO. Unlike a duplicate-ack count, this also catches a lost
   * retransmission (a later send gets acked), so one unlucky retransmission does not stall the
   * window for a whole RTO. The reordering window is a quarter of the smallest RTT seen.
   * The walk is in seq order and stops at the first first-transmission that is not yet suspect:
   * first transmissions leave in seq order, so none after it is suspect either.
   */
  private detectLoss(now: Instant, peer: Peer): void {
    if (peer.rackSentAt === Number.NEGATIVE_INFINITY) return;
    // reo_wnd = min(reoMult · minRTT/4, SRTT), at least 1 ms (RFC 8985).
    const base = Number.isFinite(peer.minRtt) ? peer.minRtt / 4 : 1;
    const reorderMs = Math.max(
      1,
      Math.min(peer.reoMult * base, peer.srtt ?? Number.POSITIVE_INFINITY),
    );
    const before = peer.rackSentAt - reorderMs;
    for (const e of peer.inFlight.values()) {
      if (e.lastSentAt >= before) {
        if (e.transmissions === 1) break;
        continue;
      }
      e.transmissions++;
      e.lastSentAt = now;
      e.deadline = now + this.jittered(peer.rto);
      peer.cc?.onLost(1);
      this.counters.fastRetransmissions++;
      if (++peer.rackSinceDup >= 16) {
        peer.rackSinceDup = 0;
        peer.reoMult = Math.max(1, peer.reoMult / 2);
      }
      this.counters.retransmissions++;
      this.send(peer.id, onWire(e.msg, this.floor(now, peer), now));
    }
  }

  private rttSample(peer: Peer, r: number): void {
    const o = this.opts;
    if (r < peer.minRtt) peer.minRtt = r;
    if (peer.srtt === undefined) {
      peer.srtt = r;
      peer.rttvar = r / 2;
    } else {
      peer.rttvar = 0.75 * peer.rttvar + 0.25 * Math.abs(peer.srtt - r);
      peer.srtt = 0.875 * peer.srtt + 0.125 * r;
    }
    const rto = peer.srtt + Math.max(o.clockGranularityMs, 4 * peer.rttvar);
    peer.rto = Math.min(o.rtoMaxMs, Math.max(o.rtoMinMs, rto));
  }

  // ---------------------------------------------------------------- receiver

  private onData(now: Instant, peer: Peer, msg: ReliableMsg & { type: 'data' }): void {
    if (msg.floor > msg.seq + 1 || (msg.key !== undefined && msg.mode !== 'eo')) {
      this.counters.malformedDropped++;
      return;
    }
    // Everything below floor is settled at the sender: never wait for it.
    if (msg.floor - 1 > peer.w) {
      peer.w = msg.floor - 1;
      peer.window.deleteUpTo(peer.w);
      this.compact(peer);
    }
    const seen = msg.seq <= peer.w || peer.window.has(msg.seq);
    if (!seen && msg.seq > peer.w + this.opts.dedupWindowMax) {
      this.counters.outOfWindowDropped++; // no ack: the sender retries once the window moves
      return;
    }
    if (msg.mode === 'alo') {
      // At-least-once delivers every copy: duplicates are visible to the application.
      if (!seen) this.mark(peer, msg.seq);
      else peer.ackDup = true; // D-SACK: the sender learns its retransmission was spurious
      this.applyAndDeliver(peer, msg, []);
      this.owe(now, peer, msg.ts);
      return;
    }
    if (seen) {
      this.counters.duplicatesDropped++;
      peer.ackDup = true;
      if (msg.mode !== 'amo') this.owe(now, peer, msg.ts); // ack again: the first ack may have been lost
      return;
    }
    this.mark(peer, msg.seq);
    if (msg.mode === 'pl') {
      this.applyAndDeliver(peer, msg, undefined);
      this.owe(now, peer, msg.ts);
      return;
    }
    const writes: DurableWrite[] = [{ key: `rx/${peer.id}`, value: this.rxState(peer) }];
    if (msg.key !== undefined) {
      this.expireKeys(now);
      if (this.keys.has(msg.key)) {
        this.counters.keyDuplicatesDropped++;
        this.persist(writes);
        this.counters.persists++;
        this.owe(now, peer, msg.ts);
        return;
      }
      const expires = now + this.opts.keyWindowMs;
      this.keys.set(msg.key, expires);
      writes.push({ key: `key/${msg.key}`, value: expires });
      if (this.keys.size > this.opts.keyMax) {
        const oldest = this.keys.keys().next().value as string;
        this.keys.delete(oldest);
        writes.push({ key: `key/${oldest}`, value: null });
      }
    }
    // amo and eo: mark (and effect) durable BEFORE the delivery and the ack. The `applied` write
    // names the message in the same batch: the durable record that its effect happened (the
    // checkers count applications from it, since a crash may lose the notification that follows).
    writes.push({ key: APPLIED_KEY, value: { from: peer.id, seq: msg.seq, payload: msg.payload } });
    this.applyAndDeliver(peer, msg, writes);
    if (msg.mode === 'eo') this.owe(now, peer, msg.ts);
  }

  private mark(peer: Peer, seq: number): void {
    peer.window.add(seq);
    this.compact(peer);
  }

  private compact(peer: Peer): void {
    while (peer.window.has(peer.w + 1)) {
      peer.w++;
      peer.window.deleteUpTo(peer.w);
    }
  }

  private rxState(peer: Peer): { w: number; win: number[] } {
    return { w: peer.w, win: peer.window.sorted() };
  }

  private expireKeys(now: Instant): void {
    for (const [k, expires] of this.keys) {
      if (expires > now) break; // insertion order is expiry order
      this.keys.delete(k);
    }
  }

  /** Applies the effect; persists `writes` (+ app state) unless undefined; then delivers. */
  private applyAndDeliver(
    peer: Peer,
    msg: ReliableMsg & { type: 'data' },
    writes: DurableWrite[] | undefined,
  ): void {
    const effect = this.opts.effect;
    if (effect !== undefined) {
      this.appState = effect.apply(this.appState, peer.id, msg.payload);
      if (writes !== undefined) writes.push({ key: APP_KEY, value: this.appState });
    }
    if (writes !== undefined && writes.length > 0) {
      this.persist(writes);
      this.counters.persists++;
    }
    this.counters.delivered++;
    // Literals, not a spread of a base object: this runs once per delivery (a spread is several
    // times slower in V8), and the field order is the same either way.
    this.deliver(
      effect === undefined
        ? { type: 'deliver', from: peer.id, payload: msg.payload, seq: msg.seq, mode: msg.mode }
        : {
            type: 'deliver',
            from: peer.id,
            payload: msg.payload,
            seq: msg.seq,
            mode: msg.mode,
            state: this.appState,
          },
    );
  }

  /** An ack is owed to `peer` for a data frame sent at `ts` (its sender's clock). */
  private owe(now: Instant, peer: Peer, ts: number | undefined): void {
    // Echo the EARLIEST frame's ts: the round trip then includes the ack delay (RFC 7323 §4.3).
    if (peer.tsEcho === undefined) peer.tsEcho = ts;
    if (this.opts.ackDelayMs <= 0) {
      this.sendAck(peer);
      return;
    }
    if (peer.ackOwed) return;
    peer.ackOwed = true;
    this.setTimer(`ack/${peer.id}`, addMs(now, this.opts.ackDelayMs));
  }

  private sendAck(peer: Peer): void {
    const sack: number[] = [];
    if (peer.window.size > 0) {
      const seqs = peer.window.sorted();
      let first = seqs[0] ?? 0;
      let last = first;
      for (let i = 1; i <= seqs.length; i++) {
        const s = seqs[i];
        if (s === last + 1) {
          last = s;
          continue;
        }
        sack.push(first, last);
        if (sack.length >= 2 * this.opts.sackMax || s === undefined) break;
        first = last = s;
      }
    }
    this.counters.acksSent++;
    const rwnd = this.opts.receiveWindowMax;
    const wnd = rwnd === undefined ? undefined : Math.min(rwnd, this.opts.dedupWindowMax);
    const dup = peer.ackDup;
    peer.ackDup = false;
    // Optional fields only when set, so default acks stay byte-identical to earlier versions.
    let ack: ReliableMsg = { type: 'ack', cum: peer.w, sack };
    if (dup) ack = { ...ack, dup: true };
    if (wnd !== undefined) ack = { ...ack, wnd };
    if (peer.tsEcho !== undefined) {
      ack = { ...ack, ts: peer.tsEcho };
      peer.tsEcho = undefined;
    }
    this.send(peer.id, ack);
  }
}
