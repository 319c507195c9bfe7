/**
 * Durable node state in SQLite (better-sqlite3): the key-value map of `src/core/protocol.ts`,
 * plus the node's durable trace and a little driver metadata.
 *
 * Guarantees:
 * - `applyBatch(writes, events)` is ONE SQLite transaction: every write of the batch (value
 *   `null` deletes the key) and every trace event appended with it are on disk together or not at
 *   all. When it returns, the batch is durable to the level `synchronous` promises (below).
 * - `load()` returns the map as of the last committed batch, in first-write order (rowid order:
 *   a key keeps its row when it is overwritten, so the order is that of its first write, as in
 *   the simulator's Map).
 * - Values are MessagePack (the payload codec), so whatever plain data a protocol persists comes
 *   back deep-equal.
 * - Within one batch, later writes of a key replace earlier ones (group commit coalesces them:
 *   a receiver's `rx/<peer>` watermark written for 500 messages in one batch is one row write).
 *
 * Durability trade-off (`synchronous`): WAL mode always. `FULL` (the default) fsyncs the WAL at
 * every commit: a committed batch survives a power loss or kernel crash. `NORMAL` fsyncs only at
 * checkpoints: a committed batch survives a process crash (SIGKILL) — the WAL write() has
 * returned, the kernel owns the bytes — but the last batches may be lost on power loss, which
 * breaks exactly-once across a machine crash (an ack may have left for a mark that is gone).
 * Group commit makes FULL affordable: one fsync per event-loop turn, not per message.
 *
 * - One process at a time: the database is opened in EXCLUSIVE locking mode, so a second process
 *   (say, a node started twice with the same data directory) fails at `load()` with "database is
 *   locked" after `busy_timeout` instead of interleaving its writes. The OS releases the lock
 *   when the holder dies, so a node restarted after SIGKILL opens it at once.
 * Assumes: values handed to `applyBatch` are plain data and are not mutated until it returns.
 */

import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DurableWrite } from '../core/protocol.ts';
import { decodePayload, encodePayload } from '../core/payload.ts';
import { SteadfastError } from '../core/errors.ts';

export type Synchronous = 'FULL' | 'NORMAL';

export interface StorageOptions {
  /** SQLite file path (its directory is created); ':memory:' for tests. */
  readonly path: string;
  /** Default 'FULL'; see the module header for the trade-off. */
  readonly synchronous?: Synchronous;
  /**
   * Also append every write whose key is `applied` or ends in `/applied` to the `applied` table,
   * in the same transaction: an exact, durable log of every application (for tests that count
   * applications across kill -9 without a full trace).
   */
  readonly appliedLog?: boolean;
}

/** One row of the applied log. */
export interface AppliedRow {
  readonly t: number;
  readonly value: unknown;
}

export class Storage {
  private readonly db: Database.Database;
  private readonly upsert: Database.Statement<[string, Buffer]>;
  private readonly remove: Database.Statement<[string]>;
  private readonly appendTrace: Database.Statement<[string]>;
  private readonly appendApplied: Database.Statement<[number, Buffer]>;
  private readonly setMeta: Database.Statement<[string, string]>;
  private readonly appliedLog: boolean;
  private readonly txn: (
    writes: ReadonlyMap<string, unknown>,
    applied: readonly AppliedRow[],
    events: readonly string[],
    meta: ReadonlyMap<string, string>,
  ) => void;
  private closed = false;
  /** Transactions committed (for observability). */
  commits = 0;

