/**
 * The simulator's network fault model as a runtime `Transport`, in process: for running the
 * transport conformance suite (and driver tests) against the simulated network.
 *
 * Guarantees: each frame sent goes through the simulator's model of a directed link
 * (src/sim/network.ts): lost with `lossProbability`, copied 1..duplicateMaxCopies extra times
 * with `duplicateProbability`, each copy delayed by `sampleDelayMs` (random delays reorder), all
 * drawn from one seeded Rng, exactly as `Simulator.route` draws them. Delays are real
 * milliseconds (setTimeout), since the runtime driver runs on real time. Copies are byte copies,
 * so a receiver can never alias the sender's buffer. A node whose transport is closed (crashed)
 * loses what arrives for it. Corruption is not modelled here (the driver's CRC is tested by the
 * conformance suite's injected frames).
 * Assumes: transports of one network are used from one process.
 */

import { SteadfastError } from '../../src/core/errors.ts';
import type { NodeId } from '../../src/core/ids.ts';
import { createRng, type Rng } from '../../src/core/rng.ts';
import { RELIABLE, sampleDelayMs, validateFaults, type LinkFaults } from '../../src/sim/network.ts';
import type { FrameHandler, Transport } from '../../src/runtime/transport.ts';

export class SimNetwork {
  private readonly rng: Rng;
  private readonly faults: LinkFaults;
  private readonly endpoints = new Map<NodeId, SimTransport>();
  private readonly pending = new Set<NodeJS.Timeout>();

  constructor(
    seed: number,
    private readonly ids: readonly NodeId[],
    faults: Partial<LinkFaults> = {},
  ) {
    this.rng = createRng(seed).fork('network');
    this.faults = validateFaults({ ...RELIABLE, ...faults });
  }

  /** A transport for `id` (a new one after the old one closed: a restarted node). */
  transport(id: NodeId, maxFrameBytes = 64 * 1024): SimTransport {
    if (!this.knows(id)) throw new SteadfastError('unknown-peer', `sim: no node ${id}`);
    return new SimTransport(this, id, maxFrameBytes);
  }

  attach(id: NodeId, t: SimTransport): void {
    this.endpoints.set(id, t);
  }

  detach(id: NodeId, t: SimTransport): void {
    if (this.endpoints.get(id) === t) this.endpoints.delete(id);
  }

  /** A node of this network (sending to a crashed one is an omission, not an unknown peer). */
  knows(id: NodeId): boolean {
    return this.ids.includes(id);
  }

  /** Routes one frame: loss, copies, delay — the simulator's `route`, on real timers. */
  route(to: NodeId, frame: Uint8Array): void {
    const f = this.faults;
    const rng = this.rng;
    if (rng.chance(f.lossProbability)) return;
    let copies = 1;
    if (f.duplicateProbability > 0 && rng.chance(f.duplicateProbability)) {
      copies += rng.intBetween(1, f.duplicateMaxCopies);
    }
    for (let c = 0; c < copies; c++) {
      const bytes = Uint8Array.from(frame);
      const delay = sampleDelayMs(f.delay, rng);
      const timer = setTimeout(() => {
        this.pending.delete(timer);
        this.endpoints.get(to)?.arrive(bytes);
      }, delay);
      this.pending.add(timer);
    }
  }

  /** Hands raw bytes to `to` as if they came off the wire (an outsider's injection). */
  inject(to: NodeId, bytes: Uint8Array): void {
    this.endpoints.get(to)?.arrive(Uint8Array.from(bytes));
  }

  close(): void {
    for (const t of this.pending) clearTimeout(t);
    this.pending.clear();
  }
}

export class SimTransport implements Transport {
  readonly kind = 'sim';
  private handler: FrameHandler | undefined;
  private started = false;
  private closed = false;
  private readonly counters = { framesSent: 0, framesReceived: 0 };

  constructor(
    private readonly net: SimNetwork,
    private readonly id: NodeId,
    readonly maxFrameBytes: number,
  ) {}

  start(): Promise<void> {
    if (this.started || this.closed) {
      return Promise.reject(new SteadfastError('not-running', 'sim: start twice or after close'));
    }
    this.started = true;
    this.net.attach(this.id, this);
    return Promise.resolve();
  }

  send(to: NodeId, frame: Uint8Array): void {
    if (!this.started || this.closed) {
      throw new SteadfastError('not-running', 'sim: transport is not running');
    }
    if (frame.length > this.maxFrameBytes) {
      throw new SteadfastError(
        'frame-too-large',
        `sim: frame of ${frame.length} bytes exceeds ${this.maxFrameBytes}`,
      );
    }
    if (!this.net.knows(to)) throw new SteadfastError('unknown-peer', `sim: no node ${to}`);
    this.counters.framesSent++;
    this.net.route(to, frame);
  }

  arrive(bytes: Uint8Array): void {
    if (this.closed) return;
    this.counters.framesReceived++;
    this.handler?.(bytes);
  }

  onFrame(handler: FrameHandler): void {
    this.handler = handler;
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.handler = undefined;
      this.net.detach(this.id, this);
    }
    return Promise.resolve();
  }

  stats(): Readonly<Record<string, number>> {
    return { ...this.counters };
  }

  receiveBufferBytes(): number | undefined {
    return undefined;
  }
}
