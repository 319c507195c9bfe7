/**
 * The commit thread of `AsyncStorage` (async-storage.ts): owns the node's SQLite connection and
 * runs, in the order they arrive, the open, the commits and the close that the main thread posts.
 *
 * Guarantees: a `committed` reply is posted only after `Storage.commitEncoded` has returned, i.e.
 * once the transaction is durable to the level of `synchronous`; a failed commit is reported with
 * its message (the main thread treats it as fatal); `closed` is posted after the database is
 * closed, so the file and its lock are free when the main thread hears of it.
 * Assumes: one main thread talks to this worker; it posts at most one open and nothing after close.
 */

import { parentPort } from 'node:worker_threads';
import { Storage, type EncodedBatch, type StorageOptions } from './storage.ts';

export type ToWorker =
  | { readonly op: 'open'; readonly opts: StorageOptions }
  | { readonly op: 'commit'; readonly id: number; readonly batch: EncodedBatch }
  | { readonly op: 'close' };

export type FromWorker =
  | {
      readonly op: 'opened';
      readonly state: [string, unknown][];
      readonly meta: [string, string][];
    }
  | { readonly op: 'open-failed'; readonly message: string }
  | { readonly op: 'committed'; readonly id: number }
  | { readonly op: 'failed'; readonly id: number; readonly message: string }
  | { readonly op: 'closed' };

const port = parentPort;
if (port === null) throw new Error('storage-worker.ts runs as a worker thread only');

let storage: Storage | undefined;
const reply = (m: FromWorker) => {
  port.postMessage(m);
};
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

port.on('message', (m: ToWorker) => {
  switch (m.op) {
    case 'open':
      try {
        storage = new Storage(m.opts);
        reply({ op: 'opened', state: [...storage.load()], meta: storage.metaEntries() });
      } catch (e) {
        reply({ op: 'open-failed', message: message(e) });
      }
      break;
    case 'commit':
      try {
        if (storage === undefined) throw new Error('commit before open');
        storage.commitEncoded(m.batch);
        reply({ op: 'committed', id: m.id });
      } catch (e) {
        reply({ op: 'failed', id: m.id, message: message(e) });
      }
      break;
    case 'close':
      storage?.close();
      storage = undefined;
      reply({ op: 'closed' });
      port.close();
      break;
  }
});
