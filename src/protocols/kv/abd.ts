/**
 * A quorum-register key-value store without a leader: multi-writer ABD (Attiya, Bar-Noy and
 * Dolev 1995, with Lynch and Shvartsman's multi-writer extension), one atomic register per key.
 *
 * Every node is a replica holding, per key, a timestamp `ts = (c, w)` (a counter and the id of
 * the node that wrote it, compared lexicographically) and a value. Any node coordinates the
 * operations of the clients it hosts, in two phases, each ending when a majority (itself
 * included) has answered:
 *
 *   get        1. query a majority for (ts, value) and take the highest;
 *              2. write that (ts, value) back to a majority (skipped when the majority that
 *                 answered already all hold that ts), so a later get never sees an older value:
 *                 reads are linearizable, not just regular; return the value (null if absent)
 *   put(v)     1. query a majority for the highest ts;
 *              2. store ((max(c, own c) + 1, self), v) at a majority; return null
 *   delete     a put of null (the record stays, with its ts, so an older put cannot revive it)
 *   incr, cas  a get, then (if there is something to write) a put of the computed value: NOT
 *              ATOMIC. Two concurrent increments can both read 5 and both write 6, and both are
 *              acknowledged: a lost update. They are offered to show exactly that: idempotent
 *              writes of whole values need only quorums, a read-modify-write needs agreement
 *              (consensus; see the consensus-log design). incr outputs the value it wrote, cas
 *              true or false, as the shared API says.
 *
 * Guarantees (N nodes, majority ⌊N/2⌋ + 1): get, put and delete are linearizable (atomic
 * registers, key by key) under crash-stop or crash-recover faults and under omission,
 * duplication, reordering and partitions of the network (safety needs no bound on faults);
 * an operation finishes as long as its coordinator stays up and a majority is up and
 * reachable, so f < N/2 crashed or cut-off nodes never block it, and one stuck in a partition
 * or behind crashed replicas finishes once they heal (the links keep retrying), within
 * `opTimeoutMs`. No leader, no election: any node serves any key. Replicas converge after the
 * faults stop (anti-entropy, below). incr and cas are not atomic (above): increments may be
 * lost; a cas may succeed on a value another write has already replaced.
 *
 * Clients: a node runs each client's operations one at a time, in the order their commands
 * arrived (for a client that numbers them as it issues them, serial order) (a per-client queue of at most `clientQueueMax`, at most `clientsMax` clients with
 * operations outstanding; beyond either a command ends `fail` with a reason, at once). An
 * operation that has not finished `opTimeoutMs` after it started ends `indefinite` (it may or
 * may not take effect) and the client's next operation starts.
 *
 * Messages travel over perfect links (the reliable engine in mode `pl`, under `pl/`): a phase
 * never resends anything itself. Each phase has a request id `(e, r)`: `e` is the node's
 * incarnation (persisted and incremented at every start), `r` counts phases within it, so a
 * reply to an older phase, or to an operation of an earlier incarnation, is ignored. Perfect
 * links are crash-stop, so a replica that crashes may have taken a request (acked on the link)
 * without answering it; a replica that restarts therefore sends `hello` to every node, and a
 * coordinator re-sends its current phase's request to a node that says hello.
 *
 * Anti-entropy: a store cut short by its coordinator's crash can leave a newer record at a
 * minority only. Reads stay linearizable (the in-doubt write just takes effect at the first
 * read that sees it), but two concurrent reads may disagree, and would keep disagreeing for as
 * long as nothing writes that key. So every `antiEntropyIntervalMs` a node sends its next batch
 * of at most `antiEntropyBatchMax` records to its next peer (round robin), which keeps the
 * newer ones (persisted) and answers with its own newer ones for those keys (push-pull).
 * Safe: it only spreads (ts, value) pairs that a writer issued, as a read's write-back does.
 *
 * Durable state (crash-recover): `abd/epoch` (the incarnation) and, per key ever written,
 * `abd/kv/<key>` = { c, w, v } (bounded by the number of keys). A replica persists a newer
 * record (an ordinary persist) BEFORE it acknowledges the store (core/protocol.ts: persist
 * before send), and a coordinator persists its own new record before sending the store, so a
 * timestamp, once anyone may hold it, is in its writer's durable record: a restarted writer
 * never issues the same (c, self) twice, and neither do two clients of one node (uniqueness of
 * timestamps is what makes "same ts, same value" true). A coordinator that crashes loses its
 * operations in flight; the checkers count them as indefinite.
 *
 * Assumes: crash faults only (no Byzantine replicas: a liar's timestamp would win every read);
 * node ids are the writer ids (unique); values are plain data.
 *
 * SIZE. Over 600 lines: the coordinator (client queues, the two phases, timeouts), the replica,
 * crash recovery (incarnations, hello) and anti-entropy all read the same per-key records.
 */

