/**
 * Naive primary-backup replication (the teaching row: what goes wrong without a quorum). The
 * API is the shared one (types.ts): command `KvCommand`, delivery `KvResult`.
 *
 * THE ALGORITHM (nodes identified by their index in `ctx.nodes`; every node runs both the
 * replica and the clients it hosts).
 * - Views. View v's primary is `ctx.nodes[v mod N]`; view 0's is the first node. A node keeps
 *   the highest view it has heard of (`view`) and the view whose primary's state it holds
 *   (`sv`, synced view). Every message carries the sender's view; hearing a higher one makes a
 *   node adopt it (a primary that does steps down: its unanswered clients are left to retry).
 * - Heartbeats. Every `heartbeatMs` each node sends every other node `hb { v, sv, s }` (s: the
 *   number of operations applied). From a backup it doubles as a cumulative acknowledgement.
 * - Operations. The primary applies an operation at once (applyOp), gives each write the next
 *   sequence number, persists it, sends it (`op`) to every backup it believes alive and answers
 *   the client once every backup it believes alive has acknowledged it (a backup heard from
 *   within `failoverMs` is alive; one declared dead stops being waited for). A read gets no
 *   number: it is answered once everything applied before it is acknowledged that way.
 *   Backups apply the primary's operations strictly in sequence (a gap is dropped and resent),
 *   persist, then acknowledge. At most once every `retryMs` the primary resends to a lagging
 *   alive backup the operations it lacks (≤ `sendWindowMax`), or a snapshot of the whole store
 *   when it is not synced to the view or lags beyond the kept log (`logMax` operations).
 * - Failover. A backup that hears nothing from the primary for `failoverMs` promotes itself if
 *   it is the lowest-index node among itself and the nodes it still hears from: it takes the
 *   next view it owns (the smallest v above its view with v mod N = its index), keeps its own
 *   state, and from then on answers clients; the other backups adopt the view from its heartbeat
 *   and are brought to its state by a snapshot. NO QUORUM: under a partition each side can have
 *   a primary, and each accepts and acknowledges writes (split-brain).
 * - The heal rule: the higher view wins. A node hearing a higher view adopts it and its primary's
 *   snapshot replaces its store: every write acknowledged by the lower view's primary after the
 *   split is lost.
 * - Clients. Each client (a name in the command, hosted by this node) runs one operation at a
 *   time, in the order its commands arrive; the others wait in a queue of at most `queueMax`
 *   (beyond it: status 'fail'). The operation is sent (`req`) to the believed primary (view mod
 *   N; itself, without a message, when it is the primary) and resent to whoever is then believed
 *   primary, with exponential backoff and jitter from `retryMs` up to `clientRetryMsMax`
 *   (client.ts), until the answer (`res`) or `clientTimeoutMs` after the start
 *   (status 'indefinite': it may have happened). Requests carry (epoch, number): epoch counts
 *   this node's incarnations (persisted at start), number the requests of the incarnation. The
 *   primary keeps, replicated with the operations, each client's last write and its output: a
 *   resent request is answered from it, never applied twice; an older one is dropped.
 *
 * GUARANTEES. While no failover happens (one primary the whole run; crashes that recover within
 * `failoverMs`, losses, duplicates, reordering), the store is linearizable with exactly-once
 * increments: each operation takes effect at its application at the primary, inside its call
 * and return, and the primary's state is durable. Every client operation at a correct node ends
 * (ok, fail or indefinite after `clientTimeoutMs`).
 * NOT GUARANTEED: anything across a failover. A backup promoted while the primary lives (a
 * partition, or just a slow network: failure detection by timeout is not accurate) makes two
 * primaries; both acknowledge writes, reads on either side are stale for the other, and at the
 * heal the lower view's acknowledged writes are lost (no-lost-write, increments-once and
 * linearizability fail). A promoted backup that missed operations the old primary answered
 * loses them too (an acknowledgement waits only for the backups the primary believes alive).
 * A primary that crashes for longer than `failoverMs` and comes back still believes itself
 * primary until it hears the higher view. Liveness needs the primary, or after a failover the
 * new one, reachable from the client.
 *
 * DURABILITY (crash-recover): the store (`s/<key>`), the view, synced view and sequence number
 * (`m`), the client table (`c/<node>/<client>`) and the incarnation (`e`) are persisted before
 * an operation is sent on, acknowledged or answered. Queues, in-flight requests, the log and
 * what is known of peers are volatile: a crash makes the node's in-flight operations
 * indefinite; a primary that restarts resends snapshots to backups it cannot serve from a log.
 *
 * BOUNDS: per-client queue `queueMax`; clients hosted and client-table rows `clientsMax` (the
 * table forgets its least recently written row beyond it); answers the primary holds
 * `pendingMax` (beyond it a new operation fails, unapplied); log `logMax`; resends
 * `sendWindowMax` operations. A snapshot carries the whole store (this row is for small stores).
 *
 * SIZE. Over 600 lines: views, heartbeats and failover, replication with catch-up, and the client
 * proxy share the view and the log; the client proxy is the part that can move out.
 */

