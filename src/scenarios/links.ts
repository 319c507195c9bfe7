/**
 * The point-to-point scenarios: a lost message, retransmission, a lost ack with and without
 * dedup, idempotent and non-idempotent operations on a key-value store, corruption without and
 * with a checksum, a forgery without and with HMAC, and the 2×2 table of forms of fault
 * tolerance on one sender–receiver pair.
 *
 * Every run is fixed: seed, a fixed 10 ms delay on every link (so the timing is exact), a
 * retransmission timeout of exactly 100 ms (no jitter), and faults aimed at ONE message by a
 * per-link override that is switched on just before that message is sent and off just after
 * (`{ kind: 'network', link, faults }`); each variant's `check` confirms in the trace that
 * exactly the intended message was hit.
 *
 * SIZE. Over 600 lines: a catalogue of scenario definitions (fault schedules, expected verdicts,
 * computed explanations) one after another; no logic grows with it.
 */

import type { CountMode } from '../check/links.ts';
import {
  authenticity,
  indexTrace,
  noCreation,
  noDuplication,
  reliableDelivery,
} from '../check/links.ts';
import { canonicalJson, fail, pass, type Verdict } from '../check/verdict.ts';
import type { FrameOptions } from '../core/frame.ts';
import type { NodeId } from '../core/ids.ts';
import type { TraceEvent } from '../core/trace.ts';
import { hmacSha256, pairKeyRing } from '../platform/node-mac.ts';
import { channel, type Guarantee } from '../protocols/delivery/guarantees.ts';
import {
  applyKvOp,
  isIdempotent,
  isKvOp,
  kvEffect,
  type KvOp,
  type KvState,
} from '../protocols/delivery/idempotence.ts';
import { fairLossLink } from '../protocols/link/fair-loss.ts';
import { perfectLink } from '../protocols/link/perfect.ts';
import type { TimedAction } from '../sim/nemesis.ts';
import type { LinkFaults } from '../sim/network.ts';
import { Simulator, type ScheduledCommand, type SimOptions } from '../sim/simulator.ts';
import { tail } from './explain.ts';
import {
  dataPayload,
  describeMsg,
  dropText,
  eventsOf,
  formOfRun,
  holds,
  idsText,
  isAck,
  isData,
  listText,
  plural,
  record,
  retransmissions,
  show,
  text,
  times,
  undetectedCorruptions,
  wireText,
  type At,
  type DropEvent,
  type SendEvent,
} from './facts.ts';
import type { Run, ScenarioDef, VariantDef, VariantResult } from './model.ts';

// ------------------------------------------------------------------------------ plumbing

const DELAY_MS = 10;
const FIXED: Partial<LinkFaults> = { delay: { kind: 'fixed', ms: DELAY_MS } };
/** Retransmission timeout of exactly 100 ms: no jitter, so the resend time is exact. */
const TIMING = { rtoInitialMs: 100, rtoMinMs: 100, jitterRatio: 0 } as const;
const RUN_MS = 1000;

interface Send {
  readonly type: 'send';
  readonly to: NodeId;
  readonly payload: unknown;
}

function send(at: number, node: NodeId, to: NodeId, payload: unknown): ScheduledCommand<Send> {
  return { at, node, cmd: { type: 'send', to, payload } };
}

/** Link `from → to` gets `on` at `at` and `off` at `until`: aims a fault at what is sent in between. */
function aim(
  from: NodeId,
  to: NodeId,
  at: number,
  until: number,
  on: Partial<LinkFaults>,
  off: Partial<LinkFaults>,
): TimedAction[] {
  return [
    { at, action: { kind: 'network', link: [from, to], faults: on } },
    { at: until, action: { kind: 'network', link: [from, to], faults: off } },
  ];
}

const loseOn = (from: NodeId, to: NodeId, at: number, until: number): TimedAction[] =>
  aim(from, to, at, until, { lossProbability: 1 }, { lossProbability: 0 });

/** PL1 reliable delivery, PL2 no duplication, PL3 no creation, counted on `count`. */
function judgeLink(trace: readonly TraceEvent[], count: CountMode): Verdict[] {
  const ix = indexTrace(trace);
  return [reliableDelivery(ix, { count }), noDuplication(ix, { count }), noCreation(ix, { count })];
}

/** Counts for at-most-once / exactly-once are applications (durable effects), else deliveries. */
function countFor(g: Guarantee | 'fair-loss' | 'perfect'): CountMode {
  return g === 'at-most-once' || g === 'exactly-once' ? 'applications' : 'deliveries';
}

