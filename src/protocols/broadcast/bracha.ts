/**
 * Byzantine reliable broadcast: Bracha's double-echo algorithm (Bracha 1987; Cachin, Guerraoui
 * and Rodrigues, Alg. 3.18 "Authenticated Double-Echo Broadcast"), over authenticated perfect
 * links.
 *
 *   origin o broadcasts m as its n-th message:   SEND(o, n, m) to all
 *   first SEND(o, n, m) whose link sender is o:  ECHO(o, n, m) to all                (once per (o, n))
 *   ECHOs for (o, n, m) from > (N + f) / 2, or
 *   READYs for (o, n, m) from ≥ f + 1:            READY(o, n, m) to all               (once per (o, n))
 *   READYs for (o, n, m) from ≥ 2f + 1:           deliver m                           (once per (o, n))
 *
 * "To all" includes the process itself (handled locally, after the sends to the others, in the
 * same step). Each sender counts at most once per (o, n) per kind (its first ECHO, its first
 * READY): the authenticated link names the true sender, so a Byzantine process cannot vote twice
 * nor in another's name. A SEND is accepted only from its origin (`o` must equal the link
 * sender): a SEND claiming another origin is counted (`forgedSends`) and dropped.
 *
 * Guarantees, with N > 3f and at most f Byzantine processes (the rest correct):
 *   BRB1 validity     if a correct process broadcasts m, every correct process delivers m;
 *   BRB2 no duplication  every correct process delivers at most one message per (o, n);
 *   BRB3 integrity    if a correct process delivers m with origin o and o is correct, o
 *                     broadcast m (as its n-th message);
 *   BRB4 consistency  no two correct processes deliver different messages for the same (o, n);
 *   BRB5 totality     if some correct process delivers for (o, n), every correct process does.
 * Why: two ECHO quorums (> (N + f) / 2 each) share more than f processes, so a correct one: at
 * most one m per (o, n) gathers an ECHO quorum, so correct processes only send READY for that m
 * (amplification needs f + 1 READYs, hence one from a correct process). A delivery saw 2f + 1
 * READYs, f + 1 of them correct; those reach every correct process, which amplifies; then all
 * N − f ≥ 2f + 1 correct READYs reach everyone.
 * With N ≤ 3f none of this holds (see bracha.test.ts for counterexamples the simulator finds):
 * the constructor refuses such an `f` unless `allowUnsafeF` is set (to demonstrate exactly that).
 *
 * Assumes: authenticated perfect links (PL over frames with an HMAC per pair: `wire.frame.auth`
 * in the simulator; without authentication, a forged frame could vote in a correct process's
 * name); crash-stop processes that keep their state in memory (a crash-recovered process starts
 * afresh and may echo or ready twice: it counts as one of the f faulty ones); messages are plain
 * data (msgpack): a message's identity is a canonical form of the plain value (keys sorted), so
 * two payloads that decode equal are the same message.
 *
 * Memory (a flooding Byzantine process must not exhaust it): per origin, the delivered numbers
 * as a watermark plus a window (`SeqSet`, `deliveredWindowMax`); per (o, n) vote state only while
 * (o, n) is undelivered, only for n in (watermark, watermark + deliveredWindowMax], and at most
 * `pendingMax` such (o, n) per origin: anything else is counted (`outOfWindow`, `pendingFull`)
 * and dropped. An entry holds at most 2N votes (one per sender per kind), so at most 2N
 * distinct payload keys (a key is as long as its payload's canonical form). A correct origin cannot run further ahead than its own window
 * (`broadcast` throws `buffer-full`); a receiver lagging more than the window behind an origin
 * drops its messages (documented, never silent). A send that the link refuses because a peer has
 * not acked for `sendWindowMax + sendQueueMax` messages (a silent Byzantine peer) is counted
 * (`sendsDropped`) and dropped, instead of throwing out of `handleMessage`.
 * Every incoming message is validated strictly: malformed ones are counted and dropped.
 */

