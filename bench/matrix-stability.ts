/**
 * Matrix stability: does the default `npm start` matrix give every cell the form that many more
 * seeds give? Runs every cell over `--seeds` seeds (default 2,000) in one pass, classifies each
 * cell twice — from its first `--default` seeds (default: what `steadfast matrix` runs for the row,
 * 150, or 40 for a replicated store) and from
 * all of them — and prints every cell whose form differs, then per cell the unsafe and unlive run
 * counts and the first seed of each kind of violation (a cell is stable when that first seed lies
 * within the default seeds, or there is none).
 *
 * Usage: node --import tsx bench/matrix-stability.ts [--seeds 2000] [--default N]
 *        [--protocols a,b] [--faults x,y] [--workers N] [--json out.json]
 * Exit code: 0 when no cell differs, 1 otherwise.
 */

import { writeFileSync } from 'node:fs';
import { classify } from '../src/check/classify.ts';
import { defaultSeedsFor } from '../src/matrix/matrix.ts';
import { runPool } from '../src/matrix/pool.ts';
import { defaultProtocols } from '../src/matrix/registry.ts';
import { FAULT_MODELS, type FaultModel } from '../src/matrix/spec.ts';
import type { Task, TaskResult } from '../src/matrix/task.ts';
import { intFlag, strFlag } from './args.ts';

const args = process.argv.slice(2);
const seeds = intFlag(args, 'seeds', 2000);
const defaultOverride = intFlag(args, 'default', 0);
const defaultSeeds = (protocol: string): number =>
  defaultOverride > 0 ? defaultOverride : defaultSeedsFor(protocol);
const workers = intFlag(args, 'workers', 0);
const names = strFlag(args, 'protocols')?.split(',') ?? defaultProtocols().map((p) => p.name);
const faults = (strFlag(args, 'faults')?.split(',') ?? [...FAULT_MODELS]) as FaultModel[];
const jsonOut = strFlag(args, 'json');

const tasks: Task[] = [];
for (const protocol of names) {
  for (const f of faults) {
    for (let s = 1; s <= seeds; s++)
      tasks.push({ protocol, faults: f, nodes: 5, seed: s, messages: 4 });
  }
}

const t0 = performance.now();
let done = 0;
let lastPrint = 0;
const results = await runPool(tasks, {
  ...(workers > 0 ? { workers } : {}),
  onResult: () => {
    done++;
    const now = performance.now();
    if (now - lastPrint > 10_000) {
      lastPrint = now;
      process.stderr.write(`  ${done}/${tasks.length} runs, ${((now - t0) / 1000).toFixed(0)} s\n`);
    }
  },
});
const wallS = (performance.now() - t0) / 1000;

const byCell = new Map<string, TaskResult[]>();
for (const r of results) {
  const key = `${r.protocol} × ${r.faults}`;
  const list = byCell.get(key) ?? [];
  list.push(r);
  byCell.set(key, list);
}

interface Row {
  readonly cell: string;
  readonly defaultForm: string;
  readonly sweepForm: string;
  readonly unsafe: number;
  readonly unlive: number;
  readonly firstUnsafe: number | undefined;
  readonly firstUnlive: number | undefined;
  /** Summed run time of the cell's runs (ms, worker threads). */
  readonly cpuMs: number;
}

const rows: Row[] = [];
for (const protocol of names) {
  for (const f of faults) {
    const cell = `${protocol} × ${f}`;
    const all = (byCell.get(cell) ?? []).sort((a, b) => a.seed - b.seed);
    const sweep = classify(all);
    const head = classify(all.filter((r) => r.seed <= defaultSeeds(protocol)));
    rows.push({
      cell,
      defaultForm: head.form,
      sweepForm: sweep.form,
      unsafe: all.filter((r) => !r.safe).length,
      unlive: all.filter((r) => !r.live).length,
      firstUnsafe: all.find((r) => !r.safe)?.seed,
      firstUnlive: all.find((r) => !r.live)?.seed,
      cpuMs: all.reduce((sum, r) => sum + r.wallMs, 0),
    });
  }
}

const differ = rows.filter((r) => r.defaultForm !== r.sweepForm);
console.log(
  `matrix stability: ${rows.length} cells × ${seeds} seeds = ${results.length} runs in ${wallS.toFixed(0)} s; ` +
    `default = each row's first ${[...new Set(names.map(defaultSeeds))].join(' or ')} seeds`,
);
console.log('');
console.log(
  `${'cell'.padEnd(34)} ${'default'.padEnd(12)} ${`${seeds} seeds`.padEnd(12)} ${'unsafe'.padStart(7)} ${'unlive'.padStart(7)} ${'ms/run'.padStart(7)}  first unsafe / unlive seed`,
);
for (const r of rows) {
  const mark = r.defaultForm === r.sweepForm ? ' ' : '≠';
  console.log(
    `${mark}${r.cell.padEnd(33)} ${r.defaultForm.padEnd(12)} ${r.sweepForm.padEnd(12)} ` +
      `${String(r.unsafe).padStart(7)} ${String(r.unlive).padStart(7)} ` +
      `${(r.cpuMs / seeds).toFixed(1).padStart(7)}  ` +
      `${r.firstUnsafe ?? '-'} / ${r.firstUnlive ?? '-'}`,
  );
}
console.log('');
console.log(
  differ.length === 0
    ? `0 cells differ: the default seeds give every cell its ${seeds}-seed form`
    : `${differ.length} cells differ:\n${differ.map((r) => `  ${r.cell}: default ${r.defaultForm}, ${seeds} seeds ${r.sweepForm}`).join('\n')}`,
);
if (jsonOut !== undefined)
  writeFileSync(
    jsonOut,
    JSON.stringify(
      {
        seeds,
        defaultSeeds: Object.fromEntries(names.map((p) => [p, defaultSeeds(p)])),
        wallS,
        rows,
      },
      null,
      1,
    ),
  );
process.exitCode = differ.length === 0 ? 0 : 1;
