/**
 * UDP transport (node:dgram): one datagram carries one or more whole frames. A datagram network
 * is a natural fair-loss link: frames may be lost (a full socket buffer, a firewall, a lossy
 * path), duplicated or reordered, never split; the reliable link above heals all of it.
 *
 * PACKING. Frames sent to the same peer within one synchronous run of code (the driver carries
 * out a turn's outputs in one loop) are packed into as few datagrams as fit `packBytes` (default
 * `maxDatagramBytes`), concatenated: frames are length-prefixed, so the receiver splits them
 * again. One datagram per frame costs a system call and a trip through the kernel's network stack
 * each; packing fourteen 1 KiB frames into a 16 KB datagram on loopback costs one. Frames in one
 * datagram are lost together (a correlated omission, still fair loss). The flush runs as a
 * microtask, so packing delays a frame by no event-loop turn. `pack: false` sends one datagram
 * per frame. `packBytes` bounds datagrams, `maxDatagramBytes` frames: a frame never needs more
 * than one datagram of the safe size, so what a node may send does not depend on where its peers
 * are, while datagrams between peers on a path with a large MTU (loopback: 64 KiB) carry many.
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
 * Guarantees: see transport.ts. A datagram that does not split into whole frames by their length
 * prefixes has its frames up to the bad one delivered and the rest dropped and counted as
 * malformed here; everything deeper (magic, CRC, HMAC) is the driver's, frame by frame.
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
  /** Largest datagram packing fills (default `maxDatagramBytes`; from it up to 65,507). */
  readonly packBytes?: number;
  /** SO_RCVBUF / SO_SNDBUF request in bytes (default 4 MiB each; capped by the kernel). */
  readonly receiveBufferBytes?: number;
  readonly sendBufferBytes?: number;
  /** Pack frames to one peer into shared datagrams (default true; see the module header). */
  readonly pack?: boolean;
}

/** Frames waiting to go to one peer, to be packed into datagrams. */
interface Outbox {
  frames: Uint8Array[];
  bytes: number;
}

/** The least a length prefix may announce (prefix, magic, version, flags, ids, payload length). */
const MIN_FRAME_BYTES = 8;

export class UdpTransport implements Transport {
  readonly kind = 'udp';
  readonly maxFrameBytes: number;
  private readonly packBytes: number;
  private readonly opts: UdpOptions;
  /** Peer addresses with host names resolved once at start (no DNS lookup per datagram). */
  private peers = new Map<NodeId, Address>();
  private socket: Socket | undefined;
  private handler: FrameHandler | undefined;
  private closed = false;
  private rcvbuf: number | undefined;
  private readonly pack: boolean;
  private readonly outboxes = new Map<NodeId, Outbox>();
  private flushQueued = false;
  private readonly counters = {
    framesSent: 0,
    framesReceived: 0,
    datagramsSent: 0,
    datagramsReceived: 0,
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
    const packBytes = opts.packBytes ?? max;
    if (!Number.isInteger(packBytes) || packBytes < max || packBytes > UDP_MAX_DATAGRAM_BYTES) {
      throw new SteadfastError(
        'bad-argument',
        `packBytes must be an integer in maxDatagramBytes (${max})..${UDP_MAX_DATAGRAM_BYTES}, got ${packBytes}`,
      );
    }
    this.maxFrameBytes = max;
    this.packBytes = packBytes;
    this.opts = opts;
    this.pack = opts.pack ?? true;
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
      this.counters.datagramsReceived++;
      this.counters.bytesReceived += msg.length;
      const bytes = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
      for (let off = 0; off < bytes.length;) {
        const size = frameLengthPrefix(bytes, off);
        if (size === undefined || size < MIN_FRAME_BYTES || off + size > bytes.length) {
          this.counters.malformed++;
          return;
        }
        const handler = this.handler; // unset by close, which a handler may call
        if (handler === undefined) return;
        this.counters.framesReceived++;
        handler(off === 0 && size === bytes.length ? bytes : bytes.subarray(off, off + size));
        off += size;
      }
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
    if (!this.pack) {
      this.datagram(socket, addr, frame);
      return;
    }
    let box = this.outboxes.get(to);
    if (box === undefined) {
      box = { frames: [], bytes: 0 };
      this.outboxes.set(to, box);
    }
    if (box.bytes + frame.length > this.packBytes) this.flushBox(socket, addr, box);
    box.frames.push(frame);
    box.bytes += frame.length;
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => {
        this.flushAll();
      });
    }
  }

  private flushAll(): void {
    this.flushQueued = false;
    const socket = this.socket;
    if (socket === undefined || this.closed) return;
    for (const [to, box] of this.outboxes) {
      const addr = this.peers.get(to);
      if (addr !== undefined && box.frames.length > 0) this.flushBox(socket, addr, box);
    }
  }

  private flushBox(socket: Socket, addr: Address, box: Outbox): void {
    const frames = box.frames;
    box.frames = [];
    box.bytes = 0;
    if (frames.length === 1) this.datagram(socket, addr, frames[0] as Uint8Array);
    else if (frames.length > 1) this.datagram(socket, addr, frames); // gathered into one datagram
  }

  private datagram(socket: Socket, addr: Address, data: Uint8Array | Uint8Array[]): void {
    this.counters.datagramsSent++;
    // No per-datagram callback (it costs a closure and a microtask per frame at 100k frames/s):
    // a failed send surfaces as an 'error' event, counted above.
    socket.send(data, addr.port, addr.host);
  }

  onFrame(handler: FrameHandler): void {
    this.handler = handler;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flushAll(); // frames handed over before close still go out
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
