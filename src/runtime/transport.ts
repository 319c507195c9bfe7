/**
 * The transport interface: how a runtime node hands encoded frames (src/core/frame.ts) to the
 * network and gets frames back. UDP (`udp.ts`), TCP (`tcp.ts`) and the in-process simulated
 * network of the tests all implement it, and one conformance suite (test/runtime/conformance.ts)
 * holds each to the same contract:
 *
 * - Fair-loss link (Cachin et al. §2.4.2): a frame handed to `send` may be lost, duplicated or
 *   reordered, but never created (every frame `onFrame` sees was sent by someone, unless an
 *   outsider writes to the socket: integrity and authenticity are the frame's CRC32C and HMAC,
 *   checked by the driver, not the transport's job), and frames are never merged or split: one
 *   `send` is at most one whole `onFrame` per copy.
 * - `send` never blocks and never throws for a network condition (unreachable peer, broken
 *   connection, full buffer): that is an omission, counted in `stats()`. It throws
 *   `SteadfastError` only for local misuse: 'frame-too-large' above `maxFrameBytes', 'unknown-peer'
 *   for a node id the transport has no address for, 'not-running' after `close`.
 * - Bytes from the network that are not a frame at the transport's level (a TCP length prefix
 *   over the limit, a datagram whose length prefix disagrees with its size) are dropped and
 *   counted in `stats().malformed`; nothing a peer sends makes the transport throw or crash.
 * - `close()` is idempotent; no `onFrame` callback runs after it resolves.
 *
 * Assumes: the caller passes frames made by `encodeFrame` (a u32 length prefix first).
 */

import type { NodeId } from '../core/ids.ts';

export type FrameHandler = (frame: Uint8Array) => void;

export interface Transport {
  /** 'udp', 'tcp' or 'sim'. */
  readonly kind: string;
  /** Largest frame `send` accepts, in bytes (length prefix, CRC and tag included). */
  readonly maxFrameBytes: number;
  /** Binds / listens. Resolves when frames can be received. */
  start(): Promise<void>;
  /** Hands one frame to the network (fire and forget). */
  send(to: NodeId, frame: Uint8Array): void;
  /** Sets the handler of received frames (one at a time; replaces any earlier one). */
  onFrame(handler: FrameHandler): void;
  close(): Promise<void>;
  stats(): Readonly<Record<string, number>>;
  /**
   * Bytes of received frames the kernel (or the fake network) buffers for this endpoint, if it
   * knows: the budget a receive window must fit in.
   */
  receiveBufferBytes(): number | undefined;
}

/** An address of a node on the network. */
export interface Address {
  readonly host: string;
  readonly port: number;
}
