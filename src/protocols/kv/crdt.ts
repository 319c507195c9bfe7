/**
 * An eventually consistent key-value store built from state-based CRDTs (Shapiro, Preguiça,
 * Baquero & Zawirski, "Conflict-free replicated data types", 2011): always available, reads and
 * writes answered by the local replica at once, replicas converged by anti-entropy. The API is
 * the shared one (types.ts): command `KvCommand`, delivery `KvResult`.
 *
 * THE DATA TYPES, per key (both kept; the workload uses a key either as a counter or as a
 * register):
 * - a PN-counter: per node, the total of its positive increments (`p`) and of its negative ones
 *   (`n`); its value is Σp − Σn. Merge: pointwise maximum.
 * - a last-writer-wins register written by put (value), delete (null) and cas; its version is
 *   [Lamport counter, node id], ordered lexicographically (a tie, possible only with a forged
 *   message, is broken by the value's canonical JSON, so merge stays a join). Merge: the larger
 *   version wins. Each node's Lamport counter is above every version it has seen or written.
 * Merges are idempotent, commutative and associative (a join of a semilattice), so loss,
 * duplication and reordering of the anti-entropy messages are harmless.
 *
 * READING A KEY. `get` answers the register's value if the register was ever written (put,
 * delete, cas; a deleted key reads null), else the counter's sum if the key was ever
 * incremented, else null. Once the register is written the key is a register for good: `incr`
 * then is a local read-modify-write of the register (a number, or null counting as 0, plus
 * delta; a non-number is left alone and outputs null, as applyOp does); before that it adds to
 * this node's counter entry and outputs the local sum. `cas` is a local check-then-set: it
 * compares with the local value and, if equal, writes the register (not atomic across replicas:
 * two replicas may both succeed from the same value). On one replica alone every operation
 * answers exactly what applyOp answers.
 *
 * GUARANTEES (crash-recover, fair-loss links, partitions that eventually heal):
 * - Availability: every operation completes at its own replica in the step of its command, on
 *   both sides of a partition (status 'ok'; 'fail' only when `keysMax` keys exist and the
 *   operation would add one). A client's operations therefore run one at a time in arrival order
 *   and no per-client queue ever forms.
 * - Strong eventual consistency: replicas that have merged the same updates hold the same state;
 *   every `gossipIntervalMs` a replica whose state changed (an operation or a merge) sends it to
 *   every peer until a whole pass of its state has gone out since the change (in chunks of
 *   `entriesPerMessageMax` keys, a rotating cursor), and every `fullSyncEvery`-th round it sends
 *   anyway (what a loss took is sent again), so after the heal every replica converges.
 * - Exactly-once increments of counter keys: a node's entry only grows and each increment is
 *   added once, at its own node, before it is acknowledged; every acknowledged increment is in
 *   the converged sum (increments-once holds).
 * - Session guarantees, for a client co-located with its replica and staying on it (the
 *   workload's clients; Terry et al., "Session guarantees for weakly consistent replicated data",
 *   1994): read-your-writes (a read reflects the client's earlier writes: its own write, or a
 *   version the LWW order puts after it) and monotonic reads (the replica's state only moves up
 *   the semilattice, so a later read never returns an older version or a smaller counter), also
 *   across a crash-recover of the replica (a write or a merge is persisted before any later
 *   output). Monotonic writes and writes-follow-reads too: the Lamport counter gives a client's
 *   write a version above everything it wrote or read before.
 * NOT GUARANTEED: linearizability (reads are local and may be stale; a partition makes each side
 * read its own writes only), a client moving to another replica may see older state, concurrent
 * writes to a register keep one winner and silently drop the others (an acknowledged write can be
 * lost: no-lost-write may fail), cas is not atomic across replicas.
 *
 * DURABILITY. Each key's whole state is one durable key `k/<key>`, written (an ordinary persist)
 * before the operation's result is delivered and before anything after a merge that changed it;
 * a crash between the persist and the delivery leaves the operation in doubt (it happened). The
 * Lamport counter is recomputed at start as the largest counter of the stored versions (every
 * version this node issued was persisted before it left the node).
 *
 * BOUNDS. At most `keysMax` keys (a new key beyond it: the operation fails with a reason, a
 * merged one is dropped and counted in `keysDropped`); per key one counter entry per node of
 * `ctx.nodes` (entries naming other nodes make a message malformed); anti-entropy messages carry
 * at most `entriesPerMessageMax` keys. The only randomness is the first gossip delay (ctx.rng).
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
import { canonical, isKvCommand, type KvCommand, type KvOp, type KvResult } from './types.ts';

/** A register version and value: [Lamport counter ≥ 1, writer, value]. */
export type LwwValue = readonly [number, NodeId, unknown];

