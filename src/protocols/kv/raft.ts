/**
 * A consensus-replicated key-value store: Raft (Ongaro & Ousterhout 2014; Ongaro's dissertation
 * 2014) as a sans-I/O protocol, with a client proxy in every node.
 *
 * GUARANTEES (crash-stop and crash-recover of a minority, omission, duplication, reordering,
 * partitions that heal; not Byzantine): every operation of the API (types.ts) is linearizable;
 * with sessions (the default) a retried operation is applied at most once — also when its reply
 * was lost and when the leader crashed between commit and reply (dissertation §6.3) — within
 * the session window: the state machine remembers each client's last serial and reply for the
 * `sessionMax` most recently active clients (eviction is decided by log order, so every replica
 * evicts the same ones); a client evicted and then retrying may see its operation applied twice.
 * Live whenever a majority is up and connected for long enough.
 * Without sessions (`sessions: false`, the `kv-raft-nosession` row) a retried increment applies
 * twice: the teaching row for the lecture's lost-reply case.
 *
 * THE ALGORITHM
 * - Election with randomized timeouts from the injected Rng, in [electionMs, 2·electionMs).
 *   Pre-vote (§9.6): a node first asks whether it could win, without raising its term, so a node
 *   that was partitioned away does not depose a healthy leader when it returns. Check-quorum: a
 *   leader that has not heard from a majority for an election timeout steps down, and voters
 *   that heard from a leader within the minimum election timeout refuse (pre-)votes.
 * - Replication: AppendEntries carry up to `batchMax` entries; the leader pipelines (sends new
 *   entries at once, optimistically advancing nextIndex; with `appendsInFlightMax`, at most that
 *   many appends unanswered per follower, the rest batched into the next) and every heartbeat
 *   resends from the follower's match point, so losses cost a heartbeat. Followers answer with
 *   their match index or a conflict hint (the first index of the conflicting term). A leader
 *   appends a no-op at the start of its term. Commit: an index of the current term stored by a
 *   majority.
 * - Persist before send: term and vote before any vote or candidacy message, log entries before
 *   the append response that acknowledges them (the output-order contract of core/protocol.ts).
 *   The leader alone sends new entries before persisting them, so its disk write overlaps its
 *   followers' (§10.2.1; `leaderAppend` says why that is safe).
 * - Snapshots: after `snapshotEvery` applied entries beyond the last snapshot the state machine
 *   (map and sessions) is snapshotted and the log prefix deleted, so the durable log stays
 *   bounded; a follower behind the snapshot gets InstallSnapshot.
 * - Linearizable reads by ReadIndex (§6.4): the leader records max(commitIndex, its term's
 *   no-op index), confirms it is still leader with a heartbeat round acknowledged by a majority,
 *   and answers once it has applied up to that index. No clock assumption.
 * - Clients: a node runs each client's operations one at a time; its proxy sends the request to
 *   the leader it believes in (a follower answers with a redirect and its leader hint, which the
 *   proxy follows at once), retries with exponential backoff and jitter from `clientRetryMs` up
 *   to `clientRetryMsMax` (client.ts), each retry to the leader it now believes in or else the
 *   next node in turn, and gives up after `clientTimeoutMs` (status 'indefinite').
 *
 * IDEMPOTENCY KEYS (the HTTP server's `Idempotency-Key`, src/runtime/kv-http.ts): a command may
 * carry `idem` (`RaftKvCommand`). Its operation then runs in a session of its own, `k:<idem>`,
 * serial 1, instead of its node's client session: the session is replicated state like any other,
 * so a request retried with the same key at any node, after a leader change or after every
 * replica restarted, is applied at most once and answered with its first output — within the same
 * session window (`sessionMax` sessions of both kinds, least recently applied evicted first; a key
 * reused after its session was evicted is a new request and applies again). The session also keeps
 * a 32-bit fingerprint of the operation: a key reused for a DIFFERENT operation is refused
 * (status 'fail', reason `idempotency-key-reused`) and the operation is not applied. Without
 * `idem` nothing changes (the simulator's runs never carry one). Two operations with the same key
 * in flight at once through ONE node are the caller's to avoid (the server coalesces them).
 *
 * ASSUMES: every node has the same `ctx.nodes`; messages travel over fair-loss links (integrity
 * below this layer: CRC32C/HMAC); `now` never goes backwards within an incarnation.
 *
 * SIZE: one file past the ~600-line guide because elections, replication, the state machine
 * and ReadIndex all read and write the same term, role and log; the client proxy at the end is
 * the part that can move out once a second consensus design wants it.
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
import { payloadSize } from '../../core/payload.ts';
import { instant, type Instant } from '../../core/time.ts';
import { checkRetryPolicy, ClientQueues, type InFlight } from './client.ts';
import {
  applyOp,
  canonical,
  isKvCommand,
  isKvOp,
  kvResult,
  type KvCommand,
  type KvOp,
  type KvResult,
} from './types.ts';

export interface RaftOptions {
  readonly electionMs: number;
  readonly heartbeatMs: number;
  readonly batchMax: number;
  /**
   * Bytes of entries (msgpack size) one AppendEntries carries at most, beyond its first entry: keeps
   * a batch of large values within a transport's frame. Default: unbounded (only `batchMax`).
   */
  readonly batchBytesMax: number;
  /**
   * AppendEntries with new entries the leader keeps unanswered per follower; entries appended
   * while a follower's window is full wait for its next answer and travel together (fewer,
   * larger appends under load: a server's choice). A heartbeat reopens the window, so a lost
   * answer costs at most a heartbeat. Default: unbounded (every append sent at once).
   */
  readonly appendsInFlightMax: number;
  readonly snapshotEvery: number;
  readonly sessions: boolean;
  readonly sessionMax: number;
  /** A client's first retry after about this long; then exponential backoff (client.ts). */
  readonly clientRetryMs: number;
  /** The client's backoff cap. */
  readonly clientRetryMsMax: number;
  readonly clientTimeoutMs: number;
  /** Operations queued per client at one node; beyond it the command fails at once. */
  readonly clientQueueMax: number;
  /** Clients one node hosts at once; a command of one more fails at once. */
  readonly clientsMax: number;
  /** Reads waiting for a ReadIndex at the leader; beyond it a read is refused (the client retries). */
  readonly pendingReadsMax: number;
}

