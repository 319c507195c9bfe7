/**
 * Reliable-link benchmark (simulated: virtual time, seeded network faults). Three parts:
 *
 *   1. goodput under loss: one sender → one receiver over the perfect link, a saturating workload
 *      (every message queued at t=0, so the send window is always full), fixed one-way delay.
 *      Goodput = distinct messages delivered / simulated seconds until the last delivery, at 0%
 *      and at 10% loss; the ratio is compared with the ideal 1 − loss, and retransmissions per
 *      delivered message with the ideal loss / (1 − loss). Median over --runs seeds.
 *   2. overhead: for 100, 1,000 and 10,000 messages (one every ms), 10% loss, uniform 1–20 ms
 *      delay, encoded frames: frames and bytes sent per delivered message, and the peaks of the
 *      send buffer and of the receiver's dedup state (sampled after every input, so exact), for
 *      the perfect link and the at-least-once and exactly-once channels. Median over the seeds.
 *   3. dedup state stays flat: 10 senders → 1 receiver, exactly-once, 10% loss, 1,000,000
 *      messages (each sender one per ms). The receiver's dedup entries and the heap (after a GC)
 *      at every 10% of the messages delivered.
 *
 * Protocol options are the engine's defaults throughout (RELIABLE_DEFAULTS).
 * Usage: node --expose-gc --import tsx bench/link.ts [--quick] [--runs N]
 *   --quick  CI smoke: part 1 with 5,000 messages, part 2 with 1 seed, part 3 with 100,000 messages
 *   --runs N seeds per configuration in parts 1 and 2 (default 5; --quick: 1 in part 2, 3 in part 1)
 */

import { RELIABLE_DEFAULTS } from '../src/protocols/link/reliable.ts';
import type { Delay } from '../src/sim/network.ts';
import {
  dedupRun,
  goodputRun,
  median,
  overheadRun,
  type GoodputResult,
  type LinkKind,
  type OverheadResult,
} from './link-lib.ts';

// ----------------------------------------------------------------------------------- flags

const USAGE = 'usage: node --expose-gc --import tsx bench/link.ts [--quick] [--runs N]';

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

function parseArgs(argv: readonly string[]): { quick: boolean; runs: number | undefined } {
  let quick = false;
  let runs: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') {
      quick = true;
    } else if (a === '--runs' || a?.startsWith('--runs=') === true) {
      const text = a === '--runs' ? argv[++i] : a.slice('--runs='.length);
      const v = Number(text);
      if (text === undefined || text.trim() === '' || !Number.isInteger(v) || v <= 0 || v > 1000) {
        fail(
          `--runs must be a positive integer (at most 1000), got ${text === undefined ? 'nothing' : JSON.stringify(text)}`,
        );
      }
      runs = v;
    } else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else {
      fail(`unknown argument ${JSON.stringify(a)}; ${USAGE}`);
    }
  }
  return { quick, runs };
}

const { quick, runs: runsFlag } = parseArgs(process.argv.slice(2));

const LOSS = 0.1;
const GOODPUT_MESSAGES = quick ? 5_000 : 20_000;
const GOODPUT_ONE_WAY_MS = 10;
const GOODPUT_RUNS = runsFlag ?? (quick ? 3 : 5);
const OVERHEAD_SIZES = [100, 1_000, 10_000];
const OVERHEAD_RUNS = runsFlag ?? (quick ? 1 : 5);
const OVERHEAD_KINDS: LinkKind[] = ['perfect', 'at-least-once', 'exactly-once'];
const PACE_MS = 1;
const DELAY_MIN_MS = 1;
const DELAY_MAX_MS = 20;
const UNIFORM: Delay = { kind: 'uniform', minMs: DELAY_MIN_MS, maxMs: DELAY_MAX_MS };
const DEDUP_SENDERS = 10;
const DEDUP_TOTAL = quick ? 100_000 : 1_000_000;
/** Stop a run that has not delivered everything by then (reported as incomplete). */
const LIMIT_MS = 3_600_000;

// --------------------------------------------------------------------------------- format

