/**
 * The durable inbox of the receiving half (`inboxMax` set): exactly-once to the APPLICATION, not
 * only to the engine's effect. An exactly-once message is written under `inbox/<from>/<seq>` in
 * the SAME atomic persist as its dedup mark, before the ack, and deleted only when the
 * application acknowledges it (`inbox-ack`). So a message the node acked to its sender is in
 * the inbox or has been taken by the application, whatever crashes in between: a notification
 * lost to a crash (the `deliver` after the persist) is offered again at the next start.
 *
 * The application's side of the pattern (the "inbox pattern"): each message carries an id,
 * `<from>/<seq>`, stable across re-offers (seqs are never reused by a sender); the application
 * applies a message in its own store together with that id, and acks only after its own commit.
 * A crash between its commit and the ack re-offers a message it has applied: it finds the id in
 * its store and only acks. So each message takes effect there exactly once.
 *
 * Guarantees: at most `inboxMax` messages are held (memory and durable state both); a message
 * that arrives while the inbox is full is NOT marked, applied or acked (the receiver drops it, as
 * a lossy network would: its sender keeps it and retransmits it later), so nothing is ever lost
 * nor held beyond the bound. An ack of an id the inbox does not hold is a no-op (acks are
 * idempotent). The in-memory map is exactly the durable inbox after every step.
 * Assumes: one persist per message (receiver.ts pushes `write` into the mark's batch).
 */

import { assert } from '../../../core/errors.ts';
import type { DurableWrite } from '../../../core/protocol.ts';
import type { NodeId } from '../../../core/ids.ts';
import { inboxKey } from './durable-keys.ts';

/** A message held in the inbox: what the application is offered. */
export interface InboxEntry {
  readonly from: NodeId;
  readonly seq: number;
  readonly payload: unknown;
  readonly key?: string;
}

/** The durable value of an inbox entry. */
interface StoredEntry {
  readonly payload: unknown;
  readonly key?: string;
}

export class Inbox {
  /** `<seq>/<from>` (unambiguous for any id) → entry, in arrival order (restored: durable order). */
  private readonly held = new Map<string, InboxEntry>();

  constructor(readonly max: number) {
    assert(Number.isInteger(max) && max >= 1, 'inbox: inboxMax is a positive integer');
  }

  get size(): number {
    return this.held.size;
  }

  get full(): boolean {
    return this.held.size >= this.max;
  }

  /** An entry read back from durable state at start (a malformed value is ignored). */
  restore(from: NodeId, seq: number, value: unknown): void {
    if (typeof value !== 'object' || value === null || !('payload' in value)) return;
    const v = value as StoredEntry;
    this.held.set(
      entryId(from, seq),
      typeof v.key === 'string'
        ? { from, seq, payload: v.payload, key: v.key }
        : { from, seq, payload: v.payload },
    );
  }

  /** Holds a new message; pushes its durable write into the mark's batch. Not when full. */
  add(
    from: NodeId,
    seq: number,
    payload: unknown,
    key: string | undefined,
    writes: DurableWrite[],
  ) {
    assert(!this.full, 'inbox: add only below inboxMax');
    const entry: InboxEntry =
      key === undefined ? { from, seq, payload } : { from, seq, payload, key };
    this.held.set(entryId(from, seq), entry);
    writes.push({
      key: inboxKey(from, seq),
      value: key === undefined ? { payload } : { payload, key },
    });
  }

  /** The delete of an acked entry (undefined: not held, nothing to do). */
  take(from: NodeId, seq: number): DurableWrite | undefined {
    if (!this.held.delete(entryId(from, seq))) return undefined;
    return { key: inboxKey(from, seq), value: null };
  }

  has(from: NodeId, seq: number): boolean {
    return this.held.has(entryId(from, seq));
  }

  /** Every entry held, in arrival order. */
  entries(): InboxEntry[] {
    return [...this.held.values()];
  }
}

/** The map key of an entry: the seq first, so any node id (even with '/') is unambiguous. */
function entryId(from: NodeId, seq: number): string {
  return `${seq}/${from}`;
}
