/**
 * Per-run statistics for reports: message counts (sent, retransmitted, duplicated, dropped by
 * reason, corrupted, received, delivered) and latency percentiles.
 *
 * Guarantees: computed from the trace alone, in one pass plus the model (src/viz/model.ts);
 * plain data (JSON-serialisable). Two latencies are measured:
 *   - delivery latency: from an accepted `send` command to the first `deliver` at the receiver
 *     of the same (from, to, payload), the application's view (retransmissions included);
 *   - network latency: from a wire `send` to each `receive` of one of its copies.
 * Percentiles use the nearest-rank method on the sorted samples.
 * Assumes: the command and delivery conventions of src/check/links.ts
 * (`{ type: 'send', to, payload }` commands, `{ from, payload }` deliveries).
 */

import type { NodeId } from '../core/ids.ts';
import type { DropReason, TraceEvent } from '../core/trace.ts';
import { canonicalJson } from '../check/verdict.ts';
import { buildModel, type TraceModel } from './model.ts';

export interface LatencySummary {
  readonly count: number;
  readonly min: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
  /** The samples in ms, sorted ascending (for histograms). */
  readonly samples: readonly number[];
}

export interface RunStats {
  readonly nodes: number;
  readonly durationMs: number;
  /** Accepted application send commands. */
  readonly commands: number;
  /** Wire sends (every transmission, retransmissions included). */
  readonly sent: number;
  /** Sends that repeat an earlier send's identity on the same link. */
  readonly retransmitted: number;
  /** Extra copies the network made. */
  readonly duplicated: number;
  /** Copies dropped (all reasons). */
  readonly dropped: number;
  readonly dropReasons: Readonly<Partial<Record<DropReason, number>>>;
  /** Copies with bits flipped in flight. */
  readonly corrupted: number;
  /** Copies that reached the receiving protocol. */
  readonly received: number;
  /** Application deliveries (`deliver` events). */
  readonly delivered: number;
  readonly crashes: number;
  readonly deliveryLatency: LatencySummary | undefined;
  readonly networkLatency: LatencySummary | undefined;
}

/** Nearest-rank percentile of sorted samples (p in (0, 100]). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] as number;
}

export function summarizeLatency(samples: readonly number[]): LatencySummary | undefined {
  if (samples.length === 0) return undefined;
  const s = [...samples].sort((a, b) => a - b);
  let sum = 0;
  for (const x of s) sum += x;
  return {
    count: s.length,
    min: s[0] as number,
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    max: s[s.length - 1] as number,
    mean: sum / s.length,
    samples: s,
  };
}

function record(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
}

/** The statistics of one run (see the module comment). */
export function computeStats(trace: readonly TraceEvent[], model?: TraceModel): RunStats {
  const m = model ?? buildModel(trace);
  let commands = 0;
  let delivered = 0;
  let crashes = 0;
  let duplicated = 0;
  let corrupted = 0;
  let received = 0;
  let dropped = 0;
  const dropReasons: Partial<Record<DropReason, number>> = {};
  // (from, to, payload) → times of accepted sends not yet delivered (FIFO).
  const pending = new Map<string, number[]>();
  const delivery: number[] = [];
  const key = (from: NodeId, to: NodeId, payload: unknown): string =>
    `${from}\u0000${to}\u0000${canonicalJson(payload)}`;
  for (const e of trace) {
    switch (e.type) {
      case 'command': {
        const c = record(e.cmd);
        if (!e.accepted || c?.type !== 'send' || typeof c.to !== 'string') break;
        commands++;
        const k = key(e.node, c.to, c.payload);
        const l = pending.get(k);
        if (l === undefined) pending.set(k, [e.t]);
        else l.push(e.t);
        break;
      }
      case 'deliver': {
        delivered++;
        const d = record(e.event);
        if (d === undefined || typeof d.from !== 'string') break;
        const k = key(d.from, e.node, d.payload);
        const l = pending.get(k);
        const t0 = l?.shift();
        if (t0 !== undefined) delivery.push(e.t - t0);
        break;
      }
      case 'crash':
        crashes++;
        break;
      case 'duplicate':
        duplicated += e.copies;
        break;
      case 'corrupt':
        corrupted++;
        break;
      case 'receive':
        received++;
        break;
      case 'drop':
        dropped++;
        dropReasons[e.reason] = (dropReasons[e.reason] ?? 0) + 1;
        break;
      default:
        break;
    }
  }
  const network: number[] = [];
  let retransmitted = 0;
  for (const msg of m.messages) {
    if (msg.retransmission > 0) retransmitted++;
    for (const c of msg.copies) if (c.fate.kind === 'receive') network.push(c.fate.t - msg.t);
  }
  return {
    nodes: m.nodes.length,
    durationMs: m.tEnd - m.tStart,
    commands,
    sent: m.messages.length,
    retransmitted,
    duplicated,
    dropped,
    dropReasons,
    corrupted,
    received,
    delivered,
    crashes,
    deliveryLatency: summarizeLatency(delivery),
    networkLatency: summarizeLatency(network),
  };
}