const int = (x: number): string => Math.round(x).toLocaleString('en');
const fix = (x: number, digits: number): string => x.toFixed(digits);
const mb = (bytes: number): string => (bytes / 1_048_576).toFixed(1);
const secs = (ms: number): string => (ms / 1000).toFixed(1);

function row(cells: readonly string[], widths: readonly number[]): string {
  return cells
    .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
    .join('  ');
}

const summary: string[] = [];
const problems: string[] = [];

const o = RELIABLE_DEFAULTS;
console.log(
  `steadfast reliable-link benchmark${quick ? ' (--quick)' : ''}: defaults sendWindowMax=${o.sendWindowMax}, ` +
    `sackMax=${o.sackMax}, dedupWindowMax=${o.dedupWindowMax}, rto ${o.rtoMinMs}–${o.rtoMaxMs} ms (initial ${o.rtoInitialMs})`,
);
const wallStart = performance.now();

// ------------------------------------------------------------------- 1. goodput under loss

console.log('');
console.log(
  `1. goodput: perfect link, 1 sender → 1 receiver, ${int(GOODPUT_MESSAGES)} messages queued at t=0, ` +
    `fixed ${GOODPUT_ONE_WAY_MS} ms one-way, objects (no encoding), median of ${GOODPUT_RUNS} seeds (1..${GOODPUT_RUNS})`,
);
const byLoss = new Map<number, GoodputResult[]>();
for (const loss of [0, LOSS]) {
  const rs: GoodputResult[] = [];
  for (let seed = 1; seed <= GOODPUT_RUNS; seed++) {
    const r = goodputRun({
      messages: GOODPUT_MESSAGES,
      loss,
      oneWayMs: GOODPUT_ONE_WAY_MS,
      seed,
      limitMs: LIMIT_MS,
    });
    if (r.distinct < GOODPUT_MESSAGES) {
      problems.push(
        `goodput run incomplete: perfect link, loss ${loss}, seed ${seed}: ${r.distinct}/${GOODPUT_MESSAGES} delivered by t=${secs(LIMIT_MS)} s`,
      );
    }
    rs.push(r);
  }
  byLoss.set(loss, rs);
}
const lossless = byLoss.get(0) ?? [];
const lossy = byLoss.get(LOSS) ?? [];
const ceiling = o.sendWindowMax / ((2 * GOODPUT_ONE_WAY_MS) / 1000);
const widths1 = [6, 14, 22, 16, 20, 18, 10];
console.log(
  row(
    [
      'loss',
      'goodput msg/s',
      'min–max over seeds',
      'last delivery s',
      'retx per delivered',
      'dup arrivals/msg',
      'wall ms',
    ],
    widths1,
  ),
);
for (const [loss, rs] of [
  [0, lossless],
  [LOSS, lossy],
] as const) {
  const g = rs.map((r) => r.goodput);
  console.log(
    row(
      [
        `${fix(loss * 100, 0)}%`,
        int(median(g)),
        `${int(Math.min(...g))}–${int(Math.max(...g))}`,
        fix(median(rs.map((r) => r.lastDeliveryMs)) / 1000, 2),
        fix(median(rs.map((r) => r.retransmissions / Math.max(1, r.distinct))), 3),
        fix(median(rs.map((r) => r.duplicateArrivals / Math.max(1, r.distinct))), 3),
        int(median(rs.map((r) => r.wallMs))),
      ],
      widths1,
    ),
  );
}
const ratios = lossy.map((r, i) => r.goodput / (lossless[i]?.goodput ?? Number.NaN));
const ratio = median(ratios);
const retxPerMsg = median(lossy.map((r) => r.retransmissions / Math.max(1, r.distinct)));
const idealRetx = LOSS / (1 - LOSS);
console.log(
  `window-limited ceiling ≈ sendWindowMax / RTT = ${o.sendWindowMax} / ${2 * GOODPUT_ONE_WAY_MS} ms = ${int(ceiling)} msg/s`,
);
console.log(
  `goodput ratio ${fix(LOSS * 100, 0)}% / 0%: ${fix(ratio, 3)} (ideal ${fix(1 - LOSS, 2)}; per seed ${ratios.map((x) => fix(x, 3)).join(', ')})`,
);
console.log(
  `retransmissions per delivered message at ${fix(LOSS * 100, 0)}% loss: ${fix(retxPerMsg, 3)} (ideal loss/(1−loss) = ${fix(idealRetx, 3)})`,
);
summary.push(
  `goodput at 0% loss: ${int(median(lossless.map((r) => r.goodput)))} msg/s (window ceiling ${int(ceiling)})`,
  `goodput at ${fix(LOSS * 100, 0)}% loss: ${int(median(lossy.map((r) => r.goodput)))} msg/s`,
  `goodput ratio at ${fix(LOSS * 100, 0)}% loss: ${fix(ratio, 2)} (ideal ${fix(1 - LOSS, 2)})`,
  `retransmissions per delivered message at ${fix(LOSS * 100, 0)}% loss: ${fix(retxPerMsg, 2)} (ideal ${fix(idealRetx, 2)})`,
);
if (ratio < 0.8 * (1 - LOSS)) {
  problems.push(
    `goodput at ${fix(LOSS * 100, 0)}% loss is ${fix(ratio, 3)} of lossless, far below the ideal ${fix(1 - LOSS, 2)} ` +
      `(perfect link, defaults, ${int(GOODPUT_MESSAGES)} msgs at t=0, fixed ${GOODPUT_ONE_WAY_MS} ms, seeds 1..${GOODPUT_RUNS})`,
  );
}
if (retxPerMsg > 2 * idealRetx) {
  problems.push(
    `retransmissions per delivered message ${fix(retxPerMsg, 3)} at ${fix(LOSS * 100, 0)}% loss, over twice the ideal ${fix(idealRetx, 3)}`,
  );
}