import { AssertionFailed, SteadfastError } from '../../core/errors.ts';
import type { NodeId } from '../../core/ids.ts';
import type { DurableState, NodeContext, StackSpec } from '../../core/protocol.ts';
import { addMs, type Instant } from '../../core/time.ts';
import { isObject, OverPerfectLinks } from '../broadcast/base.ts';
import { isReliableMsg, type ReliableMsg, type ReliableOptions } from '../link/reliable.ts';
import {
  canonical,
  isKvCommand,
  kvResult,
  type KvCommand,
  type KvOp,
  type KvResult,
} from './types.ts';

export interface AbdOptions extends Partial<ReliableOptions> {
  /** An operation not finished this long after it started ends `indefinite`. Default 10 s. */
  readonly opTimeoutMs?: number;
  /** Most operations per client, the running one included; beyond it `fail`. Default 64. */
  readonly clientQueueMax?: number;
  /** Most clients with operations outstanding at one node; beyond it `fail`. Default 1,024. */
  readonly clientsMax?: number;
  /** An anti-entropy round (one peer, one batch of records) this often. Default 1 s. */
  readonly antiEntropyIntervalMs?: number;
  /** Most records per anti-entropy round. Default 64. */
  readonly antiEntropyBatchMax?: number;
}

export const ABD_DEFAULTS = {
  opTimeoutMs: 10_000,
  clientQueueMax: 64,
  clientsMax: 1024,
  antiEntropyIntervalMs: 1000,
  antiEntropyBatchMax: 64,
} as const;

/** A register timestamp: counter `c` (0: never written) and writer node `w` ('' when c = 0). */
interface Ts {
  readonly c: number;
  readonly w: string;
}

/** A replica's record of one key. */
interface Rec extends Ts {
  readonly v: unknown;
}

const ZERO: Rec = { c: 0, w: '', v: null };

/** a < b, lexicographically on (c, w). */
function tsLess(a: Ts, b: Ts): boolean {
  return a.c < b.c || (a.c === b.c && a.w < b.w);
}

/** The messages this layer sends as perfect-link payloads. (e, r) names a coordinator's phase. */
export type AbdMsg =
  | { readonly k: 'abd-query'; readonly e: number; readonly r: number; readonly key: string }
  | {
      readonly k: 'abd-value';
      readonly e: number;
      readonly r: number;
      readonly c: number;
      readonly w: string;
      readonly v: unknown;
    }
  | {
      readonly k: 'abd-store';
      readonly e: number;
      readonly r: number;
      readonly key: string;
      readonly c: number;
      readonly w: string;
      readonly v: unknown;
    }
  | { readonly k: 'abd-stored'; readonly e: number; readonly r: number }
  | { readonly k: 'abd-hello' }
  /** Anti-entropy: records of the sender; with `back`, answer with newer ones of those keys. */
  | { readonly k: 'abd-sync'; readonly recs: readonly SyncRec[]; readonly back: boolean };

/** One record in an anti-entropy message. */
export interface SyncRec {
  readonly key: string;
  readonly c: number;
  readonly w: string;
  readonly v: unknown;
}

/** Most records one anti-entropy message may carry (a larger one is malformed). */
const SYNC_RECS_MAX = 4096;

const isId = (v: unknown): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;

function isAbdMsg(v: unknown, nodes: readonly NodeId[]): v is AbdMsg {
  if (!isObject(v)) return false;
  if (v.k === 'abd-hello') return true;
  if (v.k === 'abd-sync') {
    return (
      typeof v.back === 'boolean' &&
      Array.isArray(v.recs) &&
      v.recs.length <= SYNC_RECS_MAX &&
      v.recs.every(
        (x) =>
          isObject(x) &&
          typeof x.key === 'string' &&
          isId(x.c) &&
          typeof x.w === 'string' &&
          nodes.includes(x.w) &&
          'v' in x,
      )
    );
  }
  if (!isId(v.e) || !isId(v.r)) return false;
  switch (v.k) {
    case 'abd-query':
      return typeof v.key === 'string';
    case 'abd-stored':
      return true;
    case 'abd-value':
      return (
        typeof v.c === 'number' &&
        Number.isSafeInteger(v.c) &&
        v.c >= 0 &&
        (v.c === 0 ? v.w === '' : typeof v.w === 'string' && nodes.includes(v.w)) &&
        'v' in v
      );
    case 'abd-store':
      return (
        typeof v.key === 'string' &&
        isId(v.c) &&
        typeof v.w === 'string' &&
        nodes.includes(v.w) &&
        'v' in v
      );
    default:
      return false;
  }
}