/**
 * One key's state as plain data (on the wire and on disk): the PN-counter's per-node totals and,
 * if it was ever written, the register.
 */
export interface CrdtEntry {
  readonly k: string;
  readonly p: readonly (readonly [NodeId, number])[];
  readonly n: readonly (readonly [NodeId, number])[];
  readonly r?: LwwValue;
}

/** The one wire message: a chunk of the sender's state (anti-entropy). */
export interface CrdtMsg {
  readonly k: 'state';
  readonly e: readonly CrdtEntry[];
}

export function isCrdtMsg(v: unknown): v is CrdtMsg {
  return (
    typeof v === 'object' &&
    v !== null &&
    (v as Record<string, unknown>).k === 'state' &&
    Array.isArray((v as Record<string, unknown>).e)
  );
}

export interface KvCrdtOptions {
  /** A gossip round every this often (default 100). */
  readonly gossipIntervalMs?: number;
  /** Every this many rounds a replica sends its state even if nothing changed (default 10). */
  readonly fullSyncEvery?: number;
  /** Most keys in one anti-entropy message (default 256). */
  readonly entriesPerMessageMax?: number;
  /** Most keys a replica holds (default 100,000). */
  readonly keysMax?: number;
}

const DEFAULTS: Required<KvCrdtOptions> = {
  gossipIntervalMs: 100,
  fullSyncEvery: 10,
  entriesPerMessageMax: 256,
  keysMax: 100_000,
};

/** Validates options; throws `SteadfastError('bad-argument')` naming the bad field. */
export function resolveKvCrdtOptions(opts: KvCrdtOptions = {}): Required<KvCrdtOptions> {
  const r = { ...DEFAULTS, ...opts };
  for (const field of [
    'gossipIntervalMs',
    'fullSyncEvery',
    'entriesPerMessageMax',
    'keysMax',
  ] as const) {
    const v = r[field];
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new SteadfastError(
        'bad-argument',
        `kv-crdt: ${field} must be an integer ≥ 1, got ${JSON.stringify(v)}`,
      );
    }
  }
  return r;
}

/** One key's state in memory. */
interface KeyState {
  readonly p: Map<NodeId, number>;
  readonly n: Map<NodeId, number>;
  r: LwwValue | undefined;
}

/** Whether version `a` comes after `b` in the LWW order (counter, then node id, then value). */
export function lwwAfter(a: LwwValue, b: LwwValue): boolean {
  if (a[0] !== b[0]) return a[0] > b[0];
  if (a[1] !== b[1]) return a[1] > b[1];
  return canonical(a[2]) > canonical(b[2]);
}

const sum = (m: ReadonlyMap<NodeId, number>): number => {
  let s = 0;
  for (const v of m.values()) s += v;
  return s;
};

/** What `get` answers (see READING A KEY). */
function readValue(st: KeyState | undefined): unknown {
  if (st === undefined) return null;
  if (st.r !== undefined) return st.r[2];
  if (st.p.size === 0 && st.n.size === 0) return null;
  return sum(st.p) - sum(st.n);
}

const byNode = (a: readonly [NodeId, number], b: readonly [NodeId, number]): number =>
  a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;

/** A key's state as plain data, counter entries in node-id order (equal states, equal data). */
function toEntry(key: string, st: KeyState): CrdtEntry {
  return {
    k: key,
    p: [...st.p].sort(byNode),
    n: [...st.n].sort(byNode),
    ...(st.r === undefined ? {} : { r: st.r }),
  };
}

/**
 * Joins `from` into `into` (pointwise maximum of the counters, the later register version);
 * true if `into` changed. Idempotent, commutative and associative.
 */
