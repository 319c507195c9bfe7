/**
 * A virtual-time pair harness for flow and congestion control: one sender, one receiver, each
 * a reliable endpoint (the very protocol object the runtime drives), and a path that models what
 * a real UDP receiver has and the simulator does not: a bounded socket receive buffer drained at
 * a finite processing rate.
 *
 *   sender ──(delay, random loss)──▶ [receiver socket buffer: `bufferMax` frames] ──(rate)──▶ receiver
 *   sender ◀──(delay, random loss)── receiver acks (unbounded buffer, processed at once)
 *
 * A frame that arrives at a full buffer is dropped (an overrun, what an unpaced burst of datagrams
 * does on loopback). Everything random is drawn from one seeded Rng; persists are durable at once.
 * Guarantees: deterministic per seed; `run` stops at the last delivery or at `limitMs`. Outputs
 * are carried out by the step executor every driver uses (src/core/executor.ts).
 */

import { drainOutputs, type OutputSink } from '../../src/core/executor.ts';
import { EventHeap, type Scheduled } from '../../src/core/heap.ts';
import { applyWrites } from '../../src/core/protocol.ts';
import { createRng } from '../../src/core/rng.ts';
import { instant } from '../../src/core/time.ts';
import { TimerTable } from '../../src/core/timers.ts';
import {
  ReliableEndpoint,
  type ReliableDeliver,
  type ReliableMsg,
  type ReliableOptions,
} from '../../src/protocols/link/reliable.ts';

export interface FlowConfig {
  readonly seed: number;
  readonly messages: number;
  readonly lossProbability: number;
  readonly oneWayMs: number;
  /** Frames the receiver's socket buffer holds. */
  readonly bufferMax: number;
  /** Frames the receiver processes per ms. */
  readonly ratePerMs: number;
  readonly protocol: Partial<ReliableOptions>;
  readonly limitMs: number;
}

export interface FlowResult {
  readonly delivered: number;
  readonly duplicates: number;
  readonly overruns: number;
  readonly randomLosses: number;
  readonly framesSent: number;
  readonly lastDeliveryMs: number;
  /** Distinct messages per ms up to the last delivery. */
  readonly goodputPerMs: number;
  readonly senderStats: Readonly<Record<string, number>>;
}

type Ev =
  | (Scheduled & { kind: 'toBuffer'; msg: ReliableMsg })
  | (Scheduled & { kind: 'served' })
  | (Scheduled & { kind: 'toSender'; msg: ReliableMsg })
  | (Scheduled & { kind: 'timer'; node: 'a' | 'b'; name: string; gen: number });

export function runFlow(cfg: FlowConfig): FlowResult {
  const rng = createRng(cfg.seed);
  const nodes = ['a', 'b'];
  const a = new ReliableEndpoint(
    { id: 'a', nodes, rng: rng.fork('a') },
    { ...cfg.protocol, defaultMode: 'eo' },
  );
  const b = new ReliableEndpoint(
    { id: 'b', nodes, rng: rng.fork('b') },
    { ...cfg.protocol, defaultMode: 'eo' },
  );
  const net = rng.fork('net');
  const heap = new EventHeap<Ev>();
  const timers = { a: new TimerTable(), b: new TimerTable() };
  const durable = new Map<string, unknown>();
  let now = 0;
  const buffer: ReliableMsg[] = [];
  let serving = false;
  const seen = new Uint8Array(cfg.messages);
  let delivered = 0;
  let duplicates = 0;
  let overruns = 0;
  let randomLosses = 0;
  let framesSent = 0;
  let lastDeliveryMs = 0;
  const serviceMs = 1 / cfg.ratePerMs;

  const sinkOf = (node: 'a' | 'b'): OutputSink<ReliableMsg, ReliableDeliver> => ({
    send: (o) => {
      framesSent++;
      if (net.chance(cfg.lossProbability)) {
        randomLosses++;
        return;
      }
      heap.push(
        node === 'a'
          ? { at: now + cfg.oneWayMs, seq: 0, kind: 'toBuffer', msg: o.msg }
          : { at: now + cfg.oneWayMs, seq: 0, kind: 'toSender', msg: o.msg },
      );
    },
    setTimer: (o) => {
      const gen = timers[node].arm(o.name);
      heap.push({ at: Math.max(now, o.at), seq: 0, kind: 'timer', node, name: o.name, gen });
    },
    cancelTimer: (o) => {
      timers[node].cancel(o.name);
    },
    persist: (o) => {
      if (node === 'b') applyWrites(durable, o.writes);
      return undefined;
    },
    deliver: (o) => {
      const i = o.event.payload as number;
      if (seen[i] === 1) duplicates++;
      else {
        seen[i] = 1;
        delivered++;
        lastDeliveryMs = now;
      }
    },
  });
  const sinks = { a: sinkOf('a'), b: sinkOf('b') };
  const drain = (node: 'a' | 'b', p: ReliableEndpoint) => {
    drainOutputs(p, sinks[node]);
  };

  const startService = () => {
    if (serving || buffer.length === 0) return;
    serving = true;
    heap.push({ at: now + serviceMs, seq: 0, kind: 'served' });
  };

  a.handleStart(instant(0), new Map());
  b.handleStart(instant(0), new Map());
  // The unpaced burst: every message handed to the sender at t = 0.
  for (let i = 0; i < cfg.messages; i++) {
    a.handleCommand(instant(0), { type: 'send', to: 'b', payload: i });
  }
  drain('a', a);

  for (let e = heap.pop(); e !== undefined && delivered < cfg.messages; e = heap.pop()) {
    if (e.at > cfg.limitMs) break;
    now = e.at;
    switch (e.kind) {
      case 'toBuffer':
        if (buffer.length >= cfg.bufferMax) overruns++;
        else {
          buffer.push(e.msg);
          startService();
        }
        break;
      case 'served': {
        serving = false;
        const msg = buffer.shift();
        if (msg !== undefined) {
          b.handleMessage(instant(now), 'a', msg);
          drain('b', b);
        }
        startService();
        break;
      }
      case 'toSender':
        a.handleMessage(instant(now), 'b', e.msg);
        drain('a', a);
        break;
      case 'timer': {
        if (!timers[e.node].fire(e.name, e.gen)) break;
        const p = e.node === 'a' ? a : b;
        p.handleTimer(instant(now), e.name);
        drain(e.node, p);
        break;
      }
    }
  }
  return {
    delivered,
    duplicates,
    overruns,
    randomLosses,
    framesSent,
    lastDeliveryMs,
    goodputPerMs: lastDeliveryMs > 0 ? delivered / lastDeliveryMs : 0,
    senderStats: a.stats(),
  };
}
