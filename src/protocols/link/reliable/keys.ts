/**
 * Exactly-once idempotency keys: an application key is applied at most once while it is
 * remembered, i.e. for `keyWindowMs` after its first arrival and while fewer than `keyMax` newer
 * keys have arrived (the oldest is forgotten first). Outside that window a retried key is applied
 * again; the window is the documented bound, as NATS JetStream's duplicate window is.
 *
 * Guarantees: at most `keyMax` keys are held; the Map's insertion order is expiry order (every
 * key gets the same window, and `now` never goes backwards within an incarnation: asserted).
 */

import { assert } from '../../../core/errors.ts';
import type { DurableWrite } from '../../../core/protocol.ts';
import { idemKey } from './durable-keys.ts';

export class KeyTable {
  /** Key → expiry time, oldest first. */
  private readonly keys = new Map<string, number>();
  private lastExpiry = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly keyWindowMs: number,
    private readonly keyMax: number,
  ) {}

  get size(): number {
    return this.keys.size;
  }

  /**
   * A key read back from durable state at start (in its first-write order). The order check of
   * `add` covers this incarnation only: a real clock may step back across a restart.
   */
  restore(key: string, expires: number): void {
    this.keys.set(key, expires);
  }

  has(key: string): boolean {
    return this.keys.has(key);
  }

  /** Forgets every key expired at `now`. */
  expire(now: number): void {
    for (const [k, expires] of this.keys) {
      if (expires > now) break; // insertion order is expiry order
      this.keys.delete(k);
    }
  }

  /** Remembers `key` from `now`; pushes its durable write (and the eviction's, if full). */
  add(key: string, now: number, writes: DurableWrite[]): void {
    const expires = now + this.keyWindowMs;
    assert(expires >= this.lastExpiry, 'keys: insertion order is expiry order');
    this.lastExpiry = expires;
    this.keys.set(key, expires);
    writes.push({ key: idemKey(key), value: expires });
    if (this.keys.size > this.keyMax) {
      const oldest = this.keys.keys().next().value as string;
      this.keys.delete(oldest);
      writes.push({ key: idemKey(oldest), value: null });
    }
  }
}
