/**
 * Durable storage with its commits on a thread of their own: the same SQLite file, schema and
 * guarantees as `Storage` (storage.ts), but `commit` returns at once with a promise that settles
 * when the batch is durable. The node's event loop goes on reading datagrams, running the protocol
 * and gathering the next batch while SQLite writes and fsyncs the previous one — pipelined group
 * commit: the driver keeps one commit in flight and holds every later output until it settles
 * (driver.ts), so the output-order contract holds exactly as with the synchronous `Storage`.
 *
 * Why: with `synchronous=FULL` a commit blocks for the fsync (about a millisecond here), and with
 * 1 KiB values SQLite's page writes cost about 10 µs of CPU per message; on the event loop both
 * add straight to every message's cost. On the commit thread they overlap with the network work.
 *
 * Guarantees: commits are applied in the order `commit` was called (one worker, one queue), each
 * as ONE transaction; `commit`'s promise resolves only after the transaction has returned in the
 * worker, and rejects with the worker's error (or if the worker dies). A batch is encoded on the
 * calling thread (`encodeBatch`: one MessagePack value) and its buffer moved, not copied, to the
 * worker. `close`
 * resolves once the database is closed and its lock released; commits already posted are carried
 * out first (a crash, `Driver.crash`, simply stops posting: what was posted may or may not be
 * durable, like a batch a SIGKILL interrupts).
 * Assumes: one `AsyncStorage` per file; values are plain data and not mutated after `commit`.
 */

import { Worker } from 'node:worker_threads';
import type { FromWorker, ToWorker } from './storage-worker.ts';
import {
  encodeBatch,
  type AppliedRow,
  type DriverStorage,
  type EncodedBatch,
  type StorageOptions,
} from './storage.ts';

const ENTRY = new URL('./storage-worker-entry.mjs', import.meta.url);

interface Pending {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

export class AsyncStorage implements DriverStorage {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closing: Promise<void> | undefined;
  private dead: Error | undefined;
  private onClosed: (() => void) | undefined;
  /** Commits settled (for observability). */
  commits = 0;

  private constructor(
    readonly logsApplied: boolean,
    private readonly worker: Worker,
    private readonly state: Map<string, unknown>,
    private readonly meta: Map<string, string>,
  ) {
    worker.on('message', (m: FromWorker) => {
      this.onMessage(m);
    });
    worker.on('error', (e) => {
      this.die(e);
    });
    worker.on('exit', (code) => {
      this.die(new Error(`storage: commit thread exited with code ${code}`));
      this.onClosed?.();
    });
  }

  /** Starts the commit thread and opens (and loads) the database there. */
  static async open(opts: StorageOptions): Promise<AsyncStorage> {
    const worker = new Worker(ENTRY);
    const opened = await new Promise<FromWorker>((resolve, reject) => {
      const onError = (e: Error) => {
        reject(e);
      };
      worker.once('error', onError);
      worker.once('message', (m: FromWorker) => {
        worker.off('error', onError);
        resolve(m);
      });
      worker.postMessage({ op: 'open', opts } satisfies ToWorker);
    });
    if (opened.op !== 'opened') {
      await worker.terminate();
      throw new Error(opened.op === 'open-failed' ? opened.message : 'storage: bad open reply');
    }
    return new AsyncStorage(
      opts.appliedLog ?? false,
      worker,
      new Map(opened.state),
      new Map(opened.meta),
    );
  }

  load(): Map<string, unknown> {
    return new Map(this.state);
  }

  getMeta(key: string): string | undefined {
    return this.meta.get(key);
  }

  commit(
    writes: ReadonlyMap<string, unknown>,
    applied: readonly AppliedRow[],
    events: readonly string[],
    meta: ReadonlyMap<string, string>,
  ): Promise<void> {
    if (this.closing !== undefined) {
      return Promise.reject(new Error('storage: commit after close'));
    }
    if (this.dead !== undefined) return Promise.reject(this.dead);
    const batch = encodeBatch(writes, this.logsApplied ? applied : [], events, meta);
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ op: 'commit', id, batch } satisfies ToWorker, transferable(batch));
    });
  }

  /** Carries out the commits already posted, closes the database, ends the thread. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      if (this.dead !== undefined) {
        resolve();
        return;
      }
      this.onClosed = resolve;
      this.worker.postMessage({ op: 'close' } satisfies ToWorker);
    });
    return this.closing;
  }

  private onMessage(m: FromWorker): void {
    switch (m.op) {
      case 'committed':
      case 'failed': {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.op === 'committed') {
          this.commits++;
          p?.resolve();
        } else p?.reject(new Error(`storage: commit failed: ${m.message}`));
        break;
      }
      case 'closed':
        break; // the worker closes its port; 'exit' follows
      default:
        break;
    }
  }

  private die(err: Error): void {
    this.dead ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

/** The buffers of a batch's encoded parts, each listed once, when they own their buffer. */
function transferable(batch: EncodedBatch): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  const add = (b: Uint8Array | null) => {
    if (b === null) return;
    const buf = b.buffer;
    if (buf instanceof ArrayBuffer && b.byteOffset === 0 && b.byteLength === buf.byteLength) {
      out.add(buf);
    }
  };
  add(batch.log);
  for (const [, v] of batch.applied) add(v);
  return [...out];
}
