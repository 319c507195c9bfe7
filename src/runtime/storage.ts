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
 *   a receiver's `rx/<peer>` watermark written for 500 messages in one batch is one write). So a
 *   batch applies as its coalesced writes: a key deleted and written again within ONE batch keeps
 *   its earlier place in the order (the simulator, applying writes one by one, moves it to the
 *   end). No protocol here depends on that order beyond the idempotency keys' expiry order, which
 *   that case can only delay (the key count stays bounded by `keyMax`).
 *
 * LAYOUT: a log and a table. A commit appends ONE row to `log`: every write of the batch, encoded
 * together (`[key, encoded-value-or-null]` pairs; each value is its own MessagePack, carried as
 * bytes). The `kv` table holds the state as of the last compaction; once the log holds
 * `compactBytes` (default 32 MiB) or `compactKeys` distinct keys, one transaction applies the
 * log's NET writes to `kv` and empties the log. A send-buffer entry written and deleted between
 * two compactions — nearly all of them — never touches `kv`. Why: with a row per key, a 1 KiB
 * value costs its B-tree insert, its delete, and their pages in the WAL and at checkpoint (about
 * 10 µs of CPU per message); appended together, a batch is one row, written sequentially. The net
 * writes are kept in memory as the log grows (key → the bytes of its last value), so a compaction
 * neither reads the log back nor decodes or re-encodes a value: it writes the bytes it holds.
 * `load` reads `kv` and applies the net writes, so a restart sees exactly the committed batches.
 * The log format is `user_version` 2; a database with a log of an older format is refused.
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
import { NOT_PLAIN, PlainEncoder } from '../core/msgpack.ts';
import { decodePayload, encodePayload } from '../core/payload.ts';
import { SteadfastError } from '../core/errors.ts';

export type Synchronous = 'FULL' | 'NORMAL';

export interface StorageOptions {
  /** SQLite file path (its directory is created); ':memory:' for tests. */
  readonly path: string;
  /** Default 'FULL'; see the module header for the trade-off. */
  readonly synchronous?: Synchronous;
  /**
   * SQLite page size of a NEW database (an existing one keeps its own): 512..65536, a power of
   * two. Default 16 KiB, for large batches (see the constructor). Each commit writes every page
   * it touches whole, so a store whose commits are small (the replicated store's: a few log
   * entries) writes a quarter of the bytes per commit with 4 KiB pages, and fsyncs them faster.
   */
  readonly pageSize?: number;
  /**
   * Log size (bytes of encoded writes) that triggers a compaction (default 32 MiB). A compaction
   * costs about the live set (a full 2,048-entry send buffer: ~40 ms), so rarer is cheaper.
   */
  readonly compactBytes?: number;
  /** Distinct keys written since the last compaction that trigger one (default 100,000). */
  readonly compactKeys?: number;
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

export class Storage implements DriverStorage {
  private readonly db: Database.Database;
  private readonly upsert: Database.Statement<[string, Buffer]>;
  private readonly remove: Database.Statement<[string]>;
  private readonly setMeta: Database.Statement<[string, string]>;
  private readonly appliedLog: boolean;
  private readonly compactBytes: number;
  private readonly compactKeys: number;
  private readonly txn: (batch: EncodedBatch) => void;
  private readonly compactTxn: () => void;
  /** Bytes of encoded writes in the log since the last compaction. */
  private logBytes = 0;
  /**
   * The log's net effect on each key it wrote, in the order a Map replaying the log would hold
   * them: a key deleted and written again is `reborn` (it moves to the end, as in a Map). Its
   * bytes are views into the log rows' buffers, so it holds at most the log's size.
   */
  private readonly net = new Map<string, NetWrite>();
  /** The keys that have a row in `kv` (the state is in memory anyway: `load` returns it all). */
  private readonly kvKeys = new Set<string>();
  private closed = false;
  /** Transactions committed, and compactions done (for observability). */
  commits = 0;
  compactions = 0;

