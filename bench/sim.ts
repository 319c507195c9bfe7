/**
 * Simulator throughput on one core: 25 nodes, all-to-all traffic over fair-loss links, 5% loss.
 *
 * Prints, per configuration, the median of several runs: message events per second (sends,
 * receives and drops: everything the network does with a message), deliveries per second, and
 * how much faster than real time the virtual clock runs. Configurations, side by side in one run:
 *   objects  : messages passed as plain objects (wire.encode=false), trace off
 *   frames   : every message encoded to a CRC32C frame and decoded on arrival, trace off
 *   frames+trace : as frames, with every event recorded in the trace
 * Target (issue 3): ≥ 1,000,000 message events/s.
 * Usage: node --import tsx bench/sim.ts [--rounds 200] [--runs 5]
 */

import { intFlag, median } from './args.ts';
import { nodeIds } from '../src/core/ids.ts';
import { fairLossLink, type LinkSend } from '../src/protocols/link/fair-loss.ts';
import { Simulator, type ScheduledCommand } from '../src/sim/simulator.ts';

const args = process.argv.slice(2);
const rounds = intFlag(args, 'rounds', 200);
const runs = intFlag(args, 'runs', 5);
const nodes = nodeIds(25);

// Each round (1 ms apart) every node sends one message to every other node: 600 sends per round.
const workload: ScheduledCommand<LinkSend>[] = [];
for (let r = 0; r < rounds; r++) {
  for (const from of nodes)
    for (const to of nodes)
      if (to !== from) workload.push({ at: r, node: from, cmd: { type: 'send', to, payload: r } });
}

interface Result {
  messageEvents: number;
  delivers: number;
  wallMs: number;
  simMs: number;
}

function once(encode: boolean, record: boolean, seed: number): Result {
  const sim = new Simulator({
    seed,
    nodes,
    stack: fairLossLink,
    network: { lossProbability: 0.05, delay: { kind: 'uniform', minMs: 1, maxMs: 20 } },
    wire: { encode },
    workload,
    record,
  });
  const t0 = performance.now();
  sim.runToQuiescence();
  const wallMs = performance.now() - t0;
  const c = sim.counters;
  return {
    messageEvents: c.sends + c.receives + c.drops,
    delivers: c.delivers,
    wallMs,
    simMs: sim.now,
  };
}

const configs = [
  { name: 'objects', encode: false, record: false },
  { name: 'frames', encode: true, record: false },
  { name: 'frames+trace', encode: true, record: true },
];

for (let i = 0; i < 3; i++) once(false, false, 100 + i); // warm-up: let the JIT settle
const rows: { name: string; eventsPerSec: number; deliversPerSec: number; speedup: number }[] = [];
for (const c of configs) {
  const rs: Result[] = [];
  for (let i = 0; i < runs; i++) rs.push(once(c.encode, c.record, i + 1));
  rows.push({
    name: c.name,
    eventsPerSec: median(rs.map((r) => r.messageEvents / (r.wallMs / 1000))),
    deliversPerSec: median(rs.map((r) => r.delivers / (r.wallMs / 1000))),
    speedup: median(rs.map((r) => r.simMs / r.wallMs)),
  });
}

const base = rows[0]?.eventsPerSec ?? 1;
console.log(
  `simulator, 25 nodes all-to-all, 5% loss, ${workload.length} sends per run, median of ${runs} runs`,
);
console.log('config          msg events/s   deliveries/s   sim-time/wall   vs objects');
for (const r of rows) {
  console.log(
    `${r.name.padEnd(15)} ${Math.round(r.eventsPerSec).toLocaleString('en').padStart(12)}   ${Math.round(r.deliversPerSec).toLocaleString('en').padStart(12)}   ${r.speedup.toFixed(1).padStart(12)}x   ${(r.eventsPerSec / base).toFixed(2)}`,
  );
}
const target = 1_000_000;
const best = rows[0]?.eventsPerSec ?? 0;
console.log(
  `target ≥ ${target.toLocaleString('en')} message events/s: ${best >= target ? 'met' : 'NOT met'} (objects mode ${Math.round(best).toLocaleString('en')})`,
);
