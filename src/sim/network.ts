/**
 * The simulated network's fault model: what can happen to a message on a directed link.
 *
 * Guarantees: every random choice is drawn from the simulator's seeded generator, so a seed
 * replays the same losses, copies, delays and bit flips. Delays are whole milliseconds.
 * Random delays reorder messages (a later send can arrive first); a fixed delay keeps order.
 * Assumes: settings are validated with `validateFaults` before use.
 */

import type { Rng } from '../core/rng.ts';
import type { NodeId } from '../core/ids.ts';

export type Delay =
  | { readonly kind: 'fixed'; readonly ms: number }
  | { readonly kind: 'uniform'; readonly minMs: number; readonly maxMs: number }
  /** `minMs` plus an exponential with mean `meanMs`, capped at `maxMs`. */
  | {
      readonly kind: 'exponential';
      readonly minMs: number;
      readonly meanMs: number;
      readonly maxMs: number;
    };

export interface LinkFaults {
  /** Probability that a send is lost entirely (omission). */
  readonly lossProbability: number;
  /** Probability that a send that is not lost arrives more than once. */
  readonly duplicateProbability: number;
  /** Extra copies when duplicated: uniform in 1..duplicateMaxCopies (at most 3). */
  readonly duplicateMaxCopies: number;
  readonly delay: Delay;
  /** Probability that a copy's encoded frame has bits flipped in flight. */
  readonly corruptProbability: number;
  /** Bits flipped in a corrupted copy: uniform in 1..corruptMaxBits. */
  readonly corruptMaxBits: number;
  /**
   * A stuck line: every corrupted copy has the bit this far from its frame's END flipped (the
   * same field of every message with the same layout), instead of random bits. Absent: random.
   */
  readonly corruptBitFromEnd?: number;
}

export const RELIABLE: LinkFaults = {
  lossProbability: 0,
  duplicateProbability: 0,
  duplicateMaxCopies: 1,
  delay: { kind: 'uniform', minMs: 1, maxMs: 10 },
  corruptProbability: 0,
  corruptMaxBits: 1,
};

export function linkKey(from: NodeId, to: NodeId): string {
  return `${from}->${to}`;
}

function isProbability(p: number): boolean {
  return Number.isFinite(p) && p >= 0 && p <= 1;
}

/** Throws a RangeError naming the bad field; returns the settings unchanged when valid. */
export function validateFaults(f: LinkFaults, where = 'network'): LinkFaults {
  const bad = (field: string, want: string, got: unknown): never => {
    throw new RangeError(`${where}.${field} must be ${want}, got ${JSON.stringify(got)}`);
  };
  if (!isProbability(f.lossProbability)) bad('lossProbability', 'in [0, 1]', f.lossProbability);
  if (!isProbability(f.duplicateProbability)) {
    bad('duplicateProbability', 'in [0, 1]', f.duplicateProbability);
  }
  if (!Number.isInteger(f.duplicateMaxCopies) || f.duplicateMaxCopies < 1) {
    bad('duplicateMaxCopies', 'an integer in 1..3', f.duplicateMaxCopies);
  }
  if (f.duplicateMaxCopies > 3)
    bad('duplicateMaxCopies', 'an integer in 1..3', f.duplicateMaxCopies);
  if (!isProbability(f.corruptProbability)) {
    bad('corruptProbability', 'in [0, 1]', f.corruptProbability);
  }
  if (!Number.isInteger(f.corruptMaxBits) || f.corruptMaxBits < 1 || f.corruptMaxBits > 64) {
    bad('corruptMaxBits', 'an integer in 1..64', f.corruptMaxBits);
  }
  const stuck = f.corruptBitFromEnd;
  if (stuck !== undefined && (!Number.isInteger(stuck) || stuck < 0)) {
    bad('corruptBitFromEnd', 'a whole number ≥ 0', stuck);
  }
  const d = f.delay;
  const ms = (field: string, v: number) => {
    if (!Number.isInteger(v) || v < 0) bad(`delay.${field}`, 'a whole number of ms ≥ 0', v);
  };
  switch (d.kind) {
    case 'fixed':
      ms('ms', d.ms);
      break;
    case 'uniform':
      ms('minMs', d.minMs);
      ms('maxMs', d.maxMs);
      if (d.maxMs < d.minMs) bad('delay.maxMs', '≥ delay.minMs', d.maxMs);
      break;
    case 'exponential':
      ms('minMs', d.minMs);
      ms('maxMs', d.maxMs);
      if (!(d.meanMs > 0)) bad('delay.meanMs', '> 0', d.meanMs);
      if (d.maxMs < d.minMs) bad('delay.maxMs', '≥ delay.minMs', d.maxMs);
      break;
  }
  return f;
}

/** The least delay `d` can give (what a racing adversary's messages take). */
export function minDelayMs(d: Delay): number {
  return d.kind === 'fixed' ? d.ms : d.minMs;
}

/** Draws one delay in whole milliseconds. */
export function sampleDelayMs(d: Delay, rng: Rng): number {
  switch (d.kind) {
    case 'fixed':
      return d.ms;
    case 'uniform':
      return d.minMs === d.maxMs ? d.minMs : rng.intBetween(d.minMs, d.maxMs);
    case 'exponential': {
      const x = d.minMs + Math.round(-Math.log(1 - rng.next()) * d.meanMs);
      return Math.min(x, d.maxMs);
    }
  }
}
