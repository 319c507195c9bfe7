/**
 * Congestion window for the reliable link: a LOSS-TOLERANT AIMD that reacts to loss EPISODES
 * whose loss rate stands out from the path's background random loss, instead of to every loss.
 * Pure and sans-I/O: the reliable engine feeds it acks and losses, it answers how many messages
 * may be in flight.
 *
 * Why: classic TCP Reno/CUBIC halve (or ×0.7) the window on every loss episode, so on a path
 * with random (non-congestion) loss p the window settles near 1.22/√p segments (Mathis et al.,
 * "The macroscopic behavior of the TCP congestion avoidance algorithm", CCR 1997): 2.7 at 20%
 * loss, a collapse. Our omission faults (a lossy radio, the 20–30% kernel drop of the tests)
 * are random, and the reliable link recovers them by SACK-driven retransmission anyway; what
 * must trigger a back-off is loss CAUSED by sending too fast.
 *
 * Algorithm (per peer, window in messages):
 *   - Rounds: a round ends once as many messages as the window held at its start have been
 *     acked or declared lost (a window's worth of outcomes, ≈ one RTT; BBR counts rounds the
 *     same way, Cardwell et al., "BBR: Congestion-Based Congestion Control", ACM Queue 2016).
 *   - Baseline: an EWMA (gain `baselineGain`) of the per-round loss rate, capped at
 *     `baselineMax`: the background loss the path shows whatever we do.
 *   - Congestion episode: a round whose loss rate exceeds
 *       baseline + max(lossMargin, lossSigmas · σ),  σ = √(b(1−b)/n)
 *     (b the baseline, n the round's outcomes: the round is a binomial sample, so a round of
 *     random loss exceeds 3σ about once in 700 rounds), or exceeds `baselineMax`. The 2% margin
 *     is BBRv2's loss threshold per round (BBRLossThresh, draft-cardwell-iccrg-bbr-congestion-
 *     control-02 §4.5.6). On an episode: window ×`beta` (0.7, CUBIC's β, RFC 9438), and
 *     ssthresh = the new window. At most one reduction per round (like NewReno's recovery
 *     period, RFC 6582): the episode is the round.
 *   - Persistence: only `persistRounds` (2) consecutive rounds over the threshold make an
 *     episode. Real congestion persists until the sender backs off; a random spike does not
 *     (and the loss detector reports losses in bursts, one RACK pass per ack, so single rounds are
 *     over-dispersed compared with the binomial σ above). Costs one round of reaction time.
 *   - Growth: slow start (+1 per acked message, doubling per round) below ssthresh; above it
 *     +max(1, cwnd·growthRatio) per round (growthRatio 1/8: Scalable TCP's multiplicative
 *     increase, Kelly, "Scalable TCP", CCR 2003, so a window cut by a spurious episode regains
 *     its size in a few rounds rather than cwnd rounds; with Reno's +1 a 1000-message window
 *     needs 300 rounds to recover a ×0.7 cut).
 *   - Warm-up: the first `warmupRounds` rounds only learn the baseline (it starts at the mean of
 *     their rates) and never reduce, so a path that is lossy from the first packet is not
 *     mistaken for a congested one.
 *   - Timeouts are losses like any other (counted in the round), NOT a reset to one message as
 *     in TCP: with random loss, a retransmission that is lost again expires by timeout often,
 *     and a reset on each would be the very collapse this module avoids. Persistent congestion
 *     still shows as rounds with loss far above the baseline, and the window shrinks ×0.7 per
 *     round down to `minWindow`.
 *
 * What it does not do: it does not pace (a window's worth may leave in one burst; the
 * receiver's advertised window, reliable.ts, is what protects the receiver's socket buffer),
 * and it does not use delay as a signal (loopback RTTs are dominated by group-commit fsyncs,
 * not queues). A loss rate that creeps up slowly (over tens of rounds) is absorbed into the
 * baseline up to `baselineMax`; beyond it, every lossy round is an episode.
 *
 * Assumes: the engine reports each message's outcome once (acked or lost; a lost message that is
 * later acked is a retransmission success and counts as acked again, which only makes the
 * measured loss rate slightly lower); time is not needed.
 */

import { SteadfastError } from '../../core/errors.ts';

export interface CongestionOptions {
  /** Window at start, in messages (RFC 6928's initial window of 10). */
  readonly initialWindow: number;
  readonly minWindow: number;
  readonly maxWindow: number;
  /** Multiplicative decrease on a congestion episode. */
  readonly beta: number;
  /** Smallest excess of a round's loss rate over the baseline that counts as congestion. */
  readonly lossMargin: number;
  /** Excess in standard deviations of the round's binomial sample that counts as congestion. */
  readonly lossSigmas: number;
  /** EWMA gain of the baseline loss rate per round. */
  readonly baselineGain: number;
  /** Loss rates above this are congestion whatever the baseline. */
  readonly baselineMax: number;
  /** Rounds at the start that only learn the baseline. */
  readonly warmupRounds: number;
  /** Consecutive rounds over the threshold that make an episode. */
  readonly persistRounds: number;
  /** Growth per round above ssthresh, as a fraction of the window (at least +1 message). */
  readonly growthRatio: number;
}

