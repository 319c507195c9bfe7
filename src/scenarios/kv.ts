/**
 * The replicated-store scenarios: one copy against three when the node holding a write dies,
 * the lost reply that makes a retried increment apply twice without client sessions, split-brain
 * under a partition (naive primary-backup against Raft), the stale read of an eventually
 * consistent store, and the leader that crashes between commit and reply.
 *
 * Every run is the real store code (src/protocols/kv/*.ts) in the simulator with seed 1, a fixed
 * 10 ms delay on every link (so a round trip is exactly 20 ms) and a fault schedule written by
 * hand; the stores are judged by src/check/kv.ts (linearizable, increments-once, no-lost-write,
 * completes, converges), `kv-one-copy` adds `durable`. The schedules aim at protocol steps, not
 * at clock times of the stores' own timers: a reply is lost by a loss window on its link around
 * the one moment it is sent (a fixed number of round trips after the call); the leader's crash
 * is armed to land in its next step with an output (`afterOutputs: 0`), which is the step in
 * which the acknowledgement that commits the entry arrives. Elections and client retries draw
 * their timing from the seeded Rng, so their times are never written here: each variant's
 * `check` confirms in the trace that the schedule landed (who led, which message was lost, the
 * crash between the commit and the reply, the retry reaching the new leader before it committed)
 * and the explanations read every time and number off the trace.
 *
 * `kv-leader-crash` needs the client's retry to reach the new leader before that leader has
 * committed anything of its term (a new leader that commits first answers the waiting client
 * itself, and no retry is needed). Two choices make that window wide and certain: n3 misses the
 * entry (so only n2 can be elected: n3's log is behind), and n3's messages to n2 take 200 ms (so
 * n2 commits about 360 ms after its election); the clients retry at most 300 ms apart.
 *
 * The diagrams leave out the heartbeats that arrived (most of a store's messages; every dropped
 * one is drawn).
 *
 * SIZE. Over 600 lines: a catalogue of scenario definitions (fault schedules, expected verdicts,
 * computed explanations) one after another; the trace readers are in kv-facts.ts.
 */

import { checkKv, FINAL_SERIAL_BASE, type KvHistoryOp } from '../check/kv.ts';
import { canonicalJson, fail, pass, shortJson, type Verdict } from '../check/verdict.ts';
import { nodeIds, type NodeId } from '../core/ids.ts';
import type { StackSpec } from '../core/protocol.ts';
import type { TraceEvent } from '../core/trace.ts';
import { kvCrdt } from '../protocols/kv/crdt.ts';
import { kvPrimaryBackup } from '../protocols/kv/primary-backup.ts';
import { kvRaft, type RaftOptions } from '../protocols/kv/raft.ts';
import type { KvCommand, KvOp, KvResult } from '../protocols/kv/types.ts';
import type { TimedAction } from '../sim/nemesis.ts';
import type { LinkFaults } from '../sim/network.ts';
import { Simulator, type ScheduledCommand } from '../sim/simulator.ts';
import type { Message } from '../viz/model.ts';
import { tail } from './explain.ts';
import {
  crashedForGood,
  crashText,
  eventsOf,
  holds,
  idsText,
  listText,
  nodesOf,
  plural,
  record,
  times,
  type At,
  type CrashEvent,
  type SendEvent,
} from './facts.ts';
import {
  answeredBy,
  callText,
  clientName,
  crdtHeld,
  finalReadsText,
  finalValues,
  gossipCarrying,
  indicesOf,
  isFinal,
  kvOps,
  lastAppendOf,
  leaderBefore,
  leaderText,
  logWrites,
  opsOf,
  opText,
  partitionSpans,
  partitionText,
  pbValues,
  primaryOf,
  raftLeaders,
  raftLog,
  replySends,
  requestReceipts,
  requestSends,
  same,
  sessionOf,
  stepInput,
  stepOutputs,
  storedBy,
  storedText,
  viewChanges,
  type LogWrite,
} from './kv-facts.ts';
import type { DiagramOptions, Run, ScenarioDef, VariantResult } from './model.ts';

// ------------------------------------------------------------------------------ plumbing

const SEED = 1;
const DELAY_MS = 10;
const FIXED: Partial<LinkFaults> = { delay: { kind: 'fixed', ms: DELAY_MS } };
const THREE = nodeIds(3);
/** The client each node hosts in these scenarios (n1: A, n2: B, n3: C unless said otherwise). */
const CLIENT: Readonly<Record<NodeId, string>> = { n1: 'A', n2: 'B', n3: 'C' };

function kvCmd(
  at: number,
  node: NodeId,
  client: string,
  serial: number,
  op: KvOp,
): ScheduledCommand<KvCommand> {
  return { at, node, cmd: { type: 'kv', client, serial, op } };
}

/** Every listed (node, client) reads `key` once at `at`: the reads after the faults. */
function finalReads(
  at: number,
  key: string,
  clients: readonly (readonly [NodeId, string])[],
): ScheduledCommand<KvCommand>[] {
  return clients.map(([node, client]) =>
    kvCmd(at, node, client, FINAL_SERIAL_BASE, { f: 'get', key }),
  );
}

/** `from → to` loses everything sent from `at` until `until`: aims a loss at one send. */
function loseOn(from: NodeId, to: NodeId, at: number, until: number): TimedAction[] {
  return [
    { at, action: { kind: 'network', link: [from, to], faults: { lossProbability: 1 } } },
    { at: until, action: { kind: 'network', link: [from, to], faults: { lossProbability: 0 } } },
  ];
}

interface StoreRun<M> {
  readonly nodes: readonly NodeId[];
  readonly stack: StackSpec<M, KvCommand, KvResult>;
  readonly workload: readonly ScheduledCommand<KvCommand>[];
  readonly nemesis?: readonly TimedAction[];
  readonly links?: Readonly<Record<string, Partial<LinkFaults>>>;
  readonly untilMs: number;
  /** Verdicts judged besides checkKv's (e.g. durable). */
  readonly extra?: readonly ((
    t: readonly TraceEvent[],
    correct: (n: NodeId) => boolean,
  ) => Verdict)[];
}

/** Runs a store and judges it: checkKv over the nodes that did not crash for good, then `extra`. */
function storeRun<M>(o: StoreRun<M>): Run {
  const sim = new Simulator({
    seed: SEED,
    nodes: o.nodes,
    stack: o.stack,
    network: FIXED,
    ...(o.links === undefined ? {} : { links: o.links }),
    nemesis: o.nemesis ?? [],
    workload: o.workload,
  }).runUntil(o.untilMs);
  const trace = sim.trace;
  const gone = crashedForGood(trace);
  const correct = (n: NodeId): boolean => !gone.includes(n);
  return {
    seed: SEED,
    trace,
    verdicts: [...checkKv(trace, correct), ...(o.extra ?? []).map((f) => f(trace, correct))],
  };
}

function problemsIf(cond: boolean, problem: string): string[] {
  return cond ? [problem] : [];
}

function crashOf(trace: readonly TraceEvent[], node: NodeId): At<CrashEvent> | undefined {
  return eventsOf(trace, 'crash').find((c) => c.e.node === node);
}

/** The first operation of client `name` at `node` that is not a final read. */
function firstOp(
  trace: readonly TraceEvent[],
  node: NodeId,
  name: string,
): KvHistoryOp | undefined {
  return opsOf(kvOps(trace), node, name).find((o) => !isFinal(o));
}