// ------------------------------------------------------------------------- 2. overhead

console.log('');
console.log(
  `2. overhead: 1 sender → 1 receiver, one message every ${PACE_MS} ms, ${fix(LOSS * 100, 0)}% loss, ` +
    `uniform ${DELAY_MIN_MS}–${DELAY_MAX_MS} ms, encoded frames, ` +
    `median of ${OVERHEAD_RUNS} seed${OVERHEAD_RUNS === 1 ? '' : 's'} (1..${OVERHEAD_RUNS})`,
);
console.log(
  '   per delivered message: frames = every send (data + retransmissions + acks), bytes = frame bytes;',
);
console.log(
  '   send buffer = inFlight + waiting at the sender, dedup = receiver dedupEntries; peaks exact',
);
const widths2 = [14, 7, 8, 9, 8, 9, 9, 9, 10, 9, 8, 8, 8];
console.log(
  row(
    [
      'channel',
      'N',
      'frames',
      'data',
      'acks',
      'retx',
      'bytes',
      'buf peak',
      'inflight↑',
      'dedup pk',
      'repeats',
      'sim s',
      'wall ms',
    ],
    widths2,
  ),
);
interface OverheadRow {
  kind: LinkKind;
  n: number;
  frames: number;
  bytes: number;
  bufPeak: number;
  dedupPeak: number;
}
const overheadRows: OverheadRow[] = [];
for (const kind of OVERHEAD_KINDS) {
  for (const n of OVERHEAD_SIZES) {
    const rs: OverheadResult[] = [];
    for (let seed = 1; seed <= OVERHEAD_RUNS; seed++) {
      const r = overheadRun({
        kind,
        messages: n,
        paceMs: PACE_MS,
        loss: LOSS,
        delay: UNIFORM,
        seed,
        limitMs: LIMIT_MS,
      });
      if (r.distinct < n) {
        problems.push(
          `overhead run incomplete: ${kind}, N=${n}, seed ${seed}: ${r.distinct}/${n} delivered`,
        );
      }
      if (kind !== 'at-least-once' && r.repeatDeliveries > 0) {
        problems.push(
          `${kind} delivered ${r.repeatDeliveries} duplicate(s): N=${n}, seed ${seed}, ${fix(LOSS * 100, 0)}% loss, uniform ${DELAY_MIN_MS}–${DELAY_MAX_MS} ms`,
        );
      }
      rs.push(r);
    }
    const per = (f: (r: OverheadResult) => number): number =>
      median(rs.map((r) => f(r) / Math.max(1, r.distinct)));
    const frames = per((r) => r.frames);
    const bytes = per((r) => r.bytes);
    const bufPeak = median(rs.map((r) => r.sendBufferPeak));
    const dedupPeak = median(rs.map((r) => r.dedupPeak));
    overheadRows.push({ kind, n, frames, bytes, bufPeak, dedupPeak });
    console.log(
      row(
        [
          kind,
          int(n),
          fix(frames, 2),
          fix(
            per((r) => r.dataFrames),
            2,
          ),
          fix(
            per((r) => r.ackFrames),
            2,
          ),
          fix(
            per((r) => r.retransmissions),
            3,
          ),
          fix(bytes, 1),
          int(bufPeak),
          int(median(rs.map((r) => r.inFlightPeak))),
          int(dedupPeak),
          fix(
            per((r) => r.repeatDeliveries),
            2,
          ),
          fix(median(rs.map((r) => r.lastDeliveryMs)) / 1000, 1),
          int(median(rs.map((r) => r.wallMs))),
        ],
        widths2,
      ),
    );
  }
}
console.log(
  '   data = data frames incl. retransmissions; inflight↑ = engine inFlightPeak; repeats = extra deliveries of a message',
);
console.log(
  `   (at-least-once shows duplicates by design); sim s = simulated time of the last delivery (sending takes N × ${PACE_MS} ms)`,
);
for (const kind of OVERHEAD_KINDS) {
  const rs = overheadRows.filter((r) => r.kind === kind);
  summary.push(
    `${kind} per delivered msg (N=${rs.map((r) => int(r.n)).join('/')}): frames ${rs.map((r) => fix(r.frames, 2)).join('/')}, ` +
      `bytes ${rs.map((r) => fix(r.bytes, 0)).join('/')}; peak send buffer ${rs.map((r) => int(r.bufPeak)).join('/')}; ` +
      `peak dedup ${rs.map((r) => int(r.dedupPeak)).join('/')}`,
  );
}

