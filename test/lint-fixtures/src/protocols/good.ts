// Lint fixture (test/lint.test.ts): pure protocol code. Time comes in as `now`, randomness as an
// injected function, and the result is a decision for the driver to carry out.

export interface RetransmitState {
  readonly sentAtMs: number;
  readonly attempts: number;
}

export interface Rng {
  /** A uniformly distributed float in [0, 1). */
  next(): number;
}

export type Decision =
  | { readonly kind: 'wait'; readonly untilMs: number }
  | { readonly kind: 'resend'; readonly attempt: number }
  | { readonly kind: 'give-up'; readonly reason: string };

export function onTick(
  state: RetransmitState,
  now: number,
  rto: number,
  maxAttempts: number,
  rng: Rng,
): Decision {
  if (state.attempts >= maxAttempts) {
    return { kind: 'give-up', reason: `no ack after ${state.attempts} attempts` };
  }
  const backoffMs = rto * 2 ** state.attempts;
  const jitterMs = Math.floor(rng.next() * (backoffMs / 4));
  const deadline = state.sentAtMs + backoffMs + jitterMs;
  if (now < deadline) return { kind: 'wait', untilMs: deadline };
  return { kind: 'resend', attempt: state.attempts + 1 };
}