export const CONGESTION_DEFAULTS: CongestionOptions = {
  initialWindow: 10,
  minWindow: 4,
  maxWindow: 65_536,
  beta: 0.7,
  lossMargin: 0.02,
  lossSigmas: 3,
  baselineGain: 1 / 8,
  baselineMax: 0.5,
  warmupRounds: 3,
  persistRounds: 2,
  growthRatio: 1 / 8,
};

export function validateCongestion(o: CongestionOptions): CongestionOptions {
  const bad = (field: string, want: string, got: number): never => {
    throw new SteadfastError('bad-argument', `congestion.${field} must be ${want}, got ${got}`);
  };
  if (!(Number.isInteger(o.minWindow) && o.minWindow >= 1))
    bad('minWindow', 'an integer ≥ 1', o.minWindow);
  if (!(o.initialWindow >= o.minWindow)) bad('initialWindow', '≥ minWindow', o.initialWindow);
  if (!(o.maxWindow >= o.initialWindow)) bad('maxWindow', '≥ initialWindow', o.maxWindow);
  if (!(o.beta > 0 && o.beta < 1)) bad('beta', 'in (0, 1)', o.beta);
  if (!(o.lossMargin >= 0 && o.lossMargin < 1)) bad('lossMargin', 'in [0, 1)', o.lossMargin);
  if (!(o.lossSigmas >= 0)) bad('lossSigmas', '≥ 0', o.lossSigmas);
  if (!(o.baselineGain > 0 && o.baselineGain <= 1))
    bad('baselineGain', 'in (0, 1]', o.baselineGain);
  if (!(o.baselineMax >= 0 && o.baselineMax < 1)) bad('baselineMax', 'in [0, 1)', o.baselineMax);
  if (!(Number.isInteger(o.warmupRounds) && o.warmupRounds >= 0)) {
    bad('warmupRounds', 'an integer ≥ 0', o.warmupRounds);
  }
  if (!(Number.isInteger(o.persistRounds) && o.persistRounds >= 1)) {
    bad('persistRounds', 'an integer ≥ 1', o.persistRounds);
  }
  if (!(o.growthRatio >= 0 && o.growthRatio <= 1)) bad('growthRatio', 'in [0, 1]', o.growthRatio);
  return o;
}

export class CongestionWindow {
  private readonly o: CongestionOptions;
  /** Congestion window in messages (fractional during additive increase). */
  private cwnd: number;
  private ssthresh = Number.POSITIVE_INFINITY;
  /** Background loss-rate estimate. */
  private baseline = 0;
  private rounds = 0;
  private warmupSum = 0;
  private roundAcked = 0;
  private roundLost = 0;
  private roundTarget: number;
  /** Consecutive rounds over the threshold so far. */
  private overRounds = 0;
  /** Counters for stats(). */
  episodes = 0;

  constructor(opts: Partial<CongestionOptions> = {}) {
    this.o = validateCongestion({ ...CONGESTION_DEFAULTS, ...opts });
    this.cwnd = this.o.initialWindow;
    this.roundTarget = this.o.initialWindow;
  }

  /** Messages that may be in flight now. */
  window(): number {
    return Math.floor(this.cwnd);
  }

  /** The background loss rate learnt so far. */
  lossBaseline(): number {
    return this.baseline;
  }

  /** `n` messages were acked for the first time. */
  onAcked(n: number): void {
    if (n <= 0) return;
    if (this.cwnd < this.ssthresh) this.cwnd = Math.min(this.cwnd + n, this.ssthresh);
    else this.cwnd += (n * Math.max(1, this.cwnd * this.o.growthRatio)) / this.cwnd;
    if (this.cwnd > this.o.maxWindow) this.cwnd = this.o.maxWindow;
    this.roundAcked += n;
    this.maybeEndRound();
  }

  /** `n` messages were declared lost (fast retransmit or timeout). */
  onLost(n: number): void {
    if (n <= 0) return;
    this.roundLost += n;
    this.maybeEndRound();
  }

  private maybeEndRound(): void {
    const total = this.roundAcked + this.roundLost;
    if (total < this.roundTarget) return;
    const rate = this.roundLost / total;
    const o = this.o;
    this.rounds++;
    if (this.rounds <= o.warmupRounds) {
      this.warmupSum += rate;
      this.baseline = Math.min(o.baselineMax, this.warmupSum / this.rounds);
    } else {
      const b = this.baseline;
      const sigma = Math.sqrt((Math.max(b, 1 / total) * (1 - b)) / total);
      const threshold = Math.min(o.baselineMax, b + Math.max(o.lossMargin, o.lossSigmas * sigma));
      if (this.roundLost > 0 && rate > threshold) this.overRounds++;
      else this.overRounds = 0;
      if (this.overRounds >= o.persistRounds) {
        this.overRounds = 0;
        this.episodes++;
        this.cwnd = Math.max(o.minWindow, this.cwnd * o.beta);
        this.ssthresh = this.cwnd;
      }
      this.baseline = b + o.baselineGain * (Math.min(rate, o.baselineMax) - b);
    }
    this.roundAcked = 0;
    this.roundLost = 0;
    this.roundTarget = Math.max(o.minWindow, Math.floor(this.cwnd));
  }
}