  constructor(opts: StorageOptions) {
    const pageSize = pageSizeOf(opts.pageSize); // before anything is created
    if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
    this.db = new Database(opts.path);
    try {
      // A second process on the same file waits at most this long for the lock, then fails.
      this.db.pragma('busy_timeout = 2000');
      // Before WAL: in exclusive mode the WAL index lives in this process's memory, and the
      // lock, taken at the first access, keeps every other process out until close (or death).
      this.db.pragma('locking_mode = EXCLUSIVE');
      // 16 KiB pages by default (a new database only; an existing one keeps its own), and a
      // checkpoint per 1,000 pages of WAL: a commit of 400 KB of send buffer costs 2.7 µs of CPU
      // per message instead of 4.5 with 4 KiB pages (fewer overflow pages, frames and copies).
      this.db.pragma(`page_size = ${pageSize}`);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('wal_autocheckpoint = 1000');
      this.db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL);
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS trace (seq INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS applied (seq INTEGER PRIMARY KEY AUTOINCREMENT, t REAL NOT NULL, value BLOB NOT NULL);
      `);
      const version = this.db.pragma('user_version', { simple: true }) as number;
      if (version < LOG_FORMAT) {
        const old = this.db
          .prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'log'")
          .get() as { n: number };
        if (old.n > 0 && this.db.prepare('SELECT 1 FROM log LIMIT 1').get() !== undefined) {
          throw new Error(
            `storage: ${opts.path} holds a log of an older format (user_version ${version}); ` +
              'start from an empty data directory',
          );
        }
        this.db.exec('DROP TABLE IF EXISTS log');
        this.db.pragma(`user_version = ${LOG_FORMAT}`);
      }
      this.db.exec(
        'CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, writes BLOB NOT NULL)',
      );
      const row = this.db
        .prepare('SELECT COALESCE(SUM(LENGTH(writes)), 0) AS n FROM log')
        .get() as { n: number };
      this.logBytes = row.n;
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
    this.compactBytes = opts.compactBytes ?? 32 * 1024 * 1024;
    this.compactKeys = opts.compactKeys ?? 100_000;
    // ON CONFLICT DO UPDATE keeps the row (and its rowid, hence first-write order).
    this.upsert = this.db.prepare(
      'INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    );
    this.remove = this.db.prepare('DELETE FROM kv WHERE key = ?');
    const appendLog = this.db.prepare<[Buffer]>('INSERT INTO log (writes) VALUES (?)');
    const clearLog = this.db.prepare('DELETE FROM log');
    const appendTrace = this.db.prepare<[string]>('INSERT INTO trace (event) VALUES (?)');
    const appendApplied = this.db.prepare<[number, Buffer]>(
      'INSERT INTO applied (t, value) VALUES (?, ?)',
    );
    this.setMeta = this.db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    );
    this.txn = this.db.transaction((batch: EncodedBatch) => {
      if (batch.log !== null) appendLog.run(toBuffer(batch.log));
      if (this.appliedLog) for (const [t, v] of batch.applied) appendApplied.run(t, toBuffer(v));
      for (const e of batch.events) appendTrace.run(e);
      for (const [k, v] of batch.meta) this.setMeta.run(k, v);
    });
    this.compactTxn = this.db.transaction(() => {
      for (const [key, { bytes, reborn }] of this.net) {
        // Only a key that has a row in kv needs a delete: a send-buffer entry written and acked
        // within the log's span (nearly all of them) costs nothing here.
        if ((bytes === null || reborn) && this.kvKeys.delete(key)) this.remove.run(key);
        if (bytes !== null) {
          this.upsert.run(key, toBuffer(bytes));
          this.kvKeys.add(key);
        }
      }
      clearLog.run();
    });
    for (const r of this.db.prepare('SELECT key FROM kv').all() as { key: string }[]) {
      this.kvKeys.add(r.key);
    }
    const rows = this.db.prepare('SELECT writes FROM log ORDER BY seq').all() as {
      writes: Buffer;
    }[];
    for (const r of rows) this.noteLogRow(r.writes);
  }

  /** The durable key-value map, in first-write order: `kv`, then the log replayed. */
  load(): Map<string, unknown> {
    this.check();
    const out = new Map<string, unknown>();
    const rows = this.db.prepare('SELECT key, value FROM kv ORDER BY rowid').all() as {
      key: string;
      value: Buffer;
    }[];
    for (const row of rows) out.set(row.key, decodeValue(`value of ${row.key}`, row.value));
    for (const [key, { bytes, reborn }] of this.net) {
      if (bytes === null || reborn) out.delete(key);
      if (bytes !== null) out.set(key, decodeValue(`value of ${key}`, bytes));
    }
    return out;
  }

  get logsApplied(): boolean {
    return this.appliedLog;
  }

  /**
   * Commits one batch atomically: the key writes (the last write of a key wins), the applied-log
   * rows (kept only with `appliedLog`), the serialized trace events and metadata.
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
        m.set(w.key, w.value);
        if (this.appliedLog && isAppliedKey(w.key) && w.value !== null) {
          applied.push({ t: opts.t ?? 0, value: w.value });
        }
      }
      map = m;
    }
    this.commitEncoded(encodeBatch(map, applied, opts.events, opts.meta));
  }

  /** Commits a pre-coalesced batch (see `Driver`) and its applied-log rows: one transaction. */
  commit(
    writes: ReadonlyMap<string, unknown>,
    applied: readonly AppliedRow[],
    events: readonly string[],
    meta: ReadonlyMap<string, string>,
  ): void {
    this.check();
    this.commitEncoded(encodeBatch(writes, this.appliedLog ? applied : [], events, meta));
  }

  /**
   * `commit` of a batch encoded by `encodeBatch`: what the commit thread of `AsyncStorage` runs,
   * the encoding having been done on the thread that owns the values.
   */
  commitEncoded(batch: EncodedBatch): void {
    this.check();
    this.txn(batch);
    this.commits++;
    if (batch.log !== null) {
      this.logBytes += batch.log.length;
      this.noteLogRow(batch.log);
    }
    if (this.logBytes >= this.compactBytes || this.net.size >= this.compactKeys) this.compact();
  }

  /**
   * Applies the log's net writes to `kv` and empties the log, in one transaction: runs by itself
   * when the log reaches `compactBytes`; callable any time (tests).
   */
  compact(): void {
    this.check();
    this.compactTxn();
    this.net.clear();
    this.logBytes = 0;
    this.compactions++;
  }

  /** Rows in the log table, compacted ones not yet dropped included (tests, observability). */
  logRows(): number {
    this.check();
    return (this.db.prepare('SELECT COUNT(*) AS n FROM log').get() as { n: number }).n;
  }

  /** Folds one log row (a committed batch's writes) into `net`. */
  private noteLogRow(row: Uint8Array): void {
    // decodeValue decodes a copy: the views `net` keeps pin that copy only, never a SQLite
    // Buffer or a shared slab (slab.ts) holding other data.
    const pairs = decodeValue('a log row', row);
    if (!Array.isArray(pairs)) throw new Error('storage: a log row is not a list of writes');
    for (const pair of pairs as unknown[]) {
      if (
        !Array.isArray(pair) ||
        pair.length !== 2 ||
        typeof pair[0] !== 'string' ||
        !(pair[1] === null || pair[1] instanceof Uint8Array)
      ) {
        throw new Error('storage: a log row holds a malformed write');
      }
      const key = pair[0];
      const bytes = pair[1] as Uint8Array | null;
      const cur = this.net.get(key);
      if (bytes === null) {
        this.net.delete(key);
        this.net.set(key, { bytes: null, reborn: false });
      } else if (cur !== undefined && cur.bytes === null) {
        this.net.delete(key);
        this.net.set(key, { bytes, reborn: true });
      } else {
        this.net.set(key, { bytes, reborn: cur?.reborn ?? false });
      }
    }
  }

  getMeta(key: string): string | undefined {
    this.check();
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as
      { value: string } | undefined;
    return row?.value;
  }

  /** Every metadata entry. */
  metaEntries(): [string, string][] {
    this.check();
    const rows = this.db.prepare('SELECT key, value FROM meta').all() as {
      key: string;
      value: string;
    }[];
    return rows.map((r) => [r.key, r.value]);
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
    return rows.map((r) => ({ t: r.t, value: decodeValue('an applied row', r.value) }));
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

interface NetWrite {
  /** The encoded value; null: deleted. */
  readonly bytes: Uint8Array | null;
  readonly reborn: boolean;
}

/** A valid SQLite page size (default 16 KiB); throws SteadfastError('bad-argument') otherwise. */
function pageSizeOf(size: number | undefined): number {
  const v = size ?? 16384;
  if (!Number.isInteger(v) || v < 512 || v > 65536 || (v & (v - 1)) !== 0) {
    throw new SteadfastError(
      'bad-argument',
      `storage: pageSize must be a power of two in 512..65536, got ${String(size)}`,
    );
  }
  return v;
}

/** `PRAGMA user_version` of the current log format: values encoded one by one, as bytes. */
const LOG_FORMAT = 2;

/**
 * What the driver needs of durable storage: `Storage` (commits on the calling thread) or
 * `AsyncStorage` (commits on a thread of its own; `commit` returns a promise that settles once the
 * batch is durable). `load` and `getMeta` are read once, at start.
 */
export interface DriverStorage {
  /** Whether `commit` keeps the applied rows it is given (else the driver need not gather them). */
  readonly logsApplied: boolean;
  load(): Map<string, unknown>;
  getMeta(key: string): string | undefined;
  /** Commits one batch atomically; a returned promise settles when it is durable. */
  commit(
    writes: ReadonlyMap<string, unknown>,
    applied: readonly AppliedRow[],
    events: readonly string[],
    meta: ReadonlyMap<string, string>,
  ): void | Promise<void>;
  /** Commits nothing more; a returned promise settles when the file is released. */
  close(): void | Promise<void>;
}

/**
 * A batch, encoded: the writes as ONE MessagePack value (`[key, value-or-null]` pairs; null when
 * there are none), applied rows, trace lines and metadata. Plain data that crosses a thread
 * boundary cheaply (the `log` buffer is transferred, not copied).
 */
export interface EncodedBatch {
  readonly log: Uint8Array | null;
  readonly applied: (readonly [number, Uint8Array])[];
  readonly events: readonly string[];
  readonly meta: (readonly [string, string])[];
}

/** Encodes a batch (MessagePack, the payload codec): one encoder call for all its writes. */
export function encodeBatch(
  writes: ReadonlyMap<string, unknown>,
  applied: readonly AppliedRow[],
  events: readonly string[] = [],
  meta: ReadonlyMap<string, string> = new Map(),
): EncodedBatch {
  return {
    log: writes.size === 0 ? null : encodeLog(writes),
    applied: applied.map((row) => [row.t, encodePayload(row.value)] as const),
    events,
    meta: [...meta],
  };
}

const logEncoder = new PlainEncoder();

/** A log row: `[key, encodePayload(value) or null]` pairs, one MessagePack value. */
function encodeLog(writes: ReadonlyMap<string, unknown>): Uint8Array {
  try {
    return logEncoder.encodeKeyedBins(writes);
  } catch (e) {
    // Not plain data (a protocol bug): encodePayload throws the error that says where and why.
    if (e === NOT_PLAIN) for (const v of writes.values()) if (v !== null) encodePayload(v);
    throw e;
  }
}

export function isAppliedKey(key: string): boolean {
  return key === 'applied' || key.endsWith('/applied');
}

function decodeValue(what: string, bytes: Uint8Array): unknown {
  const r = decodePayload(new Uint8Array(bytes));
  // Our own encoding: a value that does not decode is disk corruption, a broken invariant.
  if (!r.ok) throw new Error(`storage: ${what} does not decode: ${r.error.detail}`);
  return r.value;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Opens a data directory's database read-only-ish for inspection (tests, cluster reports). */
export function openStorage(path: string, synchronous: Synchronous = 'FULL'): Storage {
  return new Storage({ path, synchronous });
}