export const RAFT_DEFAULTS: RaftOptions = {
  electionMs: 1000,
  heartbeatMs: 150,
  batchMax: 64,
  batchBytesMax: Number.MAX_SAFE_INTEGER,
  appendsInFlightMax: Number.MAX_SAFE_INTEGER,
  snapshotEvery: 64,
  sessions: true,
  sessionMax: 1000,
  clientRetryMs: 400,
  clientRetryMsMax: 3200,
  clientTimeoutMs: 25_000,
  clientQueueMax: 1000,
  clientsMax: 10_000,
  pendingReadsMax: 10_000,
};

/** Fills in the defaults; throws `SteadfastError('bad-argument')` naming a bad field. */
export function resolveRaftOptions(opts: Partial<RaftOptions> = {}): RaftOptions {
  const r: RaftOptions = { ...RAFT_DEFAULTS, ...opts };
  for (const [field, v] of Object.entries(r)) {
    if (field === 'sessions') {
      if (typeof v !== 'boolean') {
        throw new SteadfastError(
          'bad-argument',
          `raft: sessions must be a boolean, got ${String(v)}`,
        );
      }
    } else if (!Number.isSafeInteger(v) || (v as number) < 1) {
      throw new SteadfastError(
        'bad-argument',
        `raft: ${field} must be an integer ≥ 1, got ${JSON.stringify(v)}`,
      );
    }
  }
  if (r.heartbeatMs >= r.electionMs) {
    throw new SteadfastError(
      'bad-argument',
      `raft: heartbeatMs (${r.heartbeatMs}) must be below electionMs (${r.electionMs})`,
    );
  }
  checkRetryPolicy('raft', {
    retryMs: r.clientRetryMs,
    retryMsMax: r.clientRetryMsMax,
    timeoutMs: r.clientTimeoutMs,
  });
  return r;
}

/** A command in the log: a client operation, or the leader's no-op at the start of its term. */
/**
 * `c` is the client's session id (node, incarnation and client name: unique for ever), `s` its
 * serial within the session (1, 2, … in issue order), `n` the node whose proxy waits for it.
 */
type Cmd =
  | {
      readonly k: 'op';
      readonly n: NodeId;
      readonly c: string;
      readonly s: number;
      readonly op: KvOp;
    }
  | { readonly k: 'noop' };
interface Entry {
  readonly t: number;
  readonly c: Cmd;
}
interface Session {
  serial: number;
  output: unknown;
  /** Log index of its last application (eviction order). */
  at: number;
  /** An idempotency-key session's operation fingerprint (`opFingerprint`); absent otherwise. */
  fp?: number;
}

/** Longest idempotency key a command may carry (characters). */
export const IDEM_KEY_MAX = 200;

/** A command of this store: the API's, plus an optional idempotency key (see the header). */
export interface RaftKvCommand extends KvCommand {
  readonly idem?: string;
}