import { assert, SteadfastError } from '../../core/errors.ts';
import type { NodeId } from '../../core/ids.ts';
import {
  OutputQueue,
  type DurableState,
  type DurableWrite,
  type NodeContext,
  type Protocol,
  type StackSpec,
} from '../../core/protocol.ts';
import { addMs, type Instant } from '../../core/time.ts';
import { checkRetryPolicy, ClientQueues, type InFlight } from './client.ts';
import {
  applyOp,
  isKvCommand,
  isKvOp,
  kvResult,
  type KvCommand,
  type KvOp,
  type KvResult,
} from './types.ts';

/** A client-table row: the client's last write (epoch, number), its output and sequence number. */
export type ClientRow = readonly [ck: string, e: number, r: number, o: unknown, s: number];

/**
 * Wire messages.
 *   hb    heartbeat from anyone; from a backup also its cumulative acknowledgement
 *   op    the primary's write number `s` of view `v` (with the client that asked for it)
 *   snap  the primary's whole state at number `s` (store and client table)
 *   req   a client's operation, to the believed primary
 *   res   the primary's answer (`ok` false: refused, not applied)
 */
export type PbMsg =
  | { readonly k: 'hb'; readonly v: number; readonly sv: number; readonly s: number }
  | {
      readonly k: 'op';
      readonly v: number;
      readonly s: number;
      readonly op: KvOp;
      readonly ck: string;
      readonly e: number;
      readonly r: number;
    }
  | {
      readonly k: 'snap';
      readonly v: number;
      readonly s: number;
      readonly kv: readonly (readonly [string, unknown])[];
      readonly cl: readonly ClientRow[];
    }
  | {
      readonly k: 'req';
      readonly c: string;
      readonly e: number;
      readonly r: number;
      readonly op: KvOp;
    }
  | {
      readonly k: 'res';
      readonly c: string;
      readonly e: number;
      readonly r: number;
      readonly ok: boolean;
      readonly o?: unknown;
      readonly why?: string;
    };

const KINDS = new Set(['hb', 'op', 'snap', 'req', 'res']);

/** Shallow shape check (the driver's `isMessage`); fields are checked in `handleMessage`. */
export function isPbMsg(v: unknown): v is PbMsg {
  return (
    typeof v === 'object' && v !== null && KINDS.has((v as Record<string, unknown>).k as string)
  );
}

export interface KvPrimaryBackupOptions {
  /** Heartbeat period (default 100). */
  readonly heartbeatMs?: number;
  /** Silence after which a peer is believed dead and a backup may promote itself (default 1000). */
  readonly failoverMs?: number;
  /** Client resend period and primary resend period per backup (default 300). */
  readonly retryMs?: number;
  /** Backoff cap of a client's resends (default 2,400). */
  readonly clientRetryMsMax?: number;
  /** A client gives up (status 'indefinite') this long after sending (default 10,000). */
  readonly clientTimeoutMs?: number;
  /** Operations waiting behind a client's current one (default 64). */
  readonly queueMax?: number;
  /** Clients hosted per node, and client-table rows (default 10,000). */
  readonly clientsMax?: number;
  /** Answers the primary holds until acknowledged (default 10,000). */
  readonly pendingMax?: number;
  /** Writes the primary keeps for resends (default 4,096). */
  readonly logMax?: number;
  /** Writes in one resend (default 256). */
  readonly sendWindowMax?: number;
}

type Resolved = Required<KvPrimaryBackupOptions>;

const DEFAULTS: Resolved = {
  heartbeatMs: 100,
  failoverMs: 1000,
  retryMs: 300,
  clientRetryMsMax: 2400,
  clientTimeoutMs: 10_000,
  queueMax: 64,
  clientsMax: 10_000,
  pendingMax: 10_000,
  logMax: 4096,
  sendWindowMax: 256,
};

