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
import { runPool } from './pool.ts';
import { protocols } from './registry.ts';
import { shrink } from './shrink.ts';
import { FAULT_MODELS, materialize, runSpec, type FaultModel, type RunSpec } from './spec.ts';
import type { Task, TaskResult } from './task.ts';

export interface MatrixOptions {
  readonly protocols?: readonly string[];
  readonly faults?: readonly FaultModel[];
  readonly nodes: number;
  readonly seeds: number;
  readonly firstSeed?: number;
  readonly messages?: number;
  readonly workers?: number;
  readonly shrink?: boolean;
  /** Folder for the shrunk counterexample traces (none written when absent). */
  readonly outDir?: string;
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
  };
}

export interface Cell extends Classification {
  readonly protocol: string;
  readonly faults: FaultModel;
  readonly example?: CellExample;
}

export interface MatrixResult {
  readonly schema: 'steadfast.matrix/1';
  readonly nodes: number;
  readonly seeds: number;
  readonly firstSeed: number;
  readonly messages: number;
  readonly protocols: readonly string[];
  readonly faults: readonly FaultModel[];
  readonly cells: readonly Cell[];
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
  const names = opts.protocols ?? protocols().map((p) => p.name);
  const faults = opts.faults ?? FAULT_MODELS;
  const firstSeed = opts.firstSeed ?? 1;
  const messages = opts.messages ?? 4;
  const tasks: Task[] = [];
  for (const protocol of names) {
    for (const f of faults) {
      for (let s = 0; s < opts.seeds; s++) {
        tasks.push({ protocol, faults: f, nodes: opts.nodes, seed: firstSeed + s, messages });
      }
    }
  }
  let done = 0;
  const results = await runPool(tasks, {
    ...(opts.workers === undefined ? {} : { workers: opts.workers }),
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
  const cells: Cell[] = [];
  for (const protocol of names) {
    for (const f of faults) {
      const c = classify(byCell.get(`${protocol}\u0000${f}`) ?? []);
      const ce = c.counterexample;
      if (ce === undefined) {
        cells.push({ ...c, protocol, faults: f });
        continue;
      }
      const example: CellExample = {
        ...ce,
        reproduce: simCommand(protocol, f, opts.nodes, ce.seed, messages),
      };
      cells.push({
        ...c,
        protocol,
        faults: f,
        example:
          opts.shrink === false ? example : shrinkExample(example, protocol, f, opts, messages),
      });
    }
  }
  return {
    schema: 'steadfast.matrix/1',
    nodes: opts.nodes,
    seeds: opts.seeds,
    firstSeed,
    messages,
    protocols: names,
    faults,
    cells,
    runs: results.length,
    wallMs: performance.now() - t0,
  };
}

function shrinkExample(
  example: CellExample,
  protocol: string,
  faults: FaultModel,
  opts: MatrixOptions,
  messages: number,
): CellExample {
  const spec = materialize(protocol, faults, opts.nodes, example.seed, { messages });
  const s = shrink(spec, example.property, 150);
  let file: string | undefined;
  if (opts.outDir !== undefined) {
    file = `${opts.outDir}/${protocol}--${faults}--seed${example.seed}.jsonl`;
    writeFileSync(file, traceFile(s.spec, runSpec(s.spec).trace));
  }
  return {
    ...example,
    shrunk: {
      spec: s.spec,
      fromSize: s.from,
      toSize: s.to,
      ...(file === undefined ? {} : { file, replay: `steadfast replay ${file}` }),
    },
  };
}
