/**
 * A liar cannot make a correct protocol fail a property it guarantees, through the checkers: one
 * test per family (links, eager broadcasts, the gossip broadcast, Bracha). In each, a Byzantine
 * node lies only about ITSELF (it gives its own messages one same text in every slot, on a lossy,
 * duplicating, reordering network), which every abstraction allows a Byzantine process; the
 * correct protocol must pass every property of its contract, judged by (origin, n) or by the
 * link's sequence number, never by text. Each test also checks that the liar's equal texts were
 * really delivered in several slots, so it exercises what it claims to.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeIds, type NodeId } from '../src/core/ids.ts';
import { createRng } from '../src/core/rng.ts';
import type { TraceEvent } from '../src/core/trace.ts';
import { findProtocol } from '../src/matrix/registry.ts';
import { broadcastWorkload, linkWorkload } from '../src/matrix/registry.ts';
import { hmacSha256, pairKeyRing } from '../src/platform/node-mac.ts';
import { Simulator, type SimOptions } from '../src/sim/simulator.ts';
import { brachaBroadcast } from '../src/protocols/broadcast/bracha.ts';

const SAME = 'the same text in every slot';
const LIAR: NodeId = 'n2';
const SECRET = new TextEncoder().encode('liars test secret');

function run(
  protocol: string,
  tamper: (msg: unknown) => unknown,
  extra: Partial<SimOptions<unknown, unknown, unknown>> = {},
  seed = 7,
): readonly TraceEvent[] {
  const entry = findProtocol(protocol);
  const nodes = nodeIds(4);
  const spec = {
    protocol,
    faults: 'byzantine' as const,
    nodes: 4,
    seed,
    network: {},
    checksum: true,
    auth: true,
    byzantine: [LIAR],
    nemesis: [],
    workload: [],
    faultPhaseMs: 1500,
    runMs: 20_000,
  };
  const workload =
    entry.kind === 'link'
      ? linkWorkload(nodes, 4, 600, createRng(seed))
      : broadcastWorkload(nodes, 4, 600, createRng(seed));
  const sim = new Simulator({
    seed,
    nodes,
    stack: entry.stack(spec),
    network: {
      lossProbability: 0.2,
      duplicateProbability: 0.2,
      duplicateMaxCopies: 2,
      delay: { kind: 'uniform', minMs: 1, maxMs: 80 },
    },
    wire: { frame: { checksum: true, auth: { mac: hmacSha256, keys: pairKeyRing(SECRET) } } },
    byzantine: { nodes: [LIAR], tamperProbability: 1, impersonate: false, tamper },
    racers: [LIAR],
    nemesis: [{ at: 1500, action: { kind: 'heal-all', recoverCrashed: false } }],
    workload,
    ...extra,
  }).runUntil(20_000);
  const verdicts = entry.check(sim.trace, {
    nodes,
    correct: 'never-crashed',
    byzantine: [LIAR],
  });
  for (const v of verdicts) {
    assert.ok(v.holds, `${protocol}: ${v.property} failed: ${v.violation?.message ?? ''}`);
  }
  return sim.trace;
}

/** Slots (origin, n) an honest node delivered with the liar's text, per node. */
function sameTextSlots(trace: readonly TraceEvent[]): Map<NodeId, Set<unknown>> {
  const out = new Map<NodeId, Set<unknown>>();
  for (const e of trace) {
    if (e.type !== 'deliver' || e.node === LIAR) continue;
    const d = e.event as { origin?: unknown; n?: unknown; payload?: unknown };
    if (d.origin !== LIAR || d.payload !== SAME) continue;
    const set = out.get(e.node) ?? new Set();
    set.add(d.n);
    out.set(e.node, set);
  }
  return out;
}

const mostSlots = (m: Map<NodeId, Set<unknown>>): number =>
  Math.max(0, ...[...m.values()].map((s) => s.size));