/** The operations of client `name` at `node` that are not final reads. */
function workOps(trace: readonly TraceEvent[], node: NodeId, name: string): KvHistoryOp[] {
  return opsOf(kvOps(trace), node, name).filter((o) => !isFinal(o));
}

/** The session serial a Raft client's request carried (its first request on the network). */
function raftSerial(trace: readonly TraceEvent[], session: string, op: KvOp): number | undefined {
  for (const s of eventsOf(trace, 'send')) {
    const m = record(s.e.msg);
    if (m?.k === 'req' && m.c === session && same(m.op, op) && typeof m.s === 'number') return m.s;
  }
  for (const w of logWrites(trace)) {
    if (w.entry.session === session && same(w.entry.op, op)) return w.entry.serial;
  }
  return undefined;
}

/** Where a Raft client's operation went: its session, serial and the first log index it took. */
interface RaftOp {
  readonly session: string;
  readonly serial: number;
  readonly index: number | undefined;
}

function raftOpOf(trace: readonly TraceEvent[], o: KvHistoryOp): RaftOp | undefined {
  const session = sessionOf(trace, o.node, clientName(o));
  if (session === undefined) return undefined;
  const serial = raftSerial(trace, session, o.input);
  if (serial === undefined) return undefined;
  const first = logWrites(trace).find(
    (w) => w.entry.session === session && w.entry.serial === serial,
  );
  return { session, serial, index: first?.entry.index };
}

/** `the reply` in words: `#62 (n1 → n2, ok, output 1)`. */
function replyText(s: At<SendEvent>): string {
  const m = record(s.e.msg);
  const out = m !== undefined && 'output' in m ? `, output ${shortJson(m.output, 24)}` : '';
  return `#${s.e.id} (${s.e.from} → ${s.e.to}, ok${out})`;
}

/** The one-way delay of the first message `from → to` that arrived (undefined: none did). */
function observedDelayMs(
  trace: readonly TraceEvent[],
  from: NodeId,
  to: NodeId,
): number | undefined {
  const sent = new Map<number, number>();
  for (const e of trace) {
    if (e.type === 'send' && e.from === from && e.to === to) sent.set(e.id, e.t);
    if (e.type === 'receive' && e.from === from && e.to === to) {
      const t = sent.get(e.id);
      if (t !== undefined) return e.t - t;
    }
  }
  return undefined;
}

/** Verdicts that held with nothing to check, e.g. `completes and converges`. */
function vacuous(run: Run): string[] {
  return run.verdicts.filter((v) => v.holds && v.checked === 0).map((v) => v.property);
}

/**
 * The routine traffic a store's diagram leaves out (only copies that arrived; render.ts): Raft's
 * empty appends (heartbeats) and the answers to them, primary-backup's heartbeats.
 */
function heartbeats(trace: readonly TraceEvent[]): (m: Message) => boolean {
  const empty = (msg: unknown): boolean => {
    const r = record(msg);
    return r?.k === 'ae' && Array.isArray(r.entries) && r.entries.length === 0;
  };
  return (m) => {
    const k = record(m.msg)?.k;
    if (k === 'hb' || empty(m.msg)) return true;
    if (k !== 'ar') return false;
    const input = stepInput(trace, m.sendIndex);
    return input?.e.type === 'receive' && empty(input.e.msg);
  };
}

const HEARTBEATS: DiagramOptions = {
  routine: { what: 'heartbeats', test: heartbeats },
};

// ------------------------------------------------------------------------------ fixes

const SESSION_FIX =
  'give every client a session: a request carries (session, serial), the state machine remembers each session’s last serial and its reply, and a retried serial gets that saved reply instead of being applied again (variant kv-raft)';
const SESSION_FIX_AGAIN =
  'the same client sessions: with them the retry is recognised and not counted twice (variant kv-raft)';
const QUORUM_FIX =
  'fail over only with a majority: a new primary needs the votes of a majority, and an old one may answer only while a majority still acknowledges it (Raft’s elections and check-quorum, variant kv-raft), so the minority side of a partition waits instead of answering';
const QUORUM_FIX_AGAIN =
  'the same majority rule: only the side with a majority may acknowledge writes, so no acknowledged write is overwritten at the heal (variant kv-raft)';
const STALE_FIX =
  'read and write through a majority (kv-abd) or the leader (kv-raft’s ReadIndex reads), which gives up answering on the minority side of a partition (CAP: consistency or availability); or settle for what an eventually consistent store keeps, read-your-writes and monotonic reads for a client that stays on its replica';
const DURABLE_FIX =
  'replicate before acknowledging: keep copies on several nodes and acknowledge a write only once a majority of them has it on disk (variant three-copies), so any majority that survives a crash still holds it';

// ------------------------------------------------------------------------------ durable

function writtenValue(o: KvHistoryOp): string {
  const i = o.input;
  return canonicalJson(i.f === 'put' ? i.value : i.f === 'cas' ? i.to : null);
}

function isAckedWrite(o: KvHistoryOp): boolean {
  const f = o.input.f;
  return (
    o.status === 'ok' &&
    !isFinal(o) &&
    (f === 'put' || f === 'delete' || (f === 'cas' && o.output === true))
  );
}

function eventsAt(trace: readonly TraceEvent[], indices: readonly (number | undefined)[]) {
  return indices
    .filter((i): i is number => i !== undefined && trace[i] !== undefined)
    .map((index) => ({ index, event: trace[index] as TraceEvent }));
}

/**
 * durable (safety): every acknowledged write of a register survives the faults: after them, a
 * correct node (one that did not crash for good) reads its key and gets its value or the value
 * of a write acknowledged later. An acknowledged write whose every copy died with crashed-for-good
 * nodes is lost for ever, even though nobody is left to read a wrong value.
 */
export function durable(trace: readonly TraceEvent[], correct: (n: NodeId) => boolean): Verdict {
  const ops = kvOps(trace);
  const writes = ops.filter(isAckedWrite);
  let checked = 0;
  for (const w of writes) {
    checked++;
    const key = w.input.key;
    const later = writes.filter(
      (x) => x !== w && x.input.key === key && (w.ret ?? Number.POSITIVE_INFINITY) < x.call,
    );
    const allowed = new Set([w, ...later].map(writtenValue));
    const reads = ops.filter(
      (o) =>
        isFinal(o) &&
        o.status === 'ok' &&
        o.input.f === 'get' &&
        o.input.key === key &&
        correct(o.node),
    );
    if (reads.some((r) => allowed.has(canonicalJson(r.output)))) continue;
    const gone = crashedForGood(trace);
    const crashes = eventsOf(trace, 'crash').filter((c) => gone.includes(c.e.node));
    const what = `the acknowledged ${opText(w.input)} of ${clientName(w)} (at ${w.node})`;
    return fail(
      'durable',
      'safety',
      checked,
      reads.length === 0
        ? `no correct node is left to read ${key}: ${what} is lost${gone.length === 0 ? '' : ` with ${listText(gone)}, crashed for good`}`
        : `after the faults no correct node reads ${what}: they read ${listText(reads.map((r) => `${shortJson(r.output, 24)} at ${r.node}`))}`,
      [
        ...eventsAt(trace, [w.callIndex, w.retIndex]),
        ...crashes.map((c) => ({ index: c.index, event: c.e })),
      ],
    );
  }
  return pass('durable', 'safety', checked);
}

// ------------------------------------------------------------------------------ kv-one-copy

