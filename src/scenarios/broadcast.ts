/**
 * The broadcast scenarios: the sender crash under best-effort and eager reliable broadcast, the
 * duplicates eager RB's relays cause, the process that delivers and crashes before relaying
 * (uniform agreement; majority-ack URB), eager RB under 30% loss, and Bracha's Byzantine
 * reliable broadcast against an equivocating sender with N = 4, f = 1 and with N = 3f.
 *
 * The crash schedules are those of src/protocols/broadcast/scenarios.test.ts: a crash armed to
 * hit between two outputs of one step (`afterOutputs`), whose landing point each variant's
 * `check` confirms in the trace (which data messages left the node, the crash's `after`/`before`
 * output kinds). Output order of the steps aimed at (base.ts: each `sendTo` drains the perfect
 * link at once; a link's first send to a peer persists its seq reservation first):
 *   BEB broadcast:       persist, send→n2, setTimer, persist, send→n3, …, deliver
 *   eager RB broadcast:  deliver, persist, send→n2, setTimer, persist, send→n3, …
 *   eager RB first receipt: deliver, ack, then per relay persist, send, setTimer
 *   URB first receipt:   ack, then per relay persist, send, setTimer (deliver after a majority)
 * Bracha's runs use a fixed 10 ms delay, so every round of messages arrives together and the
 * equivocation's outcome follows from the quorum sizes, not from a lucky ordering.
 *
 * SIZE. Over 600 lines: a catalogue of scenario definitions (fault schedules, expected verdicts,
 * computed explanations) one after another; no logic grows with it.
 */

import {
  agreement,
  checkBroadcast,
  uniformAgreement,
  type BroadcastKind,
} from '../check/broadcast.ts';
import type { Verdict } from '../check/verdict.ts';
import type { FrameOptions } from '../core/frame.ts';
import { nodeIds, type NodeId } from '../core/ids.ts';
import type { StackSpec } from '../core/protocol.ts';
import type { TraceEvent } from '../core/trace.ts';
import { hmacSha256, pairKeyRing } from '../platform/node-mac.ts';
import type { BroadcastCommand, BroadcastDeliver } from '../protocols/broadcast/base.ts';
import { bestEffortBroadcast } from '../protocols/broadcast/beb.ts';
import { brachaBroadcast } from '../protocols/broadcast/bracha.ts';
import { colluder, equivocator } from '../protocols/broadcast/byzantine.ts';
import { eagerReliableBroadcast } from '../protocols/broadcast/eager.ts';
import { uniformReliableBroadcast } from '../protocols/broadcast/uniform.ts';
import type { ReliableMsg } from '../protocols/link/reliable.ts';
import type { TimedAction } from '../sim/nemesis.ts';
import type { LinkFaults } from '../sim/network.ts';
import { Simulator, type ScheduledCommand } from '../sim/simulator.ts';
import { tail } from './explain.ts';
import {
  crashText,
  deliverersOf,
  deliveriesOf,
  eventsOf,
  holds,
  idsText,
  isAck,
  listText,
  plural,
  record,
  retransmissions,
  show,
  times,
  verdictOf,
  type At,
  type CrashEvent,
  type SendEvent,
} from './facts.ts';
import type { Run, ScenarioDef, VariantResult } from './model.ts';

type Stack = StackSpec<ReliableMsg, BroadcastCommand, BroadcastDeliver>;

const PAYLOAD = 'm';

function broadcastAt(
  at: number,
  node: NodeId,
  payload: unknown,
): ScheduledCommand<BroadcastCommand> {
  return { at, node, cmd: { type: 'broadcast', payload } };
}

function crashAfter(node: NodeId, afterOutputs: number, at = 0): TimedAction {
  return { at, action: { kind: 'crash', node, afterOutputs } };
}

interface BcastOptions {
  readonly nodes: readonly NodeId[];
  readonly stack: Stack;
  readonly stacks?: Readonly<Record<NodeId, Stack>>;
  readonly nemesis?: readonly TimedAction[];
  readonly workload?: readonly ScheduledCommand<BroadcastCommand>[];
  readonly network?: Partial<LinkFaults>;
  readonly frame?: FrameOptions;
  readonly until?: number;
  readonly seed?: number;
}