/** FNV-1a (32-bit) of the operation's canonical JSON: tells a reused key's other operation. */
export function opFingerprint(op: KvOp): number {
  const s = canonical(op);
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
interface Snapshot {
  readonly index: number;
  readonly term: number;
  readonly kv: readonly (readonly [string, unknown])[];
  readonly sessions: readonly (readonly [string, Session])[];
}

export type RaftMsg =
  | {
      readonly k: 'rv';
      readonly term: number;
      readonly li: number;
      readonly lt: number;
      readonly pre: boolean;
    }
  | { readonly k: 'vr'; readonly term: number; readonly granted: boolean; readonly pre: boolean }
  | {
      readonly k: 'ae';
      readonly term: number;
      readonly pi: number;
      readonly pt: number;
      readonly entries: readonly Entry[];
      readonly commit: number;
      readonly rid: number;
    }
  | {
      readonly k: 'ar';
      readonly term: number;
      readonly ok: boolean;
      /** ok: the last index known to match; not ok: where the leader should retry from. */
      readonly index: number;
      readonly rid: number;
    }
  | { readonly k: 'is'; readonly term: number; readonly snap: Snapshot; readonly rid: number }
  | { readonly k: 'req'; readonly c: string; readonly s: number; readonly op: KvOp }
  | {
      readonly k: 'rep';
      readonly c: string;
      readonly s: number;
      readonly ok: boolean;
      readonly output?: unknown;
      readonly leader?: NodeId;
      /** An idempotency key's session holds another operation: this one was not applied. */
      readonly reused?: boolean;
    };

const isNum = (x: unknown): x is number =>
  typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;

function isEntry(x: unknown): x is Entry {
  if (!isObj(x) || !isNum(x.t) || !isObj(x.c)) return false;
  const c = x.c;
  return (
    c.k === 'noop' ||
    (c.k === 'op' &&
      typeof c.n === 'string' &&
      typeof c.c === 'string' &&
      isNum(c.s) &&
      isKvOp(c.op))
  );
}

export function isRaftMsg(v: unknown): v is RaftMsg {
  if (!isObj(v)) return false;
  switch (v.k) {
    case 'rv':
      return isNum(v.term) && isNum(v.li) && isNum(v.lt) && typeof v.pre === 'boolean';
    case 'vr':
      return isNum(v.term) && typeof v.granted === 'boolean' && typeof v.pre === 'boolean';
    case 'ae':
      return (
        isNum(v.term) &&
        isNum(v.pi) &&
        isNum(v.pt) &&
        Array.isArray(v.entries) &&
        v.entries.length <= 4096 &&
        v.entries.every(isEntry) &&
        isNum(v.commit) &&
        isNum(v.rid)
      );
    case 'ar':
      return isNum(v.term) && typeof v.ok === 'boolean' && isNum(v.index) && isNum(v.rid);
    case 'is':
      return (
        isNum(v.term) &&
        isObj(v.snap) &&
        isNum(v.snap.index) &&
        isNum(v.snap.term) &&
        Array.isArray(v.snap.kv) &&
        Array.isArray(v.snap.sessions) &&
        isNum(v.rid)
      );
    case 'req':
      return typeof v.c === 'string' && isNum(v.s) && isKvOp(v.op);
    case 'rep':
      return (
        typeof v.c === 'string' &&
        isNum(v.s) &&
        typeof v.ok === 'boolean' &&
        (v.leader === undefined || typeof v.leader === 'string')
      );
    default:
      return false;
  }
}

type Role = 'follower' | 'candidate' | 'leader';

interface Follower {
  next: number;
  match: number;
  /** When it last answered this leader (check-quorum). */
  heardAt: number;
  /** Highest heartbeat round it acknowledged (ReadIndex). */
  rid: number;
  /** The heartbeat round of the last immediate retry after a refusal. */
  retriedRound: number;
  /** AppendEntries sent since its last answer (or the last full resend), for appendsInFlightMax. */
  inflight: number;
}

interface PendingRead {
  readonly index: number;
  readonly round: number;
  readonly from: NodeId;
  readonly c: string;
  readonly s: number;
  readonly key: string;
}

/** A client operation in flight (client.ts adds the command, start, deadline and retries). */
interface ClientFields {
  /** The serial of this operation in its client's session. */
  readonly s: number;
  /** Its idempotency-key session (`k:<idem>`), or undefined: the client's session. */
  readonly idem: string | undefined;
  /** Where its request goes: the leader this node believes in, else the next node in turn. */
  target: NodeId;
}
type ClientOp = InFlight<ClientFields>;

const HS_KEY = 'hs';
/** How many times this node has started: part of its clients' session ids. */
const INCARNATION_KEY = 'inc';
const SNAP_KEY = 'snap';
const logKey = (i: number): string => `log/${i}`;

export class RaftKv
  extends OutputQueue<RaftMsg, KvResult>
  implements Protocol<RaftMsg, KvCommand, KvResult>
{
  private readonly opts: RaftOptions;
  private readonly majority: number;
  private readonly others: readonly NodeId[];
  // --- persistent state
  private term = 0;
  private vote: NodeId | null = null;
  private snapIndex = 0;
  private snapTerm = 0;
  /** entries[i] has index snapIndex + 1 + i. */
  private entries: Entry[] = [];
  // --- volatile state
  private role: Role = 'follower';
  private leader: NodeId | undefined;
  private commitIndex = 0;
  private lastApplied = 0;
  private kv = new Map<string, unknown>();
  private sessions = new Map<string, Session>();
  private votes = new Set<NodeId>();
  private preVoting = false;
  /** When this node last heard from a leader (AppendEntries of the current term). */
  private heardLeaderAt = Number.NEGATIVE_INFINITY;
  private readonly followers = new Map<NodeId, Follower>();
  private termStart = 0;
  private round = 0;
  private pendingReads: PendingRead[] = [];
  private now = 0;
  // --- client proxy
  private readonly clients: ClientQueues<ClientFields>;
  private incarnation = 0;
  /** Session id → client name, and each client's last session serial (this incarnation). */
  private readonly bySession = new Map<string, string>();
  private readonly serials = new Map<string, number>();
  /** Idempotency-key session → the client whose operation in flight uses it (≤ one per client). */
  private readonly byIdem = new Map<string, string>();
  /** The last leader this node knew of (counts leader changes). */
  private lastLeader: NodeId | undefined;
  private readonly counters = {
    elections: 0,
    leaderships: 0,
    applied: 0,
    duplicateRequests: 0,
    snapshots: 0,
    readsServed: 0,
    malformed: 0,
    refused: 0,
    /** Log entries applied as retries of an applied operation (their first output returned). */
    dedupApplied: 0,
    /** Times the leader this node knows of changed to another node. */
    leaderChanges: 0,
  };

  constructor(
    private readonly ctx: NodeContext,
    opts: Partial<RaftOptions> = {},
  ) {
    super();
    this.opts = resolveRaftOptions(opts);
    this.clients = new ClientQueues(
      { queueMax: this.opts.clientQueueMax, clientsMax: this.opts.clientsMax },
      {
        retryMs: this.opts.clientRetryMs,
        retryMsMax: this.opts.clientRetryMsMax,
        timeoutMs: this.opts.clientTimeoutMs,
      },
    );
    this.majority = Math.floor(ctx.nodes.length / 2) + 1;
    this.others = ctx.nodes.filter((n) => n !== ctx.id);
  }

  // ------------------------------------------------------------------------- inputs

  handleStart(now: Instant, durable: DurableState): void {
    this.now = now;
    const log = new Map<number, Entry>();
    for (const [key, value] of durable) {
      if (key === HS_KEY && isObj(value)) {
        this.term = isNum(value.term) ? value.term : 0;
        this.vote = typeof value.vote === 'string' ? value.vote : null;
      } else if (key === SNAP_KEY && isObj(value)) {
        const snap = value as unknown as Snapshot;
        this.snapIndex = snap.index;
        this.snapTerm = snap.term;
        this.restoreSnapshot(snap);
      } else if (key === INCARNATION_KEY && isNum(value)) {
        this.incarnation = value;
      } else if (key.startsWith('log/') && isEntry(value)) {
        log.set(Number(key.slice(4)), value);
      }
    }
    for (let i = this.snapIndex + 1; log.has(i); i++) this.entries.push(log.get(i) as Entry);
    this.commitIndex = this.snapIndex;
    this.lastApplied = this.snapIndex;
    // A new incarnation: new session ids, so a serial restarting at 1 is never taken for a retry.
    this.incarnation++;
    this.persist([{ key: INCARNATION_KEY, value: this.incarnation }]);
    this.armElection();
  }

  handleCommand(now: Instant, cmd: KvCommand): void {
    this.now = now;
    if (!isKvCommand(cmd)) throw new SteadfastError('bad-argument', 'raft: not a kv command');
    const idem = (cmd as RaftKvCommand).idem;
    if (
      idem !== undefined &&
      (typeof idem !== 'string' || idem.length < 1 || idem.length > IDEM_KEY_MAX)
    ) {
      throw new SteadfastError(
        'bad-argument',
        `raft: idem must be a string of 1..${IDEM_KEY_MAX} characters`,
      );
    }
    const refused = this.clients.submit(cmd);
    if (refused !== undefined) {
      this.counters.refused++;
      this.deliver(kvResult(cmd, 'fail', { reason: refused }));
      return;
    }
    this.nextOp(cmd.client);
  }

  handleTimer(now: Instant, name: string): void {
    this.now = now;
    if (name === 'elect') this.onElectionTimeout();
    else if (name === 'hb') this.onHeartbeat();
    else if (name.startsWith('cli/')) this.onClientTimer(name.slice(4));
  }

  handleMessage(now: Instant, from: NodeId, msg: RaftMsg): void {
    this.now = now;
    if (!this.ctx.nodes.includes(from) || from === this.ctx.id) {
      this.counters.malformed++;
      return;
    }
    switch (msg.k) {
      case 'req':
        this.onRequest(from, msg);
        return;
      case 'rep':
        this.onReply(from, msg);
        return;
      default:
        break;
    }
    // A higher term always wins (pre-votes do not carry a real term of their sender).
    if (
      msg.term > this.term &&
      !(msg.k === 'rv' && msg.pre) &&
      !(msg.k === 'vr' && msg.pre && msg.granted)
    ) {
      if (msg.k === 'rv' && this.leaderIsFresh()) {
        // Check-quorum stickiness: a node that hears from its leader ignores disruptive candidates.
        return;
      }
      this.becomeFollower(msg.term, msg.k === 'ae' || msg.k === 'is' ? from : undefined);
    }
    switch (msg.k) {
      case 'rv':
        this.onRequestVote(from, msg);
        break;
      case 'vr':
        this.onVote(from, msg);
        break;
      case 'ae':
        this.onAppend(from, msg);
        break;
      case 'ar':
        this.onAppendResponse(from, msg);
        break;
      case 'is':
        this.onSnapshot(from, msg);
        break;
    }
  }

  /** The value of `key` in this replica's applied state (a stale read: it may lag the leader). */
  readLocal(key: string): unknown {
    return this.kv.has(key) ? this.kv.get(key) : null;
  }

  /** The leader this node believes in, if any, and whether it is that leader. */
  leaderHint(): { readonly leader: NodeId | undefined; readonly isLeader: boolean } {
    return { leader: this.leader, isLeader: this.role === 'leader' };
  }

  stats(): Readonly<Record<string, number>> {
    return {
      ...this.counters,
      term: this.term,
      leader: this.role === 'leader' ? 1 : 0,
      commitIndex: this.commitIndex,
      logEntries: this.entries.length,
      sessions: this.sessions.size,
    };
  }

  // --------------------------------------------------------------------- log helpers

  private lastIndex(): number {
    return this.snapIndex + this.entries.length;
  }

  private termAt(i: number): number | undefined {
    if (i === this.snapIndex) return this.snapTerm;
    if (i < this.snapIndex || i > this.lastIndex()) return undefined;
    return this.entries[i - this.snapIndex - 1]?.t;
  }

  private persistHardState(): void {
    this.persist([{ key: HS_KEY, value: { term: this.term, vote: this.vote } }]);
  }

  /** Appends entries after `after` (deleting any conflicting suffix), durably. */
  private appendAfter(after: number, entries: readonly Entry[]): void {
    const writes = this.appendInMemory(after, entries);
    if (writes.length > 0) this.persist(writes);
  }

  /** Appends entries after `after` in memory; the writes that make it durable. */
  private appendInMemory(after: number, entries: readonly Entry[]): DurableWrite[] {
    const writes: DurableWrite[] = [];
    for (let i = this.lastIndex(); i > after; i--) writes.push({ key: logKey(i), value: null });
    this.entries.length = after - this.snapIndex;
    entries.forEach((e, j) => {
      this.entries.push(e);
      writes.push({ key: logKey(after + 1 + j), value: e });
    });
    return writes;
  }

  /**
   * The leader appends `entries` to its log and sends them to its followers BEFORE persisting
   * them, so its own write and the followers' overlap (dissertation §10.2.1) instead of adding
   * up. Safe because the leader's own copy only ever counts through outputs that come after
   * the persist: a commitment becomes visible only in a reply or in a later AppendEntries'
   * commit index, both later outputs, which the driver holds until the persist is durable
   * (core/protocol.ts). A crash between the sends and the persist leaves the entries on some
   * followers only: uncommitted, as in any Raft.
   */
  private leaderAppend(entries: readonly Entry[]): void {
    const writes = this.appendInMemory(this.lastIndex(), entries);
    this.broadcastAppend(false);
    this.persist(writes);
  }

  // ------------------------------------------------------------------------ elections

  private electionDelay(): number {
    return this.opts.electionMs + Math.floor(this.ctx.rng.next() * this.opts.electionMs);
  }

  private armElection(): void {
    this.setTimer('elect', instant(this.now + this.electionDelay()));
  }

  private noteLeader(): void {
    if (this.leader !== undefined && this.leader !== this.lastLeader) {
      if (this.lastLeader !== undefined) this.counters.leaderChanges++;
      this.lastLeader = this.leader;
    }
  }

  private leaderIsFresh(): boolean {
    return this.now - this.heardLeaderAt < this.opts.electionMs;
  }

  private becomeFollower(term: number, leader: NodeId | undefined): void {
    const wasLeader = this.role === 'leader';
    if (term > this.term) {
      this.term = term;
      this.vote = null;
      this.persistHardState();
    }
    this.role = 'follower';
    this.preVoting = false;
    this.leader = leader;
    this.noteLeader();
    if (wasLeader) {
      this.cancelTimer('hb');
      this.pendingReads = [];
      this.armElection();
    }
  }

  private onElectionTimeout(): void {
    if (this.role === 'leader') return;
    // Pre-vote: ask without raising the term.
    this.preVoting = true;
    this.votes = new Set([this.ctx.id]);
    this.leader = undefined;
    this.counters.elections++;
    for (const to of this.others) {
      this.send(to, {
        k: 'rv',
        term: this.term + 1,
        li: this.lastIndex(),
        lt: this.termAt(this.lastIndex()) ?? 0,
        pre: true,
      });
    }
    this.armElection();
    if (this.votes.size >= this.majority) this.startElection();
  }

  private startElection(): void {
    this.preVoting = false;
    this.role = 'candidate';
    this.term++;
    this.vote = this.ctx.id;
    this.votes = new Set([this.ctx.id]);
    this.persistHardState();
    for (const to of this.others) {
      this.send(to, {
        k: 'rv',
        term: this.term,
        li: this.lastIndex(),
        lt: this.termAt(this.lastIndex()) ?? 0,
        pre: false,
      });
    }
    this.armElection();
    if (this.votes.size >= this.majority) this.becomeLeader();
  }

  private logUpToDate(li: number, lt: number): boolean {
    const myLast = this.lastIndex();
    const myTerm = this.termAt(myLast) ?? 0;
    return lt > myTerm || (lt === myTerm && li >= myLast);
  }

  private onRequestVote(from: NodeId, m: RaftMsg & { k: 'rv' }): void {
    if (m.pre) {
      const granted = m.term > this.term && this.logUpToDate(m.li, m.lt) && !this.leaderIsFresh();
      this.send(from, { k: 'vr', term: granted ? m.term : this.term, granted, pre: true });
      return;
    }
    const granted =
      m.term === this.term &&
      (this.vote === null || this.vote === from) &&
      this.logUpToDate(m.li, m.lt) &&
      this.role !== 'leader';
    if (granted && this.vote !== from) {
      this.vote = from;
      this.persistHardState();
    }
    if (granted) this.armElection();
    this.send(from, { k: 'vr', term: this.term, granted, pre: false });
  }

  private onVote(from: NodeId, m: RaftMsg & { k: 'vr' }): void {
    if (!m.granted) return;
    if (m.pre) {
      if (!this.preVoting || m.term !== this.term + 1) return;
      this.votes.add(from);
      if (this.votes.size >= this.majority) this.startElection();
      return;
    }
    if (this.role !== 'candidate' || m.term !== this.term) return;
    this.votes.add(from);
    if (this.votes.size >= this.majority) this.becomeLeader();
  }

  private becomeLeader(): void {
    this.role = 'leader';
    this.leader = this.ctx.id;
    this.noteLeader();
    this.counters.leaderships++;
    this.cancelTimer('elect');
    this.followers.clear();
    for (const n of this.others) {
      this.followers.set(n, {
        next: this.lastIndex() + 1,
        match: 0,
        heardAt: this.now,
        rid: 0,
        retriedRound: -1,
        inflight: 0,
      });
    }
    this.leaderAppend([{ t: this.term, c: { k: 'noop' } }]);
    this.termStart = this.lastIndex();
    this.setTimer('hb', instant(this.now + this.opts.heartbeatMs));
    this.advanceCommit();
  }

  // ---------------------------------------------------------------------- replication

  private sendAppend(to: NodeId, f: Follower, fromMatch: boolean): void {
    const start = fromMatch ? f.match + 1 : f.next;
    if (start <= this.snapIndex) {
      this.send(to, { k: 'is', term: this.term, snap: this.snapshot(), rid: this.round });
      f.next = this.lastApplied + 1;
      return;
    }
    const prev = start - 1;
    let last = Math.min(this.lastIndex(), prev + this.opts.batchMax);
    if (this.opts.batchBytesMax < Number.MAX_SAFE_INTEGER) last = this.byteBound(prev, last);
    const entries = this.entries.slice(prev - this.snapIndex, last - this.snapIndex);
    this.send(to, {
      k: 'ae',
      term: this.term,
      pi: prev,
      pt: this.termAt(prev) ?? 0,
      entries,
      commit: this.commitIndex,
      rid: this.round,
    });
    f.next = Math.max(f.next, last + 1); // pipelining: the next send continues after these
    f.inflight++;
  }

  /** The last index after `prev` (≤ `last`) whose entries fit batchBytesMax; at least one. */
  private byteBound(prev: number, last: number): number {
    let bytes = 0;
    for (let i = prev + 1; i <= last; i++) {
      bytes += payloadSize(this.entries[i - this.snapIndex - 1]);
      if (bytes > this.opts.batchBytesMax && i > prev + 1) return i - 1;
    }
    return last;
  }

  /** Sends to every follower: new entries only (`fromMatch` false) or a full resend. */
  private broadcastAppend(fromMatch: boolean): void {
    for (const [to, f] of this.followers) {
      if (fromMatch) {
        f.inflight = 0; // a full resend supersedes what is in flight
      } else if (f.inflight >= this.opts.appendsInFlightMax) {
        continue; // the new entries go with its next answer
      }
      this.sendAppend(to, f, fromMatch);
    }
  }

  private onHeartbeat(): void {
    if (this.role !== 'leader') return;
    // Check-quorum: step down unless a majority answered within an election timeout.
    let fresh = 1;
    for (const f of this.followers.values())
      if (this.now - f.heardAt < this.opts.electionMs) fresh++;
    if (fresh < this.majority) {
      this.becomeFollower(this.term, undefined);
      return;
    }
    this.round++;
    this.broadcastAppend(true);
    this.setTimer('hb', instant(this.now + this.opts.heartbeatMs));
  }

  private onAppend(from: NodeId, m: RaftMsg & { k: 'ae' }): void {
    if (m.term < this.term) {
      this.send(from, { k: 'ar', term: this.term, ok: false, index: 0, rid: m.rid });
      return;
    }
    if (this.role !== 'follower') this.becomeFollower(m.term, from);
    this.leader = from;
    this.noteLeader();
    this.heardLeaderAt = this.now;
    this.armElection();
    if (m.pi > this.lastIndex()) {
      this.send(from, {
        k: 'ar',
        term: this.term,
        ok: false,
        index: this.lastIndex() + 1,
        rid: m.rid,
      });
      return;
    }
    // Entries at or below our snapshot are committed, hence identical: skip them.
    let pi = m.pi;
    let entries = m.entries;
    if (pi < this.snapIndex) {
      entries = entries.slice(this.snapIndex - pi);
      pi = this.snapIndex;
    } else if (this.termAt(pi) !== m.pt) {
      // Conflict: retry from the first index of the conflicting term.
      const bad = this.termAt(pi);
      let hint = pi;
      while (hint - 1 > this.snapIndex && this.termAt(hint - 1) === bad) hint--;
      this.send(from, {
        k: 'ar',
        term: this.term,
        ok: false,
        index: Math.max(hint, this.snapIndex + 1),
        rid: m.rid,
      });
      return;
    }
    // Append what is new; truncate at the first conflict only (never drop matching entries).
    let j = 0;
    while (j < entries.length && this.termAt(pi + 1 + j) === (entries[j] as Entry).t) j++;
    if (j < entries.length) this.appendAfter(pi + j, entries.slice(j));
    const matched = pi + entries.length;
    // Only forward: a reordered older append may carry a commit index past what it matches.
    const commit = Math.min(m.commit, matched);
    if (commit > this.commitIndex) this.setCommit(commit);
    this.send(from, { k: 'ar', term: this.term, ok: true, index: matched, rid: m.rid });
  }

  private onAppendResponse(from: NodeId, m: RaftMsg & { k: 'ar' }): void {
    if (this.role !== 'leader' || m.term !== this.term) return;
    const f = this.followers.get(from);
    if (f === undefined) return;
    f.heardAt = this.now;
    if (m.rid > f.rid) f.rid = m.rid;
    if (f.inflight > 0) f.inflight--;
    if (m.ok) {
      if (m.index > f.match) f.match = m.index;
      if (f.next < f.match + 1) f.next = f.match + 1;
      this.advanceCommit();
      if (f.next <= this.lastIndex() && f.inflight < this.opts.appendsInFlightMax) {
        this.sendAppend(from, f, false);
      }
    } else {
      // Retry at once only when the answer moves nextIndex back: a duplicated or stale refusal
      // must not trigger a resend (each resend's refusal, duplicated, would multiply them).
      // And at most once per heartbeat round: a follower that keeps refusing (a corrupted or
      // forged match index) is otherwise answered at network speed for ever.
      const before = f.next;
      f.next = Math.max(f.match + 1, Math.min(f.next, m.index));
      if (f.next < before && f.retriedRound !== this.round) {
        f.retriedRound = this.round;
        this.sendAppend(from, f, false);
      }
    }
    this.serveReads();
  }

  private advanceCommit(): void {
    const matches = [this.lastIndex(), ...[...this.followers.values()].map((f) => f.match)].sort(
      (a, b) => b - a,
    );
    const n = matches[this.majority - 1] ?? 0;
    if (n > this.commitIndex && this.termAt(n) === this.term) this.setCommit(n);
  }

  private setCommit(n: number): void {
    assert(n >= this.commitIndex, 'raft: the commit index never decreases');
    this.commitIndex = n;
    this.apply();
    if (this.role === 'leader') this.serveReads();
  }

  // --------------------------------------------------------------------- state machine

  private apply(): void {
    while (this.lastApplied < this.commitIndex) {
      const i = this.lastApplied + 1;
      const e = this.entries[i - this.snapIndex - 1];
      assert(e !== undefined, 'raft: committed entries are in the log');
      this.lastApplied = i;
      if (e.c.k === 'op') this.applyEntry(i, e.c);
    }
    if (this.lastApplied - this.snapIndex >= this.opts.snapshotEvery) this.takeSnapshot();
  }

  private applyEntry(i: number, c: Cmd & { k: 'op' }): void {
    let output: unknown;
    let reused = false;
    const session = this.sessions.get(c.c);
    if (this.opts.sessions && session !== undefined && c.s <= session.serial) {
      output = session.output; // a retry of an applied operation: its first reply
      this.counters.dedupApplied++;
      reused = session.fp !== undefined && session.fp !== opFingerprint(c.op);
    } else {
      output = applyOp(this.kv, c.op);
      this.counters.applied++;
      if (this.opts.sessions) {
        this.remember(c.c, c.s, output, i, isIdemSession(c.c) ? opFingerprint(c.op) : undefined);
      }
    }
    if (this.role === 'leader') {
      this.sendReply(c.n, {
        k: 'rep',
        c: c.c,
        s: c.s,
        ok: true,
        output,
        ...(reused ? { reused } : {}),
      });
    }
  }

  private remember(
    client: string,
    serial: number,
    output: unknown,
    at: number,
    fp: number | undefined,
  ): void {
    this.sessions.delete(client);
    this.sessions.set(
      client,
      fp === undefined ? { serial, output, at } : { serial, output, at, fp },
    );
    if (this.sessions.size > this.opts.sessionMax) {
      // The least recently active (Map order = application order): every replica evicts the same.
      const oldest = this.sessions.keys().next().value as string;
      this.sessions.delete(oldest);
    }
  }

  /** The state machine as of `lastApplied`, labelled with that index (and its term). */
  private snapshot(): Snapshot {
    return {
      index: this.lastApplied,
      term: this.termAt(this.lastApplied) ?? 0,
      kv: [...this.kv],
      sessions: [...this.sessions].map(([c, s]) => [c, { ...s }] as const),
    };
  }

  private takeSnapshot(): void {
    const index = this.lastApplied;
    const term = this.termAt(index) ?? 0;
    const writes: DurableWrite[] = [];
    for (let i = this.snapIndex + 1; i <= index; i++) writes.push({ key: logKey(i), value: null });
    this.entries = this.entries.slice(index - this.snapIndex);
    this.snapIndex = index;
    this.snapTerm = term;
    writes.unshift({ key: SNAP_KEY, value: this.snapshot() });
    this.persist(writes);
    this.counters.snapshots++;
  }

  private restoreSnapshot(snap: Snapshot): void {
    this.kv = new Map(snap.kv);
    this.sessions = new Map(snap.sessions.map(([c, s]) => [c, { ...s }]));
  }

  private onSnapshot(from: NodeId, m: RaftMsg & { k: 'is' }): void {
    if (m.term < this.term) return;
    this.leader = from;
    this.noteLeader();
    this.heardLeaderAt = this.now;
    this.armElection();
    const snap = m.snap;
    if (snap.index <= this.commitIndex) {
      this.send(from, { k: 'ar', term: this.term, ok: true, index: this.commitIndex, rid: m.rid });
      return;
    }
    const writes: DurableWrite[] = [{ key: SNAP_KEY, value: snap }];
    const keep =
      this.termAt(snap.index) === snap.term ? this.entries.slice(snap.index - this.snapIndex) : [];
    for (let i = this.snapIndex + 1; i <= this.lastIndex(); i++)
      writes.push({ key: logKey(i), value: null });
    keep.forEach((e, j) => writes.push({ key: logKey(snap.index + 1 + j), value: e }));
    this.entries = keep;
    this.snapIndex = snap.index;
    this.snapTerm = snap.term;
    this.restoreSnapshot(snap);
    this.commitIndex = snap.index;
    this.lastApplied = snap.index;
    this.persist(writes);
    this.send(from, { k: 'ar', term: this.term, ok: true, index: snap.index, rid: m.rid });
  }

  // ------------------------------------------------------------------------- requests

  private onRequest(from: NodeId, m: RaftMsg & { k: 'req' }): void {
    if (this.role !== 'leader') {
      this.sendReply(from, {
        k: 'rep',
        c: m.c,
        s: m.s,
        ok: false,
        ...(this.leader === undefined ? {} : { leader: this.leader }),
      });
      return;
    }
    if (m.op.f === 'get') {
      if (this.pendingReads.length >= this.opts.pendingReadsMax) return; // the client retries
      this.round++;
      this.pendingReads.push({
        index: Math.max(this.commitIndex, this.termStart),
        round: this.round,
        from,
        c: m.c,
        s: m.s,
        key: m.op.key,
      });
      this.broadcastAppend(true);
      this.serveReads();
      return;
    }
    const session = this.sessions.get(m.c);
    if (this.opts.sessions && session !== undefined && m.s <= session.serial) {
      this.counters.duplicateRequests++;
      const reused = session.fp !== undefined && session.fp !== opFingerprint(m.op);
      this.sendReply(from, {
        k: 'rep',
        c: m.c,
        s: m.s,
        ok: true,
        output: session.output,
        ...(reused ? { reused } : {}),
      });
      return;
    }
    if (this.opts.sessions) {
      // Already in the log, not yet applied: its application will answer.
      for (let i = this.lastApplied + 1; i <= this.lastIndex(); i++) {
        const c = this.entries[i - this.snapIndex - 1]?.c;
        if (c?.k === 'op' && c.c === m.c && c.s === m.s) {
          this.counters.duplicateRequests++;
          return;
        }
      }
    }
    this.leaderAppend([{ t: this.term, c: { k: 'op', n: from, c: m.c, s: m.s, op: m.op } }]);
    this.advanceCommit();
  }

  private serveReads(): void {
    if (this.role !== 'leader' || this.pendingReads.length === 0) return;
    const rest: PendingRead[] = [];
    for (const r of this.pendingReads) {
      let acks = 1;
      for (const f of this.followers.values()) if (f.rid >= r.round) acks++;
      const confirmed = acks >= this.majority;
      if (!confirmed || this.lastApplied < r.index || this.termAt(this.commitIndex) !== this.term) {
        rest.push(r);
        continue;
      }
      this.counters.readsServed++;
      this.sendReply(r.from, {
        k: 'rep',
        c: r.c,
        s: r.s,
        ok: true,
        output: this.kv.has(r.key) ? this.kv.get(r.key) : null,
      });
    }
    this.pendingReads = rest;
  }

  private sendReply(to: NodeId, rep: RaftMsg & { k: 'rep' }): void {
    if (to === this.ctx.id) this.onReply(to, rep);
    else this.send(to, rep);
  }

  // --------------------------------------------------------------------- client proxy

  private sessionId(client: string): string {
    const id = `${this.ctx.id}#${this.incarnation}:${client}`;
    this.bySession.set(id, client);
    return id;
  }

  /** Starts the client's next operation unless one is in flight. */
  private nextOp(client: string): void {
    const op = this.clients.startNext(client, this.now, (cmd) => {
      const key = (cmd as RaftKvCommand).idem;
      if (key !== undefined) {
        // Its own session, serial 1 (see IDEMPOTENCY KEYS): the client's serial does not move.
        const idem = idemSession(key);
        this.byIdem.set(idem, client);
        return { s: 1, idem, target: this.leader ?? this.ctx.id };
      }
      const s = (this.serials.get(client) ?? 0) + 1;
      this.serials.set(client, s);
      return { s, idem: undefined, target: this.leader ?? this.ctx.id };
    });
    if (op !== undefined) this.sendRequest(client, op);
  }

  /** Sends (or resends) the request and arms the retry timer, with backoff and jitter. */
  private sendRequest(client: string, op: ClientOp): void {
    const req: RaftMsg = {
      k: 'req',
      c: op.idem ?? this.sessionId(client),
      s: op.s,
      op: op.cmd.op,
    };
    if (op.target === this.ctx.id) this.onRequest(this.ctx.id, req);
    else this.send(op.target, req);
    // A request to this node may have been answered at once (a session's cached reply).
    if (this.clients.inflight(client) === op) {
      this.setTimer(`cli/${client}`, instant(this.clients.nextRetryAt(op, this.now, this.ctx.rng)));
    }
  }

  private onClientTimer(client: string): void {
    const op = this.clients.inflight(client);
    if (op === undefined) return;
    if (this.now >= op.deadlineAt) {
      this.finish(client, op, {
        status: 'indefinite',
        reason: `no answer within ${this.opts.clientTimeoutMs} ms`,
      });
      return;
    }
    // No answer: try the leader we know of, else the next node round-robin.
    const i = this.ctx.nodes.indexOf(op.target);
    op.target =
      this.leader !== undefined && this.leader !== op.target
        ? this.leader
        : (this.ctx.nodes[(i + 1) % this.ctx.nodes.length] as NodeId);
    this.sendRequest(client, op);
  }

  private onReply(from: NodeId, m: RaftMsg & { k: 'rep' }): void {
    const client = this.bySession.get(m.c) ?? this.byIdem.get(m.c);
    if (client === undefined) return; // not a session of this incarnation
    const op = this.clients.inflight(client);
    if (op === undefined || op.s !== m.s) return; // late: already answered or given up
    // The reply must be for the session the operation in flight runs in (both kinds start at 1).
    if (op.idem !== undefined ? op.idem !== m.c : isIdemSession(m.c)) return;
    if (!m.ok) {
      // A redirect: go to the leader it names at once (or keep retrying on the timer).
      if (m.leader !== undefined && m.leader !== op.target) {
        op.target = m.leader;
        this.sendRequest(client, op);
      }
      return;
    }
    if (m.reused === true) {
      this.finish(client, op, {
        status: 'fail',
        node: from,
        reason:
          'idempotency-key-reused: the key was used for another operation, this one was not applied',
      });
      return;
    }
    this.finish(client, op, { status: 'ok', output: m.output, node: from });
  }

  private finish(
    client: string,
    op: ClientOp,
    r: { status: KvResult['status']; output?: unknown; node?: NodeId; reason?: string },
  ): void {
    this.cancelTimer(`cli/${client}`);
    this.clients.end(client);
    if (op.idem !== undefined) this.byIdem.delete(op.idem);
    this.deliver(
      kvResult(op.cmd, r.status, {
        ...(r.status === 'ok' ? { output: r.output } : {}),
        ...(r.node === undefined ? {} : { node: r.node }),
        ...(r.reason === undefined ? {} : { reason: r.reason }),
      }),
    );
    this.nextOp(client);
  }
}

/** The session of idempotency key `key` (node ids have no '#', so never a client session id). */
function idemSession(key: string): string {
  return `k:${key}`;
}

function isIdemSession(c: string): boolean {
  return c.startsWith('k:');
}

export function kvRaft(opts: Partial<RaftOptions> = {}): StackSpec<RaftMsg, KvCommand, KvResult> {
  resolveRaftOptions(opts); // fail fast on a bad option
  return {
    name: opts.sessions === false ? 'kv-raft-nosession' : 'kv-raft',
    create: (ctx) => new RaftKv(ctx, opts),
    isMessage: isRaftMsg,
  };
}
