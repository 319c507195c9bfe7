/**
 * Runs many tasks on a pool of worker threads (one per core by default) and hands results back
 * as they come, in completion order. Deterministic per task (each run depends only on its own
 * seed), so the pool's scheduling never changes a verdict, only when it arrives.
 *
 * Guarantees: at most `workers` threads; every task is run once; a task that throws rejects the
 * whole run with the task named (a bug, never a verdict); `shouldStop` ends the run early (the
 * explorer's stop-on-first-counterexample) and terminates the threads.
 */

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Task, TaskResult } from './task.ts';

export function defaultWorkers(): number {
  return Math.max(1, availableParallelism());
}

export async function runPool(
  tasks: readonly Task[],
  opts: {
    readonly workers?: number;
    readonly onResult?: (r: TaskResult) => void;
    readonly shouldStop?: (r: TaskResult) => boolean;
  } = {},
): Promise<TaskResult[]> {
  const n = Math.max(1, Math.min(opts.workers ?? defaultWorkers(), tasks.length));
  const results: TaskResult[] = [];
  if (tasks.length === 0) return results;
  const entry = new URL('./worker-entry.mjs', import.meta.url);
  const workers = Array.from({ length: n }, () => new Worker(entry));
  let next = 0;
  let stopped = false;
  try {
    await new Promise<void>((resolve, reject) => {
      let busy = 0;
      const feed = (w: Worker) => {
        if (stopped || next >= tasks.length) {
          if (busy === 0) resolve();
          return;
        }
        busy++;
        w.postMessage(tasks[next++]);
      };
      for (const w of workers) {
        w.on(
          'message',
          (m: { ok: true; result: TaskResult } | { ok: false; task: Task; error: string }) => {
            busy--;
            if (!m.ok) {
              stopped = true;
              reject(new Error(`run ${JSON.stringify(m.task)} threw: ${m.error}`));
              return;
            }
            results.push(m.result);
            opts.onResult?.(m.result);
            if (opts.shouldStop?.(m.result) === true) stopped = true;
            feed(w);
          },
        );
        w.on('error', (err) => {
          stopped = true;
          reject(err);
        });
        feed(w);
      }
    });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return results;
}
