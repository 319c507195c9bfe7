/**
 * Nemesis schedules: timed fault actions against the simulated cluster, as plain data.
 *
 * Guarantees: a schedule is a list of `{ at, action }` that the simulator applies at virtual
 * time `at`, in list order for equal times. Schedules can be written by hand (scenarios, the
 * shrinker) or generated from a seed with `generateNemesis`; either way they are recorded with
 * the run, so a run can be replayed and shrunk.
 */

import type { NodeId } from '../core/ids.ts';
import type { Rng } from '../core/rng.ts';
import type { LinkFaults } from './network.ts';

export type NemesisAction =
  /**
   * Crash `node` (crash-stop unless a later `recover` names it). With `afterOutputs`, the crash
   * is armed instead: it happens inside the node's next step that has more than `afterOutputs`
   * outputs, right after that many were carried out (a crash between two outputs).
   */
  | {
      readonly kind: 'crash';
      readonly node: NodeId;
      readonly afterOutputs?: number;
      /** With `afterOutputs`: if no step is long enough within this time, crash at its end. */
      readonly withinMs?: number;
      /** Crash-recover: restart the node this long after the crash actually happens. */
      readonly recoverAfterMs?: number;
    }
  /** Restart a crashed node from its persisted records. */
  | { readonly kind: 'recover'; readonly node: NodeId }
  /** Symmetric partition: nodes in different groups cannot reach each other. */
  | { readonly kind: 'partition'; readonly groups: readonly (readonly NodeId[])[] }
  /** One-way partition: messages from any of `from` to any of `to` are dropped. */
  | {
      readonly kind: 'partition-oneway';
      readonly from: readonly NodeId[];
      readonly to: readonly NodeId[];
    }
  /** Remove every partition. */
  | { readonly kind: 'heal' }
  /** Change fault settings for every link, or for the one directed link `link`. */
  | {
      readonly kind: 'network';
      readonly faults: Partial<LinkFaults>;
      readonly link?: readonly [NodeId, NodeId];
    }
  /**
   * End of the fault phase: heal partitions, clear per-link overrides, reset the default link to
   * the given fault-free settings, and recover every crashed node that may recover.
   */
  | { readonly kind: 'heal-all'; readonly recoverCrashed: boolean }
  /** An adversary at `from` sends `msg` to `to` claiming to be `as` (a forgery). */
  | {
      readonly kind: 'forge';
      readonly from: NodeId;
      readonly as: NodeId;
      readonly to: NodeId;
      readonly msg: unknown;
    }
  /** An adversary re-injects the frame of the earlier send with wire id `id` (a replay). */
  | { readonly kind: 'replay'; readonly id: number };

export interface TimedAction {
  readonly at: number;
  readonly action: NemesisAction;
}

export interface NemesisOptions {
  /** Faults happen in [0, faultPhaseMs); the schedule ends with a `heal-all` at faultPhaseMs. */
  readonly faultPhaseMs: number;
  /** How many crashes to schedule. */
  readonly crashes: number;
  /** At most this many nodes down at once (e.g. f < N/2 for crash tolerance). */
  readonly maxDown: number;
  /** Crashed nodes come back after a while (crash-recover) instead of staying down. */
  readonly recover: boolean;
  /** How many partitions (each healed before the next starts). */
  readonly partitions: number;
  /**
   * How long an armed crash (one between two outputs of a step) waits for a step long enough
   * before it happens anyway (default 50 ms). Longer waits land more crashes inside the long
   * steps, such as a broadcast's loop of sends.
   */
  readonly armWithinMs?: number;
  /** Nodes that are never crashed (e.g. the sender whose messages a checker follows). */
  readonly spare?: readonly NodeId[];
}

/**
 * A random schedule drawn from `rng`. Crash times, victims, partition shapes and durations are all
 * seeded; nothing happens at or after `faultPhaseMs` except the final `heal-all`.
 */
export function generateNemesis(
  rng: Rng,
  nodes: readonly NodeId[],
  opts: NemesisOptions,
): TimedAction[] {
  const out: TimedAction[] = [];
  const end = opts.faultPhaseMs;
  const candidates = nodes.filter((n) => !(opts.spare ?? []).includes(n));
  const downUntil = new Map<NodeId, number>();
  for (let i = 0; i < opts.crashes && candidates.length > 0; i++) {
    const at = rng.int(Math.max(1, end));
    for (const [n, until] of downUntil) if (until <= at) downUntil.delete(n);
    if (downUntil.size >= opts.maxDown) continue;
    const up = candidates.filter((n) => !downUntil.has(n));
    if (up.length === 0) continue;
    const node = up[rng.int(up.length)] as NodeId;
    const afterOutputs = rng.chance(0.7) ? rng.int(12) : undefined;
    const withinMs = opts.armWithinMs ?? 50;
    const recoverAfterMs = 1 + rng.int(Math.max(1, Math.floor(end / 4)));
    const crash: NemesisAction = {
      kind: 'crash',
      node,
      ...(afterOutputs === undefined ? {} : { afterOutputs, withinMs }),
      ...(opts.recover ? { recoverAfterMs } : {}),
    };
    out.push({ at, action: crash });
    if (opts.recover) {
      downUntil.set(node, at + withinMs + recoverAfterMs);
    } else {
      downUntil.set(node, Number.POSITIVE_INFINITY);
    }
  }
  let cursor = 0;
  const slot = end / Math.max(1, opts.partitions);
  for (let i = 0; i < opts.partitions && nodes.length > 1; i++) {
    const start = Math.floor(cursor + rng.next() * slot * 0.5);
    const stop = Math.min(end, Math.floor(start + 1 + rng.next() * slot * 0.5));
    const shuffled = shuffle(rng, [...nodes]);
    const cut = 1 + rng.int(nodes.length - 1);
    if (rng.chance(0.25)) {
      out.push({
        at: start,
        action: { kind: 'partition-oneway', from: shuffled.slice(0, cut), to: shuffled.slice(cut) },
      });
    } else {
      out.push({
        at: start,
        action: { kind: 'partition', groups: [shuffled.slice(0, cut), shuffled.slice(cut)] },
      });
    }
    out.push({ at: stop, action: { kind: 'heal' } });
    cursor += slot;
  }
  out.sort((a, b) => a.at - b.at);
  out.push({ at: end, action: { kind: 'heal-all', recoverCrashed: opts.recover } });
  return out;
}

/** Fisher–Yates shuffle in place with the given generator. */
export function shuffle<T>(rng: Rng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const tmp = items[i] as T;
    items[i] = items[j] as T;
    items[j] = tmp;
  }
  return items;
}