const ONE_PUT_AT = 2500;
const ONE_CRASH_AT = 2600;
const ONE_FINAL_AT = 6000;
const X_A: KvOp = { f: 'put', key: 'x', value: 'a' };

function oneCopyRun(nodes: readonly NodeId[]): Run {
  return storeRun({
    nodes,
    stack: kvRaft(),
    workload: [
      kvCmd(ONE_PUT_AT, 'n1', 'A', 1, X_A),
      ...finalReads(
        ONE_FINAL_AT,
        'x',
        nodes.map((n) => [n, CLIENT[n] ?? n] as const),
      ),
    ],
    nemesis: [{ at: ONE_CRASH_AT, action: { kind: 'crash', node: 'n1' } }],
    untilMs: ONE_FINAL_AT + 1000,
    extra: [durable],
  });
}

/** The copies of A's put on disk when it was acknowledged, and those written after. */
function putCopies(
  trace: readonly TraceEvent[],
  put: KvHistoryOp,
): { before: LogWrite[]; after: LogWrite[] } {
  const r = raftOpOf(trace, put);
  if (r?.index === undefined) return { before: [], after: [] };
  const all = storedBy(trace, r.session, r.serial, r.index);
  const ack = put.retIndex ?? Number.POSITIVE_INFINITY;
  return { before: all.filter((w) => w.at < ack), after: all.filter((w) => w.at >= ack) };
}

function oneCopyCheck(copies: 'one' | 'majority') {
  return ({ trace }: Run): string[] => {
    const put = firstOp(trace, 'n1', 'A');
    const c = crashOf(trace, 'n1');
    const nodes = nodesOf(trace);
    const { before } = put === undefined ? { before: [] } : putCopies(trace, put);
    return [
      ...problemsIf(put?.status !== 'ok', 'A’s put was not acknowledged'),
      ...problemsIf(c === undefined, 'n1 never crashed'),
      ...problemsIf(
        put?.retIndex !== undefined && c !== undefined && c.index < put.retIndex,
        'n1 crashed before acknowledging the put',
      ),
      ...problemsIf(!crashedForGood(trace).includes('n1'), 'n1 came back'),
      ...problemsIf(
        copies === 'one' && !(before.length === 1 && before[0]?.node === 'n1'),
        'the put was not on n1’s disk alone when acknowledged',
      ),
      ...problemsIf(
        copies === 'majority' && before.length < Math.floor(nodes.length / 2) + 1,
        'the put was acknowledged before a majority had it',
      ),
      ...problemsIf(
        copies === 'majority' && leaderBefore(trace, put?.callIndex ?? 0)?.node !== 'n1',
        'n1 was not the leader that acknowledged the put',
      ),
    ];
  };
}

function oneCopyStory(run: Run): string {
  const t = run.trace;
  const nodes = nodesOf(t);
  const put = firstOp(t, 'n1', 'A');
  const c = crashOf(t, 'n1');
  const lead = put === undefined ? undefined : leaderBefore(t, put.callIndex);
  const majority = Math.floor(nodes.length / 2) + 1;
  const { before, after } = put === undefined ? { before: [], after: [] } : putCopies(t, put);
  const index = before[0]?.entry.index ?? after[0]?.entry.index;
  const next = raftLeaders(t).filter((l) => lead !== undefined && l.term > lead.term)[0];
  const left = nodes.filter((n) => !crashedForGood(t).includes(n));
  const empty = vacuous(run).filter((p) => p !== 'linearizable');
  return (
    `The store is Raft on ${nodes.length === 1 ? 'one replica, n1' : `${nodes.length} replicas, ${listText(nodes)}`}; ${leaderText(lead)}. ` +
    (put === undefined ? 'A never wrote. ' : `${callText(put)}. `) +
    (before.length === 0
      ? ''
      : `When it was acknowledged, the entry (log index ${index ?? '?'}) was on disk at ${storedText(before)}: ${before.length === 1 ? 'one copy' : `${before.length} copies`} (Raft commits once a majority, ${majority} of ${nodes.length}, has it)${after.length === 0 ? '' : `; ${storedText(after)} stored it too right after`}. `) +
    (c === undefined
      ? 'n1 never crashed. '
      : `${crashText(c.e)} and never came back: crash-stop, so whatever was on its disk is gone with it. `) +
    (next !== undefined
      ? `${next.node} took over as leader of term ${next.term} at t=${next.t}. `
      : left.length === 0
        ? 'No replica was left to take over. '
        : '') +
    `After the faults ${finalReadsText(t, 'x')}. ` +
    (left.length === 0 && empty.length > 0
      ? `${listText(empty)} held with nothing to check (0 checked): they judge what correct nodes read and complete, and no correct node was left. `
      : '') +
    tail(run, {
      fixes: { durable: DURABLE_FIX },
      held: 'the write was acknowledged only once a majority had it on disk, and a majority survived the crash',
    })
  );
}

const kvOneCopy: ScenarioDef = {
  name: 'kv-one-copy',
  description:
    'One copy loses an acknowledged write when its node crashes for good; three copies (Raft, N=3) keep it.',
  faults: 'n1, which acknowledged A’s put, crashes for good 100 ms later',
  diagram: HEARTBEATS,
  variants: [
    {
      key: 'one-copy',
      label: 'kv-raft with one replica (n1)',
      expect: {
        linearizable: true,
        'increments-once': true,
        'no-lost-write': true,
        completes: true,
        converges: true,
        durable: false,
      },
      run: () => oneCopyRun(['n1']),
      check: oneCopyCheck('one'),
      explain: oneCopyStory,
    },
    {
      key: 'three-copies',
      label: 'kv-raft with three replicas (n1, n2, n3)',
      expect: {
        linearizable: true,
        'increments-once': true,
        'no-lost-write': true,
        completes: true,
        converges: true,
        durable: true,
      },
      run: () => oneCopyRun(THREE),
      check: oneCopyCheck('majority'),
      explain: oneCopyStory,
    },
  ],
  conclude(results: readonly VariantResult[]) {
    return results
      .map((r) => {
        const put = firstOp(r.trace, 'n1', 'A');
        const copies = put === undefined ? 0 : putCopies(r.trace, put).before.length;
        return `${r.label}: the acknowledged write had ${plural(copies, 'copy', 'copies')} when n1 crashed; durable ${holds(r.verdicts, 'durable') ? 'held' : 'VIOLATED'} (${r.form}).`;
      })
      .join(' ');
  },
};

// ------------------------------------------------------------------------------ kv-lost-reply

const LR_AT = 3000;
const INCR_N: KvOp = { f: 'incr', key: 'n', delta: 1 };

function lostReplyRun(sessions: boolean): Run {
  return storeRun({
    nodes: THREE,
    stack: kvRaft({ sessions }),
    workload: [
      kvCmd(LR_AT, 'n2', 'A', 1, INCR_N),
      kvCmd(LR_AT + 40, 'n3', 'B', 1, INCR_N),
      ...finalReads(LR_AT + 3000, 'n', [
        ['n2', 'A'],
        ['n3', 'B'],
      ]),
    ],
    // The leader sends A's reply one round trip after A's request reaches it (t=3030).
    nemesis: loseOn('n1', 'n2', LR_AT + 25, LR_AT + 35),
    untilMs: LR_AT + 4000,
  });
}

