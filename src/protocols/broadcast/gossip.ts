/**
 * Efficient reliable broadcast for many nodes: dissemination through a few hubs with
 * per-destination batching, gap detection with pulls, and periodic anti-entropy (after Maelstrom's
 * broadcast challenge 3e). Same API as the other broadcasts: command `{ type: 'broadcast',
 * payload }`, delivery `{ type: 'deliver', origin, n, payload }`.
 *
 * GUARANTEES (crash-stop, fair-loss links, partitions that eventually heal): RB1 validity (the
 * origin delivers its own broadcast at once), RB2 no duplication (per-origin delivered set),
 * RB3 no creation (only what some origin broadcast is ever delivered, given authentic frames),
 * RB4 agreement among correct processes: if a correct process delivers m, every correct process
 * eventually delivers m. Not uniform agreement (as eager RB): an origin that delivers and crashes
 * before its first batch leaves may be the only one that ever delivered m. Agreement holds as long
 * as no stored message is evicted by `storeMax` (counted in `evicted`, never silent; it only
 * happens when peers stay unreachable for a long time, e.g. crashed peers that never report).
 *
 * ASSUMES: crash-stop by default (all state is volatile; a recovered node would restart its
 * broadcast numbers; see DURABLE MODE for crash-recovery); every node has the
 * same `ctx.nodes` in the same order (hubs and origin indices on the wire derive from it);
 * authenticity and integrity of frames are below this layer (frame CRC32C / HMAC).
 *
 * DURABLE MODE (`durable: true`, the `logged-gossip-rb` row: crash-recovery, as the logged
 * broadcasts of logged.ts). A first receipt is one atomic persist before its delivery: the
 * origin's delivered mark (watermark + window), the payload kept for repairs, the delivered-log
 * entry (logged-log.ts: the delivery the application reads), and for an own broadcast its number.
 * So a restart never delivers twice, never loses a delivery, and never reuses a number. The
 * queues of the tree are not stored: what a crash cut off is in the store, and anti-entropy
 * (the node's digest out, pushes of what peers lack) carries it after the restart. Payloads
 * dropped from the store (collected or evicted) are deleted lazily, so at most `storeMax` are
 * read back.
 *
 * WHY NOT PERFECT LINKS. It runs over fair-loss messages directly: its own anti-entropy makes it
 * reliable, and the acks of a perfect link would double the message count.
 *
 * THE ALGORITHM. Nodes are identified by their index in `ctx.nodes`.
 * - Topology (deterministic from ctx.nodes): H hubs (default round(√N / 2), at least 1), evenly
 *   spaced in the node list; every other node is a member of exactly one hub (round-robin).
 * - Dissemination, on the FIRST delivery of a message (o, n) at a node (whatever brought it: a
 *   command, a batch or a repair): the origin queues it for every other hub; a hub queues it for
 *   every member of its group except the origin and the node it came from. Two hops: origin →
 *   hubs → members. Each hub sends (N − H) / H messages per batch, not N per broadcast. A hub that
 *   got a message through a repair also queues it for the other hubs (it missed the tree, so they
 *   probably did too; repairs are rare, so this costs little).
 * - Batching: one queue per destination, flushed `batchMs` after its first item (timer
 *   `f/<node>`) or at once when it holds `batchMax` items. A batch carries the sender's delivered
 *   watermark per origin (`w`: every n ≤ w[o] is delivered there).
 * - Gap detection and pull: after taking in a batch, a node whose watermark for some origin is
 *   below the sender's `w` lacks something the sender has, typically because a partition or a
 *   loss ate an earlier batch (batches to one destination leave ≥ batchMs apart, so a later one
 *   does not overtake an earlier one unless the link's jitter exceeds batchMs or a full queue was
 *   flushed early: then the pull is merely redundant). It sends the sender a pull (a digest with
 *   `pull: true`); the sender answers with every item the digest lacks (at most `repairMax`,
 *   lowest numbers first, with its `w` so the puller pulls again at once if more is missing). At
 *   most one unanswered pull per peer per `repairMinMs`.
 * - Lagging peers, the other direction: a `w` that shows the sender lacks messages this node has
 *   held for at least `graceMs` (so they are not merely in flight) makes it push them (at most
 *   `repairMax`, at most once per peer per `repairMinMs`). After a partition heals, the first
 *   batch across each restored link starts the repair in both directions: no timeout has to
 *   expire.
 * - Anti-entropy (the liveness backstop, e.g. when nothing is broadcast after a heal, or a hub
 *   crashed): every `aeIntervalMs` a node sends a digest (`w` plus, per origin, at most
 *   `digestWindowMax` numbers delivered above `w`) to the next peer of a rotation that starts at
 *   a random (ctx.rng) offset, so every node sends one to every other node every
 *   (N − 1) · aeIntervalMs. The receiver pushes what the digest lacks among the items it has held
 *   for at least `graceMs` (younger ones are probably still on their way through the tree). If the
 *   digest shows the sender has something the receiver lacks, the receiver checks again `graceMs`
 *   later (timer `c/<node>`) and pulls if it still lacks it.
 *   Why it is live: each correct p sends a digest to each correct q infinitely often; q pushes
 *   (lowest first, bounded) whatever p lacks that q holds; each round moves p's watermarks up, so
 *   p eventually holds everything q delivered, for every pair (p, q): agreement.
 * - Garbage collection: a node keeps the payloads it delivered (to serve repairs) until every peer
 *   has reported, through a `w` in a batch, a digest or a repair, a watermark covering them
 *   (stable: nobody can lack them any more). A member hears from most peers only through their
 *   digests, so in steady state it keeps about (N − 1) · aeIntervalMs worth of broadcasts.
 *   `storeMax` bounds them; beyond it the oldest item of the largest origin is evicted and counted.
 *
 * BOUNDS. Delivered sets: per origin a watermark plus at most `deliveredWindowMax` numbers above it
 * (`SeqSet`; a number beyond the window is dropped and counted, a repair brings it back later).
 * Batches ≤ `batchMax` items (a queue flushes when it reaches it); repairs ≤ `repairMax` items;
 * digests ≤ N · (1 + digestWindowMax) numbers; stored payloads ≤ `storeMax`; per-peer state is
 * O(N) numbers (reported watermarks, one suspect digest, pull and push times). Handling a batch
 * is O(N + its size), plus ≤ repairMax lookups per origin the sender lags on; a digest scans the
 * stored payloads once. All
 * timers go through setTimer/handleTimer; the only randomness is the rotation offset and the first
 * anti-entropy delay, drawn from ctx.rng.
 *
 * COST (bench/broadcast.ts, 25 nodes, 100 ms links, 50 broadcasts/s, partitions): about 9.5
 * messages per broadcast, anti-entropy and repairs included (origin → 3 hubs, each hub → its 7–8
 * members once per batch), against about 1,200 for eager RB over perfect links (24 + 24 · 22
 * relays, each acked). Latency: 2 hops plus ≤ 2 batch waits (about 300 ms at 100 ms per hop).
 *
 * SIZE. Over 600 lines: one algorithm (topology, batching, gap detection and pull, anti-entropy)
 * over one per-origin state, and about a third of the file is its contract above.
 */