/** Validates options; throws `SteadfastError('bad-argument')` naming the bad field. */
export function resolvePrimaryBackupOptions(opts: KvPrimaryBackupOptions = {}): Resolved {
  const r: Resolved = { ...DEFAULTS, ...opts };
  for (const [field, v] of Object.entries(r)) {
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new SteadfastError(
        'bad-argument',
        `kv-primary-backup: ${field} must be an integer ≥ 1, got ${JSON.stringify(v)}`,
      );
    }
  }
  if (r.failoverMs <= r.heartbeatMs) {
    throw new SteadfastError(
      'bad-argument',
      `kv-primary-backup: failoverMs (${r.failoverMs}) must exceed heartbeatMs (${r.heartbeatMs})`,
    );
  }
  checkRetryPolicy('kv-primary-backup', {
    retryMs: r.retryMs,
    retryMsMax: r.clientRetryMsMax,
    timeoutMs: r.clientTimeoutMs,
  });
  return r;
}

interface Row {
  readonly e: number;
  readonly r: number;
  readonly o: unknown;
  readonly s: number;
}

interface LogEntry {
  readonly s: number;
  readonly op: KvOp;
  readonly ck: string;
  readonly e: number;
  readonly r: number;
}

/** An answer the primary owes once everything up to `s` is acknowledged. */
interface Pending {
  readonly s: number;
  readonly to: NodeId;
  readonly c: string;
  readonly e: number;
  readonly r: number;
  readonly o: unknown;
}