function lostReplyCheck({ trace }: Run): string[] {
  const a = firstOp(trace, 'n2', 'A');
  const b = firstOp(trace, 'n3', 'B');
  const r = a === undefined ? undefined : raftOpOf(trace, a);
  const drops = eventsOf(trace, 'drop');
  const dropped = drops[0];
  const reqs = r === undefined ? [] : requestSends(trace, r.session, r.serial);
  const sent = r === undefined ? [] : replySends(trace, r.session, r.serial);
  return [
    ...problemsIf(r === undefined, 'A’s request is not in the trace'),
    ...problemsIf(
      drops.length !== 1,
      `expected exactly one lost message, the trace has ${drops.length}`,
    ),
    ...problemsIf(
      dropped !== undefined && (dropped.e.reason !== 'loss' || dropped.e.id !== sent[0]?.e.id),
      'the lost message is not the first reply to A',
    ),
    ...problemsIf(reqs.length < 2, 'A never retried'),
    ...problemsIf(
      b?.ret === undefined || reqs[1] === undefined || b.ret > reqs[1].e.t,
      'B’s increment was not answered before A’s retry',
    ),
  ];
}

/** What the leader did with each retry of (session, serial) it received. */
function retryFate(trace: readonly TraceEvent[], leader: NodeId, r: RaftOp): string[] {
  const receipts = requestReceipts(trace, leader, r.session, r.serial).slice(1);
  return receipts.map((x) => {
    const outs = stepOutputs(trace, x.index);
    const appended = outs
      .flatMap((o) => (o.e.type === 'persist' ? o.e.writes : []))
      .map((w) => /^log\/(\d+)$/.exec(w.key)?.[1])
      .filter((i): i is string => i !== undefined);
    const reply = outs.find(
      (o) => o.e.type === 'send' && record(o.e.msg)?.k === 'rep' && record(o.e.msg)?.ok === true,
    );
    const head = `${leader} received the retry #${x.e.id} at t=${x.e.t}`;
    if (appended.length > 0)
      return `${head} and, having no session table, appended it as a new entry at index ${appended.join(', ')}: applied again once committed`;
    if (reply !== undefined && reply.e.type === 'send')
      return `${head}, found serial ${r.serial} of session ${r.session} in its session table and answered with the saved reply ${replyText({ index: reply.index, e: reply.e })}, appending nothing`;
    return `${head} and found it already in its log, not yet applied: it appended nothing`;
  });
}

function lostReplyStory(run: Run): string {
  const t = run.trace;
  const a = firstOp(t, 'n2', 'A');
  const b = firstOp(t, 'n3', 'B');
  if (a === undefined) return `A never called. ${tail(run)}`;
  const lead = leaderBefore(t, a.callIndex);
  const r = raftOpOf(t, a);
  const reqs = r === undefined ? [] : requestSends(t, r.session, r.serial);
  const replies = r === undefined ? [] : replySends(t, r.session, r.serial);
  const first = replies[0];
  const lost =
    first === undefined ? undefined : eventsOf(t, 'drop').find((d) => d.e.id === first.e.id);
  const stored =
    r?.index === undefined || first === undefined
      ? []
      : storedBy(t, r.session, r.serial, r.index).filter((w) => w.at < first.index);
  const log =
    lead === undefined || r === undefined
      ? []
      : indicesOf(raftLog(t, lead.node), r.session, r.serial);
  const incrs = kvOps(t).filter((o) => o.input.f === 'incr' && o.status === 'ok');
  return (
    `${leaderText(lead)}. ` +
    `A (at n2) called ${opText(a.input)} at t=${a.call}` +
    (reqs[0] === undefined
      ? '. '
      : `, sent to ${reqs[0].e.to} as #${reqs[0].e.id} (session ${r?.session ?? '?'}, serial ${r?.serial ?? '?'}). `) +
    (r?.index === undefined || first === undefined
      ? ''
      : `${first.e.from} appended it at log index ${r.index}, committed it once a majority had it on disk (stored at ${storedText(stored)}), applied it and sent its reply ${replyText(first)} at t=${first.e.t}. `) +
    (lost === undefined
      ? 'No reply was lost. '
      : `The network lost #${lost.e.id} at t=${lost.e.t}: A never learned that its increment had happened. `) +
    (b === undefined ? '' : `${callText(b)}. `) +
    (reqs.length > 1
      ? `With no reply, A's proxy retried the same request: ${listText(reqs.slice(1).map((s) => `#${s.e.id} to ${s.e.to} at t=${s.e.t}`))}. `
      : 'A never retried. ') +
    (lead === undefined || r === undefined
      ? ''
      : retryFate(t, lead.node, r)
          .map((s) => `${s}. `)
          .join('')) +
    (a.status === 'ok' && a.ret !== undefined
      ? `A got ${shortJson(a.output)} at t=${a.ret}. `
      : `A's increment ended ${a.status}. `) +
    (log.length === 0
      ? ''
      : `${lead?.node ?? '?'}'s log holds A's one increment ${times(log.length)} (index ${listText(log.map(String))}). `) +
    `After the faults ${finalReadsText(t, 'n')}, with ${plural(incrs.length, 'increment')} acknowledged. ` +
    tail(run, {
      fixes: { linearizable: SESSION_FIX, 'increments-once': SESSION_FIX_AGAIN },
      held: 'the retry carried the same (session, serial), so the leader answered it from its session table instead of applying it again',
    })
  );
}

/** `kv-raft: increments-once held; the counter ended at 2 after 2 acknowledged increments`. */
function counterConclusion(results: readonly VariantResult[]): string {
  return results
    .map((r) => {
      const finals = finalValues(r.trace, 'n');
      const acked = kvOps(r.trace).filter((o) => o.input.f === 'incr' && o.status === 'ok').length;
      return `${r.label}: increments-once ${holds(r.verdicts, 'increments-once') ? 'held' : 'VIOLATED'}, the counter read ${listText([...new Set(finals.map((v) => shortJson(v)))])} after ${plural(acked, 'acknowledged increment')} (${r.form}).`;
    })
    .join(' ');
}

const COUNTER_BROKEN = {
  linearizable: false,
  'increments-once': false,
  'no-lost-write': true,
  completes: true,
  converges: true,
} as const;
const ALL_HOLD = {
  linearizable: true,
  'increments-once': true,
  'no-lost-write': true,
  completes: true,
  converges: true,
} as const;

const kvLostReply: ScenarioDef = {
  name: 'kv-lost-reply',
  description:
    'Clients A and B increment a counter; A’s reply is lost and A retries: without sessions the increment applies twice, with sessions once.',
  faults: 'the leader’s reply to A’s increment is lost (link n1 → n2, once)',
  diagram: HEARTBEATS,
  variants: [
    {
      key: 'nosession',
      label: 'kv-raft-nosession (no client sessions)',
      expect: COUNTER_BROKEN,
      run: () => lostReplyRun(false),
      check: lostReplyCheck,
      explain: lostReplyStory,
    },
    {
      key: 'sessions',
      label: 'kv-raft (client sessions)',
      expect: ALL_HOLD,
      run: () => lostReplyRun(true),
      check: lostReplyCheck,
      explain: lostReplyStory,
    },
  ],
  conclude: counterConclusion,
};

// ------------------------------------------------------------------------------ kv-split-brain

const SB_PARTITION_AT = 2000;
const SB_HEAL_AT = 4500;
const X_B: KvOp = { f: 'put', key: 'x', value: 'b' };
const GET_X: KvOp = { f: 'get', key: 'x' };

