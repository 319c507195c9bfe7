/**
 * The receiver's out-of-order seqs above its watermark: a set for membership plus the same seqs
 * in ascending order (an array with a moving head), kept sorted on insertion. Seqs mostly arrive
 * in order, so an insertion is near the end; the durable `rx` record and every ack need the
 * sorted list, which is then a copy instead of a sort of the whole window per message.
 *
 * Guarantees: `sorted()` is the set's members in ascending order; memory is O(size) (the head
 * is reclaimed once it passes `HEAD_RECLAIM_MIN` slots and half the array).
 */

/** Dead slots at the head before the array is compacted (amortises the copy). */
const HEAD_RECLAIM_MIN = 1024;

export class SeqWindow {
  private readonly set = new Set<number>();
  private arr: number[] = [];
  private head = 0;

  get size(): number {
    return this.set.size;
  }

  has(seq: number): boolean {
    return this.set.has(seq);
  }

  add(seq: number): void {
    if (this.set.has(seq)) return;
    this.set.add(seq);
    const a = this.arr;
    if (a.length === this.head || (a[a.length - 1] ?? 0) < seq) {
      a.push(seq);
      return;
    }
    let lo = this.head;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((a[mid] ?? 0) < seq) lo = mid + 1;
      else hi = mid;
    }
    a.splice(lo, 0, seq);
  }

  /** Removes every seq ≤ `w` (they are the smallest). */
  deleteUpTo(w: number): void {
    const a = this.arr;
    while (this.head < a.length && (a[this.head] ?? 0) <= w) {
      this.set.delete(a[this.head] ?? 0);
      this.head++;
    }
    if (this.head === a.length) {
      this.arr = [];
      this.head = 0;
    } else if (this.head > HEAD_RECLAIM_MIN && this.head * 2 > a.length) {
      this.arr = a.slice(this.head);
      this.head = 0;
    }
  }

  /** The seqs in ascending order (a fresh array). */
  sorted(): number[] {
    return this.arr.slice(this.head);
  }
}
