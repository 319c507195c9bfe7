/**
 * TCP transport (node:net): frames travel on byte streams, delimited by their own u32 length
 * prefix (`frameLengthPrefix`). Each node opens one outbound connection per peer, lazily on the
 * first send, and accepts inbound connections from anyone; frames are read from every inbound
 * connection (the frame's `from` says who sent it, the HMAC proves it when enabled), so each
 * direction of a pair uses its own connection and no handshake is needed.
 *
 * A broken connection is an OMISSION, not an error: frames written to a connection that then
 * breaks may be lost (TCP's buffers die with it), frames sent while a peer is unreachable are
 * dropped and counted, and the reliable link above retransmits. Reconnection: after a failure
 * the next attempt waits a backoff that doubles from `reconnectMinMs` to `reconnectMaxMs` with
 * up to 50% random jitter (so a restarted cluster does not reconnect in lockstep); it resets
 * once a connection opens. While connecting, up to `connectQueueMaxFrames` frames wait and are
 * written when it opens (dropped if it fails).
 *
 * Backpressure: when a connection's unsent bytes exceed `writeBufferMaxBytes` (the peer or the
 * path is slower than the sender), further frames are dropped and counted — an omission the
 * reliable link's window and retransmission handle — instead of buffering without bound.
 *
 * Writes are corked until the event loop's check phase (setImmediate), so the frames a node sends
 * a peer while handling one poll phase's events (a burst of requests, say) leave in ONE writev:
 * a frame waits for no timer, only for the callbacks already due. Reads: a stream whose length
 * prefix announces more than `FRAME_MAX_BYTES` (or less than a frame's minimum) cannot be
 * resynchronised, so the connection is destroyed and counted as malformed; the sender reconnects.
 *
 * Guarantees: see transport.ts; TCP adds per-connection FIFO, which nothing above relies on.
 * Assumes: peers' addresses are known up front.
 */

import { createServer, Socket, type Server } from 'node:net';
import { SteadfastError } from '../core/errors.ts';
import { FRAME_MAX_BYTES, frameLengthPrefix } from '../core/frame.ts';
import type { NodeId } from '../core/ids.ts';
import type { Address, FrameHandler, Transport } from './transport.ts';

export interface TcpOptions {
  readonly bind: Address;
  readonly peers: ReadonlyMap<NodeId, Address>;
  /** Largest frame (default FRAME_MAX_BYTES, 1 MiB). */
  readonly maxFrameBytes?: number;
  readonly reconnectMinMs?: number;
  readonly reconnectMaxMs?: number;
  readonly connectTimeoutMs?: number;
  readonly connectQueueMaxFrames?: number;
  readonly writeBufferMaxBytes?: number;
}

/** Smallest possible frame: prefix, magic, version, flags, two 1-byte ids, payload length. */
const FRAME_MIN_BYTES = 4 + 3 + 2 + 2 + 4;

type OutState = 'idle' | 'connecting' | 'open' | 'backoff';

interface Outbound {
  state: OutState;
  socket: Socket | undefined;
  queue: Uint8Array[];
  backoffMs: number;
  retryTimer: NodeJS.Timeout | undefined;
  corked: boolean;
}

export class TcpTransport implements Transport {
  readonly kind = 'tcp';
  readonly maxFrameBytes: number;
  private readonly opts: TcpOptions;
  private server: Server | undefined;
  private handler: FrameHandler | undefined;
  private closed = false;
  private readonly out = new Map<NodeId, Outbound>();
  private readonly inbound = new Set<Socket>();
  private readonly counters = {
    framesSent: 0,
    framesReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    droppedDisconnected: 0,
    droppedBackpressure: 0,
    connects: 0,
    connectFailures: 0,
    disconnects: 0,
    malformed: 0,
  };

  constructor(opts: TcpOptions) {
    const max = opts.maxFrameBytes ?? FRAME_MAX_BYTES;
    if (!Number.isInteger(max) || max < 64 || max > FRAME_MAX_BYTES) {
      throw new SteadfastError(
        'bad-argument',
        `maxFrameBytes must be an integer in 64..${FRAME_MAX_BYTES}, got ${max}`,
      );
    }
    this.maxFrameBytes = max;
    this.opts = opts;
  }

  get port(): number {
    const a = this.server?.address();
    if (a === undefined || a === null || typeof a === 'string') {
      throw new SteadfastError('not-running', 'tcp: not listening');
    }
    return a.port;
  }