/** A client operation in flight: its request number in this incarnation (client.ts adds the rest). */
interface ClientFields {
  readonly r: number;
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const before = (e1: number, r1: number, e2: number, r2: number): boolean =>
  e1 < e2 || (e1 === e2 && r1 < r2);

export class KvPrimaryBackup
  extends OutputQueue<PbMsg, KvResult>
  implements Protocol<PbMsg, KvCommand, KvResult>
{
  private readonly opts: Resolved;
  private readonly n: number;
  private readonly me: number;
  private readonly peers: readonly NodeId[];
  private now: Instant = 0 as Instant;

  // Replica state (durable).
  private view = 0;
  private sv = 0;
  private seq = 0;
  private readonly store = new Map<string, unknown>();
  /** Client table, least recently written first. */
  private readonly table = new Map<string, Row>();
  /** This node's incarnation (the clients' epoch). */
  private epoch = 0;

  // What is known of peers (volatile).
  private readonly lastHeard = new Map<NodeId, number>();
  private readonly peerSv = new Map<NodeId, number>();
  private readonly peerS = new Map<NodeId, number>();
  private readonly lastResend = new Map<NodeId, number>();

  // Primary state (volatile): writes after `logStart`, and the answers owed.
  private log: LogEntry[] = [];
  private logStart = 0;
  private pending: Pending[] = [];

  // Client state (volatile).
  private readonly clients: ClientQueues<ClientFields>;
  private nextR = 0;

  private readonly c = {
    applied: 0,
    answered: 0,
    failed: 0,
    timedOut: 0,
    resends: 0,
    snapshotsSent: 0,
    snapshotsInstalled: 0,
    promotions: 0,
    stepDowns: 0,
    duplicates: 0,
    notPrimary: 0,
    malformed: 0,
  };

  constructor(
    private readonly ctx: NodeContext,
    opts: KvPrimaryBackupOptions = {},
  ) {
    super();
    this.opts = resolvePrimaryBackupOptions(opts);
    this.n = ctx.nodes.length;
    this.me = ctx.nodes.indexOf(ctx.id);
    if (this.me < 0) {
      throw new SteadfastError('bad-argument', `kv-primary-backup: ${ctx.id} is not in ctx.nodes`);
    }
    this.peers = ctx.nodes.filter((x) => x !== ctx.id);
    this.clients = new ClientQueues(this.opts, {
      retryMs: this.opts.retryMs,
      retryMsMax: this.opts.clientRetryMsMax,
      timeoutMs: this.opts.clientTimeoutMs,
    });
  }

  // ------------------------------------------------------------------ inputs

  handleStart(now: Instant, durable: DurableState): void {
    this.now = now;
    for (const [key, value] of durable) {
      if (key === 'm') {
        const m = value as { v: number; sv: number; s: number };
        assert(isCount(m.v) && isCount(m.sv) && isCount(m.s), 'kv-primary-backup: meta readable');
        this.view = m.v;
        this.sv = m.sv;
        this.seq = m.s;
      } else if (key === 'e') {
        assert(isCount(value), 'kv-primary-backup: epoch readable');
        this.epoch = value;
      } else if (key.startsWith('s/')) {
        this.store.set(key.slice(2), value);
      } else if (key.startsWith('c/')) {
        const [e, r, o, s] = value as [number, number, unknown, number];
        this.table.set(key.slice(2), { e, r, o, s });
      }
    }
    this.epoch++;
    this.persist([{ key: 'e', value: this.epoch }]);
    // Every peer gets `failoverMs` to show up before it is believed dead.
    for (const p of this.peers) this.lastHeard.set(p, now);
    this.logStart = this.seq;
    this.setTimer('tick', addMs(now, this.opts.heartbeatMs));
  }

  handleCommand(now: Instant, cmd: KvCommand): void {
    this.now = now;
    if (!isKvCommand(cmd)) {
      throw new SteadfastError(
        'unknown-command',
        'kv-primary-backup: expected { type: "kv", client, serial, op }',
      );
    }
    const refused = this.clients.submit(cmd);
    if (refused !== undefined) {
      this.fail(cmd, refused);
      return;
    }
    this.startNext(cmd.client);
  }

  handleTimer(now: Instant, name: string): void {
    this.now = now;
    if (name === 'tick') {
      this.tick();
      this.setTimer('tick', addMs(now, this.opts.heartbeatMs));
      return;
    }
    if (name.startsWith('c/')) this.clientTimer(name.slice(2));
  }

  handleMessage(now: Instant, from: NodeId, msg: PbMsg): void {
    this.now = now;
    if (from === this.ctx.id || !this.lastHeard.has(from) || !this.valid(msg)) {
      this.c.malformed++;
      return;
    }
    this.lastHeard.set(from, now);
    if (msg.k === 'req') {
      this.request(from, msg.c, msg.e, msg.r, msg.op);
      return;
    }
    if (msg.k === 'res') {
      this.result(msg.c, msg.e, msg.r, msg.ok, msg.o, msg.why);
      return;
    }
    if (msg.v > this.view) {
      // A view is only ever started by its own primary: a higher view of mine is forged.
      if (this.primaryOf(msg.v) === this.ctx.id) {
        this.c.malformed++;
        return;
      }
      this.adopt(msg.v);
    }
    switch (msg.k) {
      case 'hb':
        this.noteAck(from, msg.sv, msg.s);
        if (this.isPrimary() && msg.v === this.view) {
          if (this.acked(from) < this.seq) this.resend(from);
          this.flush();
        }
        break;
      case 'op':
        this.onOp(from, msg);
        break;
      case 'snap':
        this.onSnap(from, msg);
        break;
    }
  }

  stats(): Readonly<Record<string, number>> {
    return {
      ...this.c,
      malformedDropped: this.c.malformed,
      view: this.view,
      seq: this.seq,
      primary: this.isPrimary() ? 1 : 0,
      log: this.log.length,
      pending: this.pending.length,
      keys: this.store.size,
    };
  }

  // ------------------------------------------------------------------ views and failure detection

  private primaryOf(v: number): NodeId {
    return this.ctx.nodes[v % this.n] as NodeId;
  }

  private isPrimary(): boolean {
    return this.primaryOf(this.view) === this.ctx.id;
  }

  private alive(p: NodeId): boolean {
    return this.now - (this.lastHeard.get(p) ?? Number.NEGATIVE_INFINITY) <= this.opts.failoverMs;
  }

  /** What backup `b` has acknowledged in this view (−1: not synced to it, or unknown). */
  private acked(b: NodeId): number {
    return this.peerSv.get(b) === this.view ? (this.peerS.get(b) ?? -1) : -1;
  }

  /**
   * Records a peer's report. A peer's (synced view, number) only grows, so an older report that
   * arrives late (reordered) is ignored instead of making it look behind.
   */
  private noteAck(p: NodeId, sv: number, s: number): void {
    const known = this.peerSv.get(p) ?? -1;
    if (sv < known) return;
    this.peerS.set(p, sv === known ? Math.max(s, this.peerS.get(p) ?? 0) : s);
    this.peerSv.set(p, sv);
  }

  private meta(): DurableWrite {
    return { key: 'm', value: { v: this.view, sv: this.sv, s: this.seq } };
  }

  /** Adopts a higher view; a primary steps down, leaving its unanswered clients to retry. */
  private adopt(v: number): void {
    if (this.isPrimary()) this.c.stepDowns++;
    this.view = v;
    this.log = [];
    this.pending = [];
    this.persist([this.meta()]);
  }

  private tick(): void {
    const hb: PbMsg = { k: 'hb', v: this.view, sv: this.sv, s: this.seq };
    for (const p of this.peers) this.send(p, hb);
    if (this.isPrimary()) {
      for (const b of this.peers) {
        // A backup that has not reported since this node started is waited for, not guessed at.
        if (this.alive(b) && this.peerSv.has(b) && this.acked(b) < this.seq) this.resend(b);
      }
      this.flush(); // a backup may just have been declared dead
      return;
    }
    const primary = this.primaryOf(this.view);
    if (this.alive(primary)) return;
    // Lowest index among me and the nodes I still hear from: promote (no quorum: naive).
    for (let i = 0; i < this.me; i++) {
      const p = this.ctx.nodes[i] as NodeId;
      if (p !== primary && this.alive(p)) return;
    }
    this.promote();
  }

  private promote(): void {
    const step = (this.me - (this.view % this.n) + this.n) % this.n;
    this.view += step === 0 ? this.n : step;
    assert(this.isPrimary(), 'kv-primary-backup: a promoted node owns its view');
    this.sv = this.view;
    this.log = [];
    this.logStart = this.seq;
    this.pending = [];
    this.lastResend.clear();
    this.c.promotions++;
    this.persist([this.meta()]);
    const hb: PbMsg = { k: 'hb', v: this.view, sv: this.sv, s: this.seq };
    for (const p of this.peers) this.send(p, hb);
  }

  // ------------------------------------------------------------------ primary

  /** A client's request (from a peer, or from this node's own clients). */
  private request(origin: NodeId, c: string, e: number, r: number, op: KvOp): void {
    if (!this.isPrimary()) {
      this.c.notPrimary++;
      return;
    }
    const ck = `${origin}/${c}`;
    const row = this.table.get(ck);
    if (row !== undefined && before(e, r, row.e, row.r)) return; // older than its last write
    if (row !== undefined && row.e === e && row.r === r) {
      this.c.duplicates++;
      if (!this.pending.some((p) => p.to === origin && p.c === c && p.e === e && p.r === r)) {
        this.pending.push({ s: row.s, to: origin, c, e, r, o: row.o });
      }
      this.flush();
      return;
    }
    if (this.pending.length >= this.opts.pendingMax) {
      this.answer(origin, c, e, r, false, undefined, `primary holds pendingMax answers`);
      return;
    }
    if (op.f === 'get') {
      this.pending.push({ s: this.seq, to: origin, c, e, r, o: applyOp(this.store, op) });
      this.flush();
      return;
    }
    const o = applyOp(this.store, op);
    this.seq++;
    this.c.applied++;
    const writes = [this.storeWrite(op.key), this.tableWrite(ck, { e, r, o, s: this.seq })];
    this.log.push({ s: this.seq, op, ck, e, r });
    if (this.log.length > this.opts.logMax) {
      this.log.shift();
      this.logStart++;
    }
    // Durable before it is sent on or answered.
    this.persist([...writes, ...this.evictions(), this.meta()]);
    const msg: PbMsg = { k: 'op', v: this.view, s: this.seq, op, ck, e, r };
    for (const b of this.peers) {
      if (this.alive(b) && this.peerSv.get(b) === this.view) this.send(b, msg);
    }
    this.pending.push({ s: this.seq, to: origin, c, e, r, o });
    this.flush();
  }

  /** Answers what every backup believed alive has acknowledged. */
  private flush(): void {
    if (this.pending.length === 0) return;
    let committed = this.seq;
    for (const b of this.peers) if (this.alive(b)) committed = Math.min(committed, this.acked(b));
    const owed = this.pending;
    this.pending = [];
    for (const p of owed) {
      if (p.s <= committed) this.answer(p.to, p.c, p.e, p.r, true, p.o, undefined);
      else this.pending.push(p);
    }
    // Trim the log below what every alive backup has.
    while (this.log.length > 0 && (this.log[0]?.s ?? 0) <= committed) {
      this.log.shift();
      this.logStart++;
    }
  }

  private answer(
    to: NodeId,
    c: string,
    e: number,
    r: number,
    ok: boolean,
    o: unknown,
    why: string | undefined,
  ): void {
    this.c.answered++;
    if (to === this.ctx.id) {
      this.result(c, e, r, ok, o, why);
      return;
    }
    this.send(to, {
      k: 'res',
      c,
      e,
      r,
      ok,
      ...(ok ? { o } : {}),
      ...(why === undefined ? {} : { why }),
    });
  }

  /** At most once per `retryMs`: what backup `b` lacks, from the log or as a snapshot. */
  private resend(b: NodeId): void {
    if (this.now - (this.lastResend.get(b) ?? Number.NEGATIVE_INFINITY) < this.opts.retryMs) {
      return;
    }
    this.lastResend.set(b, this.now);
    const from = this.acked(b);
    if (from >= this.logStart && this.peerSv.get(b) === this.view) {
      this.c.resends++;
      const last = Math.min(this.seq, from + this.opts.sendWindowMax);
      for (let s = from + 1; s <= last; s++) {
        const en = this.log[s - this.logStart - 1];
        assert(en !== undefined && en.s === s, 'kv-primary-backup: the log holds (logStart, seq]');
        this.send(b, { k: 'op', v: this.view, s, op: en.op, ck: en.ck, e: en.e, r: en.r });
      }
      return;
    }
    this.c.snapshotsSent++;
    this.send(b, {
      k: 'snap',
      v: this.view,
      s: this.seq,
      kv: [...this.store],
      cl: [...this.table].map(([ck, w]) => [ck, w.e, w.r, w.o, w.s] as const),
    });
  }

  // ------------------------------------------------------------------ backup

  private onOp(from: NodeId, m: Extract<PbMsg, { k: 'op' }>): void {
    if (m.v !== this.view || this.primaryOf(m.v) !== from || this.isPrimary()) return;
    if (this.sv !== this.view || m.s > this.seq + 1) return; // awaiting a snapshot, or a gap
    if (m.s === this.seq + 1) {
      const o = applyOp(this.store, m.op);
      this.seq++;
      this.c.applied++;
      this.persist([
        this.storeWrite(m.op.key),
        this.tableWrite(m.ck, { e: m.e, r: m.r, o, s: m.s }),
        ...this.evictions(),
        this.meta(),
      ]);
    }
    this.send(from, { k: 'hb', v: this.view, sv: this.sv, s: this.seq });
  }

  private onSnap(from: NodeId, m: Extract<PbMsg, { k: 'snap' }>): void {
    if (m.v !== this.view || this.primaryOf(m.v) !== from || this.isPrimary()) return;
    if (this.sv === this.view && m.s <= this.seq) {
      this.send(from, { k: 'hb', v: this.view, sv: this.sv, s: this.seq });
      return;
    }
    const writes: DurableWrite[] = [];
    for (const key of this.store.keys()) writes.push({ key: `s/${key}`, value: null });
    for (const ck of this.table.keys()) writes.push({ key: `c/${ck}`, value: null });
    this.store.clear();
    this.table.clear();
    for (const [key, value] of m.kv) {
      this.store.set(key, value);
      writes.push({ key: `s/${key}`, value });
    }
    for (const [ck, e, r, o, s] of m.cl) writes.push(this.tableWrite(ck, { e, r, o, s }));
    this.sv = this.view;
    this.seq = m.s;
    this.c.snapshotsInstalled++;
    // Later writes of the same key win within a batch, so a kept key is not deleted.
    this.persist([...writes, ...this.evictions(), this.meta()]);
    this.send(from, { k: 'hb', v: this.view, sv: this.sv, s: this.seq });
  }

  private storeWrite(key: string): DurableWrite {
    return { key: `s/${key}`, value: this.store.has(key) ? (this.store.get(key) ?? null) : null };
  }

  private tableWrite(ck: string, row: Row): DurableWrite {
    this.table.delete(ck); // re-inserted last: least recently written first
    this.table.set(ck, row);
    return { key: `c/${ck}`, value: [row.e, row.r, row.o, row.s] };
  }

  /** Drops the least recently written table rows beyond `clientsMax`. */
  private evictions(): DurableWrite[] {
    const out: DurableWrite[] = [];
    for (const ck of this.table.keys()) {
      if (this.table.size <= this.opts.clientsMax) break;
      this.table.delete(ck);
      out.push({ key: `c/${ck}`, value: null });
    }
    return out;
  }

  // ------------------------------------------------------------------ clients

  /** Starts the client's next operation unless one is in flight. */
  private startNext(name: string): void {
    const f = this.clients.startNext(name, this.now, () => ({ r: ++this.nextR }));
    if (f !== undefined) this.sendRequest(name, f);
  }

  /** Sends (or resends) to the believed primary and arms the retry timer (backoff, jitter). */
  private sendRequest(name: string, f: InFlight<ClientFields>): void {
    const primary = this.primaryOf(this.view);
    if (primary === this.ctx.id) this.request(this.ctx.id, name, this.epoch, f.r, f.cmd.op);
    else this.send(primary, { k: 'req', c: name, e: this.epoch, r: f.r, op: f.cmd.op });
    // The request may have been answered at once (this node is the primary).
    if (this.clients.inflight(name) === f) {
      this.setTimer(`c/${name}`, this.clients.nextRetryAt(f, this.now, this.ctx.rng) as Instant);
    }
  }

  private clientTimer(name: string): void {
    const f = this.clients.inflight(name);
    if (f === undefined) return;
    if (this.now >= f.deadlineAt) {
      this.c.timedOut++;
      this.clients.end(name);
      this.deliver(
        kvResult(f.cmd, 'indefinite', {
          node: this.ctx.id,
          reason: `no answer from a primary within clientTimeoutMs = ${this.opts.clientTimeoutMs}`,
        }),
      );
      this.startNext(name);
      return;
    }
    this.sendRequest(name, f);
  }

  /** The primary's answer to this node's client `c` (ignored unless it is the one in flight). */
  private result(c: string, e: number, r: number, ok: boolean, o: unknown, why?: string): void {
    const f = this.clients.inflight(c);
    if (f === undefined || e !== this.epoch || r !== f.r) return;
    this.clients.end(c);
    this.cancelTimer(`c/${c}`);
    if (ok) this.deliver(kvResult(f.cmd, 'ok', { node: this.ctx.id, output: o ?? null }));
    else {
      this.c.failed++;
      this.deliver(
        kvResult(f.cmd, 'fail', { node: this.ctx.id, reason: why ?? 'refused by the primary' }),
      );
    }
    this.startNext(c);
  }

  private fail(cmd: KvCommand, reason: string): void {
    this.c.failed++;
    this.deliver(kvResult(cmd, 'fail', { node: this.ctx.id, reason }));
  }

  // ------------------------------------------------------------------ validation

  private valid(m: PbMsg): boolean {
    const v = m as unknown as Record<string, unknown>;
    switch (m.k) {
      case 'hb':
        return isCount(v.v) && isCount(v.sv) && isCount(v.s);
      case 'op':
        return (
          isCount(v.v) &&
          isCount(v.s) &&
          isKvOp(v.op) &&
          typeof v.ck === 'string' &&
          isCount(v.e) &&
          isCount(v.r)
        );
      case 'snap':
        return (
          isCount(v.v) &&
          isCount(v.s) &&
          Array.isArray(v.kv) &&
          v.kv.every((x) => Array.isArray(x) && x.length === 2 && typeof x[0] === 'string') &&
          Array.isArray(v.cl) &&
          v.cl.every(
            (x) =>
              Array.isArray(x) &&
              x.length === 5 &&
              typeof x[0] === 'string' &&
              isCount(x[1]) &&
              isCount(x[2]) &&
              isCount(x[4]),
          )
        );
      case 'req':
        return typeof v.c === 'string' && isCount(v.e) && isCount(v.r) && isKvOp(v.op);
      case 'res':
        return typeof v.c === 'string' && isCount(v.e) && isCount(v.r) && typeof v.ok === 'boolean';
      default:
        return false;
    }
  }
}

/** Naive primary-backup as a stack (over fair-loss messages; see the header). */
export function kvPrimaryBackup(
  opts: KvPrimaryBackupOptions = {},
): StackSpec<PbMsg, KvCommand, KvResult> {
  resolvePrimaryBackupOptions(opts); // fail fast on a bad option
  return {
    name: 'kv-primary-backup',
    create: (ctx) => new KvPrimaryBackup(ctx, opts),
    isMessage: isPbMsg,
  };
}