import { SteadfastError } from '../../core/errors.ts';
import type { NodeId } from '../../core/ids.ts';
import {
  OutputQueue,
  type DurableState,
  type NodeContext,
  type Protocol,
  type StackSpec,
} from '../../core/protocol.ts';
import { SeqSet } from '../../core/seqset.ts';
import { addMs, type Instant } from '../../core/time.ts';
import { isCount, isObject, type BroadcastCommand, type BroadcastDeliver } from './base.ts';
import { LOG_KEY, type LogEntry } from './logged-log.ts';

/** Durable keys of the durable mode: own broadcast count, delivered marks, kept payloads. */
const GOSSIP_BCAST_KEY = 'gb';
const deliveredKey = (o: number): string => `gd/${o}`;
const storedKey = (o: number, n: number): string => `gs/${o}/${n}`;

function isSeqSetData(v: unknown): v is { w: number; above: number[] } {
  return (
    isObject(v) &&
    Number.isSafeInteger(v.w) &&
    Array.isArray(v.above) &&
    v.above.every((x) => Number.isSafeInteger(x))
  );
}

/** One broadcast on the wire: origin index in ctx.nodes, broadcast number, payload. */
export interface GossipItem {
  readonly o: number;
  readonly n: number;
  readonly v: unknown;
}