  constructor(opts: StorageOptions) {
    if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
    this.db = new Database(opts.path);
    try {
      // A second process on the same file waits at most this long for the lock, then fails.
      this.db.pragma('busy_timeout = 2000');
      // Before WAL: in exclusive mode the WAL index lives in this process's memory, and the
      // lock, taken at the first access, keeps every other process out until close (or death).
      this.db.pragma('locking_mode = EXCLUSIVE');
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL);
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS trace (seq INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS applied (seq INTEGER PRIMARY KEY AUTOINCREMENT, t REAL NOT NULL, value BLOB NOT NULL);
      `);
    } catch (e) {
      this.db.close();
      if ((e as { code?: unknown }).code === 'SQLITE_BUSY') {
        throw new Error(`storage: ${opts.path} is in use by another process (database is locked)`, {
          cause: e,
        });
      }
      throw e;
    }
    this.appliedLog = opts.appliedLog ?? false;
    // ON CONFLICT DO UPDATE keeps the row (and its rowid, hence first-write order).
    this.upsert = this.db.prepare(
      'INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    );
    this.remove = this.db.prepare('DELETE FROM kv WHERE key = ?');
    this.appendTrace = this.db.prepare('INSERT INTO trace (event) VALUES (?)');
    this.appendApplied = this.db.prepare('INSERT INTO applied (t, value) VALUES (?, ?)');
    this.setMeta = this.db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    );
    this.txn = this.db.transaction(
      (
        writes: ReadonlyMap<string, unknown>,
        applied: readonly AppliedRow[],
        events: readonly string[],
        meta: ReadonlyMap<string, string>,
      ) => {
        for (const [key, value] of writes) {
          if (value === null) this.remove.run(key);
          else this.upsert.run(key, toBuffer(encodePayload(value)));
        }
        for (const row of applied)
          this.appendApplied.run(row.t, toBuffer(encodePayload(row.value)));
        for (const e of events) this.appendTrace.run(e);
        for (const [k, v] of meta) this.setMeta.run(k, v);
      },
    );
  }

  /** The durable key-value map, in first-write order. */
  load(): Map<string, unknown> {
    this.check();
    const out = new Map<string, unknown>();
    const rows = this.db.prepare('SELECT key, value FROM kv ORDER BY rowid').all() as {
      key: string;
      value: Buffer;
    }[];
    for (const row of rows) {
      const r = decodePayload(new Uint8Array(row.value));
      // Our own encoding: a row that does not decode is disk corruption, a broken invariant.
      if (!r.ok) throw new Error(`storage: row ${row.key} does not decode: ${r.error.detail}`);
      out.set(row.key, r.value);
    }
    return out;
  }

  /**
   * Commits one batch atomically: the key writes (coalesced: the last write of a key wins), the
   * applied-log rows, the serialized trace events and metadata.
   */
  applyBatch(
    writes: readonly DurableWrite[] | ReadonlyMap<string, unknown>,
    opts: {
      readonly t?: number;
      readonly events?: readonly string[];
      readonly meta?: ReadonlyMap<string, string>;
    } = {},
  ): void {
    this.check();
    let map: ReadonlyMap<string, unknown>;
    const applied: AppliedRow[] = [];
    if (writes instanceof Map) {
      map = writes;
    } else {
      const m = new Map<string, unknown>();
      for (const w of writes as readonly DurableWrite[]) {
        m.delete(w.key); // keep Map order = last write order; irrelevant for SQL, cheap
        m.set(w.key, w.value);
        if (this.appliedLog && isAppliedKey(w.key) && w.value !== null) {
          applied.push({ t: opts.t ?? 0, value: w.value });
        }
      }
      map = m;
    }
    this.txn(map, applied, opts.events ?? [], opts.meta ?? new Map());
    this.commits++;
  }

  /** Appends applied-log rows for a pre-coalesced batch (see `Driver`): same transaction. */
  commit(
    writes: ReadonlyMap<string, unknown>,
    applied: readonly AppliedRow[],
    events: readonly string[],
    meta: ReadonlyMap<string, string>,
  ): void {
    this.check();
    this.txn(writes, this.appliedLog ? applied : [], events, meta);
    this.commits++;
  }

  get logsApplied(): boolean {
    return this.appliedLog;
  }

  getMeta(key: string): string | undefined {
    this.check();
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as
      { value: string } | undefined;
    return row?.value;
  }

  /** The durable trace, as the JSON strings appended (in order). */
  traceLines(): string[] {
    this.check();
    const rows = this.db.prepare('SELECT event FROM trace ORDER BY seq').all() as {
      event: string;
    }[];
    return rows.map((r) => r.event);
  }

  /** The applied log, in commit order. */
  appliedRows(): AppliedRow[] {
    this.check();
    const rows = this.db.prepare('SELECT t, value FROM applied ORDER BY seq').all() as {
      t: number;
      value: Buffer;
    }[];
    return rows.map((r) => {
      const d = decodePayload(new Uint8Array(r.value));
      if (!d.ok) throw new Error(`storage: applied row does not decode: ${d.error.detail}`);
      return { t: r.t, value: d.value };
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  private check(): void {
    if (this.closed) throw new SteadfastError('not-running', 'storage is closed');
  }
}

export function isAppliedKey(key: string): boolean {
  return key === 'applied' || key.endsWith('/applied');
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Opens a data directory's database read-only-ish for inspection (tests, cluster reports). */
export function openStorage(path: string, synchronous: Synchronous = 'FULL'): Storage {
  return new Storage({ path, synchronous });
}
