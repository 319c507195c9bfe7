// Flow and congestion control of the reliable link (src/protocols/link/congestion.ts and the
// receiver window of reliable.ts), on the virtual-time pair harness of flow-sim.ts: a receiver
// socket buffer of 256 frames drained at 100 frames/ms, or a fast receiver behind a lossy path.
// Prints the figures; the README of the runtime quotes them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ReliableOptions } from '../../src/protocols/link/reliable.ts';
import { runFlow, type FlowConfig, type FlowResult } from './flow-sim.ts';

const BURST: Omit<FlowConfig, 'protocol' | 'seed'> = {
  messages: 10_000,
  lossProbability: 0,
  oneWayMs: 1,
  bufferMax: 256,
  ratePerMs: 100,
  limitMs: 600_000,
};
/** The runtime's UDP settings (src/runtime/node.ts), minus the receiver window. */
const RUNTIME: Partial<ReliableOptions> = {
  sendWindowMax: 256,
  sackMax: 104,
  rtoInitialMs: 200,
  rtoMinMs: 100,
  rtoMaxMs: 2000,
  congestion: {},
};

function line(name: string, r: FlowResult): string {
  return (
    `${name.padEnd(44)} delivered ${r.delivered}, overrun drops ${r.overruns}, ` +
    `last delivery ${r.lastDeliveryMs.toFixed(0)} ms, goodput ${r.goodputPerMs.toFixed(1)} msg/ms`
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] ?? Number.NaN;
}

test('an unpaced burst of 10,000 messages: the receiver window prevents every overrun', () => {
  const none = runFlow({ ...BURST, seed: 1, protocol: { sendWindowMax: 10_000 } });
  const rwnd = runFlow({
    ...BURST,
    seed: 1,
    protocol: { ...RUNTIME, sendWindowMax: 10_000, receiveWindowMax: 256 },
  });
  const ccOnly = runFlow({ ...BURST, seed: 1, protocol: { ...RUNTIME, sendWindowMax: 10_000 } });
  console.log(line('no flow control (window 10,000)', none));
  console.log(line('receiver window 256 + congestion control', rwnd));
  console.log(line('congestion control alone (no window advertised)', ccOnly));
  assert.ok(none.overruns > 10_000, 'without flow control the burst overruns the buffer');
  assert.equal(rwnd.delivered, 10_000);
  assert.equal(rwnd.overruns, 0, 'a window that fits the buffer never overruns it');
  // The receiver's rate is the ceiling: 100 msg/ms; the window keeps the pipe full.
  assert.ok(rwnd.goodputPerMs > 80, `goodput ${rwnd.goodputPerMs} msg/ms`);
  assert.equal(ccOnly.delivered, 10_000);
  // Congestion control alone cannot know the buffer: it learns the overrun rate of its first
  // rounds as background loss (the warm-up), so it only cuts the damage; the window prevents it.
  assert.ok(ccOnly.overruns < none.overruns / 4, `cc alone: ${ccOnly.overruns} overruns`);
});

test('20% random loss: goodput stays high where classic AIMD collapses', () => {
  const lossy = { ...BURST, messages: 40_000, bufferMax: 100_000, ratePerMs: 1000 };
  const seeds = [1, 2, 3, 4, 5];
  const clean = seeds.map((seed) => runFlow({ ...lossy, seed, protocol: RUNTIME }));
  const ours = seeds.map((seed) =>
    runFlow({ ...lossy, seed, lossProbability: 0.2, protocol: RUNTIME }),
  );
  // Classic loss-driven AIMD: every lossy round is an episode, +1 per round (Reno-like).
  const classic = runFlow({
    ...lossy,
    seed: 1,
    messages: 2000,
    lossProbability: 0.2,
    protocol: {
      ...RUNTIME,
      congestion: {
        lossMargin: 0,
        lossSigmas: 0,
        warmupRounds: 0,
        baselineMax: 0,
        persistRounds: 1,
        growthRatio: 0,
      },
    },
  });
  for (const r of ours) assert.equal(r.delivered, 40_000);
  const g0 = median(clean.map((r) => r.goodputPerMs));
  const g20 = median(ours.map((r) => r.goodputPerMs));
  console.log(`lossless goodput (median of 5 seeds): ${g0.toFixed(1)} msg/ms`);
  console.log(
    `20% loss goodput (median of 5 seeds): ${g20.toFixed(1)} msg/ms = ` +
      `${((100 * g20) / g0).toFixed(0)}% of lossless (ideal 80%)`,
  );
  console.log(line('classic AIMD at 20% loss (2,000 messages)', classic));
  assert.ok(g20 >= 0.4 * g0, `goodput under 20% loss ${g20} vs ${g0} lossless`);
  assert.ok(g20 >= 20 * classic.goodputPerMs, 'far above classic AIMD');
});
