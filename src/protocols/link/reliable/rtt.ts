/**
 * Round-trip estimation and the retransmission timeout of one peer (RFC 6298): SRTT and RTTVAR
 * from samples, RTO = SRTT + max(G, 4·RTTVAR) clamped to [rtoMinMs, rtoMaxMs], doubled (capped)
 * on a timeout at most once per RTO interval; plus the smallest sample (RACK's reordering
 * window is a fraction of it).
 *
 * Guarantees: rtoMinMs ≤ rtoMs ≤ rtoMaxMs at all times (asserted); minRttMs never grows.
 */

import { assert } from '../../../core/errors.ts';

export interface RttBounds {
  readonly rtoInitialMs: number;
  readonly rtoMinMs: number;
  readonly rtoMaxMs: number;
  /** Clock granularity G of RFC 6298. */
  readonly clockGranularityMs: number;
}

export class RttEstimator {
  /** Smoothed round trip (undefined until the first sample). */
  srttMs: number | undefined = undefined;
  rttvarMs = 0;
  rtoMs: number;
  /** Smallest round trip seen (RACK's reordering window is a fraction of it). */
  minRttMs = Number.POSITIVE_INFINITY;
  /** No further RTO doubling before this time (one backoff per RTO interval). */
  private backoffUntilAt = 0;

  constructor(private readonly bounds: RttBounds) {
    this.rtoMs = bounds.rtoInitialMs;
  }

  /** One round-trip sample of `rttMs`. */
  sample(rttMs: number): void {
    const b = this.bounds;
    if (rttMs < this.minRttMs) this.minRttMs = rttMs;
    if (this.srttMs === undefined) {
      this.srttMs = rttMs;
      this.rttvarMs = rttMs / 2;
    } else {
      this.rttvarMs = 0.75 * this.rttvarMs + 0.25 * Math.abs(this.srttMs - rttMs);
      this.srttMs = 0.875 * this.srttMs + 0.125 * rttMs;
    }
    const rto = this.srttMs + Math.max(b.clockGranularityMs, 4 * this.rttvarMs);
    this.rtoMs = Math.min(b.rtoMaxMs, Math.max(b.rtoMinMs, rto));
    this.check();
  }

  /** A retransmission timeout at `now`: exponential backoff, once per RTO interval. */
  backoff(now: number): void {
    if (now < this.backoffUntilAt) return;
    this.backoffUntilAt = now + this.rtoMs;
    this.rtoMs = Math.min(this.bounds.rtoMaxMs, this.rtoMs * 2);
    this.check();
  }

  private check(): void {
    assert(
      this.rtoMs >= this.bounds.rtoMinMs && this.rtoMs <= this.bounds.rtoMaxMs,
      `rtt: rtoMinMs ≤ rtoMs ≤ rtoMaxMs (rtoMs ${this.rtoMs})`,
    );
  }
}