/**
 * Wire messages. `w`: the sender's delivered watermark per origin index (length N), or empty in an
 * unsolicited repair (which must not make the receiver pull).
 *   b  tree batch (origin → hubs, hub → members)
 *   r  repair: the answer to a digest (unsolicited, `w` empty) or to a pull (`w` full)
 *   d  digest: `w` plus `x`, lists [origin, n1, n2, …] of numbers delivered above w[origin];
 *      `pull: true` asks for everything missing at once, without a digest in reply
 */
export type GossipMsg =
  | { readonly k: 'b'; readonly w: readonly number[]; readonly m: readonly GossipItem[] }
  | { readonly k: 'r'; readonly w: readonly number[]; readonly m: readonly GossipItem[] }
  | {
      readonly k: 'd';
      readonly w: readonly number[];
      readonly x: readonly (readonly number[])[];
      readonly pull: boolean;
    };

/** Shallow shape check (the driver's `isMessage`); ranges are checked in `handleMessage`. */
export function isGossipMsg(v: unknown): v is GossipMsg {
  if (!isObject(v) || !Array.isArray(v.w)) return false;
  if (v.k === 'b' || v.k === 'r') return Array.isArray(v.m);
  return v.k === 'd' && Array.isArray(v.x) && typeof v.pull === 'boolean';
}

export interface GossipOptions {
  /** Number of hubs (default round(√N / 2), at least 1; capped at N). */
  readonly hubs?: number;
  /** A destination's queue is flushed this long after its first item (default 50). */
  readonly batchMs?: number;
  /** …or at once when it holds this many items (default 256). */
  readonly batchMax?: number;
  /** One anti-entropy digest to the next peer of the rotation this often (default 1000). */
  readonly aeIntervalMs?: number;
  /** Unsolicited repairs skip items held for less than this (default 500: still in flight). */
  readonly graceMs?: number;
  /**
   * At most one pull per peer this often unless the previous one was answered, and at most one
   * push to a lagging peer this often (default 250: about one round trip at 100 ms per hop).
   */
  readonly repairMinMs?: number;
  /** Most items in one repair message (default 512). */
  readonly repairMax?: number;
  /** Most numbers above the watermark listed per origin in a digest (default 64). */
  readonly digestWindowMax?: number;
  /** Most out-of-order broadcast numbers remembered per origin (default 100,000). */
  readonly deliveredWindowMax?: number;
  /** Most payloads kept for repairs (default 100,000). */
  readonly storeMax?: number;
  /**
   * Crash-recovery (the `logged-gossip-rb` row; default false): see DURABLE MODE in the header.
   */
  readonly durable?: boolean;
}

type Resolved = Required<Omit<GossipOptions, 'hubs'>> & { readonly hubs: number | undefined };

const DEFAULTS: Required<Omit<GossipOptions, 'hubs'>> = {
  batchMs: 50,
  batchMax: 256,
  aeIntervalMs: 1000,
  graceMs: 500,
  repairMinMs: 250,
  repairMax: 512,
  digestWindowMax: 64,
  deliveredWindowMax: 100_000,
  storeMax: 100_000,
  durable: false,
};

/** The default number of hubs for `n` nodes: round(√n / 2), at least 1. */
export function defaultHubs(n: number): number {
  return Math.max(1, Math.min(n, Math.round(Math.sqrt(n) / 2)));
}