import { SteadfastError, assert } from '../../core/errors.ts';
import type { NodeId } from '../../core/ids.ts';
import { PAYLOAD_MAX_DEPTH } from '../../core/payload.ts';
import type { NodeContext } from '../../core/protocol.ts';
import { SeqSet } from '../../core/seqset.ts';
import type { Instant } from '../../core/time.ts';
import type { ReliableOptions } from '../link/reliable.ts';
import {
  isCount,
  isObject,
  broadcastStack,
  OverPerfectLinks,
  type BroadcastCommand,
  type BroadcastDeliver,
  requireBroadcastCommand,
} from './base.ts';

export type BrachaKind = 'send' | 'echo' | 'ready';

/** A Bracha message as carried by the perfect link (`k` tags the protocol). */
export interface BrachaMsg {
  readonly k: 'brb';
  readonly t: BrachaKind;
  /** The origin: the process that broadcast `m` as its `n`-th message. */
  readonly o: NodeId;
  readonly n: number;
  readonly m: unknown;
}

export function brachaMsg(t: BrachaKind, o: NodeId, n: number, m: unknown): BrachaMsg {
  return { k: 'brb', t, o, n, m };
}

/**
 * A canonical string of a plain-data value (object keys sorted; byte arrays, NaN and ±Infinity
 * tagged so that distinct values never share a string), or `undefined` if `value` is not plain
 * data (classes, functions, bigints, symbols, cycles, nesting deeper than PAYLOAD_MAX_DEPTH).
 * Two values have the same key iff they are the same message (−0 and 0 are the same, as on the
 * wire; an `undefined` property is the same as an absent one). Byte arrays become b"hex" and
 * non-finite numbers NaN / Infinity, bare tokens that JSON never produces, so no collisions.
 */
export function payloadKey(value: unknown): string | undefined {
  if (typeof value === 'string') return JSON.stringify(value);
  return canon(value, 0);
}

function canon(v: unknown, depth: number): string | undefined {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      // Bare NaN / Infinity / -Infinity: never produced for any other value.
      return Number.isFinite(v) ? String(v === 0 ? 0 : v) : String(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object':
      break;
    default:
      return undefined; // undefined, bigint, function, symbol
  }
  if (v === null) return 'null';
  if (depth >= PAYLOAD_MAX_DEPTH) return undefined;
  if (v instanceof Uint8Array) {
    let hex = '';
    for (const b of v) hex += b.toString(16).padStart(2, '0');
    return `b"${hex}"`; // a bare b"…": never produced for any other value
  }
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) {
      const x = canon(v[i], depth + 1);
      if (x === undefined) return undefined;
      out += (i === 0 ? '' : ',') + x;
    }
    return out + ']';
  }
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return undefined;
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = '{';
  for (const key of keys) {
    const x = obj[key];
    if (x === undefined) continue;
    const s = canon(x, depth + 1);
    if (s === undefined) return undefined;
    out += (out.length === 1 ? '' : ',') + JSON.stringify(key) + ':' + s;
  }
  return out + '}';
}

/** Structural check of a Bracha message (the origin's membership is checked by the receiver). */
export function isBrachaMsg(v: unknown): v is BrachaMsg {
  return (
    isObject(v) &&
    v.k === 'brb' &&
    (v.t === 'send' || v.t === 'echo' || v.t === 'ready') &&
    typeof v.o === 'string' &&
    isCount(v.n) &&
    'm' in v &&
    v.m !== undefined
  );
}

export interface BrachaOptions extends Partial<ReliableOptions> {
  /** Byzantine processes tolerated (default ⌊(N − 1) / 3⌋). Needs N > 3f. */
  readonly f?: number;
  /**
   * Accept an `f` with N ≤ 3f. The guarantees are then void; this exists to show (in tests) how
   * they break.
   */
  readonly allowUnsafeF?: boolean;
  /** How far above its delivered watermark an origin's messages are tracked (default 4096). */
  readonly deliveredWindowMax?: number;
  /** Most undelivered (o, n) tracked per origin (default: deliveredWindowMax). */
  readonly pendingMax?: number;
}

