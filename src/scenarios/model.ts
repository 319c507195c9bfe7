/**
 * What a scenario is: the lecture's small cases as runnable, checked definitions.
 *
 * A scenario has one or more variants (e.g. without / with authentication). Each variant is a
 * fully determined simulation (fixed seed AND explicit fault schedule), the verdicts it is
 * expected to produce, a check that the schedule landed where intended (the right message
 * dropped, the crash between the right outputs), and an explanation computed from the run.
 *
 * Guarantees: `runScenario` runs every variant, compares its verdicts with the expectation
 * (a property without an expectation, or an expectation without a verdict, is a mismatch too),
 * and builds the explanation only from the run's trace and verdicts.
 * Assumes: a variant's `run` is deterministic (the tests replay it and compare).
 */

import type { Form } from '../check/classify.ts';
import type { Verdict } from '../check/verdict.ts';
import type { NodeId } from '../core/ids.ts';
import type { DropReason, TraceEvent } from '../core/trace.ts';
import type { Message } from '../viz/model.ts';
import { deliveriesByKey, eventsOf, formOfRun, record, retransmissions, text } from './facts.ts';

/** One simulated run and its verdicts. */
export interface Run {
  readonly seed: number;
  readonly trace: readonly TraceEvent[];
  readonly verdicts: readonly Verdict[];
}

export interface VariantDef {
  /** Short id, unique within the scenario (`no-auth`, `hmac`). */
  readonly key: string;
  /** What this variant runs, in words (`perfect link, no authentication`). */
  readonly label: string;
  /** Expected verdict of every property the run is judged on: true = holds. */
  readonly expect: Readonly<Record<string, boolean>>;
  run(): Run;
  /** Problems if the schedule did not land where intended (empty: it did). */
  check(run: Run): string[];
  /** The plain-words explanation of this run, computed from its trace and verdicts. */
  explain(run: Run): string;
}

export interface ScenarioDef {
  readonly name: string;
  /** One line, for the list. */
  readonly description: string;
  /** The fault schedule in a few words (the column of the HTML table). */
  readonly faults: string;
  readonly variants: readonly VariantDef[];
  /** A closing paragraph comparing the variants, computed from their results. */
  conclude?(results: readonly VariantResult[]): string;
  readonly diagram?: DiagramOptions;
}

/** How a scenario's diagrams thin out a dense run (events other than messages are always drawn). */
export interface DiagramOptions {
  /** Leave link-level acks out (dense runs such as Bracha's). */
  readonly hideAcks?: boolean;
  /**
   * Leave out routine messages (a store's idle heartbeats): `test` gets the run's trace and says
   * which messages are routine; only messages every copy of which arrived are left out, so a
   * dropped one is always drawn. `what` names them in the diagram's title.
   */
  readonly routine?: {
    readonly what: string;
    readonly test: (trace: readonly TraceEvent[]) => (m: Message) => boolean;
  };
}

/** Something the diagram must show: a drop, a crash, a duplicate, a corruption… */
export type MarkKind =
  | 'drop'
  | 'crash'
  | 'corrupt'
  | 'network-duplicate'
  | 'retransmission'
  | 'forged'
  | 'duplicate-delivery'
  | 'redundant-copy';

export interface Mark {
  readonly kind: MarkKind;
  /** Trace index of the event (the drop, the crash, the receive, the deliver, the send…). */
  readonly index: number;
  /** Wire id of the message, for message marks. */
  readonly id?: number;
  readonly reason?: DropReason;
  readonly node?: NodeId;
}

export interface VariantResult extends Run {
  readonly key: string;
  readonly label: string;
  readonly expect: Readonly<Record<string, boolean>>;
  readonly form: Form;
  /** Verdicts that differ from the expectation (empty: as expected). */
  readonly mismatches: readonly string[];
  /** Schedule problems reported by the variant's check (empty: it landed as intended). */
  readonly problems: readonly string[];
  readonly explanation: string;
  readonly marks: readonly Mark[];
}

export interface ScenarioResult {
  readonly name: string;
  readonly diagram?: DiagramOptions;
  readonly description: string;
  readonly faults: string;
  readonly variants: readonly VariantResult[];
  /** The whole explanation: each variant's, then the conclusion. */
  readonly explanation: string;
  /** Every variant matched its expectation and its schedule check. */
  readonly ok: boolean;
}

/** One diagram-sized entry for a report (one per variant): the shape `src/viz/html.ts` embeds. */
export interface ScenarioRun {
  readonly name: string;
  readonly description: string;
  readonly explanation: string;
  readonly trace: readonly TraceEvent[];
  readonly verdicts: readonly Verdict[];
  readonly scenario: string;
  readonly variant: string;
  readonly ok: boolean;
}

