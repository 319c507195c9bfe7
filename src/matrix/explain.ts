/**
 * Why a cell has its form: one sentence computed from a protocol's declared tolerance and from
 * the counterexample run itself (how many nodes crashed, restarted, lied; what the network did).
 *
 * Guarantees: every sentence states facts of that run (counts read from its trace) next to what
 * the protocol is configured or designed for, so a cell whose form follows from the
 * configuration (more crashes than its f, crash-stop state under crash-recover, liars with no
 * authentication, no checksum) says so, and any other cell names the protocol's own weakness.
 * Assumes: the run is the cell's counterexample, replayed from its spec.
 */

import type { NodeId } from '../core/ids.ts';
import type { TraceEvent } from '../core/trace.ts';
import type { Verdict } from '../check/verdict.ts';
import type { ProtocolEntry } from './registry.ts';
import type { RunSpec } from './spec.ts';

/** What a protocol is built to survive, as configured for `n` nodes. */
export interface Tolerance {
  /** Crashed processes it tolerates (crash-stop). */
  readonly crashes: (n: number) => number;
  /** Its state survives a restart (a crash-recovery algorithm); false: crash-stop state. */
  readonly durable: boolean;
  /** It masks lost messages (resends until acknowledged, or repairs). */
  readonly omission: boolean;
  /** Byzantine processes it tolerates, with and without authenticated links. */
  readonly byzantine: (n: number, authenticated: boolean) => number;
  /** What its quorums need, for the sentence (e.g. "4 ECHOes"). */
  readonly needs?: (n: number) => string;
  /** The protocol's own weakness, when no fault of the configuration explains the form. */
  readonly weakness: string;
}

interface RunFacts {
  readonly crashed: readonly NodeId[];
  readonly restarts: number;
  readonly lost: number;
  readonly corrupted: number;
  readonly forged: number;
}

function facts(trace: readonly TraceEvent[]): RunFacts {
  const crashed = new Set<NodeId>();
  let restarts = 0;
  let lost = 0;
  let corrupted = 0;
  let forged = 0;
  for (const e of trace) {
    switch (e.type) {
      case 'crash':
        crashed.add(e.node);
        break;
      case 'recover':
        restarts++;
        break;
      case 'drop':
        lost++;
        break;
      case 'corrupt':
        corrupted++;
        break;
      case 'send':
        if (e.claimedFrom !== undefined) forged++;
        break;
      default:
        break;
    }
  }
  return { crashed: [...crashed].sort(), restarts, lost, corrupted, forged };
}

const plural = (k: number, one: string, many = `${one}s`): string => `${k} ${k === 1 ? one : many}`;

/**
 * The sentence for a cell whose counterexample run is `trace` with first violation `violation`,
 * or undefined for a run without one.
 */
export function explainRun(
  entry: ProtocolEntry,
  spec: RunSpec,
  trace: readonly TraceEvent[],
  violation: Verdict | undefined,
): string | undefined {
  if (violation === undefined) return undefined;
  const t = entry.tolerance;
  const n = spec.nodes;
  const name = entry.name;
  const f = facts(trace);
  const needs = t.needs === undefined ? '' : ` and needs ${t.needs(n)}`;
  switch (spec.faults) {
    case 'none':
      return (
        `no fault was injected: the network was only slow (delays up to ${maxDelay(spec)} ms, ` +
        `reordered), and ${t.weakness}`
      );
    case 'crash':
      if (f.crashed.length > t.crashes(n)) {
        return (
          `${f.crashed.length} of ${n} crashed (${f.crashed.join(', ')}); ${name} is configured ` +
          `for f = ${t.crashes(n)}${needs}`
        );
      }
      return `${plural(f.crashed.length, 'node')} crashed (${f.crashed.join(', ')}); ${t.weakness}`;
    case 'crash-recover':
      if (!t.durable) {
        return (
          `${name} keeps its state in memory only (a crash-stop algorithm): ` +
          `${plural(f.restarts, 'restart')} in this run came back with empty state`
        );
      }
      if (!t.omission) {
        return `${t.weakness} (${plural(f.lost, 'message')} dropped in this run, sent to a node that was down)`;
      }
      return `${plural(f.restarts, 'restart')} from durable state: ${t.weakness}`;
    case 'corrupt-nocrc':
      return (
        `no checksum and no HMAC: ${plural(f.corrupted, 'frame')} had bits flipped and nothing ` +
        `on the link checks them, so ${name} took what arrived (or dropped it as malformed, ` +
        `after its link had acknowledged it)`
      );
    case 'byzantine':
    case 'byzantine-noauth':
    case 'byzantine-over': {
      const auth = spec.auth;
      const liars = spec.byzantine.length;
      const tolerated = t.byzantine(n, auth);
      const ids = [...spec.byzantine].sort().join(', ');
      const who = `${plural(liars, 'liar')} (${ids}, racing)`;
      if (liars > tolerated) {
        if (tolerated === 0) {
          return auth
            ? `${name} assumes crash faults only: ${who}; HMAC authenticates each hop's sender, not what it relays`
            : `no HMAC: ${who}, ${plural(f.forged, 'message')} forged in correct nodes' names; ${name} cannot tell them apart`;
        }
        return `${liars} of ${n} lie (${ids}, racing); ${name} is configured for f = ${tolerated}${needs}`;
      }
      if (!t.omission) {
        return `${t.weakness} (the column's omission: ${plural(f.lost, 'message')} dropped in this run)`;
      }
      return `${who}; ${t.weakness}`;
    }
    case 'omission':
    case 'partition':
    case 'corrupt':
      if (!t.omission) {
        const how = spec.faults === 'corrupt' ? ', the CRC turning corruption into loss' : '';
        return `${t.weakness} (${plural(f.lost, 'message')} dropped in this run${how})`;
      }
      return t.weakness;
  }
}

function maxDelay(spec: RunSpec): number {
  const d = spec.network.delay;
  if (d === undefined) return 10;
  return d.kind === 'fixed' ? d.ms : d.maxMs;
}