function bcast(o: BcastOptions): { seed: number; trace: TraceEvent[] } {
  const seed = o.seed ?? 1;
  const sim = new Simulator({
    seed,
    nodes: o.nodes,
    stack: o.stack,
    ...(o.stacks === undefined ? {} : { stacks: o.stacks }),
    nemesis: o.nemesis ?? [],
    workload: o.workload ?? [broadcastAt(10, 'n1', PAYLOAD)],
    network: o.network ?? {},
    ...(o.frame === undefined ? {} : { wire: { frame: o.frame } }),
  }).runUntil(o.until ?? 2000);
  return { seed, trace: sim.trace };
}

function judge(
  trace: readonly TraceEvent[],
  kind: BroadcastKind,
  extra: readonly ((t: readonly TraceEvent[]) => Verdict)[] = [],
): Verdict[] {
  return [...checkBroadcast(trace, kind), ...extra.map((f) => f(trace))];
}

/** Broadcast-layer data messages `from` sent (first transmissions and resends), as [to, id]. */
function dataSendsFrom(trace: readonly TraceEvent[], from: NodeId): At<SendEvent>[] {
  return eventsOf(trace, 'send').filter(
    (s) => s.e.from === from && record(s.e.msg)?.type === 'data',
  );
}

function crashOf(trace: readonly TraceEvent[], node: NodeId): At<CrashEvent> | undefined {
  return eventsOf(trace, 'crash').find((c) => c.e.node === node);
}

