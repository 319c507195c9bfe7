/**
 * Worker-thread entry: receives `Task`s, runs them, posts `TaskResult`s back. Loaded through
 * worker-entry.mjs, which registers the TypeScript loader first.
 */

import { parentPort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { runTask, type Task } from './task.ts';

const port = parentPort;
if (port === null) throw new Error('worker.ts must run in a worker thread');
port.on('message', (task: Task) => {
  try {
    port.postMessage({ ok: true, result: runTask(task, () => performance.now()) });
  } catch (err) {
    port.postMessage({
      ok: false,
      task,
      error: err instanceof Error ? (err.stack ?? err.message) : String(err),
    });
  }
});
