/**
 * The catalogue of scenarios, in the lecture's order, and the entry points that run them.
 *
 * Guarantees: names are unique; `runNamedScenario` throws a RangeError naming the accepted names
 * for an unknown one; `allScenarioRuns` runs every scenario and returns one entry per variant
 * (name, description, explanation, trace, verdicts), the shape the matrix HTML report embeds in
 * its "Scenarios" section (`Scenario` in src/viz/html.ts).
 */

import { BROADCAST_SCENARIOS } from './broadcast.ts';
import { KV_SCENARIOS } from './kv.ts';
import { LINK_SCENARIOS } from './links.ts';
import { runScenario, type ScenarioDef, type ScenarioResult, type ScenarioRun } from './model.ts';

/** The lecture's order. */
const ORDER = [
  'lost-message',
  'retransmit',
  'lost-ack',
  'dedup',
  'idempotent-set',
  'increment',
  'corrupt-no-checksum',
  'corrupt-checksum',
  'forged',
  'beb-sender-crash',
  'rb-sender-crash',
  'rb-duplicates',
  'rb-crashed-deliverer',
  'rb-omission',
  'bracha-equivocation',
  'masking-vs-failsafe',
  'kv-one-copy',
  'kv-lost-reply',
  'kv-split-brain',
  'kv-stale-read',
  'kv-leader-crash',
] as const;

function ordered(): readonly ScenarioDef[] {
  const all = [...LINK_SCENARIOS, ...BROADCAST_SCENARIOS, ...KV_SCENARIOS];
  const byName = new Map(all.map((s) => [s.name, s]));
  const out: ScenarioDef[] = [];
  for (const name of ORDER) {
    const s = byName.get(name);
    if (s === undefined) throw new Error(`scenario ${name} is listed but not defined`);
    out.push(s);
  }
  for (const s of all) if (!out.includes(s)) out.push(s);
  return out;
}

export const SCENARIOS: readonly ScenarioDef[] = ordered();

export function scenarioNames(): string[] {
  return SCENARIOS.map((s) => s.name);
}

export function findScenario(name: string): ScenarioDef | undefined {
  return SCENARIOS.find((s) => s.name === name);
}

/** Runs the scenario called `name`. */
export function runNamedScenario(name: string): ScenarioResult {
  const def = findScenario(name);
  if (def === undefined) {
    throw new RangeError(`no scenario "${name}"; accepted: ${scenarioNames().join(', ')}`);
  }
  return runScenario(def);
}

/** Every scenario's runs, one entry per variant (for reports). */
export function scenarioRunsOf(r: ScenarioResult): ScenarioRun[] {
  return r.variants.map((v) => ({
    name: r.variants.length === 1 ? r.name : `${r.name} · ${v.key}`,
    description: r.variants.length === 1 ? r.description : `${r.description} This run: ${v.label}.`,
    explanation: v.explanation,
    trace: v.trace,
    verdicts: v.verdicts,
    scenario: r.name,
    variant: v.key,
    ok: v.mismatches.length === 0 && v.problems.length === 0,
  }));
}

/** Runs every scenario; one entry per variant, in the lecture's order. */
export function allScenarioRuns(): ScenarioRun[] {
  return SCENARIOS.flatMap((def) => scenarioRunsOf(runScenario(def)));
}