/** Vote state of one undelivered (o, n). */
interface Entry {
  echoed: boolean;
  readied: boolean;
  readonly echoFrom: Set<NodeId>;
  readonly readyFrom: Set<NodeId>;
  /** Payload key → how many distinct senders echoed / readied it. */
  readonly echoes: Map<string, number>;
  readonly readies: Map<string, number>;
}

interface OriginState {
  readonly delivered: SeqSet;
  readonly pending: Map<number, Entry>;
}

export class BrachaBroadcast extends OverPerfectLinks<BroadcastCommand, BroadcastDeliver> {
  readonly f: number;
  private readonly windowMax: number;
  private readonly pendingMax: number;
  private readonly origins = new Map<NodeId, OriginState>();
  /** Messages to ourselves, handled after the current step's sends (FIFO). */
  private readonly local: BrachaMsg[] = [];
  private draining = false;
  private broadcasts = 0;
  private readonly counters = {
    forgedSends: 0,
    outOfWindow: 0,
    pendingFull: 0,
    late: 0,
    repeatedVotes: 0,
    sendsDropped: 0,
    delivered: 0,
  };

  constructor(ctx: NodeContext, opts: BrachaOptions = {}) {
    const { f, allowUnsafeF, deliveredWindowMax, pendingMax, ...link } = opts;
    super(ctx, link);
    const n = ctx.nodes.length;
    this.f = f ?? Math.floor((n - 1) / 3);
    if (!Number.isSafeInteger(this.f) || this.f < 0) {
      throw new SteadfastError('bad-argument', `bracha: f must be an integer ≥ 0, got ${this.f}`);
    }
    if (n <= 3 * this.f && allowUnsafeF !== true) {
      throw new SteadfastError(
        'bad-argument',
        `bracha: N = ${n} processes cannot tolerate f = ${this.f} Byzantine ones (needs N > 3f)`,
      );
    }
    this.windowMax = deliveredWindowMax ?? 4096;
    this.pendingMax = pendingMax ?? this.windowMax;
    for (const [name, v] of Object.entries({
      deliveredWindowMax: this.windowMax,
      pendingMax: this.pendingMax,
    })) {
      if (!Number.isSafeInteger(v) || v < 1) {
        throw new SteadfastError('bad-argument', `bracha: ${name} must be an integer ≥ 1`);
      }
    }
  }

  protected onCommand(_now: Instant, cmd: BroadcastCommand): void {
    requireBroadcastCommand('bracha', cmd);
    if (payloadKey(cmd.payload) === undefined) {
      throw new SteadfastError('bad-argument', 'bracha: the payload must be plain data');
    }
    const n = this.broadcasts + 1;
    if (n > this.origin(this.ctx.id).delivered.watermark + this.windowMax) {
      throw new SteadfastError(
        'buffer-full',
        `bracha: broadcast ${n} would run more than ${this.windowMax} ahead of delivery`,
      );
    }
    this.broadcasts = n;
    this.toAll(brachaMsg('send', this.ctx.id, n, cmd.payload));
    this.drainLocal();
  }

  protected onLinkDeliver(from: NodeId, payload: unknown): void {
    if (!isBrachaMsg(payload) || !this.ctx.nodes.includes(payload.o)) {
      this.malformed++;
      return;
    }
    this.onMessage(from, payload);
    this.drainLocal();
  }

