/**
 * The transport conformance suite (after hono's one `common.case.test.ts` run against every
 * router): the same cases, run against the simulated network, UDP and TCP by
 * conformance-sim.test.ts, conformance-udp.test.ts and conformance-tcp.test.ts.
 *
 * What every transport must show (the contract of src/runtime/transport.ts):
 *   - frames arrive whole and unchanged, in both directions, addressed by node id;
 *   - no creation: everything received was sent (duplicates allowed only on a faulty network);
 *   - local misuse throws a typed error: 'frame-too-large', 'unknown-peer', 'not-running';
 *   - garbage from an outsider never crashes a node: it is dropped and counted, and the
 *     transport keeps working; a frame with a bad CRC or HMAC is dropped by the driver;
 *   - a peer that is down is an omission, not an error; close is idempotent;
 *   - the protocols run on it unchanged: an exactly-once channel between two drivers applies
 *     every message exactly once across a crash-recover of the receiver, and the trace checker
 *     of src/check agrees.
 * Assumes: each target gives fresh addresses per network, so tests do not interfere.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { checkGuarantee, summarize } from '../../src/check/guarantees.ts';
import { formatVerdicts } from '../../src/check/verdict.ts';
import { SteadfastError } from '../../src/core/errors.ts';
import { encodeFrame, type FrameOptions } from '../../src/core/frame.ts';
import type { NodeId } from '../../src/core/ids.ts';
import { encodePayload } from '../../src/core/payload.ts';
import type { TraceEvent } from '../../src/core/trace.ts';
import {
  channel,
  type ChannelDeliver,
  type ChannelSend,
} from '../../src/protocols/delivery/guarantees.ts';
import type { ReliableMsg } from '../../src/protocols/link/reliable.ts';
import { hmacSha256, pairKeyRing } from '../../src/platform/node-mac.ts';
import { Driver } from '../../src/runtime/driver.ts';
import { counterEffect, payloadIndex, type CounterState } from '../../src/runtime/effects.ts';
import { mergeTraces } from '../../src/runtime/merge.ts';
import { Storage } from '../../src/runtime/storage.ts';
import type { Transport } from '../../src/runtime/transport.ts';

export interface ConformanceNet {
  /** A new transport for node `id` at its fixed address (again after a close: a restart). */
  transport(id: NodeId): Transport;
  /** Raw bytes to node `id`'s address from an outsider (not through a Transport). */
  inject(to: NodeId, bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export interface ConformanceTarget {
  readonly name: string;
  /** The network may lose, duplicate or reorder frames even when nothing is wrong. */
  readonly faulty: boolean;
  network(ids: readonly NodeId[]): Promise<ConformanceNet>;
}

/** Polls `cond` every 5 ms until it holds; fails with `what` after `timeoutMs`. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const FRAME: FrameOptions = { checksum: true };

function frame(from: NodeId, to: NodeId, value: unknown, opts: FrameOptions = FRAME): Uint8Array {
  return encodeFrame({ from, to, payload: encodePayload(value) }, opts);
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

async function started(net: ConformanceNet, id: NodeId): Promise<Transport> {
  const t = net.transport(id);
  await t.start();
  return t;
}

type Stack = ReturnType<typeof channel>;

export function transportConformance(target: ConformanceTarget): void {
  const { name } = target;

  void describe(`transport conformance: ${name}`, () => {
    void test(`${name}: a frame arrives whole, addressed by node id, in both directions`, async () => {
      const net = await target.network(['a', 'b']);
      const a = await started(net, 'a');
      const b = await started(net, 'b');
      try {
        const atA: Uint8Array[] = [];
        const atB: Uint8Array[] = [];
        a.onFrame((f) => atA.push(Uint8Array.from(f)));
        b.onFrame((f) => atB.push(Uint8Array.from(f)));
        const ab = frame('a', 'b', { hello: 'b' });
        const ba = frame('b', 'a', { hello: 'a' });
        // A faulty network may lose a copy: resend until one arrives (fair loss).
        await waitFor(
          () => {
            if (atB.length === 0) a.send('b', ab);
            if (atA.length === 0) b.send('a', ba);
            return atA.length > 0 && atB.length > 0;
          },
          5000,
          'one frame each way',
        );
        assert.equal(hex(atB[0] ?? new Uint8Array()), hex(ab));
        assert.equal(hex(atA[0] ?? new Uint8Array()), hex(ba));
      } finally {
        await a.close();
        await b.close();
        await net.close();
      }
    });

    void test(`${name}: no creation, no merging or splitting of 300 frames of 20..1100 bytes`, async () => {
      const net = await target.network(['a', 'b']);
      const a = await started(net, 'a');
      const b = await started(net, 'b');
      try {
        const sent = new Map<string, number>();
        const got: Uint8Array[] = [];
        b.onFrame((f) => got.push(Uint8Array.from(f)));
        for (let i = 0; i < 300; i++) {
          const pad = new Uint8Array(i % 2 === 0 ? 1 : 1000 + (i % 60)).fill(i & 0xff);
          const f = frame('a', 'b', { i, pad });
          sent.set(hex(f), i);
          a.send('b', f);
          // Pace a little: this case is about integrity, not about buffer overruns.
          if (i % 50 === 49) await new Promise((r) => setTimeout(r, 2));
        }
        await waitFor(() => got.length >= (target.faulty ? 1 : 300), 5000, 'frames arrive');
        await new Promise((r) => setTimeout(r, 50)); // stragglers (delayed copies)
        const seen = new Set<string>();
        for (const f of got) {
          const h = hex(f);
          assert.ok(sent.has(h), 'a received frame was never sent (creation, merge or split)');
          if (!target.faulty) assert.ok(!seen.has(h), 'duplicate on a fault-free transport');
          seen.add(h);
        }
      } finally {
        await a.close();
        await b.close();
        await net.close();
      }
    });

    void test(`${name}: local misuse throws typed errors`, async () => {
      const net = await target.network(['a', 'b']);
      const a = await started(net, 'a');
      try {
        const big = new Uint8Array(a.maxFrameBytes + 1);
        new DataView(big.buffer).setUint32(0, big.length - 4);
        assert.throws(
          () => {
            a.send('b', big);
          },
          (e: unknown) => e instanceof SteadfastError && e.code === 'frame-too-large',
        );
        assert.throws(
          () => {
            a.send('nobody', frame('a', 'nobody', 1));
          },
          (e: unknown) => e instanceof SteadfastError && e.code === 'unknown-peer',
        );
        await a.close();
        await a.close(); // idempotent
        assert.throws(
          () => {
            a.send('b', frame('a', 'b', 1));
          },
          (e: unknown) => e instanceof SteadfastError && e.code === 'not-running',
        );
      } finally {
        await a.close();
        await net.close();
      }
    });

    void test(`${name}: a peer that is down is an omission, not an error`, async () => {
      const net = await target.network(['a', 'b']);
      const a = await started(net, 'a');
      try {
        for (let i = 0; i < 20; i++) a.send('b', frame('a', 'b', i)); // b never started
        await new Promise((r) => setTimeout(r, 50));
        const b = await started(net, 'b');
        const got: Uint8Array[] = [];
        b.onFrame((f) => got.push(f));
        await waitFor(
          () => {
            a.send('b', frame('a', 'b', 'late'));
            return got.length > 0;
          },
          10_000,
          'a frame once b is up',
        );
        await b.close();
      } finally {
        await a.close();
        await net.close();
      }
    });

    void test(`${name}: garbage, corrupted and forged frames are dropped and counted; the node lives on`, async () => {
      const net = await target.network(['a', 'b']);
      const secret = new Uint8Array(32).fill(7);
      const auth = { mac: hmacSha256, keys: pairKeyRing(secret) };
      const opts: FrameOptions = { checksum: true, auth };
      const delivered: ChannelDeliver[] = [];
      const mk = (id: NodeId) =>
        new Driver<ReliableMsg, ChannelSend, ChannelDeliver>({
          id,
          nodes: ['a', 'b'],
          stack: channel({ guarantee: 'at-least-once' }),
          transport: net.transport(id),
          frame: opts,
          seed: 1,
          onDeliver: (d) => delivered.push(d),
        });
      const a = mk('a');
      const b = mk('b');
      await a.start();
      await b.start();
      try {
        // 1. Not a frame at all (for TCP: a length prefix far over the limit).
        await net.inject('b', Uint8Array.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
        // 2. A well-formed frame with a flipped bit (CRC mismatch).
        const good = frame('a', 'b', { type: 'ack', cum: 0, sack: [] }, opts);
        const flipped = Uint8Array.from(good);
        const inPayload = flipped.length - 4 - hmacSha256.tagBytes - 1; // last payload byte
        flipped[inPayload] = (flipped[inPayload] ?? 0) ^ 0x10;
        await net.inject('b', flipped);
        // 3. A forgery: right shape, signed with the wrong key.
        const forger = { mac: hmacSha256, keys: pairKeyRing(new Uint8Array(32).fill(9)) };
        await net.inject(
          'b',
          frame('a', 'b', { type: 'ack', cum: 0, sack: [] }, { checksum: true, auth: forger }),
        );
        // 4. Unsigned, and 5. addressed to someone else.
        await net.inject('b', frame('a', 'b', { type: 'ack', cum: 0, sack: [] }));
        await net.inject('b', frame('a', 'a', { type: 'ack', cum: 0, sack: [] }, opts));
        await waitFor(
          () => {
            const d = b.stats().dropped;
            return (d.checksum ?? 0) >= 1 && (d.auth ?? 0) >= 2 && (d.malformed ?? 0) >= 1;
          },
          5000,
          'drops counted',
        );
        // The node still works.
        a.command({ type: 'send', to: 'b', payload: 'still alive' });
        await waitFor(() => delivered.some((d) => d.payload === 'still alive'), 10_000, 'delivery');
      } finally {
        await a.close();
        await b.close();
        await net.close();
      }
    });

    void test(`${name}: an exactly-once channel applies 300 messages exactly once across a receiver crash`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sf-conf-'));
      const net = await target.network(['a', 'b']);
      const stack: Stack = channel({
        guarantee: 'exactly-once',
        effect: counterEffect,
        rtoInitialMs: 50,
        rtoMinMs: 20,
        rtoMaxMs: 500,
      });
      const traces: TraceEvent[][] = [];
      const supervisor: TraceEvent[] = [];
      const mk = (id: NodeId, seed: number) => {
        const events: TraceEvent[] = [];
        traces.push(events);
        return new Driver<ReliableMsg, ChannelSend, ChannelDeliver>({
          id,
          nodes: ['a', 'b'],
          stack,
          transport: net.transport(id),
          storage: new Storage({ path: join(dir, `${id}.db`), appliedLog: true }),
          seed,
          trace: { kind: 'memory', push: (e) => events.push(e) },
        });
      };
      const a = mk('a', 1);
      let b = mk('b', 2);
      await a.start();
      await b.start();
      try {
        const N = 300;
        for (let i = 0; i < N; i++) {
          a.command({ type: 'send', to: 'b', payload: i });
          if (i === 150) {
            // Crash the receiver mid-stream; restart it on the same storage after a pause.
            await waitFor(() => (b.protocol?.stats().delivered ?? 0) > 20, 10_000, 'progress');
            await b.crash();
            supervisor.push({ t: Date.now(), type: 'crash', node: 'b', lostOutputs: 0 });
            await new Promise((r) => setTimeout(r, 30));
            supervisor.push({ t: Date.now(), type: 'recover', node: 'b' });
            b = mk('b', 3);
            await b.start();
          }
          if (i % 25 === 24) await new Promise((r) => setImmediate(r));
        }
        const applied = () => {
          const st = (b.protocol as { state?: unknown } | undefined)?.state as
            CounterState | undefined;
          return st?.n ?? 0;
        };
        await waitFor(
          () => applied() >= N && (a.protocol?.stats().inFlight ?? 1) === 0,
          30_000,
          `${N} applied and acked`,
        );
        await a.close();
        await b.close();
        // The durable applied log: every message exactly once.
        const st = new Storage({ path: join(dir, 'b.db') });
        const counts = new Map<number, number>();
        for (const row of st.appliedRows()) {
          const i = payloadIndex((row.value as { payload: unknown }).payload) ?? -1;
          counts.set(i, (counts.get(i) ?? 0) + 1);
        }
        st.close();
        const wrong = [...counts].filter(([, c]) => c !== 1);
        assert.equal(counts.size, N, `applied ${counts.size} distinct of ${N}`);
        assert.deepEqual(wrong, [], 'applied more than once');
        // The same verdict from the trace checker.
        const verdicts = checkGuarantee(mergeTraces([supervisor, ...traces]), 'exactly-once', {
          correct: 'up-at-end',
        });
        assert.ok(summarize(verdicts).safe && summarize(verdicts).live, formatVerdicts(verdicts));
      } finally {
        await a.close();
        await b.close();
        await net.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