function join(into: KeyState, from: KeyState): boolean {
  let changed = false;
  for (const side of ['p', 'n'] as const) {
    for (const [id, v] of from[side]) {
      if (v > (into[side].get(id) ?? 0)) {
        into[side].set(id, v);
        changed = true;
      }
    }
  }
  if (from.r !== undefined && (into.r === undefined || lwwAfter(from.r, into.r))) {
    into.r = from.r;
    changed = true;
  }
  return changed;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** Parses one entry (remote or durable); undefined if malformed. */
function parseEntry(v: unknown, nodes: ReadonlySet<NodeId>): [string, KeyState] | undefined {
  if (!isObj(v) || typeof v.k !== 'string' || !Array.isArray(v.p) || !Array.isArray(v.n)) {
    return undefined;
  }
  const st: KeyState = { p: new Map(), n: new Map(), r: undefined };
  for (const side of ['p', 'n'] as const) {
    for (const pair of v[side] as unknown[]) {
      if (!Array.isArray(pair) || pair.length !== 2) return undefined;
      const [id, count] = pair as unknown[];
      if (typeof id !== 'string' || !nodes.has(id)) return undefined;
      if (!Number.isSafeInteger(count) || (count as number) < 0) return undefined;
      st[side].set(id, Math.max(count as number, st[side].get(id) ?? 0));
    }
  }
  if (v.r !== undefined) {
    const r = v.r;
    if (!Array.isArray(r) || r.length !== 3) return undefined;
    const [c, id] = r as unknown[];
    if (!Number.isSafeInteger(c) || (c as number) < 1) return undefined;
    if (typeof id !== 'string' || !nodes.has(id)) return undefined;
    st.r = [c as number, id, (r as unknown[])[2] ?? null];
  }
  return [v.k, st];
}

export class KvCrdt
  extends OutputQueue<CrdtMsg, KvResult>
  implements Protocol<CrdtMsg, KvCommand, KvResult>
{
  private readonly opts: Required<KvCrdtOptions>;
  private readonly nodeSet: ReadonlySet<NodeId>;
  private readonly peers: readonly NodeId[];
  private readonly keys = new Map<string, KeyState>();
  /** Above every register version seen or written here. */
  private lamport = 0;
  /** Where the next anti-entropy chunk starts, in the key order of the moment. */
  private cursor = 0;
  /** Gossip rounds so far (every `fullSyncEvery`-th sends even with nothing changed). */
  private round = 0;
  /** Keys still to send before every peer has been offered the latest change (0: none). */
  private unsent = 0;
  private readonly c = {
    ops: 0,
    failed: 0,
    merges: 0,
    mergedKeys: 0,
    malformed: 0,
    keysDropped: 0,
    gossipSent: 0,
  };

  constructor(
    private readonly ctx: NodeContext,
    opts: KvCrdtOptions = {},
  ) {
    super();
    this.opts = resolveKvCrdtOptions(opts);
    this.nodeSet = new Set(ctx.nodes);
    if (!this.nodeSet.has(ctx.id)) {
      throw new SteadfastError('bad-argument', `kv-crdt: ${ctx.id} is not in ctx.nodes`);
    }
    this.peers = ctx.nodes.filter((n) => n !== ctx.id);
  }

  handleStart(now: Instant, durable: DurableState): void {
    for (const [dk, value] of durable) {
      if (!dk.startsWith('k/')) continue;
      const parsed = parseEntry(value, this.nodeSet);
      // Our own durable state: unreadable means a bug or a broken disk, not a remote's fault.
      assert(parsed !== undefined, `kv-crdt: durable entry ${dk} is readable`);
      const [key, st] = parsed;
      this.keys.set(key, st);
      if (st.r !== undefined) this.lamport = Math.max(this.lamport, st.r[0]);
    }
    if (this.peers.length > 0) {
      this.setTimer('gossip', addMs(now, 1 + this.ctx.rng.int(this.opts.gossipIntervalMs)));
    }
  }

  handleCommand(_now: Instant, cmd: KvCommand): void {
    if (!isKvCommand(cmd)) {
      throw new SteadfastError(
        'unknown-command',
        'kv-crdt: expected { type: "kv", client, serial, op }',
      );
    }
    const base = { type: 'kv-result' as const, client: cmd.client, serial: cmd.serial, op: cmd.op };
    const r = this.execute(cmd.op);
    if ('fail' in r) {
      this.c.failed++;
      this.deliver({ ...base, status: 'fail', node: this.ctx.id, reason: r.fail });
      return;
    }
    this.c.ops++;
    const st = this.keys.get(cmd.op.key);
    // Durable before the answer: a crash after this persist leaves the operation in doubt.
    if (r.changed && st !== undefined) {
      this.persist([{ key: `k/${cmd.op.key}`, value: toEntry(cmd.op.key, st) }]);
      this.unsent = this.keys.size;
    }
    this.deliver({ ...base, status: 'ok', output: r.output, node: this.ctx.id });
  }

  handleTimer(now: Instant, name: string): void {
    if (name !== 'gossip') return;
    this.gossip();
    this.setTimer('gossip', addMs(now, this.opts.gossipIntervalMs));
  }

  handleMessage(_now: Instant, from: NodeId, msg: CrdtMsg): void {
    if (from === this.ctx.id || !this.nodeSet.has(from)) {
      this.c.malformed++;
      return;
    }
    const parsed: [string, KeyState][] = [];
    for (const e of msg.e) {
      const p = parseEntry(e, this.nodeSet);
      if (p === undefined) {
        this.c.malformed++;
        return;
      }
      parsed.push(p);
    }
    this.c.merges++;
    const writes: DurableWrite[] = [];
    for (const [key, remote] of parsed) {
      if (remote.r !== undefined) this.lamport = Math.max(this.lamport, remote.r[0]);
      let st = this.keys.get(key);
      if (st === undefined) {
        if (this.keys.size >= this.opts.keysMax) {
          this.c.keysDropped++;
          continue;
        }
        st = { p: new Map(), n: new Map(), r: undefined };
        this.keys.set(key, st);
      }
      if (join(st, remote)) writes.push({ key: `k/${key}`, value: toEntry(key, st) });
    }
    this.c.mergedKeys += writes.length;
    // Durable before any later output: a read after a crash-recover never goes back.
    if (writes.length > 0) {
      this.persist(writes);
      this.unsent = this.keys.size;
    }
  }

  stats(): Readonly<Record<string, number>> {
    return { ...this.c, malformedDropped: this.c.malformed, keys: this.keys.size };
  }

  /** The state of `key` as plain data (tests, inspection); undefined if unknown here. */
  entry(key: string): CrdtEntry | undefined {
    const st = this.keys.get(key);
    return st === undefined ? undefined : toEntry(key, st);
  }

  // ------------------------------------------------------------------ operations

  private execute(op: KvOp): { output: unknown; changed: boolean } | { fail: string } {
    const st = this.keys.get(op.key);
    switch (op.f) {
      case 'get':
        return { output: readValue(st), changed: false };
      case 'put':
        return this.write(op.key, op.value, null);
      case 'delete':
        return this.write(op.key, null, null);
      case 'cas':
        if (canonical(readValue(st)) !== canonical(op.from))
          return { output: false, changed: false };
        return this.write(op.key, op.to, true);
      case 'incr': {
        if (st?.r !== undefined) {
          // A register key: read-modify-write of the register, as applyOp on this replica.
          const cur = st.r[2];
          if (cur !== null && typeof cur !== 'number') return { output: null, changed: false };
          const next = (cur ?? 0) + op.delta;
          return this.write(op.key, next, next);
        }
        const s = this.ensure(op.key);
        if (s === undefined) return { fail: this.full() };
        const side = op.delta >= 0 ? s.p : s.n;
        side.set(this.ctx.id, (side.get(this.ctx.id) ?? 0) + Math.abs(op.delta));
        return { output: sum(s.p) - sum(s.n), changed: true };
      }
    }
  }

  /** Writes the register with a fresh version; answers `output`. */
  private write(
    key: string,
    value: unknown,
    output: unknown,
  ): { output: unknown; changed: boolean } | { fail: string } {
    const st = this.ensure(key);
    if (st === undefined) return { fail: this.full() };
    this.lamport++;
    const version: LwwValue = [this.lamport, this.ctx.id, value];
    // The counter is above every version seen here, so the new one wins locally.
    assert(st.r === undefined || lwwAfter(version, st.r), 'kv-crdt: a new version wins locally');
    st.r = version;
    return { output, changed: true };
  }

  private ensure(key: string): KeyState | undefined {
    let st = this.keys.get(key);
    if (st === undefined) {
      if (this.keys.size >= this.opts.keysMax) return undefined;
      st = { p: new Map(), n: new Map(), r: undefined };
      this.keys.set(key, st);
    }
    return st;
  }

  private full(): string {
    return `replica holds keysMax = ${this.opts.keysMax} keys`;
  }

  // ------------------------------------------------------------------ anti-entropy

  /**
   * Sends the next chunk of the state (rotating cursor) to every peer, when a change has not yet
   * been offered with a whole pass of the state, or on every `fullSyncEvery`-th round.
   */
  private gossip(): void {
    const size = this.keys.size;
    this.round++;
    if (size === 0 || (this.unsent <= 0 && this.round % this.opts.fullSyncEvery !== 0)) return;
    const all = [...this.keys.keys()];
    const count = Math.min(size, this.opts.entriesPerMessageMax);
    const start = this.cursor % size;
    const e: CrdtEntry[] = [];
    for (let i = 0; i < count; i++) {
      const key = all[(start + i) % size] as string;
      const st = this.keys.get(key);
      if (st !== undefined) e.push(toEntry(key, st));
    }
    this.cursor = (start + count) % size;
    this.unsent = Math.max(0, this.unsent - count);
    const msg: CrdtMsg = { k: 'state', e };
    for (const peer of this.peers) {
      this.c.gossipSent++;
      this.send(peer, msg);
    }
  }
}

/** The CRDT store as a stack (over fair-loss messages; see the header). */
export function kvCrdt(opts: KvCrdtOptions = {}): StackSpec<CrdtMsg, KvCommand, KvResult> {
  resolveKvCrdtOptions(opts); // fail fast on a bad option
  return {
    name: 'kv-crdt',
    create: (ctx) => new KvCrdt(ctx, opts),
    isMessage: isCrdtMsg,
  };
}
