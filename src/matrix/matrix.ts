/**
 * The fault-tolerance matrix: every protocol under every fault model, over many seeds, each cell
 * classified as masking / fail-safe / non-masking / none from the runs' checked verdicts.
 *
 * Guarantees: every cell is computed from runs made now (nothing is written down by hand); each
 * cell short of masking names a seed whose `steadfast sim --protocol P --faults F --nodes N
 * --seed S` reproduces the violation, and (unless shrinking is off) a shrunk run that still
 * violates the same property, with the command that replays it.
 * Assumes: runs are deterministic per (protocol, faults, nodes, seed, messages).
 */

import { writeFileSync } from 'node:fs';
import { classify, type Classification } from '../check/classify.ts';
import { toJsonLines, type TraceEvent } from '../core/trace.ts';
import { nodeIds } from '../core/ids.ts';
import {
  capRow,
  capStoresIn,
  DEFAULT_CAP_SEEDS,
  PARTITION,
  type CapRun,
  type CapTable,
} from './cap.ts';
import { defaultWorkers, WorkerPool } from './pool.ts';
import { defaultProtocols, findProtocol } from './registry.ts';
import { FAULT_MODELS, type FaultModel, type RunSpec } from './spec.ts';
import type { Task, TaskDetail, TaskResult } from './task.ts';

/**
 * Seeds per cell of the default matrix (`npm start`): enough that every cell gets the form that
 * 2,000 seeds give (checked by bench/matrix-stability.ts), all of it within a minute on 2 cores. A row may
 * ask for fewer (`ProtocolEntry.matrixSeeds`: the stores and logged broadcasts, whose runs cost more).
 */
export const DEFAULT_MATRIX_SEEDS = 100;

/**
 * "100 seeds per cell (1..100)", or with rows of other counts "100 seeds per cell (1..100; 40
 * for kv-raft, kv-abd)".
 */
export function describeSeeds(m: MatrixResult): string {
  const range = (n: number): string => `${m.firstSeed}..${m.firstSeed + n - 1}`;
  const byCount = new Map<number, string[]>();
  for (const [p, n] of Object.entries(m.seedsPerProtocol)) {
    if (n !== m.seeds) byCount.set(n, [...(byCount.get(n) ?? []), p]);
  }
  const others = [...byCount].map(([n, ps]) => `; ${n} (${range(n)}) for ${ps.join(', ')}`);
  return `${m.seeds} seeds per cell (${range(m.seeds)}${others.join('')})`;
}

/** Seeds per cell of `protocol`'s row when the caller names no count. */
export function defaultSeedsFor(protocol: string): number {
  return findProtocol(protocol).matrixSeeds ?? DEFAULT_MATRIX_SEEDS;
}