function splitBrainRun<M>(stack: StackSpec<M, KvCommand, KvResult>): Run {
  return storeRun({
    nodes: THREE,
    stack,
    workload: [
      kvCmd(SB_PARTITION_AT + 1500, 'n2', 'B', 1, X_B),
      kvCmd(SB_PARTITION_AT + 1600, 'n1', 'A', 1, X_A),
      kvCmd(SB_PARTITION_AT + 1700, 'n2', 'B', 2, GET_X),
      ...finalReads(SB_HEAL_AT + 2500, 'x', [
        ['n1', 'A'],
        ['n2', 'B'],
        ['n3', 'C'],
      ]),
    ],
    nemesis: [
      { at: SB_PARTITION_AT, action: { kind: 'partition', groups: [['n1'], ['n2', 'n3']] } },
      { at: SB_HEAL_AT, action: { kind: 'heal' } },
    ],
    untilMs: SB_HEAL_AT + 4000,
  });
}

function splitBrainCommon(trace: readonly TraceEvent[]): string[] {
  const spans = partitionSpans(trace);
  const a = firstOp(trace, 'n1', 'A');
  const span = spans[0];
  return [
    ...problemsIf(spans.length !== 1, 'not exactly one partition'),
    ...problemsIf(
      span !== undefined &&
        !(a !== undefined && span.t < a.call && (span.until ?? Infinity) > a.call),
      'A’s put did not fall inside the partition',
    ),
    ...problemsIf(a?.status !== 'ok', 'A’s put was not acknowledged'),
  ];
}

function pbSplitCheck({ trace }: Run): string[] {
  const nodes = nodesOf(trace);
  const a = firstOp(trace, 'n1', 'A');
  const span = partitionSpans(trace)[0];
  const promoted = viewChanges(trace).filter(
    (v) => primaryOf(nodes, v.view) === v.node && span !== undefined && v.t > span.t,
  );
  return [
    ...splitBrainCommon(trace),
    ...problemsIf(
      !promoted.some((p) => p.node === 'n2' && a !== undefined && p.t < a.call),
      'n2 did not promote itself before A’s put',
    ),
    ...problemsIf(
      a !== undefined && answeredBy(trace, a) !== 'n1',
      'A’s put was not answered by n1',
    ),
  ];
}

function raftSplitCheck({ trace }: Run): string[] {
  const a = firstOp(trace, 'n1', 'A');
  const span = partitionSpans(trace)[0];
  const l1 = span === undefined ? undefined : leaderBefore(trace, span.index);
  return [
    ...splitBrainCommon(trace),
    ...problemsIf(l1?.node !== 'n1', 'n1 did not lead when the partition began'),
    ...problemsIf(
      a?.ret === undefined || span?.until === undefined || a.ret < span.until,
      'A’s put was answered before the heal',
    ),
  ];
}

/** `n1's copies of it to the backups (#…) were blocked` / `n1 sent it to no backup`. */
function pbForwardText(trace: readonly TraceEvent[], a: KvHistoryOp): string {
  const sends = eventsOf(trace, 'send').filter(
    (s) =>
      s.e.from === a.node &&
      record(s.e.msg)?.k === 'op' &&
      same(record(s.e.msg)?.op, a.input) &&
      s.index > a.callIndex &&
      s.index < (a.retIndex ?? trace.length),
  );
  return sends.length === 0
    ? `${a.node} forwarded it to no backup (it had stopped counting on backups it no longer heard from) and answered it alone`
    : `${a.node}'s copies of it to the backups (${idsText(sends.map((s) => s.e.id))}) were blocked, and it answered without them`;
}

/** `n2's snapshot #283`: what the step that wrote trace position `at` received, if a snapshot. */
function snapText(trace: readonly TraceEvent[], at: number): string {
  const input = stepInput(trace, at);
  return input?.e.type === 'receive' && record(input.e.msg)?.k === 'snap'
    ? `${input.e.from}'s snapshot #${input.e.id}`
    : 'a write';
}