/** The phases of an operation; a get is 1–2, a put 3–4, incr and cas a get then a put. */
type Stage = 'get-query' | 'get-writeback' | 'put-query' | 'put-store';

/** An operation being run for its client. */
interface Running {
  readonly cmd: KvCommand;
  stage: Stage;
  /** Request id of the current phase (within this incarnation). */
  r: number;
  /** Nodes that answered the current phase (this node included). */
  readonly answered: Set<NodeId>;
  /** Query phases: the highest record seen and how many answers carried exactly its ts. */
  best: Rec;
  atBest: number;
  /** Store phases: the record being stored. */
  storing: Rec;
  /** Put phases: the value to write and the output to return once it is stored. */
  writeValue: unknown;
  output: unknown;
}

interface Client {
  /** Commands waiting, in arrival order (the running one is not in it). */
  readonly queue: KvCommand[];
  running: Running | undefined;
}

const EPOCH_KEY = 'abd/epoch';
const RECORD_PREFIX = 'abd/kv/';
/** Timer `op/<client>`: armed when a client's operation starts, at start + opTimeoutMs. */
const OP_TIMER = 'op/';
/** Timer `sync`: armed at start and after every round, antiEntropyIntervalMs later. */
const SYNC_TIMER = 'sync';

export class AbdKv extends OverPerfectLinks<KvCommand, KvResult> {
  private readonly opTimeoutMs: number;
  private readonly clientQueueMax: number;
  private readonly clientsMax: number;
  private readonly antiEntropyIntervalMs: number;
  private readonly antiEntropyBatchMax: number;
  private readonly majority: number;
  /** Anti-entropy position: the next peer (index into `others`) and the next key (index). */
  private syncPeer = 0;
  private syncKey = 0;
  /** This node's replica: key → record (absent: never written). */
  private readonly store = new Map<string, Rec>();
  /** This incarnation's number (1 at the first start; persisted before any request is sent). */
  private epoch = 0;
  /** Last phase request id used in this incarnation. */
  private lastR = 0;
  /** Phases in flight: request id → the operation. */
  private readonly phases = new Map<number, Running>();
  private readonly clients = new Map<string, Client>();
  private readonly counts = {
    opsStarted: 0,
    opsOk: 0,
    opsIndefinite: 0,
    opsRefused: 0,
    writebacks: 0,
    writebacksSkipped: 0,
    staleReplies: 0,
    storesApplied: 0,
    resends: 0,
    sendsRefused: 0,
    syncRounds: 0,
    syncRepairs: 0,
  };

  constructor(ctx: NodeContext, opts: AbdOptions = {}) {
    const {
      opTimeoutMs,
      clientQueueMax,
      clientsMax,
      antiEntropyIntervalMs,
      antiEntropyBatchMax,
      ...link
    } = opts;
    super(ctx, link);
    this.antiEntropyIntervalMs = antiEntropyIntervalMs ?? ABD_DEFAULTS.antiEntropyIntervalMs;
    this.antiEntropyBatchMax = Math.min(
      antiEntropyBatchMax ?? ABD_DEFAULTS.antiEntropyBatchMax,
      SYNC_RECS_MAX,
    );
    this.opTimeoutMs = opTimeoutMs ?? ABD_DEFAULTS.opTimeoutMs;
    this.clientQueueMax = clientQueueMax ?? ABD_DEFAULTS.clientQueueMax;
    this.clientsMax = clientsMax ?? ABD_DEFAULTS.clientsMax;
    for (const [name, v] of Object.entries({
      opTimeoutMs: this.opTimeoutMs,
      clientQueueMax: this.clientQueueMax,
      clientsMax: this.clientsMax,
      antiEntropyIntervalMs: this.antiEntropyIntervalMs,
      antiEntropyBatchMax: this.antiEntropyBatchMax,
    })) {
      if (!Number.isSafeInteger(v) || v < 1) {
        throw new SteadfastError('bad-argument', `abd: ${name} must be a positive integer`);
      }
    }
    this.majority = Math.floor(ctx.nodes.length / 2) + 1;
  }