/** Validates options; throws `SteadfastError('bad-argument')` naming the bad field. */
export function resolveGossipOptions(opts: GossipOptions = {}): Resolved {
  const r: Resolved = { ...DEFAULTS, ...opts, hubs: opts.hubs };
  const check = (field: string, v: number, min: number) => {
    if (!Number.isSafeInteger(v) || v < min) {
      throw new SteadfastError(
        'bad-argument',
        `gossip: ${field} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`,
      );
    }
  };
  if (r.hubs !== undefined) check('hubs', r.hubs, 1);
  check('batchMs', r.batchMs, 0);
  check('batchMax', r.batchMax, 1);
  check('aeIntervalMs', r.aeIntervalMs, 1);
  check('graceMs', r.graceMs, 0);
  check('repairMinMs', r.repairMinMs, 0);
  check('repairMax', r.repairMax, 1);
  check('digestWindowMax', r.digestWindowMax, 0);
  check('deliveredWindowMax', r.deliveredWindowMax, 1);
  check('storeMax', r.storeMax, 1);
  if (typeof r.durable !== 'boolean') {
    throw new SteadfastError(
      'bad-argument',
      `gossip: durable must be a boolean, got ${String(r.durable)}`,
    );
  }
  return r;
}

/** The hubs (node indices) and each hub's members for `n` nodes and `h` hubs. */
export function gossipTopology(
  n: number,
  h: number,
): { readonly hubs: number[]; readonly groups: Map<number, number[]> } {
  const count = Math.max(1, Math.min(n, h));
  const hubs: number[] = [];
  for (let i = 0; i < count; i++) hubs.push(Math.floor((i * n) / count));
  const groups = new Map<number, number[]>(hubs.map((x) => [x, []]));
  let j = 0;
  for (let i = 0; i < n; i++) {
    if (groups.has(i)) continue;
    groups.get(hubs[j % count] ?? 0)?.push(i);
    j++;
  }
  return { hubs, groups };
}

interface Stored {
  readonly v: unknown;
  readonly at: number;
}

interface Digest {
  readonly w: readonly number[];
  readonly x: readonly (readonly number[])[];
}