function pbSplitStory(run: Run): string {
  const t = run.trace;
  const nodes = nodesOf(t);
  const span = partitionSpans(t)[0];
  const changes = viewChanges(t);
  const promotions = changes.filter((v) => primaryOf(nodes, v.view) === v.node);
  const p = promotions[0];
  const followers =
    p === undefined
      ? []
      : changes.filter(
          (v) =>
            v.view === p.view &&
            v.node !== p.node &&
            (span?.until === undefined || v.t < span.until),
        );
  const a = firstOp(t, 'n1', 'A');
  const [bPut, bGet] = workOps(t, 'n2', 'B');
  const healed = span?.until;
  const adopted =
    healed === undefined ? undefined : changes.find((v) => v.node === 'n1' && v.t >= healed);
  const aValue = a?.input.f === 'put' ? a.input.value : undefined;
  const lostAt = pbValues(t, 'n1', 'x').find(
    (w) => healed !== undefined && w.t >= healed && !same(w.value, aValue),
  );
  const stale =
    a?.ret !== undefined &&
    bGet?.status === 'ok' &&
    bGet.call > a.ret &&
    !same(bGet.output, aValue);
  return (
    `Primary-backup: the primary of view v is node v mod ${nodes.length} (${listText(nodes.slice(0, 3).map((n, v) => `view ${v}: ${n}`))}); everyone starts in view 0, so ${primaryOf(nodes, 0) ?? '?'} is the primary. ` +
    `${partitionText(t)}. ` +
    (p === undefined
      ? 'No backup promoted itself. '
      : `${p.node}, hearing nothing from ${primaryOf(nodes, 0) ?? '?'}, promoted itself to primary of view ${p.view} at t=${p.t}${span === undefined ? '' : `, ${p.t - span.t} ms into the partition`}, without any vote${followers.length === 0 ? '' : ` (${listText(followers.map((f) => `${f.node} followed at t=${f.t}`))})`}: from then on two nodes acted as primary, ${primaryOf(nodes, 0) ?? '?'} in view 0 and ${p.node} in view ${p.view}. `) +
    (bPut === undefined ? '' : `${callText(bPut)}, answered by ${answeredBy(t, bPut) ?? '?'}. `) +
    (a === undefined ? '' : `${callText(a)}: ${pbForwardText(t, a)}. `) +
    (bGet === undefined
      ? ''
      : `${callText(bGet)}${stale ? `, though A's ${opText(a.input)} had been acknowledged at t=${a.ret ?? '?'}: a stale read` : ''}. `) +
    (healed === undefined
      ? ''
      : `When the partition healed at t=${healed}, ${adopted === undefined ? 'n1 kept its view' : `n1 heard of view ${adopted.view} and adopted it (t=${adopted.t})`}` +
        (lostAt === undefined
          ? '. '
          : ` and ${snapText(t, lostAt.at)} replaced n1's store at t=${lostAt.t}: x at n1 went from ${shortJson(aValue)} to ${shortJson(lostAt.value)}, and A's acknowledged write was gone. `)) +
    `After the faults ${finalReadsText(t, 'x')}. ` +
    tail(run, {
      fixes: { linearizable: QUORUM_FIX, 'no-lost-write': QUORUM_FIX_AGAIN },
      held: 'no failover happened while both sides answered',
    })
  );
}

function raftSplitStory(run: Run): string {
  const t = run.trace;
  const span = partitionSpans(t)[0];
  const l1 = span === undefined ? raftLeaders(t)[0] : leaderBefore(t, span.index);
  const l2 = raftLeaders(t).find((l) => l1 !== undefined && l.term > l1.term);
  const last = l1 === undefined ? undefined : lastAppendOf(t, l1.node, l1.term);
  const a = firstOp(t, 'n1', 'A');
  const [bPut, bGet] = workOps(t, 'n2', 'B');
  const r = a === undefined ? undefined : raftOpOf(t, a);
  const tries = r === undefined ? [] : requestSends(t, r.session, r.serial);
  const drops = new Set(eventsOf(t, 'drop').map((d) => d.e.id));
  return (
    `Raft: ${leaderText(l1)}. ${partitionText(t)}. ` +
    (l1 === undefined || last === undefined
      ? ''
      : `${l1.node}, on the minority side, could no longer reach a majority: its last append as leader of term ${l1.term} left at t=${last.e.t}. `) +
    (l2 === undefined
      ? 'No other node was elected. '
      : `${l2.node} became leader of term ${l2.term} at t=${l2.t}${span !== undefined && span.groups.some((g) => g.includes(l2.node) && g.length > nodesOf(t).length / 2) ? ', elected by the majority side' : ''}. `) +
    (bPut === undefined ? '' : `${callText(bPut)}, answered by ${answeredBy(t, bPut) ?? '?'}. `) +
    (bGet === undefined ? '' : `${callText(bGet)}. `) +
    (a === undefined
      ? ''
      : `A (at n1) called ${opText(a.input)} at t=${a.call} on the minority side, where nothing can commit: ` +
        (tries.length === 0
          ? 'its request never left n1'
          : `A's proxy sent it ${times(tries.length)} (${listText(tries.slice(0, 6).map((s) => `#${s.e.id} to ${s.e.to} at t=${s.e.t}${drops.has(s.e.id) ? ', blocked' : ''}`))}${tries.length > 6 ? ', …' : ''})`) +
        (a.ret === undefined
          ? `, and it ended ${a.status}. `
          : `, and it was answered ok by ${answeredBy(t, a) ?? '?'} at t=${a.ret}${span?.until !== undefined && a.ret > span.until ? `, ${a.ret - span.until} ms after the heal: the minority side waited instead of answering` : ''}${r?.index === undefined ? '' : ` (log index ${r.index})`}. `)) +
    `After the faults ${finalReadsText(t, 'x')}. ` +
    tail(run, {
      fixes: { linearizable: QUORUM_FIX, 'no-lost-write': QUORUM_FIX_AGAIN },
      held: 'a leader is elected, and an entry committed, only by a majority, and two majorities share a node: the minority side waited instead of answering',
    })
  );
}

const kvSplitBrain: ScenarioDef = {
  name: 'kv-split-brain',
  description:
    'A partition isolates the primary: naive primary-backup fails over without a quorum, both sides acknowledge writes and the heal loses one; Raft stays safe (the minority side waits).',
  faults: `a partition {n1} | {n2, n3} from t=${SB_PARTITION_AT} to t=${SB_HEAL_AT} (n1 is the primary / the leader)`,
  diagram: HEARTBEATS,
  variants: [
    {
      key: 'primary-backup',
      label: 'kv-primary-backup (failover without a quorum)',
      expect: {
        linearizable: false,
        'increments-once': true,
        'no-lost-write': false,
        completes: true,
        converges: true,
      },
      run: () => splitBrainRun(kvPrimaryBackup()),
      check: pbSplitCheck,
      explain: pbSplitStory,
    },
    {
      key: 'raft',
      label: 'kv-raft (majority quorums)',
      expect: ALL_HOLD,
      run: () => splitBrainRun(kvRaft()),
      check: raftSplitCheck,
      explain: raftSplitStory,
    },
  ],
  conclude(results: readonly VariantResult[]) {
    return results
      .map((r) => {
        const bad = r.verdicts.filter((v) => !v.holds).map((v) => v.property);
        return `${r.label}: ${bad.length === 0 ? 'every property held' : `${listText(bad)} VIOLATED`} (${r.form}).`;
      })
      .join(' ');
  },
};

// ------------------------------------------------------------------------------ kv-stale-read

const SR_PARTITION_AT = 500;
const SR_HEAL_AT = 2000;
const SR_PUT_AT = 1000;

function staleReadRun(partition: boolean): Run {
  return storeRun({
    nodes: THREE,
    stack: kvCrdt(),
    workload: [
      kvCmd(SR_PUT_AT, 'n1', 'A', 1, X_A),
      // Behind the partition a little later; without one, before any message can arrive.
      kvCmd(partition ? SR_PUT_AT + 100 : SR_PUT_AT + 3, 'n2', 'B', 1, GET_X),
      ...finalReads(SR_HEAL_AT + 2000, 'x', [
        ['n1', 'A'],
        ['n2', 'B'],
        ['n3', 'C'],
      ]),
    ],
    nemesis: partition
      ? [
          { at: SR_PARTITION_AT, action: { kind: 'partition', groups: [['n1'], ['n2', 'n3']] } },
          { at: SR_HEAL_AT, action: { kind: 'heal' } },
        ]
      : [],
    untilMs: SR_HEAL_AT + 3000,
  });
}

function staleReadCheck({ trace }: Run): string[] {
  const a = firstOp(trace, 'n1', 'A');
  const b = firstOp(trace, 'n2', 'B');
  const held = crdtHeld(trace, 'n2', 'x', a?.input.f === 'put' ? a.input.value : undefined);
  return [
    ...problemsIf(a?.status !== 'ok', 'A’s put was not acknowledged'),
    ...problemsIf(
      b?.status !== 'ok' || a?.ret === undefined || b.call < a.ret,
      'B’s read was not answered after A’s put',
    ),
    ...problemsIf(
      b?.retIndex !== undefined && held !== undefined && held.at < b.retIndex,
      'n2 already held A’s write when B read',
    ),
  ];
}

function staleReadStory(run: Run): string {
  const t = run.trace;
  const a = firstOp(t, 'n1', 'A');
  const b = firstOp(t, 'n2', 'B');
  const aValue = a?.input.f === 'put' ? a.input.value : undefined;
  const gossip = gossipCarrying(t, 'n1', 'n2', 'x', aValue);
  const fate = new Map<number, string>();
  for (const d of eventsOf(t, 'drop'))
    fate.set(
      d.e.id,
      d.e.reason === 'partition' ? 'blocked by the partition' : `dropped (${d.e.reason})`,
    );
  for (const r of eventsOf(t, 'receive')) fate.set(r.e.id, `arrived at t=${r.e.t}`);
  const upTo = gossip.findIndex((g) => fate.get(g.e.id)?.startsWith('arrived') === true);
  const shown = gossip.slice(0, upTo < 0 ? gossip.length : upTo + 1);
  const say = (g: At<SendEvent>): string =>
    `#${g.e.id} at t=${g.e.t} (${fate.get(g.e.id) ?? 'in flight'})`;
  // Many rounds with one fate (blocked) in a row: the first, a count and the last of them.
  const early = shown.slice(0, -1);
  const fates = new Set(early.map((g) => fate.get(g.e.id)));
  const firstOf = early[0];
  const lastOf = early[early.length - 1];
  const gossipText =
    early.length <= 3 || fates.size !== 1 || firstOf === undefined || lastOf === undefined
      ? listText(shown.map(say))
      : `#${firstOf.e.id} at t=${firstOf.e.t} and ${early.length - 1} more up to #${lastOf.e.id} at t=${lastOf.e.t}, all ${String([...fates][0])}` +
        (shown.length > early.length
          ? `, then ${say(shown[shown.length - 1] as At<SendEvent>)}`
          : '');
  const held = crdtHeld(t, 'n2', 'x', aValue);
  const onDisk = crdtHeld(t, 'n1', 'x', aValue);
  const converged = new Set(finalValues(t, 'x').map((v) => canonicalJson(v))).size === 1;
  return (
    `${partitionText(t)}. ` +
    (a === undefined
      ? ''
      : `${callText(a)}: an eventually consistent store answers from the local replica at once${onDisk !== undefined && a.retIndex !== undefined && onDisk.at < a.retIndex ? ' (n1 had the write on its disk before it answered)' : ''}. `) +
    (shown.length === 0
      ? 'n1 never passed it on. '
      : `n1's anti-entropy messages carrying it to n2: ${gossipText}. `) +
    (b === undefined
      ? ''
      : `${callText(b)}${b.status === 'ok' && !same(b.output, aValue) ? `: n2 answered from its own replica, which ${held === undefined ? `never held x = ${shortJson(aValue)}` : `merged x = ${shortJson(aValue)} only at t=${held.t}`}, so B saw the value from before A's acknowledged put: a stale read` : ''}. `) +
    `After ${eventsOf(t, 'partition').length > 0 ? 'the heal' : 'that'}, ${finalReadsText(t, 'x')}${converged ? ': the replicas converged' : ''}. ` +
    tail(run, {
      fixes: { linearizable: STALE_FIX },
      held: 'every read came after the write had reached the reader’s replica',
    })
  );
}

const STALE_EXPECT = { ...ALL_HOLD, linearizable: false } as const;

const kvStaleRead: ScenarioDef = {
  name: 'kv-stale-read',
  description:
    'An eventually consistent store (CRDTs, anti-entropy) reads its local replica: a read elsewhere right after a write is stale (not linearizable), yet the replicas converge.',
  faults: `partition: {n1} | {n2, n3} from t=${SR_PARTITION_AT} to t=${SR_HEAL_AT}; no-fault: none`,
  variants: [
    {
      key: 'partition',
      label: 'kv-crdt, B reads on the other side of a partition',
      expect: STALE_EXPECT,
      run: () => staleReadRun(true),
      check: staleReadCheck,
      explain: staleReadStory,
    },
    {
      key: 'no-fault',
      label: 'kv-crdt, no fault: B reads 3 ms after the write, before any message could arrive',
      expect: STALE_EXPECT,
      run: () => staleReadRun(false),
      check: staleReadCheck,
      explain: staleReadStory,
    },
  ],
  conclude(results: readonly VariantResult[]) {
    return results
      .map(
        (r) =>
          `${r.label}: linearizable ${holds(r.verdicts, 'linearizable') ? 'held' : 'VIOLATED'}, converges ${holds(r.verdicts, 'converges') ? 'held' : 'VIOLATED'} (${r.form}).`,
      )
      .join(' ');
  },
};

// ------------------------------------------------------------------------------ kv-leader-crash

const LC_AT = 3000;
const LC_SLOW_MS = 200;
const LC_RETRY: Partial<RaftOptions> = { clientRetryMs: 300, clientRetryMsMax: 300 };

function leaderCrashRun(sessions: boolean): Run {
  return storeRun({
    nodes: THREE,
    stack: kvRaft({ sessions, ...LC_RETRY }),
    links: { 'n3->n2': { delay: { kind: 'fixed', ms: LC_SLOW_MS } } },
    workload: [
      kvCmd(LC_AT, 'n2', 'A', 1, INCR_N),
      ...finalReads(LC_AT + 6000, 'n', [
        ['n2', 'A'],
        ['n3', 'B'],
      ]),
    ],
    nemesis: [
      // The leader's append carrying A's increment to n3 (sent at t=3010) is lost…
      ...loseOn('n1', 'n3', LC_AT + 5, LC_AT + 15),
      // …and the leader crashes in its next step with an output: n2's acknowledgement arriving
      // at t=3030 commits the entry, and the reply is that step's first output.
      { at: LC_AT + 25, action: { kind: 'crash', node: 'n1', afterOutputs: 0 } },
    ],
    untilMs: LC_AT + 8000,
  });
}

interface LeaderCrashFacts {
  readonly a: KvHistoryOp | undefined;
  readonly r: RaftOp | undefined;
  readonly crash: At<CrashEvent> | undefined;
  /** The input of the step the crash cut short. */
  readonly input: At<TraceEvent> | undefined;
  readonly stored: LogWrite[];
  readonly l1: ReturnType<typeof leaderBefore>;
  readonly l2: ReturnType<typeof leaderBefore>;
  /** A's retry timer firings at the new leader while it led and A was not yet answered. */
  readonly retries: At<Extract<TraceEvent, { type: 'timer' }>>[];
}

function leaderCrashFacts(trace: readonly TraceEvent[]): LeaderCrashFacts {
  const a = firstOp(trace, 'n2', 'A');
  const r = a === undefined ? undefined : raftOpOf(trace, a);
  const crash = crashOf(trace, 'n1');
  const input = crash === undefined ? undefined : stepInput(trace, crash.index);
  const stored =
    r?.index === undefined || crash === undefined
      ? []
      : storedBy(trace, r.session, r.serial, r.index).filter((w) => w.at < crash.index);
  const l1 = a === undefined ? undefined : leaderBefore(trace, a.callIndex);
  const l2 = raftLeaders(trace).find((l) => l1 !== undefined && l.term > l1.term);
  const retries = eventsOf(trace, 'timer').filter(
    (x) =>
      l2 !== undefined &&
      x.e.node === l2.node &&
      x.e.name === 'cli/A' &&
      x.index > l2.at &&
      x.index < (a?.retIndex ?? trace.length),
  );
  return { a, r, crash, input, stored, l1, l2, retries };
}

function leaderCrashCheck({ trace }: Run): string[] {
  const f = leaderCrashFacts(trace);
  const inMsg = f.input?.e.type === 'receive' ? record(f.input.e.msg) : undefined;
  return [
    ...problemsIf(f.l1?.node !== 'n1', 'n1 did not lead when A called'),
    ...problemsIf(f.r?.index === undefined, 'A’s increment never reached a log'),
    ...problemsIf(
      f.crash?.e.after !== 'input' || f.crash.e.before !== 'send',
      'n1’s crash did not fall right after a step’s input, before its first send',
    ),
    ...problemsIf(
      !(
        f.input?.e.type === 'receive' &&
        f.input.e.to === 'n1' &&
        inMsg?.k === 'ar' &&
        inMsg.ok === true &&
        typeof inMsg.index === 'number' &&
        inMsg.index >= (f.r?.index ?? Infinity)
      ),
      'the step n1 crashed in was not the acknowledgement that commits A’s entry',
    ),
    ...problemsIf(
      f.stored.length < 2 || f.stored.some((w) => w.node === 'n3'),
      'A’s entry was not on exactly n1 and n2 when n1 crashed',
    ),
    ...problemsIf(
      f.r !== undefined &&
        replySends(trace, f.r.session, f.r.serial).some((s) => s.e.from === 'n1'),
      'n1 sent A a reply',
    ),
    ...problemsIf(f.l2?.node !== 'n2', 'n2 did not become the next leader'),
    ...problemsIf(f.retries.length === 0, 'A did not retry while n2 led and had not answered'),
    ...problemsIf(f.a?.status !== 'ok', 'A’s increment was not answered'),
  ];
}

function leaderCrashStory(run: Run): string {
  const t = run.trace;
  const { a, r, crash, input, stored, l1, l2, retries } = leaderCrashFacts(t);
  if (a === undefined || r === undefined) return `A's increment never reached a log. ${tail(run)}`;
  const reqs = requestSends(t, r.session, r.serial);
  const appends = eventsOf(t, 'send').filter((s) => {
    const m = record(s.e.msg);
    return (
      s.e.from === l1?.node &&
      m?.k === 'ae' &&
      Array.isArray(m.entries) &&
      m.entries.some((x) => record(record(x)?.c)?.c === r.session) &&
      (crash === undefined || s.index < crash.index)
    );
  });
  const drops = new Map(eventsOf(t, 'drop').map((d) => [d.e.id, d.e]));
  const lostAppend = appends.find((s) => drops.get(s.e.id)?.reason === 'loss');
  const inMsg = input?.e.type === 'receive' ? input.e : undefined;
  const n3 = nodesOf(t).find((n) => n !== l1?.node && n !== l2?.node);
  const refusals = eventsOf(t, 'send').filter(
    (s) =>
      s.e.from === l2?.node &&
      s.e.to === n3 &&
      record(s.e.msg)?.k === 'vr' &&
      record(s.e.msg)?.granted === false &&
      (crash === undefined || s.index > crash.index),
  );
  // The first refused vote request of n3's: its request (with its last log index) and the answer.
  const refused = refusals
    .map((answer) => {
      const input = stepInput(t, answer.index);
      const ask = input?.e.type === 'receive' ? input.e : undefined;
      const li = record(ask?.msg)?.li;
      const sent =
        ask === undefined ? undefined : eventsOf(t, 'send').find((x) => x.e.id === ask.id);
      return typeof li === 'number' && sent !== undefined ? { answer, ask: sent, li } : undefined;
    })
    .find((x) => x !== undefined);
  const majority = Math.floor(nodesOf(t).length / 2) + 1;
  const slow = n3 === undefined || l2 === undefined ? undefined : observedDelayMs(t, n3, l2.node);
  const log = l2 === undefined ? [] : indicesOf(raftLog(t, l2.node), r.session, r.serial);
  const extra = logWrites(t).filter(
    (w) =>
      w.node === l2?.node &&
      w.entry.session === r.session &&
      w.entry.serial === r.serial &&
      w.entry.index !== r.index,
  );
  const incrs = kvOps(t).filter((o) => o.input.f === 'incr' && o.status === 'ok');
  return (
    `${leaderText(l1)}. ` +
    `A (at n2) called ${opText(a.input)} at t=${a.call}${reqs[0] === undefined ? '' : ` (#${reqs[0].e.id} to ${reqs[0].e.to})`}; ` +
    `${l1?.node ?? '?'} appended it at log index ${r.index ?? '?'} and sent it on (${listText(appends.map((s) => `#${s.e.id} to ${s.e.to}`))})` +
    (lostAppend === undefined
      ? '. '
      : `; the network lost #${lostAppend.e.id} to ${lostAppend.e.to} at t=${lostAppend.e.t}. `) +
    `When ${l1?.node ?? '?'} crashed, the entry was on disk at ${storedText(stored)}. ` +
    (inMsg === undefined
      ? ''
      : `At t=${inMsg.t} ${inMsg.to} received ${inMsg.from}'s acknowledgement #${inMsg.id}: ${stored.length >= majority ? `with ${listText(stored.map((w) => w.node))} holding it the entry was on a majority (${majority} of ${nodesOf(t).length}) and committed` : `the entry was on ${stored.length} of ${nodesOf(t).length} nodes, no majority`}, `) +
    (crash === undefined
      ? 'and n1 never crashed. '
      : `and ${crashText(crash.e)}: its reply to A was never sent. `) +
    (n3 === undefined || refused === undefined
      ? ''
      : `${n3} asked for votes with a log ending at index ${refused.li} (#${refused.ask.e.id} at t=${refused.ask.e.t}), behind the entry at index ${r.index ?? '?'}, and ${refused.answer.e.from} refused (#${refused.answer.e.id} at t=${refused.answer.e.t}): with ${l1?.node ?? '?'} down, ${n3} could not win. `) +
    (l2 === undefined
      ? 'Nobody took over. '
      : `${l2.node} became leader of term ${l2.term} at t=${l2.t}. `) +
    (slow === undefined || l2 === undefined || n3 === undefined
      ? ''
      : `${n3}'s messages to ${l2.node} take ${slow} ms, so ${l2.node} could commit nothing of its term, and so not A's entry either, until ${n3}'s acknowledgement came back. `) +
    (retries.length === 0
      ? 'A did not retry while it waited. '
      : `Meanwhile A's proxy, still without a reply, retried at ${listText(retries.map((x) => `t=${x.e.t}`))}, while ${l2?.node ?? '?'} led but had not committed: `) +
    (extra.length > 0
      ? `having no session table, ${l2?.node ?? '?'} appended the retry as a new entry (${listText(extra.map((w) => `index ${w.entry.index} at t=${w.t}`))}). `
      : retries.length > 0
        ? `${l2?.node ?? '?'} found serial ${r.serial} of session ${r.session} already in its log (index ${r.index ?? '?'}) and appended nothing. `
        : '') +
    (a.status === 'ok' && a.ret !== undefined
      ? `Once it committed, ${answeredBy(t, a) ?? '?'} applied index ${r.index ?? '?'} and answered A with ${shortJson(a.output)} at t=${a.ret}. `
      : `A's increment ended ${a.status}. `) +
    (log.length === 0
      ? ''
      : `${l2?.node ?? '?'}'s log holds A's one increment ${times(log.length)} (index ${listText(log.map(String))}). `) +
    `After the faults ${finalReadsText(t, 'n')}, with ${plural(incrs.length, 'increment')} acknowledged. ` +
    tail(run, {
      fixes: { linearizable: SESSION_FIX, 'increments-once': SESSION_FIX_AGAIN },
      held: 'the entry that survived the crash carried A’s session and serial, so the retry was recognised in the new leader’s log and applied once',
    })
  );
}

const kvLeaderCrash: ScenarioDef = {
  name: 'kv-leader-crash',
  description:
    'The leader crashes after committing A’s increment, before replying; A’s retry reaches the new leader: without sessions the increment applies twice, with sessions once.',
  faults: `n1 (the leader) crashes in the step that commits A’s increment, before its reply; its append to n3 is lost; n3 → n2 takes ${LC_SLOW_MS} ms`,
  diagram: HEARTBEATS,
  variants: [
    {
      key: 'nosession',
      label: 'kv-raft-nosession (no client sessions; clients retry at most 300 ms apart)',
      expect: COUNTER_BROKEN,
      run: () => leaderCrashRun(false),
      check: leaderCrashCheck,
      explain: leaderCrashStory,
    },
    {
      key: 'sessions',
      label: 'kv-raft (client sessions; clients retry at most 300 ms apart)',
      expect: ALL_HOLD,
      run: () => leaderCrashRun(true),
      check: leaderCrashCheck,
      explain: leaderCrashStory,
    },
  ],
  conclude: counterConclusion,
};

export const KV_SCENARIOS: readonly ScenarioDef[] = [
  kvOneCopy,
  kvLostReply,
  kvSplitBrain,
  kvStaleRead,
  kvLeaderCrash,
];
