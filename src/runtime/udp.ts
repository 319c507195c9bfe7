/**
 * UDP transport (node:dgram): one datagram is one frame. A datagram network is a natural
 * fair-loss link: frames may be lost (a full socket buffer, a firewall, a lossy path),
 * duplicated or reordered, never merged or split; the reliable link above heals all of it.
 *
 * MTU: a frame larger than `maxDatagramBytes` is REJECTED by `send` with
 * `SteadfastError('frame-too-large')`, never fragmented by us. The default, 1200 bytes, is the
 * payload that fits a 1280-byte IPv6 minimum MTU path without IP fragmentation (the figure QUIC
 * uses, RFC 9000 §14): it holds a 1 KiB application payload with the reliable link's envelope,
 * a CRC32C and an HMAC-SHA256 tag. On loopback or jumbo-frame networks it may be raised up to
 * 65,507 (the IPv4 UDP maximum); beyond the path MTU the kernel fragments, and one lost fragment
 * loses the whole datagram, so loss rates multiply — documented, allowed, not the default.
 *
 * Receive buffer: the socket asks for `receiveBufferBytes` (default 4 MiB; the kernel caps it at
 * net.core.rmem_max). `receiveBufferBytes()` reports what the kernel granted, the budget the
 * reliable link's receive window is sized from, so a fast sender never overruns it.
 *
 * Guarantees: see transport.ts. A datagram whose length prefix disagrees with its size is
 * dropped and counted as malformed here; everything deeper (magic, CRC, HMAC) is the driver's.
 * `send` to an unreachable peer is an omission (ICMP errors are ignored and counted).
 * Assumes: every peer's address is known up front (the cluster config); peers are identified by
 * the frame's `from` field (authenticated by HMAC when enabled), never by source address.
 */

import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP, isIPv6 } from 'node:net';
import { SteadfastError } from '../core/errors.ts';
import { frameLengthPrefix } from '../core/frame.ts';
import type { NodeId } from '../core/ids.ts';
import type { Address, FrameHandler, Transport } from './transport.ts';

/** The default and the largest datagram a UDP transport sends (see the module header). */
export const UDP_SAFE_DATAGRAM_BYTES = 1200;
export const UDP_MAX_DATAGRAM_BYTES = 65_507;

export interface UdpOptions {
  /** Where this node listens. */
  readonly bind: Address;
  /** Every peer's address. */
  readonly peers: ReadonlyMap<NodeId, Address>;
  /** Largest frame sent (default 1200, at most 65,507). */
  readonly maxDatagramBytes?: number;
  /** SO_RCVBUF / SO_SNDBUF request in bytes (default 4 MiB each; capped by the kernel). */
  readonly receiveBufferBytes?: number;
  readonly sendBufferBytes?: number;
}

export class UdpTransport implements Transport {
  readonly kind = 'udp';
  readonly maxFrameBytes: number;
  private readonly opts: UdpOptions;
  /** Peer addresses with host names resolved once at start (no DNS lookup per datagram). */
  private peers = new Map<NodeId, Address>();
  private socket: Socket | undefined;
  private handler: FrameHandler | undefined;
  private closed = false;
  private rcvbuf: number | undefined;
  private readonly counters = {
    framesSent: 0,
    framesReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    sendErrors: 0,
    malformed: 0,
  };

  constructor(opts: UdpOptions) {
    const max = opts.maxDatagramBytes ?? UDP_SAFE_DATAGRAM_BYTES;
    if (!Number.isInteger(max) || max < 64 || max > UDP_MAX_DATAGRAM_BYTES) {
      throw new SteadfastError(
        'bad-argument',
        `maxDatagramBytes must be an integer in 64..${UDP_MAX_DATAGRAM_BYTES}, got ${max}`,
      );
    }
    this.maxFrameBytes = max;
    this.opts = opts;
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    const s = this.socket;
    if (s === undefined) throw new SteadfastError('not-running', 'udp: not started');
    return s.address().port;
  }

  async start(): Promise<void> {
    if (this.socket !== undefined || this.closed) {
      throw new SteadfastError('not-running', 'udp: start called twice or after close');
    }
    for (const [id, a] of this.opts.peers) {
      const host = isIP(a.host) === 0 ? (await lookup(a.host)).address : a.host;
      this.peers.set(id, { host, port: a.port });
    }
    const socket = createSocket({
      type: isIPv6(this.opts.bind.host) ? 'udp6' : 'udp4',
      recvBufferSize: this.opts.receiveBufferBytes ?? 4 * 1024 * 1024,
      sendBufferSize: this.opts.sendBufferBytes ?? 4 * 1024 * 1024,
    });
    this.socket = socket;
    socket.on('message', (msg: Buffer) => {
      if (this.closed) return;
      this.counters.framesReceived++;
      this.counters.bytesReceived += msg.length;
      const bytes = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
      if (frameLengthPrefix(bytes, 0) !== bytes.length) {
        this.counters.malformed++;
        return;
      }
      this.handler?.(bytes);
    });
    // Asynchronous send errors (ICMP port unreachable surfaces on some platforms) are omissions.
    socket.on('error', () => {
      this.counters.sendErrors++;
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        reject(err);
      };
      socket.once('error', onError);
      socket.bind(this.opts.bind.port, this.opts.bind.host, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    try {
      this.rcvbuf = socket.getRecvBufferSize();
    } catch {
      this.rcvbuf = undefined;
    }
  }

  send(to: NodeId, frame: Uint8Array): void {
    const socket = this.socket;
    if (socket === undefined || this.closed) {
      throw new SteadfastError('not-running', 'udp: transport is not running');
    }
    if (frame.length > this.maxFrameBytes) {
      throw new SteadfastError(
        'frame-too-large',
        `udp: frame of ${frame.length} bytes exceeds the datagram limit of ${this.maxFrameBytes} bytes ` +
          '(send a smaller payload, or raise maxDatagramBytes on loopback/jumbo networks)',
      );
    }
    const addr = this.peers.get(to);
    if (addr === undefined) throw new SteadfastError('unknown-peer', `udp: no address for ${to}`);
    this.counters.framesSent++;
    this.counters.bytesSent += frame.length;
    // No per-datagram callback (it costs a closure and a microtask per frame at 100k frames/s):
    // a failed send surfaces as an 'error' event, counted above.
    socket.send(frame, addr.port, addr.host);
  }

  onFrame(handler: FrameHandler): void {
    this.handler = handler;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.handler = undefined;
    const s = this.socket;
    if (s === undefined) return;
    await new Promise<void>((resolve) => {
      s.close(() => {
        resolve();
      });
    });
  }

  stats(): Readonly<Record<string, number>> {
    return { ...this.counters };
  }

  receiveBufferBytes(): number | undefined {
    return this.rcvbuf;
  }
}