  override handleStart(now: Instant, durable: DurableState): void {
    for (const [key, value] of durable) {
      if (key === EPOCH_KEY && isId(value)) this.epoch = value;
      else if (key.startsWith(RECORD_PREFIX) && isObject(value) && isId(value.c)) {
        const w = value.w;
        if (typeof w === 'string') {
          this.store.set(key.slice(RECORD_PREFIX.length), { c: value.c, w, v: value.v ?? null });
        }
      }
    }
    super.handleStart(now, durable);
  }

  /** A new incarnation: persist its number before any request can carry it; say hello. */
  protected override onStart(now: Instant): void {
    this.epoch++;
    this.persist([{ key: EPOCH_KEY, value: this.epoch }]);
    if (this.epoch > 1) for (const to of this.others) this.sendSafe(to, { k: 'abd-hello' });
    // Nodes start their rounds at different peers (and restarts at a random one).
    this.syncPeer = this.ctx.rng.int(Math.max(1, this.others.length));
    if (this.others.length > 0) this.setTimer(SYNC_TIMER, addMs(now, this.antiEntropyIntervalMs));
  }

  protected onCommand(now: Instant, cmd: KvCommand): void {
    if (!isKvCommand(cmd)) {
      throw new SteadfastError('unknown-command', 'abd: commands are KvCommand');
    }
    let client = this.clients.get(cmd.client);
    if (client === undefined) {
      if (this.clients.size >= this.clientsMax) {
        this.refuse(cmd, `more than ${this.clientsMax} clients with operations outstanding`);
        return;
      }
      client = { queue: [], running: undefined };
      this.clients.set(cmd.client, client);
    }
    const outstanding = client.queue.length + (client.running === undefined ? 0 : 1);
    if (outstanding >= this.clientQueueMax) {
      this.refuse(cmd, `client queue full (${this.clientQueueMax} operations)`);
      return;
    }
    client.queue.push(cmd);
    if (client.running === undefined) this.startNext(now, cmd.client, client);
  }

  protected override onTimer(now: Instant, name: string): void {
    if (name === SYNC_TIMER) {
      this.syncRound();
      this.setTimer(SYNC_TIMER, addMs(now, this.antiEntropyIntervalMs));
      return;
    }
    if (!name.startsWith(OP_TIMER)) return;
    const client = this.clients.get(name.slice(OP_TIMER.length));
    const op = client?.running;
    if (client === undefined || op === undefined) return;
    this.counts.opsIndefinite++;
    this.finish(
      client,
      op,
      kvResult(op.cmd, 'indefinite', {
        node: this.ctx.id,
        reason: `no majority answered within ${this.opTimeoutMs} ms (phase ${op.stage})`,
      }),
    );
  }

  protected onLinkDeliver(from: NodeId, payload: unknown): void {
    if (!isAbdMsg(payload, this.ctx.nodes)) {
      this.malformed++;
      return;
    }
    switch (payload.k) {
      case 'abd-query': {
        const rec = this.store.get(payload.key) ?? ZERO;
        this.sendSafe(from, {
          k: 'abd-value',
          e: payload.e,
          r: payload.r,
          c: rec.c,
          w: rec.w,
          v: rec.v,
        });
        break;
      }
      case 'abd-store':
        // Persist (if newer) before the acknowledgement leaves.
        this.storeLocal(payload.key, { c: payload.c, w: payload.w, v: payload.v });
        this.sendSafe(from, { k: 'abd-stored', e: payload.e, r: payload.r });
        break;
      case 'abd-value':
      case 'abd-stored': {
        const op = payload.e === this.epoch ? this.phases.get(payload.r) : undefined;
        if (op === undefined) {
          this.counts.staleReplies++;
          return;
        }
        const isQuery = op.stage === 'get-query' || op.stage === 'put-query';
        if (isQuery !== (payload.k === 'abd-value')) {
          this.malformed++;
          return;
        }
        if (payload.k === 'abd-value') this.answer(op, from, payload);
        else this.answer(op, from, undefined);
        break;
      }
      case 'abd-sync':
        this.onSync(from, payload.recs, payload.back);
        break;
      case 'abd-hello':
        // `from` restarted: it may have taken our requests without answering. Ask again.
        for (const op of this.phases.values()) {
          if (op.answered.has(from)) continue;
          this.counts.resends++;
          this.sendSafe(from, this.request(op));
        }
        break;
      default: {
        const never: never = payload;
        return never;
      }
    }
  }

