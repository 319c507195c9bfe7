/**
 * A set of positive sequence numbers kept as a contiguous watermark plus a bounded window of
 * numbers seen above it: memory O(window), never a set of every number ever added.
 *
 * Guarantees: `has(n)` is exact for every n ≤ watermark + maxAhead. Adding a number more than
 * `maxAhead` above the watermark is refused (`add` returns 'overflow') instead of growing the
 * window, so the caller decides (drop, wait for a retransmission).
 * Assumes: numbers start at 1 and the producer eventually fills every gap (or the caller moves
 * the watermark with `advanceTo`).
 */

export type AddResult = 'added' | 'present' | 'overflow';

export class SeqSet {
  /** Every n ≤ watermark is in the set. */
  private w = 0;
  private readonly above = new Set<number>();

  constructor(readonly maxAhead: number) {
    if (!Number.isInteger(maxAhead) || maxAhead < 1) throw new RangeError('maxAhead must be ≥ 1');
  }

  get watermark(): number {
    return this.w;
  }

  /** Numbers held above the watermark (the memory this set uses, in entries). */
  get windowSize(): number {
    return this.above.size;
  }

  has(n: number): boolean {
    return n <= this.w || this.above.has(n);
  }

  add(n: number): AddResult {
    if (this.has(n)) return 'present';
    if (n > this.w + this.maxAhead) return 'overflow';
    this.above.add(n);
    while (this.above.delete(this.w + 1)) this.w++;
    return 'added';
  }

  /** Declares every n ≤ `n` present (e.g. a sender says everything below is settled). */
  advanceTo(n: number): void {
    if (n <= this.w) return;
    this.w = n;
    for (const x of this.above) if (x <= n) this.above.delete(x);
    while (this.above.delete(this.w + 1)) this.w++;
  }

  /** Plain-data form for persisting; `SeqSet.from` restores it. */
  toJSON(): { w: number; above: number[] } {
    return { w: this.w, above: [...this.above].sort((a, b) => a - b) };
  }

  static from(data: { w: number; above: readonly number[] }, maxAhead: number): SeqSet {
    const s = new SeqSet(maxAhead);
    s.advanceTo(data.w);
    for (const n of data.above) s.add(n);
    return s;
  }
}
