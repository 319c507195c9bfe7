/**
 * The forms of fault tolerance (the course's 2×2 table), computed from checked runs:
 *
 *                 live            not live
 *   safe          masking         fail-safe
 *   not safe      non-masking     none
 *
 * A protocol is safe under a fault model when no safety property failed in any run, and live
 * when no liveness property failed in any run (after the healed liveness phase). So a single
 * counterexample moves a cell; more runs can only move it towards "none". Anything short of
 * masking carries the seed of a counterexample and the first violated property (a safety
 * violation is preferred over a liveness one: it is the stronger statement).
 */

export type Form = 'masking' | 'fail-safe' | 'non-masking' | 'none';

export const FORMS: readonly Form[] = ['masking', 'fail-safe', 'non-masking', 'none'];

export const FORM_MEANING: Record<Form, string> = {
  masking: 'safe and live: the faults are masked',
  'fail-safe': 'safe, not live: it may stop making progress, never does wrong',
  'non-masking': 'live, not safe: it keeps going but may do wrong',
  none: 'neither safe nor live',
};

export interface RunOutcome {
  readonly seed: number;
  readonly safe: boolean;
  readonly live: boolean;
  /** The run's first violation (safety first), if any. */
  readonly violation?: {
    readonly property: string;
    readonly kind: 'safety' | 'liveness';
    readonly message: string;
  };
}

export interface Classification {
  readonly form: Form;
  readonly runs: number;
  readonly safeRuns: number;
  readonly liveRuns: number;
  /** For anything short of masking: the run that shows it. */
  readonly counterexample?: {
    readonly seed: number;
    readonly property: string;
    readonly kind: 'safety' | 'liveness';
    readonly message: string;
  };
}

export function formOf(safe: boolean, live: boolean): Form {
  if (safe) return live ? 'masking' : 'fail-safe';
  return live ? 'non-masking' : 'none';
}

export function classify(outcomes: readonly RunOutcome[]): Classification {
  const runs = outcomes.length;
  const safeRuns = outcomes.filter((o) => o.safe).length;
  const liveRuns = outcomes.filter((o) => o.live).length;
  const form = formOf(safeRuns === runs, liveRuns === runs);
  if (form === 'masking') return { form, runs, safeRuns, liveRuns };
  const pick =
    [...outcomes].sort((a, b) => a.seed - b.seed).find((o) => !o.safe) ??
    [...outcomes].sort((a, b) => a.seed - b.seed).find((o) => !o.live);
  const v = pick?.violation;
  if (pick === undefined || v === undefined) return { form, runs, safeRuns, liveRuns };
  return { form, runs, safeRuns, liveRuns, counterexample: { seed: pick.seed, ...v } };
}