test('links: a liar sending one text in every message breaks nothing (no duplication by sequence number)', () => {
  const payloadSame = (msg: unknown): unknown => {
    const m = msg as { payload?: unknown };
    return 'payload' in (m as object) ? { ...(msg as object), payload: SAME } : msg;
  };
  for (const protocol of ['perfect', 'exactly-once']) {
    const trace = run(protocol, payloadSame);
    // Some honest node received several different messages of the liar's with the same text.
    const seqs = new Map<string, Set<unknown>>();
    for (const e of trace) {
      const records: { from?: unknown; payload?: unknown; seq?: unknown }[] =
        e.type === 'deliver'
          ? [e.event as object]
          : e.type === 'persist'
            ? e.writes.filter((w) => w.key.endsWith('applied')).map((w) => w.value as object)
            : [];
      for (const r of records) {
        if (r.from !== LIAR || r.payload !== SAME) continue;
        const node = (e as { node: NodeId }).node;
        const set = seqs.get(node) ?? new Set();
        set.add(r.seq);
        seqs.set(node, set);
      }
    }
    assert.ok(
      Math.max(0, ...[...seqs.values()].map((s) => s.size)) >= 2,
      `${protocol}: the liar's equal texts never reached one node twice`,
    );
  }
});

test('eager broadcasts: a liar giving its own broadcasts one text breaks no property of honest origins', () => {
  // Rewrites only the liar's own broadcasts (origin o = the liar), relays of others untouched.
  const ownSame = (msg: unknown): unknown => {
    const link = msg as { payload?: { o?: unknown; payload?: unknown } };
    const rb = link.payload;
    if (rb === undefined || rb.o !== LIAR) return msg;
    const inner = rb.payload;
    const wrapped =
      typeof inner === 'object' && inner !== null && 'vc' in inner
        ? { ...inner, payload: SAME }
        : SAME;
    return { ...(msg as object), payload: { ...rb, payload: wrapped } };
  };
  for (const protocol of ['eager-rb', 'fifo-rb', 'causal', 'urb']) {
    const trace = run(protocol, ownSame);
    assert.ok(mostSlots(sameTextSlots(trace)) >= 2, `${protocol}: equal texts in < 2 slots`);
  }
});

test('gossip broadcast: a liar giving its own items one text breaks no property of honest origins', () => {
  const liarIndex = nodeIds(4).indexOf(LIAR);
  const ownSame = (msg: unknown): unknown => {
    const m = msg as { m?: unknown };
    return Array.isArray(m.m)
      ? {
          ...(msg as object),
          m: m.m.map((it: { o?: unknown }) => (it.o === liarIndex ? { ...it, v: SAME } : it)),
        }
      : msg;
  };
  const trace = run('gossip-rb', ownSame);
  assert.ok(mostSlots(sameTextSlots(trace)) >= 2, 'gossip-rb: equal texts in < 2 slots');
});

test('Bracha: a Byzantine origin broadcasting one text in several slots is not a duplication', () => {
  // The liar runs Bracha honestly but broadcasts the same text twice (its own business), so
  // every correct node delivers (n2, 1) and (n2, 2) with equal payloads.
  const nodes = nodeIds(4);
  const stack = brachaBroadcast({ f: 1 });
  const sim = new Simulator({
    seed: 3,
    nodes,
    stack,
    network: {
      lossProbability: 0.2,
      duplicateProbability: 0.2,
      duplicateMaxCopies: 2,
      delay: { kind: 'uniform', minMs: 1, maxMs: 80 },
    },
    nemesis: [{ at: 1000, action: { kind: 'heal-all', recoverCrashed: false } }],
    workload: [
      { at: 10, node: LIAR, cmd: { type: 'broadcast', payload: SAME } },
      { at: 20, node: LIAR, cmd: { type: 'broadcast', payload: SAME } },
      { at: 30, node: 'n1', cmd: { type: 'broadcast', payload: 'n1#0' } },
    ],
  }).runUntil(20_000);
  const verdicts = findProtocol('bracha').check(sim.trace, {
    nodes,
    correct: 'never-crashed',
    byzantine: [LIAR],
  });
  for (const v of verdicts) assert.ok(v.holds, `${v.property}: ${v.violation?.message ?? ''}`);
  assert.ok(mostSlots(sameTextSlots(sim.trace)) === 2);
  // The same trace with the liar counted honest is a workload that repeats itself: refused.
  const honest = findProtocol('bracha').check(sim.trace, {
    nodes,
    correct: 'never-crashed',
    byzantine: [],
  });
  assert.deepEqual(
    honest.map((v) => v.property),
    ['workload-unique'],
  );
});