export interface MatrixOptions {
  readonly protocols?: readonly string[];
  readonly faults?: readonly FaultModel[];
  readonly nodes: number;
  /** Seeds per cell; absent: each row's default (defaultSeedsFor). */
  readonly seeds?: number;
  readonly firstSeed?: number;
  readonly messages?: number;
  readonly workers?: number;
  readonly shrink?: boolean;
  /** Folder for the shrunk counterexample traces (none written when absent). */
  readonly outDir?: string;
  /**
   * Seeds per store of the CAP table (cap.ts), computed for the stores among the rows; 0: no
   * table. Default DEFAULT_CAP_SEEDS.
   */
  readonly capSeeds?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface CellExample {
  readonly seed: number;
  readonly property: string;
  readonly kind: 'safety' | 'liveness';
  readonly message: string;
  /** Reproduces the original run. */
  readonly reproduce: string;
  readonly shrunk?: {
    readonly spec: RunSpec;
    readonly fromSize: number;
    readonly toSize: number;
    readonly file?: string;
    readonly replay?: string;
    /** The shrunk run's own first violation (the same property; its own events and text). */
    readonly property: string;
    readonly message: string;
  };
}

export interface Cell extends Classification {
  readonly protocol: string;
  readonly faults: FaultModel;
  /**
   * Masking, but no fault of the column reached any of its runs (no drop, duplicate, corruption,
   * crash or lie): the cell shows the protocol correct without faults, not faults masked.
   */
  readonly vacuous: boolean;
  /** Why the cell has its form, computed from its counterexample run (explain.ts). */
  readonly explanation?: string;
  readonly example?: CellExample;
}

export interface MatrixResult {
  readonly schema: 'steadfast.matrix/1';
  readonly nodes: number;
  /** The most seeds any row ran (each row's own count in `seedsPerProtocol`). */
  readonly seeds: number;
  readonly seedsPerProtocol: Readonly<Record<string, number>>;
  readonly firstSeed: number;
  readonly messages: number;
  readonly protocols: readonly string[];
  readonly faults: readonly FaultModel[];
  readonly cells: readonly Cell[];
  /** The CAP table of the stores among the rows (absent when none is, or capSeeds is 0). */
  readonly cap?: CapTable;
  /** Runs of the cells (the CAP table's runs not counted). */
  readonly runs: number;
  readonly wallMs: number;
}

export function simCommand(
  protocol: string,
  faults: string,
  nodes: number,
  seed: number,
  messages: number,
): string {
  return `steadfast sim --protocol ${protocol} --faults ${faults} --nodes ${nodes} --seed ${seed}${messages === 4 ? '' : ` --messages ${messages}`}`;
}

/** A trace file: a header line with the spec, then one event per line (see `replay`). */
export function traceFile(spec: RunSpec, trace: readonly TraceEvent[]): string {
  return (
    JSON.stringify({ type: 'run', schema: 'steadfast.trace/1', spec }) + '\n' + toJsonLines(trace)
  );
}

export async function runMatrix(opts: MatrixOptions): Promise<MatrixResult> {
  const t0 = performance.now();
  const names = opts.protocols ?? defaultProtocols().map((p) => p.name);
  const faults = opts.faults ?? FAULT_MODELS;
  const firstSeed = opts.firstSeed ?? 1;
  const messages = opts.messages ?? 4;
  const seedsPerProtocol = Object.fromEntries(
    names.map((p) => [p, opts.seeds ?? defaultSeedsFor(p)]),
  );
  const tasks: Task[] = [];
  for (const protocol of names) {
    for (const f of faults) {
      for (let s = 0; s < (seedsPerProtocol[protocol] ?? 0); s++) {
        tasks.push({ protocol, faults: f, nodes: opts.nodes, seed: firstSeed + s, messages });
      }
    }
  }
  let done = 0;
  const pool = new WorkerPool(
    Math.max(1, Math.min(opts.workers ?? defaultWorkers(), tasks.length)),
  );
  try {
    const results = await pool.run(tasks, {
      onResult: () => {
        opts.onProgress?.(++done, tasks.length);
      },
    });
    const byCell = new Map<string, TaskResult[]>();
    for (const r of results) {
      const key = `${r.protocol}\u0000${r.faults}`;
      const list = byCell.get(key) ?? [];
      list.push(r);
      byCell.set(key, list);
    }
    // Each counterexample is explained and shrunk on the workers, all cells at once.
    const classified = names.flatMap((protocol) =>
      faults.map((f) => {
        const runs = byCell.get(`${protocol}\u0000${f}`) ?? [];
        return { protocol, faults: f, runs, c: classify(runs) };
      }),
    );
    const detailTasks: Task[] = classified.flatMap(({ protocol, faults: f, c }) =>
      c.counterexample === undefined
        ? []
        : [
            {
              protocol,
              faults: f,
              nodes: opts.nodes,
              seed: c.counterexample.seed,
              messages,
              detail: { shrink: opts.shrink !== false },
            },
          ],
    );
    const capSeeds = opts.capSeeds ?? DEFAULT_CAP_SEEDS;
    const capStores = capSeeds > 0 ? capStoresIn(names) : [];
    const capTasks: Task[] = capStores.flatMap((protocol) =>
      Array.from({ length: capSeeds }, (_, s) => ({
        protocol,
        faults: 'partition' as const,
        nodes: opts.nodes,
        seed: firstSeed + s,
        messages,
        cap: true,
      })),
    );
    const details = new Map<string, TaskDetail>();
    const capRuns = new Map<string, (CapRun & { seed: number })[]>();
    for (const r of await pool.run([...detailTasks, ...capTasks])) {
      if (r.cap !== undefined) {
        capRuns.set(r.protocol, [...(capRuns.get(r.protocol) ?? []), { ...r.cap, seed: r.seed }]);
      } else if (r.detail !== undefined) {
        details.set(`${r.protocol}\u0000${r.faults}`, r.detail);
      }
    }
    const cap: CapTable | undefined =
      capStores.length === 0
        ? undefined
        : {
            nodes: opts.nodes,
            seeds: capSeeds,
            firstSeed,
            partition: { startMs: PARTITION.startMs, endMs: PARTITION.endMs },
            minority: nodeIds(opts.nodes).slice(0, Math.floor((opts.nodes - 1) / 2)),
            rows: capStores.map((p) =>
              capRow(
                p,
                opts.nodes,
                (capRuns.get(p) ?? []).sort((a, b) => a.seed - b.seed),
              ),
            ),
          };
    const cells: Cell[] = classified.map(({ protocol, faults: f, runs, c }) => {
      const ce = c.counterexample;
      if (ce === undefined) {
        const vacuous = c.form === 'masking' && runs.every((r) => r.stats.faults === 0);
        return { ...c, protocol, faults: f, vacuous };
      }
      const detail = details.get(`${protocol}\u0000${f}`);
      const example: CellExample = {
        ...ce,
        reproduce: simCommand(protocol, f, opts.nodes, ce.seed, messages),
        ...(detail?.shrunk === undefined
          ? {}
          : { shrunk: shrunkExample(detail.shrunk, protocol, f, ce.seed, opts.outDir) }),
      };
      return {
        ...c,
        protocol,
        faults: f,
        vacuous: false,
        ...(detail?.explanation === undefined ? {} : { explanation: detail.explanation }),
        example,
      };
    });
    return {
      schema: 'steadfast.matrix/1',
      nodes: opts.nodes,
      seeds: Math.max(...Object.values(seedsPerProtocol)),
      seedsPerProtocol,
      firstSeed,
      messages,
      protocols: names,
      faults,
      cells,
      ...(cap === undefined ? {} : { cap }),
      runs: results.length,
      wallMs: performance.now() - t0,
    };
  } finally {
    await pool.close();
  }
}

/** The shrunk run of a cell, its trace written to `outDir` (when given) for `replay`. */
function shrunkExample(
  s: NonNullable<TaskDetail['shrunk']>,
  protocol: string,
  faults: FaultModel,
  seed: number,
  outDir: string | undefined,
): NonNullable<CellExample['shrunk']> {
  let file: string | undefined;
  if (outDir !== undefined) {
    file = `${outDir}/${protocol}--${faults}--seed${seed}.jsonl`;
    writeFileSync(file, traceFile(s.spec, s.trace));
  }
  return {
    spec: s.spec,
    fromSize: s.from,
    toSize: s.to,
    ...(file === undefined ? {} : { file, replay: `steadfast replay ${file}` }),
    property: s.property,
    message: s.message,
  };
}
