/**
 * One replica of the consensus store (kv-raft, src/protocols/kv/raft.ts) in this process, as
 * `steadfast kv serve` runs it: the config's transport between replicas, durable state in
 * `<dataDir>/<id>/state.db` (SQLite, the config's `synchronous`, group commit on a commit thread),
 * the same Driver every node runs (driver.ts), with the raft options a server needs.
 *
 * Why not `startNode` (node.ts): a registry stack takes no options (registry-stack.ts), and a
 * server needs options the simulator's row does not: a longer session window (`sessionMax`: each
 * Idempotency-Key is a session), AppendEntries bounded in bytes so a batch of large values fits
 * one frame of the transport (`batchBytesMax`) and batched under load over TCP
 * (`appendsInFlightMax`), snapshots less often than every 64 entries (a snapshot rewrites the
 * whole map), a client deadline shorter than an HTTP client's patience (`clientTimeoutMs`), and
 * SQLite pages of 4 KiB (its commits are small). Everything else is startNode's path,
 * `openDriver` (node.ts): the data-directory rule (data-dir.ts: missing state refused unless
 * `init`, present state refused with it), the transport and frame options, the storage, the
 * driver.
 *
 * Guarantees: `startKvReplica` resolves once the replica has recovered its durable state and
 * bound its port, or throws (`SteadfastError('bad-argument')` for the data-directory rule, the
 * transport's error for a port in use) after releasing what it opened. `command` refuses
 * (throws `SteadfastError('frame-too-large')`) an operation too large for one frame.
 * Assumes: one process per data directory.
 */

import { SteadfastError } from '../core/errors.ts';
import type { NodeId } from '../core/ids.ts';
import { payloadSize } from '../core/payload.ts';
import { kvRaft, RaftKv, type RaftKvCommand, type RaftOptions } from '../protocols/kv/raft.ts';
import type { KvResult } from '../protocols/kv/types.ts';
import type { ClusterConfig } from './config.ts';
import type { Driver } from './driver.ts';
import { ENVELOPE_BYTES, openDriver } from './node.ts';

/**
 * The server's raft options (the rest are RAFT_DEFAULTS: election 1–2 s, heartbeat 150 ms).
 * sessionMax: the idempotency window, in sessions (keyed requests and this node's client slots
 * together), sized so a snapshot (map + sessions, ~60 bytes a session) stays well within one
 * 1 MiB TCP frame for InstallSnapshot.
 */
export const KV_SERVE_RAFT: Partial<RaftOptions> = {
  sessionMax: 4096,
  batchMax: 256,
  snapshotEvery: 1024,
  clientRetryMs: 100,
  clientRetryMsMax: 1000,
  clientTimeoutMs: 10_000,
  clientQueueMax: 64,
  pendingReadsMax: 10_000,
};

/** Levels an operation sits below the top of a frame (op in request in entry in append). */
const COMMAND_DEPTH = 8;

export interface KvReplica {
  readonly id: NodeId;
  readonly driver: Driver<unknown, RaftKvCommand, KvResult>;
  /** The largest operation (msgpack bytes) one frame of the transport carries. */
  readonly opBytesMax: number;
  /** Gives the store a command; throws SteadfastError for one it refuses. */
  command(cmd: RaftKvCommand): void;
  /** The live store (for stale reads, the leader hint and stats). */
  store(): RaftKv | undefined;
  close(): Promise<void>;
}

export async function startKvReplica(
  cfg: ClusterConfig,
  id: NodeId,
  hooks: {
    readonly init: boolean;
    readonly onResult: (r: KvResult) => void;
    readonly onFatal: (err: unknown) => void;
    readonly raft?: Partial<RaftOptions>;
  },
): Promise<KvReplica> {
  const ids = Object.keys(cfg.nodes);
  if (!ids.includes(id)) {
    throw new SteadfastError(
      'bad-argument',
      `--id ${id}: not one of the config's nodes (${ids.join(', ')})`,
    );
  }
  const { driver, transport } = await openDriver<unknown, RaftKvCommand, KvResult>(cfg, id, {
    init: hooks.init,
    // A commit here is a few log entries and the hard state: 4 KiB pages write a quarter of the
    // bytes of the default 16 KiB ones (bench/kv.ts: 39 instead of 111 KB per put at 1 client,
    // the three replicas together).
    pageSize: 4096,
    stack: (t) =>
      kvRaft({
        ...KV_SERVE_RAFT,
        // An append's entries within one frame, with room for its envelope.
        batchBytesMax: Math.max(1, t.maxFrameBytes - ENVELOPE_BYTES - 1024),
        // Over TCP, two appends unanswered per follower, the entries of a burst batched into the
        // next: under load a follower gets about one append per commit of its own instead of one
        // per request (measured at 64 clients: 10–20% less CPU per put for the three replicas,
        // and more puts/s). TCP loses a frame only with its connection, after which the next heartbeat
        // reopens the window; over UDP a lost answer would stall a follower until then, so
        // appends stay unbounded there.
        ...(t.kind === 'tcp' ? { appendsInFlightMax: 2 } : {}),
        ...hooks.raft,
      }),
    onDeliver: hooks.onResult,
    onFatal: hooks.onFatal,
  });
  const opBytesMax = transport.maxFrameBytes - ENVELOPE_BYTES - 256;
  return {
    id,
    driver,
    opBytesMax,
    command: (cmd) => {
      const size = payloadSize(cmd, COMMAND_DEPTH);
      if (size > opBytesMax) {
        throw new SteadfastError(
          'frame-too-large',
          `operation of ${size} bytes: at most ${opBytesMax} fit one ${cfg.transport} frame`,
        );
      }
      driver.command(cmd);
    },
    store: () => {
      const p = driver.protocol;
      return p instanceof RaftKv ? p : undefined;
    },
    close: () => driver.close(),
  };
}