/** Differences between the verdicts and the expectation, in words. */
export function compareVerdicts(
  verdicts: readonly Verdict[],
  expect: Readonly<Record<string, boolean>>,
): string[] {
  const out: string[] = [];
  for (const v of verdicts) {
    const want = expect[v.property];
    if (want === undefined) {
      out.push(`${v.property}: no expectation stated (it ${v.holds ? 'held' : 'was violated'})`);
    } else if (want !== v.holds) {
      out.push(
        want
          ? `${v.property}: expected to hold, but VIOLATED: ${v.violation?.message ?? ''}`
          : `${v.property}: expected to be violated, but it held (${v.checked} checked)`,
      );
    }
  }
  for (const property of Object.keys(expect)) {
    if (!verdicts.some((v) => v.property === property)) {
      out.push(`${property}: expected a verdict, the run has none`);
    }
  }
  return out;
}

/**
 * What the diagram of a trace must show, read off the trace: every drop (with its reason), crash,
 * corruption, network duplicate, retransmission and forgery; every repeated delivery of one
 * message at one node; and every receipt of a broadcast message (origin, n) at a node that had
 * already received it (eager RB's relays).
 */
export function marksOf(trace: readonly TraceEvent[]): Mark[] {
  const out: Mark[] = [];
  for (const d of eventsOf(trace, 'drop'))
    out.push({ kind: 'drop', index: d.index, id: d.e.id, reason: d.e.reason, node: d.e.to });
  for (const c of eventsOf(trace, 'crash'))
    out.push({ kind: 'crash', index: c.index, node: c.e.node });
  for (const c of eventsOf(trace, 'corrupt'))
    out.push({ kind: 'corrupt', index: c.index, id: c.e.id, node: c.e.to });
  for (const d of eventsOf(trace, 'duplicate'))
    out.push({ kind: 'network-duplicate', index: d.index, id: d.e.id, node: d.e.to });
  for (const r of retransmissions(trace))
    out.push({ kind: 'retransmission', index: r.send.index, id: r.send.e.id, node: r.send.e.from });
  for (const s of eventsOf(trace, 'send')) {
    if (s.e.claimedFrom !== undefined)
      out.push({ kind: 'forged', index: s.index, id: s.e.id, node: s.e.from });
  }
  for (const list of deliveriesByKey(trace).values()) {
    for (const d of list.slice(1))
      out.push({ kind: 'duplicate-delivery', index: d.index, node: d.e.node });
  }
  const got = new Set<string>();
  for (const r of eventsOf(trace, 'receive')) {
    const m = record(r.e.msg);
    const inner = record(m?.payload);
    if (m?.type !== 'data' || inner === undefined) continue;
    if (inner.k !== 'rb' && inner.k !== 'urb' && inner.k !== 'beb') continue;
    const key = `${r.e.to}\u0000${text(inner.k)}\u0000${text(inner.o ?? r.e.from)}\u0000${text(inner.n)}`;
    if (got.has(key))
      out.push({ kind: 'redundant-copy', index: r.index, id: r.e.id, node: r.e.to });
    else got.add(key);
  }
  return out.sort((a, b) => a.index - b.index);
}

/** Runs one variant: simulation, comparison, schedule check, explanation. */
export function runVariant(def: VariantDef): VariantResult {
  const run = def.run();
  return {
    ...run,
    key: def.key,
    label: def.label,
    expect: def.expect,
    form: formOfRun(run.verdicts),
    mismatches: compareVerdicts(run.verdicts, def.expect),
    problems: def.check(run),
    explanation: def.explain(run),
    marks: marksOf(run.trace),
  };
}

/** Runs every variant of a scenario and puts the explanation together. */
export function runScenario(def: ScenarioDef): ScenarioResult {
  const variants = def.variants.map(runVariant);
  const conclusion = def.conclude?.(variants) ?? '';
  const parts =
    variants.length === 1
      ? variants.map((v) => v.explanation)
      : variants.map((v) => `${v.label}: ${v.explanation}`);
  if (conclusion !== '') parts.push(conclusion);
  return {
    name: def.name,
    ...(def.diagram === undefined ? {} : { diagram: def.diagram }),
    description: def.description,
    faults: def.faults,
    variants,
    explanation: parts.join('\n\n'),
    ok: variants.every((v) => v.mismatches.length === 0 && v.problems.length === 0),
  };
}
