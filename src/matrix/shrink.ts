/**
 * The shrinker: given a run that violates a property, find a smaller run that still violates
 * the SAME property (fewer nodes, fewer workload commands, fewer fault actions, fewer kinds of
 * network fault), greedily, like delta debugging.
 *
 * Guarantees: the result still fails `property` (every candidate is re-run and checked; runs are
 * deterministic, so a re-run of the result fails again) and is never larger than the input by
 * `size` (a candidate is accepted only if strictly smaller). Bounded by `maxRuns` re-runs.
 * Assumes: runs are cheap (milliseconds); a smaller schedule may change what the seed's
 * generator draws later, which is fine: any failing run is a valid counterexample.
 */

import { nodeIds, type NodeId } from '../core/ids.ts';
import type { NemesisAction, TimedAction } from '../sim/nemesis.ts';
import type { LinkFaults } from '../sim/network.ts';
import type { ScheduledCommand } from '../sim/simulator.ts';
import { runSpec, type RunSpec } from './spec.ts';

/** How big a run is: nodes + workload commands + fault actions + active network fault kinds. */
export function size(spec: RunSpec): number {
  const n = spec.network;
  const knobs = [n.lossProbability, n.duplicateProbability, n.corruptProbability].filter(
    (p) => (p ?? 0) > 0,
  ).length;
  return spec.nodes + spec.workload.length + spec.nemesis.length + knobs;
}

export function fails(spec: RunSpec, property: string): boolean {
  return runSpec(spec).verdicts.some((v) => v.property === property && !v.holds);
}

export interface ShrinkResult {
  readonly spec: RunSpec;
  readonly runs: number;
  readonly from: number;
  readonly to: number;
}

/** Removes the last node: drops every command, action and Byzantine role that names it. */
export function withoutLastNode(spec: RunSpec): RunSpec | undefined {
  if (spec.nodes <= 2) return undefined;
  const gone = nodeIds(spec.nodes)[spec.nodes - 1] as NodeId;
  const names = (cmd: unknown) => JSON.stringify(cmd).includes(`"${gone}"`);
  const keepAction = (a: NemesisAction): NemesisAction | undefined => {
    switch (a.kind) {
      case 'crash':
      case 'recover':
        return a.node === gone ? undefined : a;
      case 'partition': {
        const groups = a.groups.map((g) => g.filter((x) => x !== gone)).filter((g) => g.length > 0);
        return groups.length > 1 ? { ...a, groups } : undefined;
      }
      case 'partition-oneway': {
        const from = a.from.filter((x) => x !== gone);
        const to = a.to.filter((x) => x !== gone);
        return from.length > 0 && to.length > 0 ? { ...a, from, to } : undefined;
      }
      case 'network':
        return a.link?.includes(gone) === true ? undefined : a;
      case 'forge':
        return a.from === gone || a.as === gone || a.to === gone ? undefined : a;
      case 'heal':
      case 'heal-all':
      case 'replay':
        return a;
    }
  };
  const nemesis: TimedAction[] = [];
  for (const t of spec.nemesis) {
    const a = keepAction(t.action);
    if (a !== undefined) nemesis.push({ at: t.at, action: a });
  }
  const workload = spec.workload.filter((w) => w.node !== gone && !names(w.cmd));
  return {
    ...spec,
    nodes: spec.nodes - 1,
    workload,
    nemesis,
    byzantine: spec.byzantine.filter((b) => b !== gone),
  };
}

/** Candidate specs with one chunk of a list removed (halves, quarters, … single items). */
function* chunksRemoved<T>(
  items: readonly T[],
  keep: (x: T) => boolean = () => false,
): Generator<T[]> {
  for (let chunk = Math.max(1, items.length >> 1); chunk >= 1; chunk >>= 1) {
    for (let start = 0; start < items.length; start += chunk) {
      const removed = items.slice(start, start + chunk);
      if (removed.every(keep)) continue;
      yield [...items.slice(0, start), ...removed.filter(keep), ...items.slice(start + chunk)];
    }
    if (chunk === 1) break;
  }
}

export function shrink(spec: RunSpec, property: string, maxRuns = 400): ShrinkResult {
  let best = spec;
  let runs = 0;
  const from = size(spec);
  const tryAccept = (candidate: RunSpec | undefined): boolean => {
    if (candidate === undefined || runs >= maxRuns || size(candidate) >= size(best)) return false;
    runs++;
    if (!fails(candidate, property)) return false;
    best = candidate;
    return true;
  };
  for (let progress = true; progress && runs < maxRuns;) {
    progress = false;
    // 1. Fewer nodes.
    while (tryAccept(withoutLastNode(best))) progress = true;
    // 2. Fewer fault actions (the final heal-all stays: the liveness phase needs it).
    for (const nemesis of chunksRemoved(best.nemesis, (t) => t.action.kind === 'heal-all')) {
      if (tryAccept({ ...best, nemesis })) {
        progress = true;
        break;
      }
    }
    // 3. Fewer workload commands.
    for (const workload of chunksRemoved<ScheduledCommand<unknown>>(best.workload)) {
      if (tryAccept({ ...best, workload })) {
        progress = true;
        break;
      }
    }
    // 4. Fewer kinds of network fault.
    for (const knob of ['lossProbability', 'duplicateProbability', 'corruptProbability'] as const) {
      if ((best.network[knob] ?? 0) > 0) {
        const network: Partial<LinkFaults> = { ...best.network, [knob]: 0 };
        if (tryAccept({ ...best, network })) progress = true;
      }
    }
  }
  return { spec: best, runs, from, to: size(best) };
}