// ------------------------------------------------------------------ 3. dedup state stays flat

console.log('');
const perSender = DEDUP_TOTAL / DEDUP_SENDERS;
const bound = DEDUP_SENDERS * (1 + o.dedupWindowMax);
console.log(
  `3. dedup state: ${DEDUP_SENDERS} senders → 1 receiver, exactly-once, ${int(DEDUP_TOTAL)} messages ` +
    `(${int(perSender)} per sender, each one every ${PACE_MS} ms), ${fix(LOSS * 100, 0)}% loss, uniform ${DELAY_MIN_MS}–${DELAY_MAX_MS} ms, seed 1,`,
);
console.log(
  // Plain objects: encoding 1,000,000 messages plus retransmissions and acks takes minutes.
  '   plain objects (wire.encode=false: encoding every frame would take minutes); ' +
    `bound on receiver dedupEntries: senders × (1 + dedupWindowMax) = ${int(bound)}`,
);
const d = dedupRun({
  senders: DEDUP_SENDERS,
  perSender,
  paceMs: PACE_MS,
  loss: LOSS,
  delay: UNIFORM,
  seed: 1,
  encode: false,
  limitMs: LIMIT_MS,
});
if (!d.gcAvailable) {
  console.log('   (no global gc: run with node --expose-gc for comparable heap figures)');
}
console.log(`   heap before the run: ${mb(d.heapBaseline)} MB`);
const widths3 = [6, 10, 11, 13, 14, 14, 14, 10, 8];
console.log(
  row(
    [
      'done',
      'sim s',
      'delivered',
      'dedup entries',
      'dedup peak ▲',
      'rx durable keys',
      'send backlog',
      'heap MB',
      'wall s',
    ],
    widths3,
  ),
);
for (const c of d.checkpoints) {
  console.log(
    row(
      [
        `${fix(c.fraction * 100, 0)}%`,
        secs(c.atMs),
        int(c.delivered),
        int(c.dedupEntries),
        int(c.dedupPeak),
        int(c.receiverDurableKeys),
        int(c.sendBacklog),
        mb(c.heapUsed),
        secs(c.wallMs),
      ],
      widths3,
    ),
  );
}
console.log(
  '   dedup peak ▲ = largest receiver dedupEntries sampled every 10 ms since the previous row; send backlog =',
);
console.log(
  '   messages in all senders’ send buffers (inFlight + waiting), which also live on the heap',
);
console.log(
  `   ${int(d.events)} simulator events, last delivery by t=${secs(d.endMs)} s (sending ends at ${secs(perSender * PACE_MS)} s), wall ${secs(d.wallMs)} s`,
);
if (d.distinct < d.total) {
  problems.push(
    `dedup run incomplete: ${int(d.distinct)}/${int(d.total)} delivered by t=${secs(d.endMs)} s (exactly-once, ${DEDUP_SENDERS} senders, seed 1)`,
  );
}
if (d.repeats > 0 || d.invalid > 0) {
  problems.push(
    `exactly-once delivered ${d.repeats} duplicate(s) and ${d.invalid} unknown payload(s) in the dedup run (seed 1)`,
  );
}
const first = d.checkpoints[0];
const peaks = d.checkpoints.map((c) => c.dedupPeak);
const heaps = d.checkpoints.map((c) => c.heapUsed);
const bounded = d.dedupPeak <= bound;
// "Does not grow with messages": the peak over the last 30% of the run is no more than 1.5× the
// peak over the first 30% (noise allowance), and the overall peak stays under the bound.
const early = Math.max(...peaks.slice(0, 3));
const late = Math.max(...peaks.slice(-3));
const flat = bounded && d.checkpoints.length === 10 && late <= 1.5 * early;
console.log(
  `dedup entries: peak ${int(d.dedupPeak)} over the run (bound ${int(bound)}): ${bounded ? 'bounded' : 'OVER THE BOUND'}; ` +
    `peak in first 30% ${int(early)}, in last 30% ${int(late)}: ${flat ? 'flat' : 'GROWING'}`,
);
if (first !== undefined) {
  console.log(
    `heap after GC: at 10% ${mb(first.heapUsed)} MB, max ${mb(Math.max(...heaps))} MB, at 100% ${mb(heaps[heaps.length - 1] ?? 0)} MB ` +
      `(baseline ${mb(d.heapBaseline)} MB); send backlog peaks at ${int(Math.max(0, ...d.checkpoints.map((c) => c.sendBacklog)))} messages`,
  );
}
const sendingEndMs = perSender * PACE_MS;
const backlogPeak = Math.max(0, ...d.checkpoints.map((c) => c.sendBacklog));
if (d.distinct === d.total && d.endMs > 1.2 * sendingEndMs) {
  problems.push(
    `links fell behind the offered load in part 3 (${int(1000 / PACE_MS)} msg/s per sender): last delivery at ${secs(d.endMs)} s, ` +
      `sending ended at ${secs(sendingEndMs)} s; send backlog peaked at ${int(backlogPeak)} messages (the heap grows with it)`,
  );
}
if (!flat) {
  problems.push(
    `receiver dedup state not flat: peak ${int(d.dedupPeak)} (bound ${int(bound)}), first 30% ${int(early)}, last 30% ${int(late)}`,
  );
}
summary.push(
  `dedup entries, ${DEDUP_SENDERS} senders, ${int(d.total)} msgs exactly-once: peak ${int(d.dedupPeak)} (bound ${int(bound)}), ` +
    `per 10% ${peaks.map(int).join(' ')}: ${flat ? 'flat' : 'NOT flat'}`,
  `heap after GC over that run (MB, per 10%): ${heaps.map(mb).join(' ')} (baseline ${mb(d.heapBaseline)}; ` +
    `send backlog per 10%: ${d.checkpoints.map((c) => int(c.sendBacklog)).join(' ')})`,
);

// ---------------------------------------------------------------------------------- summary

console.log('');
console.log(`summary (simulated; total wall ${secs(performance.now() - wallStart)} s)`);
for (const s of summary) console.log(`  ${s}`);
if (problems.length > 0) {
  console.log('problems:');
  for (const p of problems) console.log(`  ${p}`);
}
