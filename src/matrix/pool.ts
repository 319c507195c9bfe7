/**
 * Runs many tasks on a pool of worker threads (one per core by default) and hands results back
 * as they come, in completion order. Deterministic per task (each run depends only on its own
 * seed), so the pool's scheduling never changes a verdict, only when it arrives.
 *
 * Guarantees: at most `workers` threads; every task is run once; a task that throws rejects the
 * whole run with the task named (a bug, never a verdict); `shouldStop` ends a run early (the
 * explorer's stop-on-first-counterexample). A `WorkerPool` keeps its threads between runs (a
 * thread costs a module load to start), `runPool` makes one for a single run and closes it.
 */

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Task, TaskResult } from './task.ts';

export function defaultWorkers(): number {
  return Math.max(1, availableParallelism());
}

export interface RunOptions {
  readonly onResult?: (r: TaskResult) => void;
  readonly shouldStop?: (r: TaskResult) => boolean;
}

type Reply = { ok: true; result: TaskResult } | { ok: false; task: Task; error: string };

export class WorkerPool {
  private readonly workers: Worker[];
  private busy = false;

  constructor(readonly size: number = defaultWorkers()) {
    const entry = new URL('./worker-entry.mjs', import.meta.url);
    this.workers = Array.from({ length: Math.max(1, size) }, () => new Worker(entry));
  }

  async run(tasks: readonly Task[], opts: RunOptions = {}): Promise<TaskResult[]> {
    if (this.busy) throw new Error('WorkerPool.run: a run is already in progress');
    this.busy = true;
    const results: TaskResult[] = [];
    let next = 0;
    let inFlight = 0;
    let stopped = false;
    const cleanups: (() => void)[] = [];
    try {
      await new Promise<void>((resolve, reject) => {
        const feed = (w: Worker) => {
          if (stopped || next >= tasks.length) {
            if (inFlight === 0) resolve();
            return;
          }
          inFlight++;
          w.postMessage(tasks[next++]);
        };
        for (const w of this.workers) {
          const onMessage = (m: Reply) => {
            inFlight--;
            if (!m.ok) {
              stopped = true;
              reject(new Error(`run ${JSON.stringify(m.task)} threw: ${m.error}`));
              return;
            }
            results.push(m.result);
            opts.onResult?.(m.result);
            if (opts.shouldStop?.(m.result) === true) stopped = true;
            feed(w);
          };
          const onError = (err: Error) => {
            stopped = true;
            reject(err);
          };
          w.on('message', onMessage);
          w.on('error', onError);
          cleanups.push(() => {
            w.off('message', onMessage);
            w.off('error', onError);
          });
        }
        if (tasks.length === 0) resolve();
        for (const w of this.workers) feed(w);
      });
    } finally {
      for (const c of cleanups) c();
      this.busy = false;
    }
    return results;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** One run on a fresh pool of `workers` threads (at most one per task), closed afterwards. */
export async function runPool(
  tasks: readonly Task[],
  opts: RunOptions & { readonly workers?: number } = {},
): Promise<TaskResult[]> {
  if (tasks.length === 0) return [];
  const pool = new WorkerPool(Math.min(opts.workers ?? defaultWorkers(), tasks.length));
  try {
    return await pool.run(tasks, opts);
  } finally {
    await pool.close();
  }
}
