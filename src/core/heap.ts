/**
 * A binary min-heap of scheduled events ordered by (time, insertion sequence): the simulator's
 * event queue, the runtime driver's timer queue (core/timers.ts) and the test harnesses' queues.
 *
 * Guarantees: `pop` returns the earliest event; events at the same time come out in the order
 * they were pushed, so a run is deterministic whatever the heap's internal layout.
 */

export interface Scheduled {
  readonly at: number;
  /** Insertion sequence, assigned by the heap. */
  seq: number;
}

export class EventHeap<E extends Scheduled> {
  private items: E[] = [];
  private nextSeq = 0;

  get size(): number {
    return this.items.length;
  }

  push(e: E): void {
    e.seq = this.nextSeq++;
    const items = this.items;
    let i = items.length;
    items.push(e);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent] as E;
      if (p.at < e.at || (p.at === e.at && p.seq < e.seq)) break;
      items[i] = p;
      i = parent;
    }
    items[i] = e;
  }

  /** Drops every event (the insertion sequence keeps counting). */
  clear(): void {
    this.items.length = 0;
  }

  peek(): E | undefined {
    return this.items[0];
  }

  pop(): E | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    const n = items.length;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      let child = items[l] as E;
      if (r < n) {
        const right = items[r] as E;
        if (right.at < child.at || (right.at === child.at && right.seq < child.seq)) {
          c = r;
          child = right;
        }
      }
      if (last.at < child.at || (last.at === child.at && last.seq < child.seq)) break;
      items[i] = child;
      i = c;
    }
    items[i] = last;
    return top;
  }
}
