/**
 * Explorer throughput: seeds per second for a 5-node eager-RB scenario with 100 broadcasts under
 * omission faults (30% loss, 20% duplication, reordering), on 1 worker thread and on every core,
 * side by side in one run; prints the speed-up.
 * Usage: node --import tsx bench/explore.ts [--seeds 200] [--runs 3]
 */

import { intFlag, median } from './args.ts';
import { availableParallelism } from 'node:os';
import { WorkerPool } from '../src/matrix/pool.ts';
import type { Task } from '../src/matrix/task.ts';

const args = process.argv.slice(2);
const seeds = intFlag(args, 'seeds', 200);
const runs = intFlag(args, 'runs', 3);
const cores = availableParallelism();

// 5 nodes × 20 broadcasts each = 100 broadcasts per run.
const tasks: Task[] = Array.from({ length: seeds }, (_, i) => ({
  protocol: 'eager-rb',
  faults: 'omission',
  nodes: 5,
  seed: i + 1,
  messages: 20,
}));

async function measure(workers: number): Promise<number> {
  // Threads are started and warmed up before the clock starts: the figure is run throughput
  // (starting a thread costs a module load, paid once per explore or matrix command).
  const pool = new WorkerPool(workers);
  try {
    await pool.run(tasks.slice(0, 2 * workers));
    const rates: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      const results = await pool.run(tasks);
      const s = (performance.now() - t0) / 1000;
      if (results.length !== seeds) {
        throw new Error(`expected ${seeds} results, got ${results.length}`);
      }
      rates.push(seeds / s);
    }
    return median(rates);
  } finally {
    await pool.close();
  }
}

const one = await measure(1);
const all = await measure(cores);
console.log(
  `explorer: eager RB, 5 nodes, 100 broadcasts per run, omission faults; ${seeds} seeds per measurement, median of ${runs}`,
);
console.log('workers   seeds/s   speed-up');
console.log(
  `${String(1).padStart(7)}   ${one.toFixed(1).padStart(7)}   ${(1).toFixed(2).padStart(8)}`,
);
console.log(
  `${String(cores).padStart(7)}   ${all.toFixed(1).padStart(7)}   ${(all / one).toFixed(2).padStart(8)}`,
);
console.log(`speed-up on ${cores} cores: ${(all / one).toFixed(2)}x (ideal ${cores}x)`);