  protected override extraStats(): Record<string, number> {
    let queued = 0;
    for (const c of this.clients.values()) queued += c.queue.length;
    return {
      ...this.counts,
      keys: this.store.size,
      clients: this.clients.size,
      queued,
      phasesInFlight: this.phases.size,
    };
  }

  // ---------------------------------------------------------------------------- coordinator

  private startNext(now: Instant, name: string, client: Client): void {
    const cmd = client.queue.shift();
    if (cmd === undefined) {
      this.clients.delete(name);
      return;
    }
    const op: Running = {
      cmd,
      stage: 'get-query',
      r: 0,
      answered: new Set(),
      best: ZERO,
      atBest: 0,
      storing: ZERO,
      writeValue: null,
      output: null,
    };
    client.running = op;
    this.counts.opsStarted++;
    this.setTimer(OP_TIMER + name, addMs(now, this.opTimeoutMs));
    const f = cmd.op.f;
    if (f === 'put') this.startPut(op, cmd.op.value ?? null, null);
    else if (f === 'delete') this.startPut(op, null, null);
    else this.startPhase(op, 'get-query');
  }

  private startPut(op: Running, value: unknown, output: unknown): void {
    op.writeValue = value;
    op.output = output;
    this.startPhase(op, 'put-query');
  }

  /**
   * Starts a phase (for a store, `op.storing` is set): a fresh request id; for a store, this
   * node's own record persisted before any request carrying it is sent; the request to every
   * other node; then this node's own answer.
   */
  private startPhase(op: Running, stage: Stage): void {
    this.phases.delete(op.r);
    op.stage = stage;
    op.r = ++this.lastR;
    op.answered.clear();
    op.best = ZERO;
    op.atBest = 0;
    this.phases.set(op.r, op);
    const key = op.cmd.op.key;
    if (stage === 'get-writeback' || stage === 'put-store') this.storeLocal(key, op.storing);
    for (const to of this.others) this.sendSafe(to, this.request(op));
    if (stage === 'get-query' || stage === 'put-query') {
      this.answer(op, this.ctx.id, this.store.get(key) ?? ZERO);
    } else {
      this.answer(op, this.ctx.id, undefined);
    }
  }

  /** The request of `op`'s current phase. */
  private request(op: Running): AbdMsg {
    const key = op.cmd.op.key;
    const e = this.epoch;
    const r = op.r;
    if (op.stage === 'get-query' || op.stage === 'put-query') return { k: 'abd-query', e, r, key };
    const s = op.storing;
    return { k: 'abd-store', e, r, key, c: s.c, w: s.w, v: s.v };
  }

  /** An answer to `op`'s current phase (a record for a query, undefined for a store). */
  private answer(op: Running, from: NodeId, rec: Rec | undefined): void {
    if (op.answered.has(from)) return;
    op.answered.add(from);
    if (rec !== undefined) {
      if (tsLess(op.best, rec)) {
        op.best = { c: rec.c, w: rec.w, v: rec.v };
        op.atBest = 1;
      } else if (!tsLess(rec, op.best)) {
        op.atBest++;
      }
    }
    if (op.answered.size >= this.majority) this.phaseDone(op);
  }

  /** A majority answered the current phase: move to the next, or finish. */
  private phaseDone(op: Running): void {
    switch (op.stage) {
      case 'put-query': {
        // Above the highest ts of a majority, and above our own record: our own record holds
        // every ts this node ever issued (persisted before it was sent), so (c, self) is new.
        const own = this.store.get(op.cmd.op.key) ?? ZERO;
        op.storing = { c: Math.max(op.best.c, own.c) + 1, w: this.ctx.id, v: op.writeValue };
        this.startPhase(op, 'put-store');
        return;
      }
      case 'get-query':
        if (op.atBest >= this.majority) {
          // A majority already holds the highest ts: writing it back would change nothing.
          this.counts.writebacksSkipped++;
          this.afterRead(op, op.best.v);
        } else {
          this.counts.writebacks++;
          op.storing = op.best;
          this.startPhase(op, 'get-writeback');
        }
        return;
      case 'get-writeback':
        this.afterRead(op, op.storing.v);
        return;
      case 'put-store':
        this.succeed(op, op.output);
        return;
    }
  }