  private drainLocal(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      for (let m = this.local.shift(); m !== undefined; m = this.local.shift()) {
        this.onMessage(this.ctx.id, m);
      }
    } finally {
      this.draining = false;
    }
  }

  /** Sends to every other process, then to ourselves (queued, handled later in this step). */
  private toAll(msg: BrachaMsg): void {
    for (const to of this.others) {
      try {
        this.sendTo(to, msg);
      } catch (err) {
        if (!(err instanceof SteadfastError) || err.code !== 'buffer-full') throw err;
        this.counters.sendsDropped++;
      }
    }
    this.local.push(msg);
  }

  private origin(o: NodeId): OriginState {
    let s = this.origins.get(o);
    if (s === undefined) {
      s = { delivered: new SeqSet(this.windowMax), pending: new Map() };
      this.origins.set(o, s);
    }
    return s;
  }

  private onMessage(from: NodeId, msg: BrachaMsg): void {
    if (msg.t === 'send' && msg.o !== from) {
      this.counters.forgedSends++;
      return;
    }
    const key = payloadKey(msg.m);
    if (key === undefined) {
      this.malformed++;
      return;
    }
    const os = this.origin(msg.o);
    if (os.delivered.has(msg.n)) {
      this.counters.late++;
      return;
    }
    let e = os.pending.get(msg.n);
    if (e === undefined) {
      if (msg.n > os.delivered.watermark + this.windowMax) {
        this.counters.outOfWindow++;
        return;
      }
      if (os.pending.size >= this.pendingMax) {
        this.counters.pendingFull++;
        return;
      }
      e = {
        echoed: false,
        readied: false,
        echoFrom: new Set(),
        readyFrom: new Set(),
        echoes: new Map(),
        readies: new Map(),
      };
      os.pending.set(msg.n, e);
    }
    switch (msg.t) {
      case 'send':
        if (e.echoed) {
          this.counters.repeatedVotes++;
          return;
        }
        e.echoed = true;
        this.toAll(brachaMsg('echo', msg.o, msg.n, msg.m));
        return;
      case 'echo': {
        if (e.echoFrom.has(from)) {
          this.counters.repeatedVotes++;
          return;
        }
        e.echoFrom.add(from);
        const c = tally(e.echoes, key);
        if (!e.readied && 2 * c > this.ctx.nodes.length + this.f) this.ready(e, msg);
        return;
      }
      case 'ready': {
        if (e.readyFrom.has(from)) {
          this.counters.repeatedVotes++;
          return;
        }
        e.readyFrom.add(from);
        const c = tally(e.readies, key);
        if (!e.readied && c >= this.f + 1) this.ready(e, msg);
        if (c >= 2 * this.f + 1) this.deliverOnce(os, msg);
        return;
      }
    }
  }

  private ready(e: Entry, msg: BrachaMsg): void {
    e.readied = true;
    this.toAll(brachaMsg('ready', msg.o, msg.n, msg.m));
  }

  private deliverOnce(os: OriginState, msg: BrachaMsg): void {
    const added = os.delivered.add(msg.n);
    // Entries exist only inside the window, and the watermark only moves up.
    assert(added === 'added', `bracha: delivering ${msg.o}/${msg.n} gave ${added}`);
    os.pending.delete(msg.n);
    this.counters.delivered++;
    this.deliver({ type: 'deliver', origin: msg.o, n: msg.n, payload: msg.m });
  }

  protected override extraStats(): Record<string, number> {
    let pending = 0;
    let window = 0;
    for (const s of this.origins.values()) {
      pending += s.pending.size;
      window += s.delivered.windowSize;
    }
    return {
      broadcasts: this.broadcasts,
      ...this.counters,
      pending,
      deliveredWindow: window,
    };
  }
}

/** One more distinct sender for the payload `key`; returns its new count. */
function tally(counts: Map<string, number>, key: string): number {
  const c = (counts.get(key) ?? 0) + 1;
  counts.set(key, c);
  return c;
}

export function brachaBroadcast(opts: BrachaOptions = {}) {
  return broadcastStack('bracha', (ctx) => new BrachaBroadcast(ctx, opts));
}