export class GossipBroadcast
  extends OutputQueue<GossipMsg, BroadcastDeliver>
  implements Protocol<GossipMsg, BroadcastCommand, BroadcastDeliver>
{
  private readonly opts: Resolved;
  private readonly size: number;
  private readonly me: number;
  private readonly index = new Map<NodeId, number>();
  private readonly hubs: readonly number[];
  /** Members this node forwards to (empty unless it is a hub). */
  private readonly group: readonly number[];
  private readonly isHub: boolean;
  /** Every peer index (all but me), the anti-entropy rotation. */
  private readonly peers: readonly number[];
  private readonly delivered: SeqSet[];
  /** Payloads kept for repairs, per origin: n → payload and when it was delivered here. */
  private readonly store: Map<number, Stored>[];
  private storeSize = 0;
  /** Pending batch per destination. */
  private readonly queues: GossipItem[][];
  /** Watermarks each peer reported (for garbage collection). */
  private readonly known: number[][];
  private readonly lastPull: number[];
  private readonly lastPush: number[];
  private readonly suspect: (Digest | undefined)[];
  private readonly checkArmed: boolean[];
  private aeNext = 0;
  /** Shared snapshot of my watermarks, rebuilt after a delivery (never mutated once sent). */
  private wCache: number[] | undefined;
  private now: Instant = 0 as Instant;
  private broadcasts = 0;
  private readonly c = {
    delivered: 0,
    duplicates: 0,
    malformed: 0,
    dropped: 0,
    evicted: 0,
    batches: 0,
    batchItems: 0,
    repairs: 0,
    repairItems: 0,
    digests: 0,
    pulls: 0,
  };

  constructor(
    private readonly ctx: NodeContext,
    opts: GossipOptions = {},
  ) {
    super();
    this.opts = resolveGossipOptions(opts);
    this.size = ctx.nodes.length;
    ctx.nodes.forEach((id, i) => this.index.set(id, i));
    const me = this.index.get(ctx.id);
    if (me === undefined) {
      throw new SteadfastError('bad-argument', `gossip: ${ctx.id} is not in ctx.nodes`);
    }
    this.me = me;
    const topo = gossipTopology(this.size, this.opts.hubs ?? defaultHubs(this.size));
    this.hubs = topo.hubs;
    this.isHub = topo.groups.has(me);
    this.group = topo.groups.get(me) ?? [];
    this.peers = ctx.nodes.map((_, i) => i).filter((i) => i !== me);
    const w = this.opts.deliveredWindowMax;
    this.delivered = ctx.nodes.map(() => new SeqSet(w));
    this.store = ctx.nodes.map(() => new Map<number, Stored>());
    this.queues = ctx.nodes.map(() => []);
    this.known = ctx.nodes.map(() => ctx.nodes.map(() => 0));
    this.lastPull = ctx.nodes.map(() => Number.NEGATIVE_INFINITY);
    this.lastPush = ctx.nodes.map(() => Number.NEGATIVE_INFINITY);
    this.suspect = ctx.nodes.map(() => undefined);
    this.checkArmed = ctx.nodes.map(() => false);
  }

  handleStart(now: Instant, durable: DurableState): void {
    this.now = now;
    if (this.opts.durable) this.restore(durable);
    if (this.peers.length === 0) return;
    this.aeNext = this.ctx.rng.int(this.peers.length);
    this.setTimer('ae', addMs(now, 1 + this.ctx.rng.int(this.opts.aeIntervalMs)));
  }

  handleCommand(now: Instant, cmd: BroadcastCommand): void {
    this.now = now;
    // The type says broadcast; a JavaScript caller may still pass anything.
    const c: unknown = cmd;
    if (!isObject(c) || c.type !== 'broadcast' || !('payload' in c)) {
      throw new SteadfastError(
        'unknown-command',
        'gossip: expected { type: "broadcast", payload }',
      );
    }
    this.accept(this.me, ++this.broadcasts, cmd.payload, this.me);
  }

  handleTimer(now: Instant, name: string): void {
    this.now = now;
    if (name === 'ae') {
      this.antiEntropy();
      return;
    }
    const peer = this.index.get(name.slice(2));
    if (peer === undefined) return;
    if (name.startsWith('f/')) this.flush(peer);
    else if (name.startsWith('c/')) this.check(peer);
  }

  handleMessage(now: Instant, from: NodeId, msg: GossipMsg): void {
    this.now = now;
    const s = this.index.get(from);
    if (s === undefined || s === this.me || !this.validW(msg.w, msg.k !== 'd')) {
      this.c.malformed++;
      return;
    }
    if (msg.k === 'd') {
      const x = this.validX(msg.x);
      if (x === undefined) {
        this.c.malformed++;
        return;
      }
      this.onDigest(s, msg.w, x, msg.pull);
      return;
    }
    if (!msg.m.every((it) => this.validItem(it))) {
      this.c.malformed++;
      return;
    }
    for (const it of msg.m) this.accept(it.o, it.n, it.v, s, msg.k === 'r');
    if (msg.w.length === 0) return;
    this.noteKnown(s, msg.w);
    if (msg.k === 'r' && msg.m.length > 0) this.lastPull[s] = Number.NEGATIVE_INFINITY; // answered
    if (this.lacksFrom(msg.w, [])) this.pull(s);
    this.pushLagging(s, msg.w);
  }

  stats(): Readonly<Record<string, number>> {
    let window = 0;
    for (const s of this.delivered) window += s.windowSize;
    let queued = 0;
    for (const q of this.queues) queued += q.length;
    return {
      broadcasts: this.broadcasts,
      ...this.c,
      malformedDropped: this.c.malformed,
      stored: this.storeSize,
      deliveredWindow: window,
      queued,
      hub: this.isHub ? 1 : 0,
    };
  }

  // ------------------------------------------------------------------ delivery and dissemination

  /**
   * First receipt of (o, n): deliver, keep for repairs, pass it down the tree. A hub also passes
   * a repaired item to the other hubs: it missed the tree, so they probably did too.
   */
  private accept(o: number, n: number, v: unknown, from: number, repaired = false): void {
    const seen = this.delivered[o];
    if (seen === undefined) return;
    const added = seen.add(n);
    if (added === 'present') {
      this.c.duplicates++;
      return;
    }
    if (added === 'overflow') {
      this.c.dropped++;
      return;
    }
    this.wCache = undefined;
    this.c.delivered++;
    const origin = this.ctx.nodes[o] ?? '';
    if (this.opts.durable) {
      // One atomic batch before the notification: the delivered mark, the payload kept for
      // repairs, the delivered-log entry, and for an own broadcast its number.
      const entry: LogEntry = { origin, n, payload: v };
      this.persist([
        ...(o === this.me ? [{ key: GOSSIP_BCAST_KEY, value: n }] : []),
        { key: deliveredKey(o), value: seen.toJSON() },
        { key: storedKey(o, n), value: { v } },
        { key: LOG_KEY, value: entry },
      ]);
    }
    this.deliver({ type: 'deliver', origin, n, payload: v });
    this.keep(o, n, v);
    const item: GossipItem = { o, n, v };
    if (o === this.me) for (const h of this.hubs) if (h !== this.me) this.enqueue(h, item);
    for (const m of this.group) if (m !== o && m !== from) this.enqueue(m, item);
    if (repaired && this.isHub) {
      for (const h of this.hubs) if (h !== this.me && h !== o && h !== from) this.enqueue(h, item);
    }
  }

  private enqueue(to: number, item: GossipItem): void {
    const q = this.queues[to];
    if (q === undefined) return;
    q.push(item);
    if (q.length >= this.opts.batchMax) {
      if (q.length > 1) this.cancelTimer(this.timerName('f/', to));
      this.flush(to);
    } else if (q.length === 1) {
      this.setTimer(this.timerName('f/', to), addMs(this.now, this.opts.batchMs));
    }
  }

  private flush(to: number): void {
    const q = this.queues[to];
    if (q === undefined || q.length === 0) return;
    this.queues[to] = [];
    this.c.batches++;
    this.c.batchItems += q.length;
    this.send(this.id(to), { k: 'b', w: this.watermarks(), m: q });
  }

  private keep(o: number, n: number, v: unknown): void {
    const s = this.store[o];
    if (s === undefined) return;
    s.set(n, { v, at: this.now });
    this.storeSize++;
    this.evictBeyondMax();
  }

  /** Beyond `storeMax` stored payloads: evicts the oldest of the largest origin (counted). */
  private evictBeyondMax(): void {
    while (this.storeSize > this.opts.storeMax) {
      let largest: Map<number, Stored> | undefined;
      for (const m of this.store) if (largest === undefined || m.size > largest.size) largest = m;
      const first = largest?.keys().next();
      if (largest === undefined || first === undefined || first.done === true) break;
      largest.delete(first.value);
      this.storeSize--;
      this.c.evicted++;
      this.forget(this.store.indexOf(largest), first.value);
    }
  }

  /** In durable mode, the stored payload (o, n) goes too (lazily: only repairs read it). */
  private forget(o: number, n: number): void {
    if (this.opts.durable && o >= 0) this.persistLazy([{ key: storedKey(o, n), value: null }]);
  }

  /**
   * Durable mode, at start: the own broadcast counter, the delivered marks and the payloads kept
   * for repairs (the oldest evicted beyond storeMax). What the crash cut off from the tree is in
   * the store, and anti-entropy carries it both ways from here.
   */
  private restore(durable: DurableState): void {
    for (const [key, value] of durable) {
      if (key === GOSSIP_BCAST_KEY) {
        if (isCount(value)) this.broadcasts = value;
        continue;
      }
      const parts = key.split('/');
      const o = Number(parts[1]);
      if (parts[0] === 'gd' && parts.length === 2 && this.delivered[o] !== undefined) {
        if (isSeqSetData(value)) {
          this.delivered[o] = SeqSet.from(value, this.opts.deliveredWindowMax);
        }
      } else if (parts[0] === 'gs' && parts.length === 3 && isObject(value) && 'v' in value) {
        const n = Number(parts[2]);
        const store = this.store[o];
        if (store !== undefined && isCount(n) && !store.has(n)) {
          store.set(n, { v: value.v, at: this.now });
          this.storeSize++;
        }
      }
    }
    this.wCache = undefined;
    this.evictBeyondMax();
  }

  // ------------------------------------------------------------------ anti-entropy

  private antiEntropy(): void {
    const peer = this.peers[this.aeNext % this.peers.length];
    this.aeNext = (this.aeNext + 1) % this.peers.length;
    if (peer !== undefined) {
      this.c.digests++;
      this.send(this.id(peer), this.digest(false));
    }
    this.collect();
    this.setTimer('ae', addMs(this.now, this.opts.aeIntervalMs));
  }

  private digest(pull: boolean): GossipMsg {
    const x: number[][] = [];
    const max = this.opts.digestWindowMax;
    this.delivered.forEach((s, i) => {
      if (s.windowSize === 0 || max === 0) return;
      x.push([i, ...s.toJSON().above.slice(0, max)]);
    });
    return { k: 'd', w: this.watermarks(), x, pull };
  }

  private onDigest(s: number, w: readonly number[], x: Map<number, Set<number>>, pull: boolean) {
    this.noteKnown(s, w);
    const items: GossipItem[] = [];
    const graceBefore = this.now - this.opts.graceMs;
    for (let o = 0; o < this.size && items.length < this.opts.repairMax; o++) {
      const store = this.store[o];
      const wo = w[o] ?? 0;
      if (store === undefined || store.size === 0) continue;
      const above = x.get(o);
      const lacking: number[] = [];
      for (const [n, e] of store) {
        if (n <= wo || above?.has(n) === true) continue;
        if (!pull && e.at > graceBefore) continue;
        lacking.push(n);
      }
      lacking.sort((a, b) => a - b);
      for (const n of lacking) {
        if (items.length >= this.opts.repairMax) break;
        items.push({ o, n, v: store.get(n)?.v });
      }
    }
    if (items.length > 0) {
      this.c.repairs++;
      this.c.repairItems += items.length;
      this.send(this.id(s), { k: 'r', w: pull ? this.watermarks() : [], m: items });
    }
    if (pull) return;
    const lists: number[][] = [];
    for (const [o, ns] of x) lists.push([o, ...ns]);
    if (!this.lacksFrom(w, lists)) return;
    // It has something I lack, perhaps still on its way to me: look again after the grace time.
    this.suspect[s] = { w, x: lists };
    if (this.checkArmed[s] !== true) {
      this.checkArmed[s] = true;
      this.setTimer(this.timerName('c/', s), addMs(this.now, this.opts.graceMs));
    }
  }

  /**
   * The other direction of gap detection: `w` (from a batch or a repair) shows that peer `s` lacks
   * messages I have held for at least `graceMs` (so they are not just on their way): push them.
   * Only numbers up to my own watermark are looked at, at most `repairMax` per origin (none when
   * the peer does not lag).
   */
  private pushLagging(s: number, w: readonly number[]): void {
    if (this.now - (this.lastPush[s] ?? 0) < this.opts.repairMinMs) return;
    const graceBefore = this.now - this.opts.graceMs;
    const items: GossipItem[] = [];
    for (let o = 0; o < this.size && items.length < this.opts.repairMax; o++) {
      const mine = this.delivered[o]?.watermark ?? 0;
      const store = this.store[o];
      if (store === undefined) continue;
      const from = (w[o] ?? 0) + 1;
      const to = Math.min(mine, from + this.opts.repairMax - 1); // bounded lookups per origin
      for (let n = from; n <= to && items.length < this.opts.repairMax; n++) {
        const e = store.get(n);
        if (e !== undefined && e.at <= graceBefore) items.push({ o, n, v: e.v });
      }
    }
    if (items.length === 0) return;
    this.lastPush[s] = this.now;
    this.c.repairs++;
    this.c.repairItems += items.length;
    this.send(this.id(s), { k: 'r', w: [], m: items });
  }

  private check(s: number): void {
    this.checkArmed[s] = false;
    const d = this.suspect[s];
    this.suspect[s] = undefined;
    if (d !== undefined && this.lacksFrom(d.w, d.x)) this.pull(s);
  }

  private pull(s: number): void {
    if (this.now - (this.lastPull[s] ?? 0) < this.opts.repairMinMs) return;
    this.lastPull[s] = this.now;
    this.c.pulls++;
    this.send(this.id(s), this.digest(true));
  }

  /** Whether a peer with watermarks `w` and above-lists `x` has something I have not delivered. */
  private lacksFrom(w: readonly number[], x: readonly (readonly number[])[]): boolean {
    for (let o = 0; o < this.size; o++) {
      if ((w[o] ?? 0) > (this.delivered[o]?.watermark ?? 0)) return true;
    }
    for (const list of x) {
      const s = this.delivered[list[0] ?? -1];
      if (s === undefined) continue;
      for (let i = 1; i < list.length; i++) if (!s.has(list[i] ?? 0)) return true;
    }
    return false;
  }

  private noteKnown(s: number, w: readonly number[]): void {
    const k = this.known[s];
    if (k === undefined) return;
    for (let o = 0; o < this.size; o++) {
      const v = w[o] ?? 0;
      if (v > (k[o] ?? 0)) k[o] = v;
    }
  }

  /** Drops stored payloads every peer has reported delivering (nobody can lack them). */
  private collect(): void {
    for (let o = 0; o < this.size; o++) {
      const store = this.store[o];
      if (store === undefined || store.size === 0) continue;
      let stable = Number.POSITIVE_INFINITY;
      for (const p of this.peers) stable = Math.min(stable, this.known[p]?.[o] ?? 0);
      if (stable <= 0) continue;
      for (const n of store.keys()) {
        if (n <= stable) {
          store.delete(n);
          this.storeSize--;
          this.forget(o, n);
        }
      }
    }
  }

  // ------------------------------------------------------------------ helpers

  private watermarks(): number[] {
    this.wCache ??= this.delivered.map((s) => s.watermark);
    return this.wCache;
  }

  private id(i: number): NodeId {
    return this.ctx.nodes[i] ?? '';
  }

  private timerName(prefix: string, i: number): string {
    return prefix + this.id(i);
  }

  private validW(w: readonly unknown[], mayBeEmpty: boolean): boolean {
    if (w.length === 0) return mayBeEmpty;
    return w.length === this.size && w.every((v) => Number.isSafeInteger(v) && (v as number) >= 0);
  }

  private validItem(it: unknown): it is GossipItem {
    return (
      isObject(it) &&
      Number.isInteger(it.o) &&
      (it.o as number) >= 0 &&
      (it.o as number) < this.size &&
      isCount(it.n) &&
      'v' in it
    );
  }

  private validX(x: readonly unknown[]): Map<number, Set<number>> | undefined {
    const out = new Map<number, Set<number>>();
    for (const list of x) {
      if (!Array.isArray(list) || list.length === 0) return undefined;
      const o: unknown = list[0];
      if (!Number.isInteger(o) || (o as number) < 0 || (o as number) >= this.size) return undefined;
      const set = new Set<number>();
      for (let i = 1; i < list.length; i++) {
        const n: unknown = list[i];
        if (!isCount(n)) return undefined;
        set.add(n);
      }
      out.set(o as number, set);
    }
    return out;
  }
}

/** The efficient reliable broadcast as a stack (over fair-loss messages; see the header). */
export function gossipBroadcast(
  opts: GossipOptions = {},
): StackSpec<GossipMsg, BroadcastCommand, BroadcastDeliver> {
  resolveGossipOptions(opts); // fail fast on a bad option
  return {
    name: 'gossip-rb',
    create: (ctx) => new GossipBroadcast(ctx, opts),
    isMessage: isGossipMsg,
  };
}