  async start(): Promise<void> {
    if (this.server !== undefined || this.closed) {
      throw new SteadfastError('not-running', 'tcp: start called twice or after close');
    }
    const server = createServer({ noDelay: true }, (socket) => {
      this.accept(socket);
    });
    this.server = server;
    server.on('error', () => {
      this.counters.malformed += 0; // listening errors after start are not expected; ignore
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        reject(err);
      };
      server.once('error', onError);
      server.listen(this.opts.bind.port, this.opts.bind.host, () => {
        server.off('error', onError);
        resolve();
      });
    });
  }

  send(to: NodeId, frame: Uint8Array): void {
    if (this.closed || this.server === undefined) {
      throw new SteadfastError('not-running', 'tcp: transport is not running');
    }
    if (frame.length > this.maxFrameBytes) {
      throw new SteadfastError(
        'frame-too-large',
        `tcp: frame of ${frame.length} bytes exceeds the limit of ${this.maxFrameBytes} bytes`,
      );
    }
    if (!this.opts.peers.has(to)) {
      throw new SteadfastError('unknown-peer', `tcp: no address for ${to}`);
    }
    const o = this.outbound(to);
    switch (o.state) {
      case 'open':
        this.write(o, frame);
        return;
      case 'connecting':
        if (o.queue.length >= (this.opts.connectQueueMaxFrames ?? 1024)) {
          this.counters.droppedDisconnected++;
        } else {
          o.queue.push(frame);
        }
        return;
      case 'idle':
        o.queue.push(frame);
        this.connect(to, o);
        return;
      case 'backoff':
        this.counters.droppedDisconnected++;
        return;
    }
  }

  onFrame(handler: FrameHandler): void {
    this.handler = handler;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.handler = undefined;
    for (const o of this.out.values()) {
      if (o.retryTimer !== undefined) clearTimeout(o.retryTimer);
      o.socket?.destroy();
      o.queue = [];
    }
    for (const s of this.inbound) s.destroy();
    this.inbound.clear();
    const server = this.server;
    if (server !== undefined) {
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    }
  }

  stats(): Readonly<Record<string, number>> {
    return { ...this.counters };
  }

  receiveBufferBytes(): number | undefined {
    return undefined; // TCP has its own flow control
  }

  // ------------------------------------------------------------------------------ outbound

  private outbound(to: NodeId): Outbound {
    let o = this.out.get(to);
    if (o === undefined) {
      o = {
        state: 'idle',
        socket: undefined,
        queue: [],
        backoffMs: this.opts.reconnectMinMs ?? 50,
        retryTimer: undefined,
        corked: false,
      };
      this.out.set(to, o);
    }
    return o;
  }

  private connect(to: NodeId, o: Outbound): void {
    const addr = this.opts.peers.get(to);
    if (addr === undefined) return;
    o.state = 'connecting';
    const socket = new Socket();
    o.socket = socket;
    socket.setNoDelay(true);
    const timeout = setTimeout(() => {
      socket.destroy(new Error('connect timeout'));
    }, this.opts.connectTimeoutMs ?? 2000);
    socket.on('error', () => {
      // 'close' follows; handled there.
    });
    socket.on('data', () => {
      // Outbound connections are write-only; ignore anything the peer writes back.
    });
    socket.once('connect', () => {
      clearTimeout(timeout);
      if (this.closed) {
        socket.destroy();
        return;
      }
      this.counters.connects++;
      o.state = 'open';
      o.backoffMs = this.opts.reconnectMinMs ?? 50;
      const queued = o.queue;
      o.queue = [];
      for (const f of queued) this.write(o, f);
    });
    socket.once('close', () => {
      clearTimeout(timeout);
      if (o.socket !== socket) return;
      o.socket = undefined;
      if (o.state === 'open') this.counters.disconnects++;
      else this.counters.connectFailures++;
      this.counters.droppedDisconnected += o.queue.length;
      o.queue = [];
      if (this.closed) return;
      o.state = 'backoff';
      const max = this.opts.reconnectMaxMs ?? 2000;
      const wait = o.backoffMs * (1 + 0.5 * Math.random());
      o.backoffMs = Math.min(max, o.backoffMs * 2);
      o.retryTimer = setTimeout(() => {
        o.retryTimer = undefined;
        if (!this.closed && o.state === 'backoff') o.state = 'idle';
      }, wait);
    });
    socket.connect(addr.port, addr.host);
  }

  private write(o: Outbound, frame: Uint8Array): void {
    const socket = o.socket;
    if (socket === undefined) {
      this.counters.droppedDisconnected++;
      return;
    }
    if (socket.writableLength > (this.opts.writeBufferMaxBytes ?? 8 * 1024 * 1024)) {
      this.counters.droppedBackpressure++;
      return;
    }
    if (!o.corked) {
      o.corked = true;
      socket.cork();
      // Uncorked in the check phase: every callback of this poll phase (each socket that was
      // readable, each commit that landed) adds its frames to the same writev.
      setImmediate(() => {
        o.corked = false;
        socket.uncork();
      });
    }
    socket.write(frame);
    this.counters.framesSent++;
    this.counters.bytesSent += frame.length;
  }

  // ------------------------------------------------------------------------------- inbound

  private accept(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.inbound.add(socket);
    socket.setNoDelay(true);
    let pending: Buffer | undefined;
    socket.on('data', (chunk: Buffer) => {
      let buf = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
      pending = undefined;
      let offset = 0;
      for (;;) {
        const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
        const size = frameLengthPrefix(bytes, offset);
        if (size === undefined) break;
        if (size > this.maxFrameBytes || size < FRAME_MIN_BYTES) {
          // The stream cannot be resynchronised: drop the connection (an omission).
          this.counters.malformed++;
          socket.destroy();
          return;
        }
        if (buf.length - offset < size) break;
        this.counters.framesReceived++;
        this.counters.bytesReceived += size;
        // A view: `buf` is never written again (new chunks are concatenated into new buffers).
        this.handler?.(bytes.subarray(offset, offset + size));
        if (this.closed) return;
        offset += size;
      }
      if (offset < buf.length) {
        buf = buf.subarray(offset);
        pending = buf;
      }
    });
    socket.on('error', () => {
      // 'close' follows.
    });
    socket.once('close', () => {
      this.inbound.delete(socket);
    });
  }
}