function problemsIf(cond: boolean, problem: string): string[] {
  return cond ? [problem] : [];
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Checks a crash landed after/before the given output kinds. */
function crashLanded(
  trace: readonly TraceEvent[],
  node: NodeId,
  after: string,
  before?: string,
): string[] {
  const c = crashOf(trace, node);
  if (c === undefined) return [`${node} never crashed`];
  const out: string[] = [];
  if (c.e.after !== after)
    out.push(`${node}'s crash came after ${String(c.e.after)}, not after ${after}`);
  if (before !== undefined && c.e.before !== before)
    out.push(`${node}'s crash came before ${String(c.e.before)}, not before ${before}`);
  return out;
}

/** n1's crash cut its broadcast step short, after its one data message, to n2, had left. */
function crashAfterSendToN2(trace: readonly TraceEvent[]): string[] {
  return [
    ...crashLanded(trace, 'n1', 'setTimer', 'persist'),
    ...problemsIf(
      !sameList(
        dataSendsFrom(trace, 'n1').map((s) => s.e.to),
        ['n2'],
      ),
      'not exactly one data message (to n2) left n1',
    ),
  ];
}

function sendsText(sends: readonly At<SendEvent>[]): string {
  if (sends.length === 0) return 'no data message';
  return listText(sends.map((s) => `#${s.e.id} to ${s.e.to}`));
}

/** Who delivered `payload`, and which correct (never crashed) nodes did not. */
function deliveryText(
  trace: readonly TraceEvent[],
  nodes: readonly NodeId[],
  payload: unknown,
): string {
  const by = deliverersOf(trace, payload);
  const crashed = new Set(eventsOf(trace, 'crash').map((c) => c.e.node));
  const missing = nodes.filter((n) => !by.includes(n) && !crashed.has(n));
  const who = by.map((n) => (crashed.has(n) ? `${n} (crashed later)` : n));
  return (
    (by.length === 0
      ? `Nobody delivered ${show(payload)}`
      : `${listText(who)} delivered ${show(payload)}`) +
    (missing.length === 0 || by.length === 0 ? '' : `; correct ${listText(missing)} never did`)
  );
}

// ------------------------------------------------------------------------------ sender crash

const FOUR = nodeIds(4);

const bebSenderCrash: ScenarioDef = {
  name: 'beb-sender-crash',
  description:
    'The sender crashes after sending to one process: best-effort broadcast breaks agreement.',
  faults: 'n1 crashes inside its broadcast step, after its send to n2',
  variants: [
    {
      key: 'beb',
      label: 'best-effort broadcast',
      expect: { validity: true, 'no-duplication': true, 'no-creation': true, agreement: false },
      run() {
        // BEB: persist, send→n2, setTimer | crash (before the reservation for n3).
        const r = bcast({
          nodes: FOUR,
          stack: bestEffortBroadcast(),
          nemesis: [crashAfter('n1', 3)],
        });
        return { ...r, verdicts: judge(r.trace, 'beb', [agreement]) };
      },
      check: ({ trace }) => [
        ...crashAfterSendToN2(trace),
        ...problemsIf(!sameList(deliverersOf(trace, PAYLOAD), ['n2']), 'not only n2 delivered'),
      ],
      explain(run) {
        const t = run.trace;
        const c = crashOf(t, 'n1');
        const v = verdictOf(run.verdicts, 'validity');
        return (
          `n1 broadcast ${show(PAYLOAD)} with best-effort broadcast, which sends the message to each process in turn over perfect links and delivers it locally at the end. ` +
          (c === undefined
            ? 'n1 never crashed. '
            : `${crashText(c.e)}: ${sendsText(dataSendsFrom(t, 'n1'))} had left. `) +
          `${deliveryText(t, FOUR, PAYLOAD)}: BEB's receivers deliver and pass nothing on. ` +
          (v?.holds === true && v.checked === 0
            ? 'Validity held only because it owes nothing for a broadcaster that crashed. '
            : '') +
          tail(run, { held: 'no crash cut the broadcast short' })
        );
      },
    },
  ],
};

const rbSenderCrash: ScenarioDef = {
  name: 'rb-sender-crash',
  description:
    'The same crash under eager reliable broadcast: the receiver relays, every correct process delivers.',
  faults: 'n1 crashes inside its broadcast step, after its send to n2',
  variants: [
    {
      key: 'eager-rb',
      label: 'eager reliable broadcast',
      expect: {
        validity: true,
        'no-duplication': true,
        'no-creation': true,
        agreement: true,
        'uniform-agreement': true,
      },
      run() {
        // Eager RB: deliver, persist, send→n2, setTimer | crash.
        const r = bcast({
          nodes: FOUR,
          stack: eagerReliableBroadcast(),
          nemesis: [crashAfter('n1', 4)],
        });
        return { ...r, verdicts: judge(r.trace, 'rb', [uniformAgreement]) };
      },
      check: ({ trace }) => [
        ...crashAfterSendToN2(trace),
        ...problemsIf(!sameList(deliverersOf(trace, PAYLOAD), FOUR), 'not every process delivered'),
      ],
      explain(run) {
        const t = run.trace;
        const c = crashOf(t, 'n1');
        const relays = dataSendsFrom(t, 'n2').filter((s) => s.e.to !== 'n1');
        return (
          `n1 broadcast ${show(PAYLOAD)} with eager reliable broadcast, which delivers locally first and then sends to each process in turn. ` +
          (c === undefined
            ? 'n1 never crashed. '
            : `${crashText(c.e)}: it had delivered, and only ${sendsText(dataSendsFrom(t, 'n1'))} had left. `) +
          `n2 delivered ${show(PAYLOAD)} on its first receipt and relayed it (${sendsText(relays)}). ` +
          `${deliveryText(t, FOUR, PAYLOAD)}. ` +
          tail(run, { held: 'the relay on first receipt did the crashed sender’s work' })
        );
      },
    },
  ],
};

// ------------------------------------------------------------------------------ rb-duplicates

/** Receipts of the data message RB(origin, n) at `node` (any copy, any sender). */
function rbCopies(
  trace: readonly TraceEvent[],
  node: NodeId,
  origin: NodeId,
  n: number,
): At<Extract<TraceEvent, { type: 'receive' }>>[] {
  return eventsOf(trace, 'receive').filter((r) => {
    const m = record(r.e.msg);
    const inner = record(m?.payload);
    return (
      r.e.to === node &&
      m?.type === 'data' &&
      inner?.k === 'rb' &&
      inner.o === origin &&
      inner.n === n
    );
  });
}

const rbDuplicates: ScenarioDef = {
  name: 'rb-duplicates',
  description:
    "Eager RB's relays bring each process several copies of a message; the delivered set suppresses them.",
  faults: 'none: the duplicates are the protocol’s own relays',
  variants: [
    {
      key: 'eager-rb',
      label: 'eager reliable broadcast',
      expect: { validity: true, 'no-duplication': true, 'no-creation': true, agreement: true },
      run() {
        const r = bcast({ nodes: FOUR, stack: eagerReliableBroadcast() });
        return { ...r, verdicts: judge(r.trace, 'rb') };
      },
      check: ({ trace }) =>
        FOUR.slice(1).flatMap((q) => [
          ...problemsIf(
            rbCopies(trace, q, 'n1', 1).length < 2,
            `${q} received RB(n1, 1) fewer than twice`,
          ),
          ...problemsIf(
            deliveriesOf(trace, PAYLOAD).filter((d) => d.e.node === q).length !== 1,
            `${q} did not deliver "m" exactly once`,
          ),
        ]),
      explain(run) {
        const t = run.trace;
        const per = FOUR.slice(1).map((q) => {
          const copies = rbCopies(t, q, 'n1', 1);
          const from = [...new Set(copies.map((c) => c.e.from))];
          const delivered = deliveriesOf(t, PAYLOAD).filter((d) => d.e.node === q).length;
          return `${q} received RB(n1, 1) ${times(copies.length)} (${idsText(copies.map((c) => c.e.id))}, from ${listText(from)}) and delivered it ${delivered === 0 ? 'never' : times(delivered)}`;
        });
        const total = eventsOf(t, 'send').filter((s) => record(s.e.msg)?.type === 'data').length;
        return (
          `n1 broadcast ${show(PAYLOAD)} with eager reliable broadcast; every process relays a message to all others the first time it receives it. ` +
          `${per.join('; ')}. ` +
          `In all, ${plural(total, 'data message')} carried ${show(PAYLOAD)} for ${plural(FOUR.length, 'delivery', 'deliveries')}: the later copies were recognised by the per-origin delivered set (a watermark plus a window) and dropped, not delivered. ` +
          tail(run, { held: 'the delivered set turned every redundant relay into a no-op' })
        );
      },
    },
  ],
};

// ------------------------------------------------------------------------------ crashed deliverer

const FIVE = nodeIds(5);
/** n1 reaches only n2 (4 outputs); n2 crashes after its first output on receipt. */
const S1: TimedAction[] = [crashAfter('n1', 4), crashAfter('n2', 1)];

/** Who held the URB message (origin, or received its data) before each node delivered. */
function urbHolders(trace: readonly TraceEvent[]): NodeId[] {
  const out = new Set<NodeId>();
  for (const c of eventsOf(trace, 'command')) if (c.e.accepted) out.add(c.e.node);
  for (const r of eventsOf(trace, 'receive')) {
    if (record(record(r.e.msg)?.payload)?.k === 'urb') out.add(r.e.to);
  }
  return [...out].sort();
}

const rbCrashedDeliverer: ScenarioDef = {
  name: 'rb-crashed-deliverer',
  description:
    'A process delivers and crashes before relaying: eager RB keeps agreement but breaks uniform agreement; majority-ack URB fixes it.',
  faults: 'n1 reaches only n2, then crashes; n2 crashes right after its first output on receipt',
  variants: [
    {
      key: 'eager-rb',
      label: 'eager reliable broadcast',
      expect: {
        validity: true,
        'no-duplication': true,
        'no-creation': true,
        agreement: true,
        'uniform-agreement': false,
      },
      run() {
        const r = bcast({ nodes: FIVE, stack: eagerReliableBroadcast(), nemesis: S1 });
        return { ...r, verdicts: judge(r.trace, 'rb', [uniformAgreement]) };
      },
      check: ({ trace }) => [
        ...crashLanded(trace, 'n2', 'deliver'),
        ...problemsIf(dataSendsFrom(trace, 'n2').length !== 0, 'a relay left n2'),
        ...problemsIf(
          !sameList(deliverersOf(trace, PAYLOAD), ['n1', 'n2']),
          'not exactly n1 and n2 delivered',
        ),
      ],
      explain(run) {
        const t = run.trace;
        const c1 = crashOf(t, 'n1');
        const c2 = crashOf(t, 'n2');
        const ag = verdictOf(run.verdicts, 'agreement');
        return (
          `n1 broadcast ${show(PAYLOAD)} with eager reliable broadcast (deliver first, then send). ` +
          (c1 === undefined
            ? ''
            : `${crashText(c1.e)}: only ${sendsText(dataSendsFrom(t, 'n1'))} had left. `) +
          (c2 === undefined
            ? ''
            : `n2 delivered ${show(PAYLOAD)} on receipt and ${crashText(c2.e).replace(/^n2 /, '')}: ${dataSendsFrom(t, 'n2').length === 0 ? 'none of its relays left' : `only ${sendsText(dataSendsFrom(t, 'n2'))} left`}. `) +
          `${deliveryText(t, FIVE, PAYLOAD)}. ` +
          (ag?.holds === true
            ? 'Agreement binds only correct processes, and no correct process delivered it, so it held; uniform agreement binds every process that delivers, crashed or not. '
            : '') +
          tail(run)
        );
      },
    },
    {
      key: 'urb',
      label: 'majority-ack URB, same schedule',
      expect: {
        validity: true,
        'no-duplication': true,
        'no-creation': true,
        'uniform-agreement': true,
        agreement: true,
      },
      run() {
        const r = bcast({ nodes: FIVE, stack: uniformReliableBroadcast(), nemesis: S1 });
        return { ...r, verdicts: judge(r.trace, 'urb', [agreement]) };
      },
      check: ({ trace }) => [
        ...crashLanded(trace, 'n2', 'send'),
        ...problemsIf(
          deliverersOf(trace, PAYLOAD).length !== 0,
          'someone delivered without a majority',
        ),
      ],
      explain(run) {
        const t = run.trace;
        const c1 = crashOf(t, 'n1');
        const c2 = crashOf(t, 'n2');
        const holders = urbHolders(t);
        const majority = Math.floor(FIVE.length / 2) + 1;
        return (
          `Same schedule under majority-ack uniform reliable broadcast, which delivers only once it has seen the message from a majority (${majority} of ${FIVE.length}, itself included). ` +
          (c1 === undefined
            ? ''
            : `${crashText(c1.e)}: only ${sendsText(dataSendsFrom(t, 'n1'))} had left. `) +
          (c2 === undefined
            ? ''
            : `${crashText(c2.e)}${c2.e.after === 'send' && dataSendsFrom(t, 'n2').length === 0 ? ', right after its ack and before any relay' : ''}. `) +
          `Only ${listText(holders)} ever held ${show(PAYLOAD)} (${holders.length} of ${FIVE.length}${holders.length >= majority ? '' : ', no majority'}). ` +
          `${deliveryText(t, FIVE, PAYLOAD)}. ` +
          tail(run, {
            held: `a process delivers only what a majority holds, so whatever was delivered would reach every correct process; here nobody delivered, so nothing was owed`,
          })
        );
      },
    },
    {
      key: 'urb-deliver-then-crash',
      label: 'majority-ack URB, the origin crashes right after delivering',
      expect: {
        validity: true,
        'no-duplication': true,
        'no-creation': true,
        'uniform-agreement': true,
        agreement: true,
      },
      run() {
        // Armed just after n1's broadcast step: its next step with 2+ outputs is the one in which
        // a majority of acks arrives (deliver, …): it crashes right after delivering.
        const r = bcast({
          nodes: FIVE,
          stack: uniformReliableBroadcast(),
          nemesis: [crashAfter('n1', 1, 11)],
        });
        return { ...r, verdicts: judge(r.trace, 'urb', [agreement]) };
      },
      check: ({ trace }) => [
        ...crashLanded(trace, 'n1', 'deliver'),
        ...problemsIf(!sameList(deliverersOf(trace, PAYLOAD), FIVE), 'not every process delivered'),
      ],
      explain(run) {
        const t = run.trace;
        const c1 = crashOf(t, 'n1');
        const d1 = deliveriesOf(t, PAYLOAD).find((d) => d.e.node === 'n1');
        const heldBefore =
          d1 === undefined
            ? []
            : [
                ...new Set([
                  'n1',
                  ...eventsOf(t, 'receive')
                    .filter(
                      (r) => r.index < d1.index && record(record(r.e.msg)?.payload)?.k === 'urb',
                    )
                    .map((r) => r.e.to),
                ]),
              ].sort();
        return (
          `n1 broadcast ${show(PAYLOAD)} with majority-ack URB. ` +
          (d1 === undefined
            ? 'n1 never delivered it. '
            : `n1 delivered it at t=${d1.e.t}, when ${listText(heldBefore)} held it (${heldBefore.length} of ${FIVE.length}), and `) +
          (c1 === undefined ? 'never crashed. ' : `${crashText(c1.e).replace(/^n1 /, '')}. `) +
          `Because a majority already held ${show(PAYLOAD)}, the correct ones relayed it: ${deliveryText(t, FIVE, PAYLOAD)}. ` +
          tail(run, {
            held: 'delivery waits for a majority, and a majority contains a correct process that relays',
          })
        );
      },
    },
  ],
  conclude(results: readonly VariantResult[]) {
    return results
      .map(
        (r) =>
          `${r.label}: uniform-agreement ${holds(r.verdicts, 'uniform-agreement') ? 'held' : 'VIOLATED'}.`,
      )
      .join(' ');
  },
};

// ------------------------------------------------------------------------------ rb-omission

const OMISSION_PAYLOADS = ['a', 'b', 'c', 'd'];
const HEAL_AT = 1500;

const rbOmission: ScenarioDef = {
  name: 'rb-omission',
  description: 'Eager RB over perfect links under 30% message loss still delivers everywhere.',
  faults: `every link loses 30% of messages until t=${HEAL_AT}`,
  variants: [
    {
      key: 'eager-rb',
      label: 'eager reliable broadcast over perfect links',
      expect: { validity: true, 'no-duplication': true, 'no-creation': true, agreement: true },
      run() {
        const r = bcast({
          nodes: FOUR,
          stack: eagerReliableBroadcast(),
          network: { lossProbability: 0.3 },
          nemesis: [{ at: HEAL_AT, action: { kind: 'heal-all', recoverCrashed: false } }],
          workload: FOUR.map((n, i) => broadcastAt(10 + 10 * i, n, OMISSION_PAYLOADS[i])),
          until: 8000,
        });
        return { ...r, verdicts: judge(r.trace, 'rb') };
      },
      check({ trace }) {
        const data = new Set(
          eventsOf(trace, 'send')
            .filter((x) => record(x.e.msg)?.type === 'data')
            .map((x) => x.e.id),
        );
        const lostData = eventsOf(trace, 'drop').filter(
          (d) => d.e.reason === 'loss' && data.has(d.e.id),
        );
        return [
          ...problemsIf(lostData.length === 0, 'no data message was lost'),
          ...problemsIf(retransmissions(trace).length === 0, 'nothing was retransmitted'),
          ...OMISSION_PAYLOADS.flatMap((p) =>
            problemsIf(
              !sameList(deliverersOf(trace, p), FOUR),
              `not every process delivered ${show(p)}`,
            ),
          ),
        ];
      },
      explain(run) {
        const t = run.trace;
        const sends = eventsOf(t, 'send');
        const sent = new Map(sends.map((s) => [s.e.id, s.e]));
        const lost = eventsOf(t, 'drop').filter((d) => d.e.reason === 'loss');
        const lostData = lost.filter((d) => record(sent.get(d.e.id)?.msg)?.type === 'data');
        const lostAcks = lost.filter((d) => isAck(sent.get(d.e.id)?.msg));
        const retx = retransmissions(t);
        const per = OMISSION_PAYLOADS.map((p) => `${show(p)} by ${listText(deliverersOf(t, p))}`);
        return (
          `${listText(FOUR)} each broadcast one message (${listText(OMISSION_PAYLOADS.map((p) => show(p)))}) with eager reliable broadcast while every link lost 30% of messages until t=${HEAL_AT}. ` +
          `The network lost ${lost.length} of ${sends.length} messages: ${plural(lostData.length, 'data message')} (${idsText(lostData.map((d) => d.e.id))}) and ${plural(lostAcks.length, 'ack')}. ` +
          `The perfect links under the broadcast resent unacked data (${plural(retx.length, 'retransmission')}, e.g. ${idsText(
            retx.map((r) => r.send.e.id),
            3,
          )}) and deduplicated the copies. ` +
          `Delivered: ${per.join('; ')}. ` +
          tail(run, {
            held: 'perfect links turned the omissions into delays, and the relays did the rest',
          })
        );
      },
    },
  ],
};

// ------------------------------------------------------------------------------ Bracha

const SECRET = new TextEncoder().encode('steadfast scenario cluster secret (32+ bytes)');
const AUTH: FrameOptions = { checksum: true, auth: { mac: hmacSha256, keys: pairKeyRing(SECRET) } };
const A = 'A';
const B = 'B';

interface BrachaSetup {
  readonly n: number;
  /** Byzantine nodes and their adversaries; the last one is the equivocating origin. */
  readonly byz: Readonly<Record<NodeId, Stack>>;
  readonly origin: NodeId;
}

function brachaRun(s: BrachaSetup): Run {
  const nodes = nodeIds(s.n);
  const r = bcast({
    nodes,
    stack: brachaBroadcast(),
    stacks: s.byz,
    frame: AUTH,
    network: { delay: { kind: 'fixed', ms: 10 } },
    workload: [broadcastAt(10, s.origin, A)],
    until: 3000,
  });
  const byzantine = Object.keys(s.byz);
  return { ...r, verdicts: checkBroadcast(r.trace, 'brb', { nodes, byzantine }) };
}

/** Bracha messages (t, m) received by `node` from each sender, in trace order. */
function brachaReceipts(
  trace: readonly TraceEvent[],
  node: NodeId,
): { index: number; from: NodeId; t: string; m: unknown; id: number }[] {
  const out: { index: number; from: NodeId; t: string; m: unknown; id: number }[] = [];
  for (const r of eventsOf(trace, 'receive')) {
    const inner = record(record(r.e.msg)?.payload);
    if (r.e.to !== node || inner?.k !== 'brb' || typeof inner.t !== 'string') continue;
    out.push({ index: r.index, from: r.e.from, t: inner.t, m: inner.m, id: r.e.id });
  }
  return out;
}

/** What each node delivered for (origin, 1). */
function brachaDelivered(trace: readonly TraceEvent[]): Map<NodeId, unknown> {
  const out = new Map<NodeId, unknown>();
  for (const d of eventsOf(trace, 'deliver')) out.set(d.e.node, record(d.e.event)?.payload);
  return out;
}

function brachaStory(run: Run, s: BrachaSetup): string {
  const t = run.trace;
  const nodes = nodeIds(s.n);
  const byz = Object.keys(s.byz);
  const correct = nodes.filter((n) => !byz.includes(n));
  const f = Math.floor((s.n - 1) / 3);
  const echoQuorum = Math.floor((s.n + f) / 2) + 1;
  const sendsTo = (m: unknown) =>
    correct.filter((q) =>
      brachaReceipts(t, q).some((r) => r.from === s.origin && r.t === 'send' && r.m === m),
    );
  const delivered = brachaDelivered(t);
  const echoText = correct.map((q) => {
    const d = delivered.get(q);
    const upTo = eventsOf(t, 'deliver').find((x) => x.e.node === q)?.index ?? t.length;
    const echoes = brachaReceipts(t, q).filter(
      (r) => r.t === 'echo' && r.index < upTo && r.m === d,
    );
    const from = [...new Set([q, ...echoes.map((e) => e.from)])].sort();
    return d === undefined
      ? `${q} delivered nothing`
      : `${q} delivered ${show(d)} with ECHOes from ${listText(from)}`;
  });
  const payloads = [
    ...new Set(correct.map((q) => delivered.get(q)).filter((p) => p !== undefined)),
  ];
  return (
    `${s.n} processes; Byzantine: ${listText(byz)}${byz.length > f ? ` (${byz.length}, but Bracha with N=${s.n} assumes f=${f}: N = ${s.n} ${s.n <= 3 * byz.length ? '≤' : '>'} 3·${byz.length})` : ` (f=${f}, N > 3f)`}. ` +
    `The origin ${s.origin} equivocated: SEND ${show(A)} to ${listText(sendsTo(A))} and SEND ${show(B)} to ${listText(sendsTo(B))}, voting each way to each side. ` +
    `A correct process sends READY after ECHOes from more than (N+f)/2, i.e. ${echoQuorum}, processes for one payload, and delivers after 2f+1 = ${2 * f + 1} READYs. ` +
    `${echoText.join('; ')}. ` +
    (payloads.length <= 1
      ? `Every correct process delivered the same payload: two ECHO quorums of ${echoQuorum} share a correct process, which echoes only one payload. `
      : `Correct processes delivered ${payloads.length} different payloads: with N ≤ 3f the two ECHO quorums overlap only in Byzantine processes, which vouched for both. `) +
    tail(run, {
      byzantine: byz,
      byzantineWhat:
        'an equivocating origin' +
        (byz.length > 1 ? ' and a colluder that confirms to every process what it said' : ''),
      held: `N > 3f: any two ECHO quorums share a correct process`,
    })
  );
}

const N4: BrachaSetup = { n: 4, byz: { n4: equivocator({ twist: () => B }) }, origin: 'n4' };
const N6: BrachaSetup = {
  n: 6,
  byz: { n5: colluder(), n6: equivocator({ votes: 'split', twist: () => B }) },
  origin: 'n6',
};

const BRB_OK = {
  validity: true,
  'no-duplication': true,
  'no-creation': true,
  'brb-consistency': true,
  'brb-totality': true,
} as const;

const brachaEquivocation: ScenarioDef = {
  name: 'bracha-equivocation',
  description:
    'A Byzantine sender sends different payloads: Bracha keeps correct processes consistent with N=4, f=1; with N=3f it does not.',
  faults: 'the origin equivocates (SEND "A" to some, "B" to others); with N=6 a colluder helps',
  diagram: { hideAcks: true },
  variants: [
    {
      key: 'n4-f1',
      label: 'Bracha, N=4, one Byzantine (equivocating origin n4)',
      expect: BRB_OK,
      run: () => brachaRun(N4),
      check({ trace }) {
        const d = [...brachaDelivered(trace).entries()].filter(([q]) => q !== 'n4');
        return [
          ...problemsIf(d.length !== 3, 'not every correct process delivered'),
          ...problemsIf(
            new Set(d.map(([, p]) => JSON.stringify(p))).size !== 1,
            'correct processes disagree',
          ),
        ];
      },
      explain: (run) => brachaStory(run, N4),
    },
    {
      key: 'n6-f2',
      label: 'Bracha, N=6 with two Byzantine (N = 3f): equivocating origin n6, colluder n5',
      expect: { ...BRB_OK, 'brb-consistency': false },
      run: () => brachaRun(N6),
      check({ trace }) {
        const d = brachaDelivered(trace);
        return problemsIf(
          !(d.get('n1') === A && d.get('n2') === A && d.get('n3') === B && d.get('n4') === B),
          'expected n1, n2 to deliver "A" and n3, n4 to deliver "B"',
        );
      },
      explain: (run) => brachaStory(run, N6),
    },
  ],
  conclude(results: readonly VariantResult[]) {
    return results
      .map(
        (r) =>
          `${r.label}: brb-consistency ${holds(r.verdicts, 'brb-consistency') ? 'held' : 'VIOLATED'} (${r.form}).`,
      )
      .join(' ');
  },
};

export const BROADCAST_SCENARIOS: readonly ScenarioDef[] = [
  bebSenderCrash,
  rbSenderCrash,
  rbDuplicates,
  rbCrashedDeliverer,
  rbOmission,
  brachaEquivocation,
];
