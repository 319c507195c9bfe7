/**
 * The guarantee modes as one policy table: what the sender and the receiver do with a message
 * of each mode. The engine asks this table, never a mode name, so a mode's behaviour is read in
 * one place:
 *
 *   mode  retransmit durableBuffer dedup durableMark persistEffect acks idempotencyKeys  gives
 *   pl    yes        no            yes   no          no            yes  no               perfect link (crash-stop)
 *   amo   no         no            yes   yes         yes           no   no               at-most-once
 *   alo   yes        yes           no    no          yes           yes  no               at-least-once
 *   eo    yes        yes           yes   yes         yes           yes  yes              exactly-once
 *
 * Guarantees: the table is total over `Mode` (a new mode fails to compile until it has a row).
 */

import type { Mode } from './wire.ts';

export interface ModePolicy {
  /** The sender keeps the message in flight and resends it until acked (no: sent once). */
  readonly retransmit: boolean;
  /**
   * The send-buffer entry is persisted (lazily, see core/protocol.ts) when the message is sent
   * and deleted when it is acked, so a restarted sender resends it.
   */
  readonly durableBuffer: boolean;
  /** The receiver drops a copy it has seen (no: every copy is delivered, duplicates visible). */
  readonly dedup: boolean;
  /**
   * The dedup mark (with the `applied` record and any idempotency key) is persisted in one batch
   * BEFORE the delivery and the ack, so no crash makes the receiver deliver it twice.
   */
  readonly durableMark: boolean;
  /** The application effect's state is persisted with the delivery (no: kept in memory). */
  readonly persistEffect: boolean;
  /** The receiver acknowledges it (an at-most-once sender never waits for an ack). */
  readonly acks: boolean;
  /** A message may carry an application idempotency key. */
  readonly idempotencyKeys: boolean;
}

export const POLICY: Readonly<Record<Mode, ModePolicy>> = {
  pl: {
    retransmit: true,
    durableBuffer: false,
    dedup: true,
    durableMark: false,
    persistEffect: false,
    acks: true,
    idempotencyKeys: false,
  },
  amo: {
    retransmit: false,
    durableBuffer: false,
    dedup: true,
    durableMark: true,
    persistEffect: true,
    acks: false,
    idempotencyKeys: false,
  },
  alo: {
    retransmit: true,
    durableBuffer: true,
    dedup: false,
    durableMark: false,
    persistEffect: true,
    acks: true,
    idempotencyKeys: false,
  },
  eo: {
    retransmit: true,
    durableBuffer: true,
    dedup: true,
    durableMark: true,
    persistEffect: true,
    acks: true,
    idempotencyKeys: true,
  },
};
