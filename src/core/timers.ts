/**
 * A protocol's named timers, as every driver keeps them (after quinn's `TimerTable`).
 *
 * A protocol arms a timer by name (`setTimer(name, at)` replaces any earlier setting of the same
 * name) and disarms it (`cancelTimer(name)`). A driver cannot take a deadline back out of its
 * event queue, so each arming gets a GENERATION: the queue holds (name, generation, deadline),
 * and when a deadline comes the timer fires only if that generation is still the armed one. A
 * deadline of a replaced or cancelled arming is ignored.
 *
 * - `TimerTable`: the generations only, for drivers whose timers share one event queue with
 *   other events (the simulator, test harnesses).
 * - `TimerQueue`: a `TimerTable` plus its own heap of deadlines (the runtime driver, which arms
 *   one host timer for the earliest live deadline).
 *
 * Guarantees: generations never repeat within a table, even across `clear()` (so a deadline
 * armed before a clear never fires after it); deadlines come out in (time, arming) order.
 */

import { EventHeap, type Scheduled } from './heap.ts';

export class TimerTable {
  /** name → generation of its current arming. */
  private readonly armed = new Map<string, number>();
  private nextGen = 1;

  /** Arms `name` (replacing any earlier arming) and returns the new arming's generation. */
  arm(name: string): number {
    const gen = this.nextGen++;
    this.armed.set(name, gen);
    return gen;
  }

  /** Disarms `name` (no-op if it is not armed). */
  cancel(name: string): void {
    this.armed.delete(name);
  }

  /** Whether the deadline of (`name`, `gen`) belongs to the current arming of `name`. */
  isCurrent(name: string, gen: number): boolean {
    return this.armed.get(name) === gen;
  }

  /**
   * The deadline of (`name`, `gen`) has come: true, and the timer is disarmed, if that arming is
   * still the current one; false (ignore it) if it was replaced or cancelled.
   */
  fire(name: string, gen: number): boolean {
    if (this.armed.get(name) !== gen) return false;
    this.armed.delete(name);
    return true;
  }

  /** Disarms every timer (a crash or a stop). */
  clear(): void {
    this.armed.clear();
  }

  get size(): number {
    return this.armed.size;
  }
}

interface Deadline extends Scheduled {
  readonly name: string;
  readonly gen: number;
}

/** Named timers with their own deadline heap: `next()` is when a host timer must wake. */
export class TimerQueue {
  private readonly table = new TimerTable();
  private readonly heap = new EventHeap<Deadline>();

  arm(name: string, at: number): void {
    this.heap.push({ at, seq: 0, name, gen: this.table.arm(name) });
  }

  cancel(name: string): void {
    this.table.cancel(name);
  }

  /** The earliest deadline of an armed timer (stale deadlines are dropped), if any. */
  next(): number | undefined {
    for (let top = this.heap.peek(); top !== undefined; top = this.heap.peek()) {
      if (this.table.isCurrent(top.name, top.gen)) return top.at;
      this.heap.pop();
    }
    return undefined;
  }

  /** The name of an armed timer due by `now` (earliest first), disarmed; undefined if none. */
  popDue(now: number): string | undefined {
    for (let top = this.heap.peek(); top !== undefined && top.at <= now; top = this.heap.peek()) {
      this.heap.pop();
      if (this.table.fire(top.name, top.gen)) return top.name;
    }
    return undefined;
  }

  clear(): void {
    this.table.clear();
    this.heap.clear();
  }
}