  /** The get part is done with `value`: a get returns it; incr and cas compute their write. */
  private afterRead(op: Running, value: unknown): void {
    const o: KvOp = op.cmd.op;
    switch (o.f) {
      case 'get':
        this.succeed(op, value);
        return;
      case 'incr': {
        if (value !== null && typeof value !== 'number') {
          this.succeed(op, null); // not a number: unchanged (types.ts applyOp)
          return;
        }
        const next = (value ?? 0) + o.delta;
        this.startPut(op, next, next);
        return;
      }
      case 'cas':
        if (canonical(value) !== canonical(o.from)) this.succeed(op, false);
        else this.startPut(op, o.to, true);
        return;
      case 'put':
      case 'delete':
        throw new AssertionFailed('abd: a put or delete never reads');
    }
  }

  private succeed(op: Running, output: unknown): void {
    const client = this.clients.get(op.cmd.client);
    if (client?.running !== op) return;
    this.counts.opsOk++;
    this.finish(client, op, kvResult(op.cmd, 'ok', { output, node: this.ctx.id }));
  }

  private finish(client: Client, op: Running, result: KvResult): void {
    this.phases.delete(op.r);
    client.running = undefined;
    this.cancelTimer(OP_TIMER + op.cmd.client);
    this.deliver(result);
    this.startNext(this.now, op.cmd.client, client);
  }

  private refuse(cmd: KvCommand, reason: string): void {
    this.counts.opsRefused++;
    this.deliver(kvResult(cmd, 'fail', { node: this.ctx.id, reason }));
  }

  // ---------------------------------------------------------------------------- replica

  /**
   * One anti-entropy round: the next batch of records (in key order of first store, cycling)
   * to the next peer, which keeps the newer ones and answers with its own newer ones. Costs
   * O(keys) to pick the batch; each pair of nodes exchanges every record within
   * ⌈keys / antiEntropyBatchMax⌉ × (N − 1) rounds.
   */
  private syncRound(): void {
    const to = this.others[this.syncPeer % this.others.length];
    this.syncPeer = (this.syncPeer + 1) % this.others.length;
    if (to === undefined || this.store.size === 0) return;
    const keys = [...this.store.keys()];
    if (this.syncKey >= keys.length) this.syncKey = 0;
    const batch = keys.slice(this.syncKey, this.syncKey + this.antiEntropyBatchMax);
    this.syncKey += batch.length;
    const recs = batch.map((key) => ({ key, ...(this.store.get(key) ?? ZERO) }));
    this.counts.syncRounds++;
    this.sendSafe(to, { k: 'abd-sync', recs, back: true });
  }

  private onSync(from: NodeId, recs: readonly SyncRec[], back: boolean): void {
    const writes: { key: string; value: Rec }[] = [];
    const newer: SyncRec[] = [];
    for (const r of recs) {
      const cur = this.store.get(r.key) ?? ZERO;
      if (tsLess(cur, r)) {
        const rec: Rec = { c: r.c, w: r.w, v: r.v };
        this.store.set(r.key, rec);
        writes.push({ key: RECORD_PREFIX + r.key, value: rec });
      } else if (back && tsLess(r, cur)) {
        newer.push({ key: r.key, ...cur });
      }
    }
    this.counts.syncRepairs += writes.length;
    if (writes.length > 0) this.persist(writes);
    if (newer.length > 0) this.sendSafe(from, { k: 'abd-sync', recs: newer, back: false });
  }

  /** Keeps `rec` if it is newer than the stored record: persisted before anything later. */
  private storeLocal(key: string, rec: Rec): void {
    const cur = this.store.get(key) ?? ZERO;
    if (!tsLess(cur, rec)) return;
    this.counts.storesApplied++;
    const stored: Rec = { c: rec.c, w: rec.w, v: rec.v };
    this.store.set(key, stored);
    this.persist([{ key: RECORD_PREFIX + key, value: stored }]);
  }

  /**
   * A send over the perfect link. A full send queue (a peer down for very long) refuses it;
   * that request is then simply not answered by that peer (counted), like a lost message the
   * quorum does without.
   */
  private sendSafe(to: NodeId, msg: AbdMsg): void {
    try {
      this.sendTo(to, msg);
    } catch (err) {
      if (err instanceof SteadfastError && err.code === 'buffer-full') {
        this.counts.sendsRefused++;
        return;
      }
      throw err;
    }
  }
}

/** The ABD key-value store over perfect links (see the module header). */
export const kvAbd = (opts: AbdOptions = {}): StackSpec<ReliableMsg, KvCommand, KvResult> => ({
  name: 'kv-abd',
  create: (ctx) => new AbdKv(ctx, opts),
  isMessage: isReliableMsg,
});