function same(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** Data messages `from → to` carrying `payload` (first transmissions and resends), not forged. */
function dataSends(
  trace: readonly TraceEvent[],
  from: NodeId,
  to: NodeId,
  payload: unknown,
): At<SendEvent>[] {
  return eventsOf(trace, 'send').filter(
    (s) =>
      s.e.from === from &&
      s.e.to === to &&
      s.e.claimedFrom === undefined &&
      isData(s.e.msg) &&
      same(dataPayload(s.e.msg), payload),
  );
}

function dropOf(trace: readonly TraceEvent[], id: number): At<DropEvent> | undefined {
  return eventsOf(trace, 'drop').find((d) => d.e.id === id);
}

/**
 * Receipts of `payload` (from `from`, when given) at `node`: deliveries, or applications (the
 * durable `applied` writes of at-most-once and exactly-once).
 */
function receipts(
  trace: readonly TraceEvent[],
  node: NodeId,
  payload: unknown,
  count: CountMode,
  from?: NodeId,
): number[] {
  const out: number[] = [];
  const match = (v: unknown): boolean => {
    const r = record(v);
    return same(r?.payload, payload) && (from === undefined || r?.from === from);
  };
  trace.forEach((e, i) => {
    if (count === 'deliveries' && e.type === 'deliver' && e.node === node) {
      if (match(e.event)) out.push(i);
    }
    if (count === 'applications' && e.type === 'persist' && e.node === node) {
      for (const w of e.writes) {
        if (w.key !== 'applied' && !w.key.endsWith('/applied')) continue;
        if (match(w.value)) out.push(i);
      }
    }
  });
  return out;
}

/** `applied "m1" twice (trace #12, #20)` / `never applied "m1"`. */
function receiptText(indices: readonly number[], payload: unknown, count: CountMode): string {
  const verb = count === 'applications' ? 'applied' : 'delivered';
  if (indices.length === 0) return `never ${verb} ${show(payload)}`;
  return `${verb} ${show(payload)} ${times(indices.length)} (trace ${listText(indices.map((i) => `#${i}`))})`;
}

/** Accepted `send` commands, in trace order. */
function commands(
  trace: readonly TraceEvent[],
): { node: NodeId; to: NodeId; payload: unknown; t: number }[] {
  const out: { node: NodeId; to: NodeId; payload: unknown; t: number }[] = [];
  for (const c of eventsOf(trace, 'command')) {
    const cmd = record(c.e.cmd);
    if (!c.e.accepted || cmd?.type !== 'send' || typeof cmd.to !== 'string') continue;
    out.push({ node: c.e.node, to: cmd.to, payload: cmd.payload, t: c.e.t });
  }
  return out;
}

/** The retransmission-timer firings of `node`, in trace order. */
function rtoFirings(
  trace: readonly TraceEvent[],
  node: NodeId,
): At<Extract<TraceEvent, { type: 'timer' }>>[] {
  return eventsOf(trace, 'timer').filter((x) => x.e.node === node && /(^|\/)rto\//.test(x.e.name));
}

/** The timer firing (if any) in the same step as a send: same node, same time, just before it. */
function firingBefore(trace: readonly TraceEvent[], s: At<SendEvent>): string {
  for (let i = s.index - 1; i >= 0; i--) {
    const e = trace[i];
    if (e === undefined || e.t !== s.e.t) break;
    if (e.type === 'timer' && e.node === s.e.from) return `its timer ${e.name} fired at t=${e.t}`;
    if (e.type === 'receive' || e.type === 'command') break;
  }
  return `at t=${s.e.t}`;
}

/** What happened to each transmission of `payload` from `from` to `to`, in words. */
function transmissionsText(
  trace: readonly TraceEvent[],
  from: NodeId,
  to: NodeId,
  payload: unknown,
): string {
  const tx = dataSends(trace, from, to, payload);
  if (tx.length === 0) return `${show(payload)} never left ${from}`;
  const parts = tx.map((s, k) => {
    const d = dropOf(trace, s.e.id);
    const head =
      k === 0
        ? `sent as #${s.e.id} at t=${s.e.t}`
        : `resent as #${s.e.id} (${firingBefore(trace, s)})`;
    return d === undefined
      ? head
      : `${head}, and ${dropText(trace, d.e).replace(/^#\d+ \([^)]*\) /, '')}`;
  });
  return `${show(payload)} was ${parts.join('; then ')}`;
}

function simulate<M, C, D>(o: SimOptions<M, C, D>, untilMs = RUN_MS): Run {
  const sim = new Simulator(o).runUntil(untilMs);
  return { seed: o.seed, trace: sim.trace, verdicts: [] };
}

function problemsIf(cond: boolean, problem: string): string[] {
  return cond ? [problem] : [];
}

/** Exactly one drop, and it is `want` (a predicate on its send), for the right reason. */
function exactlyOneDrop(
  trace: readonly TraceEvent[],
  reason: DropEvent['reason'],
  what: string,
  want: (s: SendEvent) => boolean,
): string[] {
  const drops = eventsOf(trace, 'drop');
  if (drops.length !== 1) {
    return [`expected exactly one dropped message (${what}), the trace has ${drops.length}`];
  }
  const d = drops[0];
  if (d === undefined) return [];
  const s = eventsOf(trace, 'send').find((x) => x.e.id === d.e.id);
  const out: string[] = [];
  if (d.e.reason !== reason) out.push(`the drop's reason is ${d.e.reason}, not ${reason}`);
  if (s === undefined || !want(s.e)) out.push(`the dropped message #${d.e.id} is not ${what}`);
  return out;
}

// ------------------------------------------------------------------------------ lost-message

const lostMessage: ScenarioDef = {
  name: 'lost-message',
  description:
    'At-most-once send whose message the network drops: never delivered, never duplicated (fail-safe).',
  faults: 'the first data message n1 → n2 is lost',
  variants: [
    {
      key: 'at-most-once',
      label: 'at-most-once channel',
      expect: { 'reliable-delivery': false, 'no-duplication': true, 'no-creation': true },
      run() {
        const r = simulate({
          seed: 1,
          nodes: ['n1', 'n2'],
          stack: channel({ guarantee: 'at-most-once', ...TIMING }),
          network: FIXED,
          nemesis: loseOn('n1', 'n2', 5, 15),
          workload: [send(10, 'n1', 'n2', 'm1'), send(50, 'n1', 'n2', 'm2')],
        });
        return { ...r, verdicts: judgeLink(r.trace, 'applications') };
      },
      check: ({ trace }) => [
        ...exactlyOneDrop(trace, 'loss', 'the data message carrying "m1"', (s) =>
          same(dataPayload(s.msg), 'm1'),
        ),
        ...problemsIf(
          dataSends(trace, 'n1', 'n2', 'm1').length !== 1,
          '"m1" was sent more than once',
        ),
      ],
      explain(run) {
        const t = run.trace;
        const cmds = commands(t);
        const tx1 = dataSends(t, 'n1', 'n2', 'm1');
        const resent = [...tx1, ...dataSends(t, 'n1', 'n2', 'm2')].length > cmds.length;
        return (
          `n1 sent ${listText(cmds.map((c) => `${show(c.payload)} (t=${c.t})`))} to n2 over an at-most-once channel; every link delays a message by exactly ${DELAY_MS} ms. ` +
          `${transmissionsText(t, 'n1', 'n2', 'm1')}. ${transmissionsText(t, 'n1', 'n2', 'm2')}. ` +
          `${resent ? 'n1 resent a message.' : 'n1 never resent anything: at-most-once sends each message once and keeps no send buffer.'} ` +
          `n2 ${receiptText(receipts(t, 'n2', 'm1', 'applications'), 'm1', 'applications')} and ${receiptText(receipts(t, 'n2', 'm2', 'applications'), 'm2', 'applications')}. ` +
          tail(run, { held: 'no message was lost' })
        );
      },
    },
  ],
};

// ------------------------------------------------------------------------------ retransmit

/** The send-buffer writes of `node` for messages to `peer`: added, then deleted (value null). */
function bufferWrites(
  trace: readonly TraceEvent[],
  node: NodeId,
  peer: NodeId,
): { key: string; added: boolean; t: number; index: number }[] {
  const out: { key: string; added: boolean; t: number; index: number }[] = [];
  trace.forEach((e, index) => {
    if (e.type !== 'persist' || e.node !== node) return;
    for (const w of e.writes) {
      if (new RegExp(`(^|/)tx/${peer}/\\d+$`).test(w.key))
        out.push({ key: w.key, added: w.value !== null, t: e.t, index });
    }
  });
  return out;
}

const retransmit: ScenarioDef = {
  name: 'retransmit',
  description:
    'Reliable delivery: the message waits in the send buffer, the timer fires, it is resent, the ack deletes it.',
  faults: 'the first transmission n1 → n2 is lost',
  variants: [
    {
      key: 'at-least-once',
      label: 'at-least-once channel (durable send buffer, retransmission)',
      expect: { 'reliable-delivery': true, 'no-duplication': true, 'no-creation': true },
      run() {
        const r = simulate({
          seed: 1,
          nodes: ['n1', 'n2'],
          stack: channel({ guarantee: 'at-least-once', ...TIMING }),
          network: FIXED,
          nemesis: loseOn('n1', 'n2', 5, 15),
          workload: [send(10, 'n1', 'n2', 'm')],
        });
        return { ...r, verdicts: judgeLink(r.trace, 'deliveries') };
      },
      check({ trace }) {
        const buf = bufferWrites(trace, 'n1', 'n2');
        return [
          ...exactlyOneDrop(trace, 'loss', 'the first transmission of "m"', (s) =>
            same(dataPayload(s.msg), 'm'),
          ),
          ...problemsIf(
            dataSends(trace, 'n1', 'n2', 'm').length !== 2,
            '"m" was not sent exactly twice',
          ),
          ...problemsIf(rtoFirings(trace, 'n1').length === 0, 'no retransmission timer fired'),
          ...problemsIf(
            !buf.some((b) => b.added) || !buf.some((b) => !b.added),
            'the send buffer entry was not both written and deleted',
          ),
        ];
      },
      explain(run) {
        const t = run.trace;
        const buf = bufferWrites(t, 'n1', 'n2');
        const added = buf.find((b) => b.added);
        const deleted = buf.find((b) => !b.added);
        const tx = dataSends(t, 'n1', 'n2', 'm');
        const last = tx[tx.length - 1];
        const arrival =
          last === undefined ? undefined : eventsOf(t, 'receive').find((r) => r.e.id === last.e.id);
        const ackBack = eventsOf(t, 'receive').find(
          (r) => r.e.to === 'n1' && isAck(r.e.msg) && (last === undefined || r.index > last.index),
        );
        return (
          `n1 sent ${show('m')} to n2 over an at-least-once channel. ` +
          (added === undefined
            ? 'n1 never wrote it to a send buffer. '
            : `Before sending, n1 made it durable in its send buffer (key ${added.key}, t=${added.t}). `) +
          `${transmissionsText(t, 'n1', 'n2', 'm')}. ` +
          (arrival === undefined
            ? 'No copy reached n2. '
            : `n2 received #${arrival.e.id} at t=${arrival.e.t} and ${receiptText(receipts(t, 'n2', 'm', 'deliveries'), 'm', 'deliveries')}. `) +
          (ackBack === undefined
            ? 'No ack came back to n1. '
            : `Its ack #${ackBack.e.id} (${describeMsg(ackBack.e.msg)}) reached n1 at t=${ackBack.e.t}`) +
          (deleted === undefined
            ? '; the send buffer entry was never deleted. '
            : ` and n1 deleted ${deleted.key} from its send buffer (t=${deleted.t}): the message is settled. `) +
          tail(run, {
            held: `the send buffer kept "m" until the ack, and ${plural(retransmissions(t).length, 'retransmission')} replaced the lost copy`,
          })
        );
      },
    },
  ],
};

// ------------------------------------------------------------------------------ lost-ack / dedup

/** n1 sends "m" to n2 at t=10; the ack n2 → n1 sent at t=20 is lost. */
function lostAckRun(g: 'at-least-once' | 'exactly-once'): Run {
  const r = simulate({
    seed: 1,
    nodes: ['n1', 'n2'],
    stack: channel({ guarantee: g, ...TIMING }),
    network: FIXED,
    nemesis: loseOn('n2', 'n1', 15, 25),
    workload: [send(10, 'n1', 'n2', 'm')],
  });
  return { ...r, verdicts: judgeLink(r.trace, countFor(g)) };
}

function lostAckCheck({ trace }: Run): string[] {
  const copies = eventsOf(trace, 'receive').filter(
    (r) => r.e.to === 'n2' && same(dataPayload(r.e.msg), 'm'),
  );
  return [
    ...exactlyOneDrop(trace, 'loss', 'the ack n2 → n1', (s) => isAck(s.msg) && s.from === 'n2'),
    ...problemsIf(dataSends(trace, 'n1', 'n2', 'm').length !== 2, '"m" was not sent exactly twice'),
    ...problemsIf(copies.length !== 2, `n2 received ${copies.length} copies of "m", not 2`),
  ];
}

function lostAckStory(run: Run, count: CountMode): string {
  const t = run.trace;
  const drop = eventsOf(t, 'drop')[0];
  const tx = dataSends(t, 'n1', 'n2', 'm');
  const resends = tx.slice(1);
  const copies = eventsOf(t, 'receive').filter(
    (r) => r.e.to === 'n2' && same(dataPayload(r.e.msg), 'm'),
  );
  return (
    `n1 sent ${show('m')} to n2 as #${tx[0]?.e.id ?? '?'} at t=${tx[0]?.e.t ?? '?'}. ` +
    (drop === undefined
      ? 'Nothing was lost. '
      : drop.e.from === 'n2' && drop.e.to === 'n1'
        ? `n2 got it and acked, but ${dropText(t, drop.e)}. `
        : `${dropText(t, drop.e)}. `) +
    (resends.length === 0
      ? 'n1 never resent it. '
      : `Having no ack, n1 resent it: ${resends.map((s) => `#${s.e.id} (${firingBefore(t, s)})`).join(', ')}. `) +
    `n2 received ${plural(copies.length, 'copy', 'copies')} of "m" (${idsText(copies.map((c) => c.e.id))}) and ${receiptText(receipts(t, 'n2', 'm', count), 'm', count)}. `
  );
}

const lostAck: ScenarioDef = {
  name: 'lost-ack',
  description:
    'The ack is lost, the sender resends, the receiver delivers the message twice: at-least-once.',
  faults: 'the ack n2 → n1 of the first data message is lost',
  variants: [
    {
      key: 'at-least-once',
      label: 'at-least-once channel (retransmission, no dedup)',
      expect: { 'reliable-delivery': true, 'no-duplication': false, 'no-creation': true },
      run: () => lostAckRun('at-least-once'),
      check: lostAckCheck,
      explain: (run) =>
        lostAckStory(run, 'deliveries') +
        (holds(run.verdicts, 'no-duplication')
          ? ''
          : 'At-least-once delivers every copy that arrives: it promises the message is never lost (reliable-delivery), not that it arrives once. ') +
        tail(run, { held: 'no copy was repeated' }),
    },
  ],
};

const dedup: ScenarioDef = {
  name: 'dedup',
  description:
    'The same lost ack with receiver dedup: the resent copy is recognised and applied once: exactly-once.',
  faults: 'the ack n2 → n1 of the first data message is lost',
  variants: [
    {
      key: 'exactly-once',
      label: 'exactly-once channel (retransmission + receiver dedup)',
      expect: { 'reliable-delivery': true, 'no-duplication': true, 'no-creation': true },
      run: () => lostAckRun('exactly-once'),
      check: lostAckCheck,
      explain(run) {
        const t = run.trace;
        const applied = receipts(t, 'n2', 'm', 'applications');
        const copies = eventsOf(t, 'receive').filter(
          (r) => r.e.to === 'n2' && same(dataPayload(r.e.msg), 'm'),
        );
        const later = copies.slice(1);
        const reAcks = eventsOf(t, 'send').filter(
          (s) => s.e.from === 'n2' && isAck(s.e.msg) && later.some((c) => c.index < s.index),
        );
        return (
          lostAckStory(run, 'applications') +
          (later.length > 0 && applied.length === 1
            ? `The first copy's dedup mark (seq ${text(record(copies[0]?.e.msg)?.seq)} from n1) was persisted in one atomic batch with the effect, before the ack; so n2 recognised ${later.length === 1 ? 'the later copy' : `the ${later.length} later copies`} as ${later.length === 1 ? 'a duplicate' : 'duplicates'}, did not apply ${later.length === 1 ? 'it' : 'them'} again and only acked again (${idsText(reAcks.map((s) => s.e.id))}). `
            : '') +
          tail(run, { held: 'retransmission kept it live, the receiver’s dedup kept it safe' })
        );
      },
    },
  ],
};

// ------------------------------------------------------------------------------ key-value store

const STORE = 'kv';

function opText(op: unknown): string {
  if (!isKvOp(op)) return show(op);
  return op.op === 'set'
    ? `set ${op.key}=${op.value}`
    : `increment ${op.key}${op.by === 1 ? '' : ` by ${op.by}`}`;
}

/** The store's final state (its last persisted effect state) and where it was written. */
function storeState(trace: readonly TraceEvent[]): { state: KvState; index: number | undefined } {
  let state: KvState = {};
  let index: number | undefined;
  trace.forEach((e, i) => {
    if (e.type !== 'persist' || e.node !== STORE) return;
    for (const w of e.writes) {
      if (w.key === 'app' || w.key.endsWith('/app')) {
        state = (w.value ?? {}) as KvState;
        index = i;
      }
    }
  });
  return { state, index };
}

/** The operations sent to the store, in send order. */
function storeOps(trace: readonly TraceEvent[]): { node: NodeId; op: KvOp; t: number }[] {
  const out: { node: NodeId; op: KvOp; t: number }[] = [];
  for (const c of commands(trace))
    if (c.to === STORE && isKvOp(c.payload)) out.push({ node: c.node, op: c.payload, t: c.t });
  return out;
}

/**
 * kv-final-state (safety): the store ends in the state that applying every operation sent to it
 * exactly once gives. A wrong state is something bad that happened (a double count).
 */
export function kvFinalState(trace: readonly TraceEvent[]): Verdict {
  const ops = storeOps(trace);
  let want: KvState = {};
  for (const o of ops) want = applyKvOp(want, o.op);
  const got = storeState(trace);
  if (same(got.state, want)) return pass('kv-final-state', 'safety', ops.length);
  const at = got.index === undefined ? undefined : trace[got.index];
  return fail(
    'kv-final-state',
    'safety',
    ops.length,
    `the store ${STORE} ended with ${canonicalJson(got.state)}, but applying each of the ${ops.length} operations once gives ${canonicalJson(want)}`,
    got.index === undefined || at === undefined ? [] : [{ index: got.index, event: at }],
  );
}

/** Clients A and B each send one operation; the store's ack to A is lost, so A retries. */
function kvRun(g: 'at-least-once' | 'exactly-once', a: KvOp, b: KvOp): Run {
  const r = simulate({
    seed: 1,
    nodes: ['A', 'B', STORE],
    stack: channel({ guarantee: g, effect: kvEffect, ...TIMING }),
    network: FIXED,
    nemesis: loseOn(STORE, 'A', 15, 25),
    workload: [send(10, 'A', STORE, a), send(30, 'B', STORE, b)],
  });
  return { ...r, verdicts: [...judgeLink(r.trace, countFor(g)), kvFinalState(r.trace)] };
}

function kvCheck({ trace }: Run): string[] {
  const a = storeOps(trace).find((o) => o.node === 'A');
  return [
    ...exactlyOneDrop(trace, 'loss', `the store's ack to A`, (s) => isAck(s.msg) && s.to === 'A'),
    ...problemsIf(a === undefined, 'A sent nothing'),
    ...problemsIf(
      a !== undefined && dataSends(trace, 'A', STORE, a.op).length !== 2,
      'A did not send its operation exactly twice',
    ),
  ];
}

function kvStory(run: Run, g: 'at-least-once' | 'exactly-once'): string {
  const t = run.trace;
  const ops = storeOps(t);
  const count = countFor(g);
  const drop = eventsOf(t, 'drop')[0];
  const want = ops.reduce<KvState>((s, o) => applyKvOp(s, o.op), {});
  const { state } = storeState(t);
  const appliedText = ops.map((o) => {
    const n = receipts(t, STORE, o.op, count, o.node).length;
    return `${o.node}'s ${opText(o.op)} ${n === 0 ? 'never' : times(n)}`;
  });
  const repeated = ops.filter((o) => receipts(t, STORE, o.op, count, o.node).length > 1);
  const aTx = ops[0] === undefined ? [] : dataSends(t, ops[0].node, STORE, ops[0].op);
  const right = same(state, want);
  let why = '';
  if (repeated.length > 0 && right) {
    why = `Applying ${listText(repeated.map((o) => opText(o.op)))} again leaves the same state: ${repeated.every((o) => isIdempotent(o.op)) ? 'the operation is idempotent' : 'it happened to be harmless'}, so the duplicate did no harm. `;
  } else if (repeated.length > 0) {
    why = `${listText(repeated.map((o) => opText(o.op)))} is ${repeated.every((o) => isIdempotent(o.op)) ? 'idempotent, yet' : 'not idempotent:'} the repeat counted twice. `;
  } else if (aTx.length > 1) {
    why = `The store recognised the retry (same sender, same seq) by its dedup mark and did not apply it again. `;
  }
  return (
    `Clients ${listText(ops.map((o) => `${o.node} sent ${show(opText(o.op))} (t=${o.t})`))} to the key-value store ${STORE} over ${g} channels. ` +
    (drop === undefined
      ? ''
      : `${dropText(t, drop.e)}${drop.e.from === STORE && drop.e.to === 'A' ? ', so A never learned that its operation had arrived' : ''}. `) +
    (aTx.length > 1
      ? `A retried: ${aTx
          .slice(1)
          .map((s) => `#${s.e.id} (${firingBefore(t, s)})`)
          .join(', ')}. `
      : 'A never retried. ') +
    `The store ${count === 'applications' ? 'applied' : 'delivered and applied'} ${listText(appliedText)}, and ended with ${canonicalJson(state)}; applying each operation once gives ${canonicalJson(want)}${right ? ': the same' : ': WRONG'}. ` +
    why
  );
}

const idempotentSet: ScenarioDef = {
  name: 'idempotent-set',
  description:
    'Clients A and B write a key-value store with retries: `set x=5` applied twice still ends right.',
  faults: "the store's ack to client A is lost, so A retries",
  variants: [
    {
      key: 'set-at-least-once',
      label: 'set over at-least-once (no dedup)',
      expect: {
        'reliable-delivery': true,
        'no-duplication': false,
        'no-creation': true,
        'kv-final-state': true,
      },
      run: () =>
        kvRun(
          'at-least-once',
          { op: 'set', key: 'x', value: 5 },
          { op: 'set', key: 'y', value: 7 },
        ),
      check: kvCheck,
      explain: (run) =>
        kvStory(run, 'at-least-once') +
        tail(run, {
          fixes: {
            'no-duplication':
              'nothing needs fixing for this application: set is idempotent, so kv-final-state holds despite the duplicate; a non-idempotent operation needs dedup (scenario increment)',
          },
        }),
    },
  ],
};

const INCR_A: KvOp = { op: 'incr', key: 'x', by: 1 };
const INCR_B: KvOp = { op: 'incr', key: 'x', by: 1 };

const increment: ScenarioDef = {
  name: 'increment',
  description:
    '`increment x` retried after a lost ack ends wrong without dedup (at-least-once) and right with it (exactly-once).',
  faults: "the store's ack to client A is lost, so A retries",
  variants: [
    {
      key: 'at-least-once',
      label: 'increment over at-least-once (no dedup)',
      expect: {
        'reliable-delivery': true,
        'no-duplication': false,
        'no-creation': true,
        'kv-final-state': false,
      },
      run: () => kvRun('at-least-once', INCR_A, INCR_B),
      check: kvCheck,
      explain: (run) => kvStory(run, 'at-least-once') + tail(run),
    },
    {
      key: 'exactly-once',
      label: 'increment over exactly-once (dedup)',
      expect: {
        'reliable-delivery': true,
        'no-duplication': true,
        'no-creation': true,
        'kv-final-state': true,
      },
      run: () => kvRun('exactly-once', INCR_A, INCR_B),
      check: kvCheck,
      explain: (run) =>
        kvStory(run, 'exactly-once') +
        tail(run, { held: 'the retry was recognised by (sender, seq) and applied once' }),
    },
  ],
  conclude(results) {
    return results
      .map(
        (r) =>
          `${r.label}: kv-final-state ${holds(r.verdicts, 'kv-final-state') ? 'held' : 'was VIOLATED'} (${r.form}).`,
      )
      .join(' ');
  },
};

// ------------------------------------------------------------------------------ corruption

const TRANSFER = 'transfer 100 EUR from alice to bob';
/** With this seed the one flipped bit lands in the payload's text ("100" becomes "102"). */
const CORRUPT_SEED = 51;

function corruptRun(checksum: boolean): Run {
  const r = simulate({
    seed: CORRUPT_SEED,
    nodes: ['n1', 'n2'],
    stack: perfectLink(TIMING),
    network: FIXED,
    wire: { frame: { checksum } },
    nemesis: aim(
      'n1',
      'n2',
      5,
      15,
      { corruptProbability: 1, corruptMaxBits: 1 },
      { corruptProbability: 0 },
    ),
    workload: [send(10, 'n1', 'n2', TRANSFER)],
  });
  return { ...r, verdicts: judgeLink(r.trace, 'deliveries') };
}

function corruptStory(run: Run): string {
  const t = run.trace;
  const c = eventsOf(t, 'corrupt')[0];
  const sent = c === undefined ? undefined : eventsOf(t, 'send').find((s) => s.e.id === c.e.id);
  const u = undetectedCorruptions(t)[0];
  const d = c === undefined ? undefined : dropOf(t, c.e.id);
  const bits = c === undefined ? '' : c.e.bits.map((b) => `${b} (byte ${b >> 3})`).join(', ');
  let s = `n1 sent ${show(TRANSFER)} to n2 over a perfect link. `;
  if (c === undefined || sent === undefined) return s + 'The network corrupted nothing. ';
  s += `The network flipped bit ${bits} of the ${sent.e.bytes}-byte frame of ${wireText(sent.e)}. `;
  if (u !== undefined) {
    const changed = !same(u.receive.e.msg, u.send.e.msg);
    s += changed
      ? `With no checksum in the frame, n2 could not tell: it decoded the frame as ${describeMsg(u.receive.e.msg)} and took it for a genuine message. `
      : 'The flip did not change the decoded message. ';
  } else if (d !== undefined) {
    s += `${dropText(t, d.e).replace(/^#\d+ \([^)]*\) /, 'The frame ')}${d.e.detail === undefined ? '' : ` (${d.e.detail})`}: a caught corruption is an omission. `;
  }
  const resent = dataSends(t, 'n1', 'n2', TRANSFER).slice(1);
  if (resent.length > 0) {
    s += `n1's retransmission ${resent.map((x) => `#${x.e.id} (${firingBefore(t, x)})`).join(', ')} replaced it. `;
  } else {
    const seq = record(sent.e.msg)?.seq;
    const acked = eventsOf(t, 'receive').find(
      (r) =>
        r.e.to === 'n1' &&
        isAck(r.e.msg) &&
        typeof seq === 'number' &&
        Number(record(r.e.msg)?.cum) >= seq,
    );
    s +=
      acked === undefined
        ? 'n1 never resent the message. '
        : `n2 acked seq ${String(seq)} (#${acked.e.id}), so n1 deleted the message from its send buffer and never resent it. `;
  }
  const delivered = eventsOf(t, 'deliver').filter((x) => x.e.node === 'n2');
  s += `n2 delivered ${delivered.length === 0 ? 'nothing' : listText(delivered.map((x) => `${show(record(x.e.event)?.payload)} (trace #${x.index})`))}. `;
  return s;
}

const corruptNoChecksum: ScenarioDef = {
  name: 'corrupt-no-checksum',
  description:
    'A flipped bit without a checksum: the receiver delivers a message nobody sent (a Byzantine-looking fault).',
  faults: 'one bit of the first data frame n1 → n2 is flipped; frames carry no CRC',
  variants: [
    {
      key: 'no-checksum',
      label: 'perfect link, frames without CRC32C',
      expect: { 'reliable-delivery': false, 'no-duplication': true, 'no-creation': false },
      run: () => corruptRun(false),
      check: ({ trace }) => {
        const u = undetectedCorruptions(trace);
        return [
          ...problemsIf(
            eventsOf(trace, 'corrupt').length !== 1,
            'expected exactly one corrupted frame',
          ),
          ...problemsIf(
            u.length !== 1 || same(u[0]?.receive.e.msg, u[0]?.send.e.msg),
            'the corrupted frame was not received as a different message',
          ),
          ...problemsIf(eventsOf(trace, 'drop').length !== 0, 'a frame was dropped'),
        ];
      },
      explain: (run) =>
        corruptStory(run) +
        tail(run, {
          fixes: {
            'no-creation':
              'put a CRC32C checksum in every frame: the receiver then drops the corrupted frame, the corruption becomes an omission, and retransmission heals it (scenario corrupt-checksum)',
            'reliable-delivery':
              'the same checksum: the corrupted frame must not be acked as if it were the original (scenario corrupt-checksum)',
          },
        }),
    },
  ],
};

const corruptChecksum: ScenarioDef = {
  name: 'corrupt-checksum',
  description:
    'The same fault, one flipped bit, with CRC32C: caught and dropped (an omission), healed by retransmission.',
  faults: 'one bit of the first data frame n1 → n2 is flipped; frames carry a CRC32C',
  variants: [
    {
      key: 'checksum',
      label: 'perfect link, frames with CRC32C',
      expect: { 'reliable-delivery': true, 'no-duplication': true, 'no-creation': true },
      run: () => corruptRun(true),
      check: ({ trace }) => [
        ...problemsIf(
          eventsOf(trace, 'corrupt').length !== 1,
          'expected exactly one corrupted frame',
        ),
        ...exactlyOneDrop(trace, 'checksum', 'the corrupted frame', (s) =>
          same(dataPayload(s.msg), TRANSFER),
        ),
        ...problemsIf(
          dataSends(trace, 'n1', 'n2', TRANSFER).length !== 2,
          'the message was not resent once',
        ),
      ],
      explain: (run) =>
        corruptStory(run) +
        tail(run, {
          held: 'the checksum turned the corruption into an omission, and retransmission healed the omission',
        }),
    },
  ],
};

// ------------------------------------------------------------------------------ forged

const SECRET = new TextEncoder().encode('steadfast scenario cluster secret (32+ bytes)');
const AUTH: FrameOptions = { checksum: true, auth: { mac: hmacSha256, keys: pairKeyRing(SECRET) } };
const FORGED_PAYLOAD = 'pay the attacker';

function forgedRun(frame: FrameOptions): Run {
  const r = simulate({
    seed: 1,
    nodes: ['n1', 'n2', 'n3'],
    stack: perfectLink(TIMING),
    network: FIXED,
    wire: { frame },
    nemesis: [
      {
        at: 50,
        action: {
          kind: 'forge',
          from: 'n3',
          as: 'n1',
          to: 'n2',
          msg: { type: 'data', seq: 7, floor: 7, mode: 'pl', payload: FORGED_PAYLOAD },
        },
      },
    ],
    workload: [send(0, 'n1', 'n2', 'hello'), send(10, 'n1', 'n2', 'world')],
  });
  const ix = indexTrace(r.trace);
  return {
    ...r,
    verdicts: [authenticity(ix), noCreation(ix), reliableDelivery(ix), noDuplication(ix)],
  };
}

function forgedStory(run: Run, auth: boolean): string {
  const t = run.trace;
  const f = eventsOf(t, 'send').find((s) => s.e.claimedFrom !== undefined);
  let s = `n1 sent ${listText(commands(t).map((c) => show(c.payload)))} to n2 over perfect links ${auth ? 'with HMAC-SHA256 on every frame (one key per pair of nodes)' : 'without authentication'}. `;
  if (f === undefined) return s + 'Nobody forged anything. ';
  s += `At t=${f.e.t} n3 injected ${wireText(f.e)}, a frame that names ${String(f.e.claimedFrom)} as its sender. `;
  const r = eventsOf(t, 'receive').find((x) => x.e.id === f.e.id);
  const d = dropOf(t, f.e.id);
  if (r !== undefined) {
    s += `n2 ${auth ? 'accepted it' : 'had no way to check the claim and accepted it'} as coming from ${r.e.claimedFrom ?? r.e.from}. `;
  } else if (d !== undefined) {
    s += `n3 can only sign with the keys of its own pairs, so ${dropText(t, d.e).replace(/^#\d+ \([^)]*\) /, 'the frame ')}${d.e.detail === undefined ? '' : ` (${d.e.detail})`}. `;
  }
  const fake = eventsOf(t, 'deliver').filter((x) =>
    same(record(x.e.event)?.payload, FORGED_PAYLOAD),
  );
  s +=
    fake.length === 0
      ? `n2 never delivered ${show(FORGED_PAYLOAD)}. `
      : `n2 delivered ${show(FORGED_PAYLOAD)} as from ${text(record(fake[0]?.e.event)?.from)} (trace ${listText(fake.map((x) => `#${x.index}`))}). `;
  return s;
}

const forged: ScenarioDef = {
  name: 'forged',
  description:
    'A process sends a message claiming another sender: accepted without authentication, rejected with HMAC.',
  faults: 'n3 forges a data message to n2 in the name of n1',
  variants: [
    {
      key: 'no-auth',
      label: 'perfect link, no authentication',
      expect: {
        authenticity: false,
        'no-creation': false,
        'reliable-delivery': true,
        'no-duplication': true,
      },
      run: () => forgedRun({ checksum: true }),
      check: ({ trace }) => [
        ...problemsIf(
          !eventsOf(trace, 'receive').some((r) => r.e.claimedFrom === 'n1' && r.e.from === 'n3'),
          'the forgery was not received as from n1',
        ),
      ],
      explain: (run) => forgedStory(run, false) + tail(run),
    },
    {
      key: 'hmac',
      label: 'perfect link, HMAC-SHA256 per pair',
      expect: {
        authenticity: true,
        'no-creation': true,
        'reliable-delivery': true,
        'no-duplication': true,
      },
      run: () => forgedRun(AUTH),
      check: ({ trace }) =>
        exactlyOneDrop(
          trace,
          'auth',
          'the forgery',
          (s) => s.claimedFrom === 'n1' && s.from === 'n3',
        ),
      explain: (run) =>
        forgedStory(run, true) +
        tail(run, { held: 'the HMAC turned the forgery into a dropped frame' }),
    },
  ],
};

// ------------------------------------------------------------------------------ masking vs fail-safe

type PairProtocol = 'exactly-once' | 'at-most-once' | 'at-least-once' | 'fair-loss';

/** m1's first transmission is lost; m2's is duplicated by the network (one extra copy). */
const PAIR_NEMESIS: TimedAction[] = [
  ...loseOn('n1', 'n2', 5, 15),
  ...aim(
    'n1',
    'n2',
    45,
    55,
    { duplicateProbability: 1, duplicateMaxCopies: 1 },
    { duplicateProbability: 0 },
  ),
];
const PAIR_WORKLOAD = [send(10, 'n1', 'n2', 'm1'), send(50, 'n1', 'n2', 'm2')];

function pairRun(p: PairProtocol): Run {
  const base = {
    seed: 1,
    nodes: ['n1', 'n2'],
    network: FIXED,
    nemesis: PAIR_NEMESIS,
    workload: PAIR_WORKLOAD,
  };
  const r =
    p === 'fair-loss'
      ? simulate({ ...base, stack: fairLossLink })
      : simulate({ ...base, stack: channel({ guarantee: p, ...TIMING }) });
  return { ...r, verdicts: judgeLink(r.trace, countFor(p)) };
}

function pairCheck({ trace }: Run): string[] {
  const drops = eventsOf(trace, 'drop');
  const dups = eventsOf(trace, 'duplicate');
  const m1 = dataSends(trace, 'n1', 'n2', 'm1')[0];
  const m2 = dataSends(trace, 'n1', 'n2', 'm2')[0];
  return [
    ...problemsIf(
      drops.length !== 1 || drops[0]?.e.id !== m1?.e.id,
      'expected exactly one drop: the first transmission of "m1"',
    ),
    ...problemsIf(
      dups.length !== 1 || dups[0]?.e.id !== m2?.e.id || dups[0]?.e.copies !== 1,
      'expected exactly one network duplicate: one extra copy of "m2"',
    ),
  ];
}

function pairStory(run: Run, p: PairProtocol): string {
  const t = run.trace;
  const count = countFor(p);
  const dup = eventsOf(t, 'duplicate')[0];
  const m2 = dataSends(t, 'n1', 'n2', 'm2');
  const copies = eventsOf(t, 'receive').filter(
    (r) => r.e.to === 'n2' && same(dataPayload(r.e.msg), 'm2'),
  );
  return (
    `${transmissionsText(t, 'n1', 'n2', 'm1')}; n2 ${receiptText(receipts(t, 'n2', 'm1', count), 'm1', count)}. ` +
    `${show('m2')} was sent as ${idsText(m2.map((s) => s.e.id))}` +
    (dup === undefined ? '' : ` and the network duplicated #${dup.e.id} (+${dup.e.copies})`) +
    `; ${plural(copies.length, 'copy', 'copies')} reached n2, which ${receiptText(receipts(t, 'n2', 'm2', count), 'm2', count)}. ` +
    tail(run)
  );
}

const PAIR_LABEL: Record<PairProtocol, string> = {
  'exactly-once': 'exactly-once channel (retransmit + dedup)',
  'at-most-once': 'at-most-once channel (dedup, no retransmission)',
  'at-least-once': 'at-least-once channel (retransmit, no dedup)',
  'fair-loss': 'fair-loss link (neither)',
};

function pairVariant(p: PairProtocol, live: boolean, safe: boolean): VariantDef {
  return {
    key: p,
    label: PAIR_LABEL[p],
    expect: { 'reliable-delivery': live, 'no-duplication': safe, 'no-creation': true },
    run: () => pairRun(p),
    check: pairCheck,
    explain: (run) => pairStory(run, p),
  };
}

const maskingVsFailsafe: ScenarioDef = {
  name: 'masking-vs-failsafe',
  description:
    'One sender–receiver pair, one fault schedule, four protocols: masking, fail-safe, non-masking and none, the 2×2 table in action.',
  faults: '"m1" is lost once and "m2" is duplicated once on n1 → n2',
  variants: [
    pairVariant('exactly-once', true, true),
    pairVariant('at-most-once', false, true),
    pairVariant('at-least-once', true, false),
    pairVariant('fair-loss', false, false),
  ],
  conclude(results: readonly VariantResult[]) {
    const cell = (safe: boolean, live: boolean): string => {
      const who = results.filter(
        (r) =>
          !r.verdicts.some((v) => !v.holds && v.kind === 'safety') === safe &&
          !r.verdicts.some((v) => !v.holds && v.kind === 'liveness') === live,
      );
      return who.length === 0
        ? 'nobody'
        : listText(who.map((r) => `${r.key} (${formOfRun(r.verdicts)})`));
    };
    const retx = results.filter((r) => retransmissions(r.trace).length > 0).map((r) => r.key);
    return (
      `The 2×2 table on this one schedule: safe and live: ${cell(true, true)}; safe, not live: ${cell(true, false)}; ` +
      `live, not safe: ${cell(false, true)}; neither: ${cell(false, false)}. ` +
      `Only ${retx.length === 0 ? 'no protocol' : listText(retx)} retransmitted the lost "m1" (liveness comes from retransmission); ` +
      `safety against the duplicate comes from the receiver's dedup.`
    );
  },
};

export const LINK_SCENARIOS: readonly ScenarioDef[] = [
  lostMessage,
  retransmit,
  lostAck,
  dedup,
  idempotentSet,
  increment,
  corruptNoChecksum,
  corruptChecksum,
  forged,
  maskingVsFailsafe,
];
