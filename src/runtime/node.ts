/**
 * One steadfast node as an OS process: the config's stack on the config's transport, durable
 * state in `<dataDir>/<id>/state.db`, driven by JSON Lines on stdin and reporting on stdout.
 * Every stack takes the same path (`startNode`): the channel (`{ guarantee, effect }`) or any
 * protocol of the matrix registry (`{ protocol }`, built by registry-stack.ts), one driver.
 *
 *   stdin  {"type":"send","to":"n2","payload":…[,"guarantee":…][,"key":…][,"ack":true]}
 *              the channel's send; with "ack" the node prints its acknowledgements (stdout:
 *              sent, accepted, delivered; send-acks.ts); without, nothing unless refused
 *          {"type":"pending"[,"ack":true][,"payloads":true]}  the channel's sends this node still
 *              holds (not yet acknowledged by their receiver; after a restart, what its durable
 *              send buffer gave back): {"type":"pending","sends":[{"id","to"[,"key"][,"payload"]}]};
 *              with "ack", a delivered line for each as its receiver acknowledges it
 *          {"type":"broadcast","payload":…}   {"type":"kv","client":…,"serial":…,"op":…}
 *              any line whose type is not one of the node's own (below) is the stack's command
 *          {"type":"command","cmd":{…},"ref":…}  the same, answered {"type":"accepted","ref":…}
 *              or {"type":"error","ref":…,…}: how a supervisor learns each command's fate (that
 *              `accepted` means "the stack took the command"; it carries `ref`, never `id`)
 *          {"type":"workload","to":"n2","count":100000[,"start":0][,"maxQueued":2000]
 *                      [,"padBytes":0][,"stamp":false][,"plain":false][,"awaitAccepted":false]}
 *              sends payloads {i[, ts][, pad]} (or the plain number i with "plain") for
 *              i in [start, start+count), keeping at most maxQueued waiting in the send queue
 *              (with "awaitAccepted": at most maxQueued not yet accepted, and workload-done
 *              once the last is accepted: an application that counts a message as sent only
 *              once it is durable); "stamp" adds ts, the send time (Unix-epoch ms), "padBytes" a
 *              byte-string pad
 *          {"type":"latency"}  reset the end-to-end latency samples (see stats)
 *          {"type":"ack","id":"n1/17"}  (--inbox-max) the application has the inbox message in
 *              its own store: the node deletes it and never offers it again (no reply; an id
 *              already acked is a no-op; a malformed id is an error line)
 *          {"type":"inbox"}   {"type":"inbox","messages":[{"id","from","seq","payload"[,"key"]}]}:
 *              what the inbox still holds (a client attaching later learns it this way)
 *          {"type":"state"}   {"type":"state","state":…}: the channel's effect state (null: none)
 *          {"type":"stats"}   {"type":"stop"}
 *   stdout {"type":"ready","id":…,"incarnation":…}   deliveries ({"type":"deliver",…},
 *          {"type":"kv-result",…}: the stack's events)   {"type":"stats",…,"delivered":…}
 *          {"type":"error","code":…,"message":…}      {"type":"workload-done","sent":…}
 *          a send with "ack" (each line carries the send's "key" when it has one):
 *          {"type":"sent","id":"n2/17"}      at once: the message's id (`<to>/<seq>`, unique at
 *                                            this sender for ever)
 *          {"type":"accepted","id":"n2/17"}  durable at this sender: it will be delivered even if
 *                                            this process is killed now (no earlier than the
 *                                            commit holding its send-buffer entry, or its ack)
 *          {"type":"delivered","id":"n2/17"} acknowledged by the receiver (exactly-once: applied)
 *          A send not yet accepted when the process dies is IN DOUBT (it may have been applied):
 *          resend it after the restart with the same "key" (exactly-once applies a key once).
 *          With --inbox-max, an exactly-once delivery carries "id" and "inbox": true, and
 *          "again": true when it is offered again at a start (src/protocols/link/reliable/inbox.ts).
 *
 * --listen PATH (listen.ts): the same protocol on a Unix domain socket, up to 16 clients at once,
 * each greeted with the ready line; a command's replies (errors, sent/accepted/delivered,
 * pending, inbox, state, stats, workload-done) go to the client that sent it; deliveries and a
 * fatal error go to stdout and to every client attached. Lines are at most 1 MiB; a client that
 * stops reading is disconnected once 8 MiB wait for it. With --inbox-max, a client that attaches
 * is offered again (after its ready line) every message the inbox still holds, as deliver lines
 * with "again": true, so an application process that restarts and reattaches sees what it has
 * not acked.
 *
 * The channel's link settings per transport (overridable under "reliable" in the config; a
 * registry stack's links keep the registry's settings, see registry-stack.ts): up to 2,048
 * messages in flight per peer (a round trip holds a group commit at each end, so with a
 * millisecond fsync the window must cover two commits' worth of messages to keep a loopback link
 * busy; the measurements are in `linkOptions`), sequence numbers reserved 65,536 at a time, and
 *   - UDP: receiver window sized so that every peer's window of max-size frames fits this node's
 *     socket receive buffer (kernel truesize counted as frame + 1 KiB), loss-tolerant congestion
 *     control, selective acks bounded so an ack fits one datagram, acks delayed 1 ms (one ack per
 *     turn instead of one per message), RTO 100 ms – 2 s (initial 200 ms).
 *   - TCP: no receiver window and no congestion control of our own (TCP has both); the same acks
 *     and timeouts (a broken connection is healed by retransmission).
 *
 * Latency: every delivered payload with a numeric `ts` adds (now − ts) to a bounded reservoir
 * sample (100,000 samples, Algorithm R); `stats` reports its count, p50 and p99 in ms. Sender and
 * receiver clocks are the same host clock (performance.timeOrigin-based), so on one host this is
 * the end-to-end latency from the sender's command to the receiver's application.
 *
 * At stdin EOF the node goes on serving its peers until SIGTERM/SIGINT or a `stop` (a node is also
 * a server for the others): without --listen it prints one line on stderr saying no more commands
 * will be read; with --listen nothing (commands come over the socket).
 *
 * Guarantees: a command the stack refuses prints an `error` line and the node goes on; a
 * protocol bug (a throw on a network input or timer) exits with code 70. SIGTERM/SIGINT or
 * `stop` commit what is pending and exit 0. SIGKILL loses only what was not committed, which is
 * exactly what the protocols tolerate (the output-order contract).
 * Assumes: one process per data directory (a second one would share the SQLite file: don't).
 */

import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { SteadfastError } from '../core/errors.ts';
import type { FrameOptions } from '../core/frame.ts';
import type { NodeId } from '../core/ids.ts';
import { payloadSize } from '../core/payload.ts';
import type { NodeContext, StackSpec } from '../core/protocol.ts';
import {
  Channel,
  channel,
  type ChannelSend,
  type Guarantee,
} from '../protocols/delivery/guarantees.ts';
import type {
  Effect,
  Mode,
  ReliableMsg,
  ReliableOptions,
  SendObserver,
} from '../protocols/link/reliable.ts';
import { nativeCrc32c } from '../platform/native-crc32c.ts';
import { hmacSha256, pairKeyRing } from '../platform/node-mac.ts';
import { isProtocolStack, udpPackBytes, type ClusterConfig } from './config.ts';
import { Driver } from './driver.ts';
import { checkedEffect, effectByName, type AppEffect } from './effects.ts';
import { AsyncStorage } from './async-storage.ts';
import { registryStack } from './registry-stack.ts';
import { Storage } from './storage.ts';
import { TcpTransport } from './tcp.ts';
import type { Address, Transport } from './transport.ts';
import { UdpTransport } from './udp.ts';
import { checkNodeState } from './data-dir.ts';
import { SendAcks, type PendingMessage, type SentMessage } from './send-acks.ts';
import { LineServer } from './listen.ts';

/** A node's driver: any stack (the channel's or a registry protocol's). */
export type NodeDriver = Driver<unknown, unknown, unknown>;

/** Bytes a frame adds around an application payload (envelope, ids, CRC, HMAC), generously. */
export const ENVELOPE_BYTES = 160;

/** Bytes of kernel accounting per queued datagram beyond its payload (skb truesize), assumed. */
const DATAGRAM_OVERHEAD_BYTES = 1024;

export function frameOptions(cfg: ClusterConfig): FrameOptions {
  // The native CRC-32C when the addon loads here (the same checksum, ~3× faster per 1 KiB frame).
  const crc = nativeCrc32c();
  const base: FrameOptions =
    crc === undefined ? { checksum: cfg.checksum } : { checksum: cfg.checksum, crc32c: crc };
  if (cfg.auth === undefined) return base;
  const secret = Uint8Array.from(Buffer.from(cfg.auth.secretHex, 'hex'));
  return { ...base, auth: { mac: hmacSha256, keys: pairKeyRing(secret) } };
}

export function peerMap(cfg: ClusterConfig): Map<NodeId, Address> {
  return new Map(Object.entries(cfg.nodes));
}

/** The reliable link's options for this node on this transport (see the module header). */
export function linkOptions(
  cfg: ClusterConfig,
  transport: Transport,
  peers: number,
): Partial<ReliableOptions> {
  const { congestion, ...over } = cfg.reliable;
  const base: Partial<ReliableOptions> = {
    // 2,048 in flight: a round trip holds a group commit at each end, so the window has to cover
    // two commits' worth of messages. Two-process harness, 100,000 exactly-once 1 KiB messages,
    // medians of interleaved runs, 2,048 against 1,024: UDP 37.1k against 33.3k msg/s (3 runs
    // each), 14.6k against 12.8k at 20% kernel drop (2 each), TCP 28.8k/33.4k against
    // 26.2k/29.0k (2 each).
    sendWindowMax: 2048,
    // Sequence numbers reserved per durable write: the reservation is an ordinary persist, so the
    // turns after it wait for its commit, while the send-buffer writes are lazy and hold nothing
    // (core/protocol.ts). A block of 1,024 held about every other commit of a busy sender; a
    // restart skips at most this many numbers (the floor in every frame moves the receiver past
    // the gap). Harness medians, exactly-once UDP, 5 interleaved runs each: 33.8k msg/s with lazy
    // send-buffer writes and this block, 28.0k with neither.
    seqBlock: 65_536,
    ackDelayMs: 1,
    rtoInitialMs: 200,
    rtoMinMs: 100,
    rtoMaxMs: 2000,
  };
  if (cfg.transport === 'udp') {
    const frameMax = transport.maxFrameBytes;
    const rcvbuf = transport.receiveBufferBytes() ?? cfg.udp.receiveBufferBytes;
    const rwnd = Math.floor(rcvbuf / (frameMax + DATAGRAM_OVERHEAD_BYTES) / Math.max(1, peers));
    // An ack range is two msgpack uints of up to 5 bytes each.
    const sackMax = Math.max(8, Math.min(256, Math.floor((frameMax - ENVELOPE_BYTES) / 10)));
    Object.assign(base, {
      receiveWindowMax: Math.max(16, Math.min(4096, rwnd)),
      sackMax,
      ...(congestion === false ? {} : { congestion: {} }),
    });
  } else if (congestion === true) {
    Object.assign(base, { congestion: {} });
  }
  // Overrides: only the fields the config sets (zod leaves absent ones undefined).
  for (const [k, v] of Object.entries(over)) {
    if (v !== undefined) Object.assign(base, { [k]: v });
  }
  return base;
}

export function makeTransport(cfg: ClusterConfig, id: NodeId): Transport {
  const peers = peerMap(cfg);
  const bind = peers.get(id);
  if (bind === undefined) {
    throw new SteadfastError('unknown-peer', `nodes.${id}: no such node in the config`);
  }
  return cfg.transport === 'udp'
    ? new UdpTransport({
        bind,
        peers,
        maxDatagramBytes: cfg.udp.maxDatagramBytes,
        packBytes: udpPackBytes(cfg),
        receiveBufferBytes: cfg.udp.receiveBufferBytes,
      })
    : new TcpTransport({ bind, peers });
}

/** Options of one channel send (`NodeHandle.send(to, payload, opts)`). */
export interface SendOptions {
  /** Application idempotency key (exactly-once): the receiver applies a key once. */
  readonly key?: string;
  /** Overrides the channel's guarantee for this message. */
  readonly guarantee?: Guarantee;
}

export interface NodeHandle {
  readonly driver: NodeDriver;
  /**
   * Gives the stack a command (`{type:'send',…}` to the channel, `{type:'broadcast',…}` to a
   * broadcast, `{type:'kv',…}` to a store) after the node's checks (plain data, size): throws
   * SteadfastError on misuse and whatever the stack throws for a command it refuses.
   */
  command(cmd: unknown): void;
  /**
   * The channel's send: the message's id and its `accepted` (durable at this sender) and
   * `delivered` (acknowledged by the receiver) promises, made only when read (send-acks.ts).
   * Throws as `command` does (e.g. `buffer-full`); `unknown-command` on a registry stack.
   */
  send(to: NodeId, payload: unknown, opts?: SendOptions): SentMessage;
  send(cmd: ChannelSend): SentMessage;
  /**
   * The channel's sends this node still holds, sent and not yet acknowledged by their receiver,
   * by id and key (after a restart: what its durable send buffer gave back and is resending).
   * `unknown-command` on a registry stack.
   */
  pending(): PendingMessage[];
  /**
   * The channel's effect state (the config's effect or `startNode`'s `effect`): what every
   * message applied so far has made of `init`, read back from durable state after a restart.
   * Undefined without an effect; `unknown-command` on a registry stack.
   */
  state(): unknown;
  /**
   * Acknowledges inbox message `id` (a delivery's `id`, `<from>/<seq>`): the node deletes it from
   * its durable inbox and will not offer it again. Call it only once the application's own store
   * holds the message's effect. True if the inbox held it, false if not (already acked: a no-op).
   * Throws `bad-argument` for a malformed id or a node started without `inboxMax`.
   */
  ack(id: string): boolean;
  /** What the durable inbox holds, not yet acked, in arrival order (empty without an inbox). */
  inbox(): InboxMessage[];
  close(): Promise<void>;
}

/** A message held in the durable inbox (`NodeHandle.inbox()`). */
export interface InboxMessage {
  /** `<from>/<seq>`: stable across re-offers and restarts (the sender never reuses a seq). */
  readonly id: string;
  readonly from: NodeId;
  readonly seq: number;
  readonly payload: unknown;
  /** The idempotency key it was sent with. */
  readonly key?: string;
}

/** What `startNode` takes besides the config and the node's id. */
export interface StartOptions {
  /**
   * Every delivery, in order: `ChannelDeliver` for the channel (with `id`, `inbox` and maybe
   * `again` for an inbox message). Called from the node's event loop turns, never before
   * `startNode` has resolved (the re-offers of a restart are held until then).
   */
  onDeliver?: (d: unknown) => void;
  onFatal?: (err: unknown) => void;
  seed?: number;
  /** The node is new: its state file must not exist yet (data-dir.ts). Default false. */
  init?: boolean;
  /**
   * The application's own effect (effects.ts `AppEffect`: a pure reducer over plain data),
   * instead of the config's `stack.effect`: persisted atomically with each exactly-once
   * message's dedup mark; read it with `state()`. The channel only.
   */
  effect?: AppEffect;
  /**
   * The durable inbox (src/protocols/link/reliable/inbox.ts): each exactly-once delivery carries
   * an `id` and stays in the node, offered again at every start, until `ack(id)`; at most this
   * many at once (a message arriving when full is not acknowledged: its sender retransmits it).
   * Undefined: no inbox. The channel only.
   */
  inboxMax?: number;
}

/**
 * Levels a registry stack's command may sit below the top of a frame (a store's operation inside
 * its client request inside a log entry inside an append): the nesting check leaves that much
 * room, so a command that passes it never makes an unencodable (fatal) message.
 */
const COMMAND_DEPTH = 8;

/**
 * The config's stack: the channel (its link tuned for the transport, built once the transport is
 * bound) or a registry protocol, built by its registry entry (registry-stack.ts).
 */
function stackOf(
  cfg: ClusterConfig,
  transport: Transport,
  observer: SendObserver,
  ids: readonly NodeId[],
  id: NodeId,
  app: { effect: Effect | undefined; inboxMax: number | undefined },
): StackSpec<unknown, unknown, unknown> {
  const s = cfg.stack;
  if (isProtocolStack(s)) {
    if (app.effect !== undefined || app.inboxMax !== undefined) {
      throw new SteadfastError(
        'bad-argument',
        `effect and inboxMax are the channel's; this node runs ${s.protocol}`,
      );
    }
    return registryStack({
      protocol: s.protocol,
      id,
      byzantine: s.byzantine,
      nodes: ids.length,
      checksum: cfg.checksum,
      auth: cfg.auth !== undefined,
    });
  }
  const effect = app.effect ?? effectByName(s.effect);
  const guarantee: Guarantee = s.guarantee;
  const base = channel({ guarantee });
  // The transport must be bound before the window can be sized from its socket buffer, and the
  // stack is built in Driver.start: build the stack lazily from a started transport.
  let stackOptions: Partial<ReliableOptions> | undefined;
  return {
    name: guarantee,
    isMessage: (v: unknown): v is ReliableMsg => base.isMessage(v),
    create: (ctx: NodeContext) => {
      stackOptions ??= linkOptions(cfg, transport, ids.length - 1);
      return channel({
        guarantee,
        ...stackOptions,
        observer,
        ...(effect === undefined ? {} : { effect }),
        ...(app.inboxMax === undefined ? {} : { inboxMax: app.inboxMax }),
      }).create(ctx);
    },
  };
}

/**
 * What every node path opens, in order: the data rule (data-dir.ts), the transport, the node's
 * SQLite (on a commit thread unless the config says not to) and a driver of `stack`, started.
 * Guarantees: on any failure (a taken port, a refused data directory) nothing stays open — the
 * database, its commit thread and the socket are released before the error is thrown.
 */
export async function openDriver<M, C, D>(
  cfg: ClusterConfig,
  id: NodeId,
  opts: {
    readonly init: boolean;
    readonly appliedLog?: boolean;
    /** SQLite page size of a new database (storage.ts; default 16 KiB). */
    readonly pageSize?: number;
    /** The stack, given the bound-to-be transport (the channel sizes its window from it). */
    readonly stack: (transport: Transport) => StackSpec<M, C, D>;
    readonly seed?: number;
    readonly onDeliver?: (event: D) => void;
    readonly onFatal: (err: unknown) => void;
  },
): Promise<{ driver: Driver<M, C, D>; transport: Transport }> {
  const statePath = join(cfg.dataDir, id, 'state.db');
  checkNodeState(statePath, id, opts.init);
  const transport = makeTransport(cfg, id);
  const storageOpts = {
    path: statePath,
    synchronous: cfg.synchronous,
    appliedLog: opts.appliedLog ?? false,
    ...(opts.pageSize === undefined ? {} : { pageSize: opts.pageSize }),
  };
  // Pipelined group commit on a commit thread (async-storage.ts), unless the config says not to.
  const storage = cfg.commitThread
    ? await AsyncStorage.open(storageOpts)
    : new Storage(storageOpts);
  const driver = new Driver<M, C, D>({
    id,
    nodes: Object.keys(cfg.nodes),
    stack: opts.stack(transport),
    transport,
    storage,
    frame: frameOptions(cfg),
    trace: cfg.trace ? { kind: 'storage' } : { kind: 'none' },
    ...(opts.seed === undefined ? {} : { seed: opts.seed }),
    ...(opts.onDeliver === undefined ? {} : { onDeliver: opts.onDeliver }),
    onFatal: opts.onFatal,
  });
  try {
    await driver.start();
  } catch (e) {
    // e.g. the port is taken: release the database (and its commit thread, which would keep the
    // process alive) and the socket before reporting.
    await transport.close();
    await storage.close();
    throw e;
  }
  return { driver, transport };
}

/** Starts node `id` of `cfg` in this process: the one node path of every stack. */
export async function startNode(
  cfg: ClusterConfig,
  id: NodeId,
  hooks: StartOptions = {},
): Promise<NodeHandle> {
  const ids = Object.keys(cfg.nodes);
  if (!ids.includes(id)) {
    throw new SteadfastError(
      'unknown-peer',
      `--id ${id}: not one of the config's nodes (${ids.join(', ')})`,
    );
  }
  const inboxMax = hooks.inboxMax;
  if (inboxMax !== undefined && (!Number.isInteger(inboxMax) || inboxMax < 1)) {
    throw new SteadfastError(
      'bad-argument',
      `inboxMax must be a positive integer, got ${inboxMax}`,
    );
  }
  const appEffect = hooks.effect === undefined ? undefined : checkedEffect(hooks.effect);
  if (isProtocolStack(cfg.stack) && (appEffect !== undefined || inboxMax !== undefined)) {
    // Refused before anything is opened (stackOf, which builds the stack, says the same).
    throw new SteadfastError(
      'bad-argument',
      `effect and inboxMax are the channel's; this node runs ${cfg.stack.protocol}`,
    );
  }
  // Deliveries wait until the handle is in the application's hands (a restart's inbox re-offers
  // come out of driver.start), then go out in order: the application can ack from onDeliver.
  const onDeliver = hooks.onDeliver;
  let held: unknown[] | undefined = [];
  const deliver = (d: unknown): void => {
    if (held !== undefined) held.push(d);
    else onDeliver?.(d);
  };
  const acks = new SendAcks();
  const { driver, transport }: { driver: NodeDriver; transport: Transport } = await openDriver(
    cfg,
    id,
    {
      init: hooks.init === true,
      appliedLog: cfg.appliedLog,
      stack: (t) => stackOf(cfg, t, acks.observer, ids, id, { effect: appEffect, inboxMax }),
      ...(hooks.seed === undefined ? {} : { seed: hooks.seed }),
      ...(onDeliver === undefined ? {} : { onDeliver: deliver }),
      onFatal: (err: unknown) => {
        acks.stop(`node ${id} stopped on a fatal error`);
        if (hooks.onFatal === undefined) throw err;
        hooks.onFatal(err);
      },
    },
  );
  const payloadMax = transport.maxFrameBytes - ENVELOPE_BYTES;
  const tooLarge = (what: string, size: number) =>
    new SteadfastError(
      'frame-too-large',
      `${what} of ${size} bytes: at most ${payloadMax} fit one ${cfg.transport} frame ` +
        (cfg.transport === 'udp' ? '(raise udp.maxDatagramBytes on loopback/jumbo networks)' : ''),
    );
  const isChannel = !isProtocolStack(cfg.stack);
  const channelGuarantee: Guarantee = isProtocolStack(cfg.stack)
    ? 'exactly-once'
    : cfg.stack.guarantee;
  const theChannel = (): Channel => {
    const p = driver.protocol;
    if (!isChannel) {
      throw new SteadfastError(
        'unknown-command',
        `send/pending: the channel's; this node runs ${(cfg.stack as { protocol: string }).protocol}`,
      );
    }
    if (!(p instanceof Channel))
      throw new SteadfastError('not-running', `node ${id} is not running`);
    return p;
  };
  acks.attach({
    isPending: (to, seq) => theChannel().isPending(to, seq),
    pendingSends: () => theChannel().pendingSends(),
    whenDurable: () => driver.whenDurable(),
  });
  const command = (cmd: unknown): void => {
    const c = asRecord(cmd);
    if (isChannel) {
      if (c?.type !== 'send') {
        throw new SteadfastError(
          'unknown-command',
          `unknown command type ${JSON.stringify(c?.type)}: the channel takes "send"`,
        );
      }
      if (typeof c.to !== 'string' || (c.key !== undefined && typeof c.key !== 'string')) {
        throw new SteadfastError('bad-argument', 'send needs "to" (a node id) and a string "key"');
      }
      // Exact, without encoding it a third time; at depth 1, as a field of the link's message (a
      // payload that only fits alone would pass here and then fail to encode at commit: fatal).
      const size = payloadSize(c.payload, 1);
      if (size > payloadMax) throw tooLarge('payload', size);
    } else {
      // A registry stack wraps the command in envelopes of its own (a lower bound on its frame).
      const size = payloadSize(cmd, COMMAND_DEPTH);
      if (size > payloadMax) throw tooLarge('command', size);
    }
    driver.command(cmd);
  };
  function send(to: NodeId, payload: unknown, opts?: SendOptions): SentMessage;
  function send(cmd: ChannelSend): SentMessage;
  function send(a: NodeId | ChannelSend, payload?: unknown, opts: SendOptions = {}): SentMessage {
    const cmd: ChannelSend =
      typeof a === 'string'
        ? {
            type: 'send',
            to: a,
            payload,
            ...(opts.guarantee === undefined ? {} : { guarantee: opts.guarantee }),
            ...(opts.key === undefined ? {} : { key: opts.key }),
          }
        : a;
    theChannel();
    const mode = MODE_OF[cmd.guarantee ?? channelGuarantee];
    return acks.track(
      () => {
        command(cmd);
      },
      mode,
      cmd.key,
    );
  }
  const ack = (msgId: string): boolean => {
    const ch = theChannel();
    const slash = typeof msgId === 'string' ? msgId.lastIndexOf('/') : -1;
    const from = slash > 0 ? msgId.slice(0, slash) : '';
    const seq = Number(slash > 0 ? msgId.slice(slash + 1) : Number.NaN);
    if (!ids.includes(from) || !Number.isSafeInteger(seq) || seq < 1) {
      throw new SteadfastError(
        'bad-argument',
        `ack: ${JSON.stringify(msgId)} is not an inbox message id (<from>/<seq>)`,
      );
    }
    if (inboxMax === undefined) {
      throw new SteadfastError(
        'bad-argument',
        `ack: node ${id} has no inbox (start it with inboxMax)`,
      );
    }
    if (!ch.inboxHolds(from, seq)) return false;
    driver.command({ type: 'inbox-ack', from, seq });
    return true;
  };
  setImmediate(() => {
    const early = held ?? [];
    held = undefined;
    for (const d of early) onDeliver?.(d);
  });
  return {
    driver,
    command,
    send,
    pending: () => {
      theChannel();
      return acks.pending();
    },
    state: () => theChannel().state,
    ack,
    inbox: () =>
      theChannel()
        .inboxEntries()
        .map((e) =>
          e.key === undefined
            ? { id: `${e.from}/${e.seq}`, from: e.from, seq: e.seq, payload: e.payload }
            : {
                id: `${e.from}/${e.seq}`,
                from: e.from,
                seq: e.seq,
                payload: e.payload,
                key: e.key,
              },
        ),
    close: async () => {
      await driver.close();
      acks.stop(`node ${id} closed`);
    },
  };
}

/** The engine's mode of each guarantee (only at-most-once matters here: it is never acked). */
const MODE_OF: Readonly<Record<Guarantee, Mode>> = {
  'at-most-once': 'amo',
  'at-least-once': 'alo',
  'exactly-once': 'eo',
};

// ------------------------------------------------------------------------- the node process

interface Workload {
  to: NodeId;
  next: number;
  end: number;
  maxQueued: number;
  pad: Uint8Array | undefined;
  plain: boolean;
  stamp: boolean;
  /**
   * The application does not consider a message sent until it is `accepted`: at most
   * `maxQueued` of the workload's messages are not yet accepted, and `workload-done` waits for
   * the last one.
   */
  awaitAccepted: boolean;
  /** Messages handed to the node whose `accepted` has not resolved yet. */
  unaccepted: number;
}

const RESERVOIR_MAX = 100_000;

/** A bounded uniform sample of latencies (Vitter's Algorithm R). */
class LatencySample {
  private readonly xs = new Float64Array(RESERVOIR_MAX);
  count = 0;

  add(ms: number): void {
    const n = this.count++;
    if (n < RESERVOIR_MAX) this.xs[n] = ms;
    else {
      const j = Math.floor(Math.random() * (n + 1));
      if (j < RESERVOIR_MAX) this.xs[j] = ms;
    }
  }

  summary(): { count: number; p50: number; p99: number } {
    const k = Math.min(this.count, RESERVOIR_MAX);
    if (k === 0) return { count: 0, p50: 0, p99: 0 };
    const s = this.xs.slice(0, k).sort();
    const at = (q: number) => s[Math.min(k - 1, Math.floor(q * k))] ?? 0;
    return { count: this.count, p50: at(0.5), p99: at(0.99) };
  }
}

/** `{"type": sent|accepted|delivered, "id", "key"?}`: a send's acknowledgement line. */
function ackLine(type: 'sent' | 'accepted' | 'delivered', id: string, key: string | undefined) {
  return key === undefined ? { type, id } : { type, id, key };
}

function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

/** Where a command's replies go: the client that sent it (stdout for stdin). */
type Reply = (obj: unknown) => void;

/**
 * Runs node `id` as this process's whole job, speaking JSON Lines on stdin/stdout and, with
 * `listen`, on a Unix domain socket (listen.ts; see the module header). Resolves with the exit
 * code once the node has stopped.
 */
export async function runNodeProcess(
  cfg: ClusterConfig,
  id: NodeId,
  opts: {
    deliveries: boolean;
    write: (line: string) => void;
    writeErr?: (s: string) => void;
    /** The node is new (`--init`). */
    init?: boolean;
    /** Also serve the JSON Lines protocol on a Unix domain socket at this path (`--listen`). */
    listen?: string;
    /** The durable inbox's bound (`--inbox-max`); undefined: no inbox. */
    inboxMax?: number;
    /** Lines read from stdin (default process.stdin). */
    stdin?: NodeJS.ReadableStream;
  },
): Promise<number> {
  const writeErr = opts.writeErr ?? ((s: string) => process.stderr.write(s));
  const out: Reply = (obj: unknown) => {
    opts.write(JSON.stringify(obj) + '\n');
  };
  let server: LineServer | undefined;
  /** Unsolicited lines (deliveries, a fatal error): stdout and every attached client. */
  const broadcast = (obj: unknown) => {
    out(obj);
    server?.broadcast(obj);
  };
  let resolveExit: (code: number) => void = () => undefined;
  const exited = new Promise<number>((r) => (resolveExit = r));
  let latency = new LatencySample();
  let delivered = 0;
  const node = await startNode(cfg, id, {
    init: opts.init === true,
    ...(opts.inboxMax === undefined ? {} : { inboxMax: opts.inboxMax }),
    onDeliver: (d: unknown) => {
      delivered++;
      const p = asRecord(d)?.payload;
      if (typeof p === 'object' && p !== null) {
        const ts = (p as { ts?: unknown }).ts;
        if (typeof ts === 'number') latency.add(wallNow() - ts);
      }
      if (opts.deliveries) broadcast(d);
    },
    onFatal: (err) => {
      broadcast({
        type: 'error',
        code: 'fatal',
        message: err instanceof Error ? err.stack : String(err),
      });
      resolveExit(70);
    },
  });
  const ready = { type: 'ready', id, incarnation: node.driver.incarnation, pid: process.pid };

  const workloads: (Workload & { reply: Reply })[] = [];
  let pumping = false;
  const pump = () => {
    pumping = false;
    const waiting = node.driver.protocol?.stats().waiting ?? 0;
    const head = workloads[0];
    // Awaiting accepted: the window is what is not yet accepted (it includes what is waiting).
    const queued = head?.awaitAccepted === true ? Math.max(waiting, head.unaccepted) : waiting;
    // At most 1000 per tick: a top-up is one group commit; keep it short.
    let budget = Math.min(1000, Math.max(0, (head?.maxQueued ?? 0) - queued));
    while (budget > 0 && workloads.length > 0) {
      const w = workloads[0];
      if (w === undefined) break;
      if (w.next >= w.end) {
        if (w.unaccepted > 0) break; // awaiting the last ones' accepted
        workloads.shift();
        w.reply({ type: 'workload-done', to: w.to, sent: w.end });
        continue;
      }
      const i = w.next;
      const body: { i: number; ts?: number; pad?: Uint8Array } = { i };
      if (w.stamp) body.ts = wallNow();
      if (w.pad !== undefined) body.pad = w.pad;
      const payload = w.plain ? i : body;
      try {
        if (!w.awaitAccepted) node.command({ type: 'send', to: w.to, payload });
        else {
          const m = node.send({ type: 'send', to: w.to, payload });
          w.unaccepted++;
          m.accepted.then(
            () => {
              w.unaccepted--;
            },
            () => undefined, // the node stopped: nothing more is sent
          );
        }
      } catch (err) {
        if (err instanceof SteadfastError && err.code === 'buffer-full') break;
        w.reply({
          type: 'error',
          code: err instanceof SteadfastError ? err.code : 'error',
          message: String(err),
        });
        workloads.shift();
        continue;
      }
      w.next++;
      budget--;
    }
    if (workloads.length > 0) schedulePump();
  };
  const schedulePump = () => {
    if (pumping) return;
    pumping = true;
    // Let the turn's acks in before topping up the queue again.
    setTimeout(pump, 1);
  };

  /** A `send` line with `"ack": true`: its id now, its accepted and delivered lines later. */
  const sendWithAcks = (c: Record<string, unknown>, reply: Reply): void => {
    const { ack: _ack, ...rest } = c;
    const m = node.send(rest as unknown as ChannelSend);
    reply(ackLine('sent', m.id, m.key));
    m.accepted.then(
      () => {
        reply(ackLine('accepted', m.id, m.key));
      },
      () => undefined, // the node stopped first: after a restart, `pending` says what it holds
    );
    m.delivered.then(
      () => {
        reply(ackLine('delivered', m.id, m.key));
      },
      () => undefined,
    );
  };

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await server?.close();
    await node.close();
    resolveExit(code);
  };

  /** One command line from stdin or a socket client; its replies go to `reply`. Never throws. */
  const handleLine = (line: string, reply: Reply): void => {
    if (line.trim() === '') return;
    let cmd: Record<string, unknown> | undefined;
    try {
      cmd = asRecord(JSON.parse(line));
    } catch {
      cmd = undefined;
    }
    if (cmd === undefined) {
      reply({
        type: 'error',
        code: 'bad-argument',
        message: `not a JSON object: ${line.slice(0, 80)}`,
      });
      return;
    }
    // A `command` line's reply carries its `ref`, so a supervisor can tell each command's fate.
    const ref = cmd.type === 'command' ? cmd.ref : undefined;
    try {
      switch (cmd.type) {
        case 'command': {
          const inner = asRecord(cmd.cmd);
          if (inner === undefined) {
            throw new SteadfastError('bad-argument', 'command needs "cmd" (an object)');
          }
          if (inner.type === 'send' && inner.ack === true) sendWithAcks(inner, reply);
          else node.command(inner);
          // "the stack took the command" (a supervisor's reply, by ref; not a send's accepted)
          if (ref !== undefined) reply({ type: 'accepted', ref });
          break;
        }
        case 'send':
          if (cmd.ack === true) sendWithAcks(cmd, reply);
          else node.command(cmd);
          break;
        case 'pending': {
          const list = node.pending();
          const withPayloads = cmd.payloads === true;
          reply({
            type: 'pending',
            sends: list.map((p) => ({
              id: p.id,
              to: p.to,
              ...(p.key === undefined ? {} : { key: p.key }),
              ...(withPayloads ? { payload: p.payload } : {}),
            })),
          });
          if (cmd.ack === true) {
            for (const p of list) {
              p.delivered.then(
                () => {
                  reply(ackLine('delivered', p.id, p.key));
                },
                () => undefined,
              );
            }
          }
          break;
        }
        case 'ack': {
          // The application has the inbox message in its own store: the node forgets it.
          if (typeof cmd.id !== 'string') {
            throw new SteadfastError('bad-argument', 'ack needs "id" (an inbox message id)');
          }
          node.ack(cmd.id);
          break;
        }
        case 'inbox':
          reply({ type: 'inbox', messages: node.inbox() });
          break;
        case 'state':
          reply({ type: 'state', state: node.state() ?? null });
          break;
        case 'workload': {
          const to = cmd.to;
          const count = cmd.count;
          if (typeof to !== 'string' || typeof count !== 'number' || !Number.isInteger(count)) {
            throw new SteadfastError(
              'bad-argument',
              'workload needs "to" (string) and "count" (integer)',
            );
          }
          const start = typeof cmd.start === 'number' ? cmd.start : 0;
          const padBytes = typeof cmd.padBytes === 'number' ? cmd.padBytes : 0;
          workloads.push({
            to,
            next: start,
            end: start + count,
            maxQueued: typeof cmd.maxQueued === 'number' ? cmd.maxQueued : 2000,
            pad: padBytes > 0 ? new Uint8Array(padBytes).fill(0x61) : undefined,
            plain: cmd.plain === true,
            stamp: cmd.stamp === true,
            awaitAccepted: cmd.awaitAccepted === true,
            unaccepted: 0,
            reply,
          });
          schedulePump();
          break;
        }
        case 'stats':
          reply({
            type: 'stats',
            id,
            ...node.driver.stats(),
            delivered,
            latency: latency.summary(),
            ...(server === undefined ? {} : { listen: server.stats() }),
          });
          break;
        case 'latency':
          latency = new LatencySample();
          break;
        case 'stop':
          void stop(0);
          break;
        default:
          // The stack's own commands (send, broadcast, kv, …): the stack judges them.
          if (typeof cmd.type !== 'string') {
            throw new SteadfastError('unknown-command', 'a command needs a "type" (string)');
          }
          node.command(cmd);
      }
    } catch (err) {
      reply({
        type: 'error',
        ...(ref === undefined ? {} : { ref }),
        code: err instanceof SteadfastError ? err.code : 'error',
        message: err instanceof Error ? err.message : String(err),
      });
    }
  };

  if (opts.listen !== undefined) {
    server = new LineServer({
      path: opts.listen,
      onAttach: (client) => {
        // The ready line, then what the inbox still holds: an application attaching (again, after
        // a restart of its own) is offered every message it has not acked.
        client.write(ready);
        if (opts.inboxMax === undefined || !opts.deliveries) return;
        for (const m of node.inbox()) {
          client.write({
            type: 'deliver',
            from: m.from,
            payload: m.payload,
            seq: m.seq,
            guarantee: 'exactly-once',
            id: m.id,
            inbox: true,
            again: true,
          });
        }
      },
      onLine: (line, client) => {
        handleLine(line, (obj) => {
          client.write(obj);
        });
      },
    });
    try {
      await server.start();
    } catch (err) {
      server = undefined;
      await node.close();
      throw err;
    }
  }
  out(ready);

  const rl = createInterface({ input: opts.stdin ?? process.stdin, crlfDelay: Infinity });
  rl.on('line', (line) => {
    handleLine(line, out);
  });
  rl.on('close', () => {
    // stdin closed (the supervisor went away, or `< /dev/null`): no command can arrive on it any
    // more, but the node is also its peers' server (acks, retransmissions, deliveries), so it
    // keeps running until signalled. With --listen, commands come over the socket: nothing to
    // say. Without, it says so once rather than ignoring later commands silently.
    if (!stopping && server === undefined) {
      writeErr(
        `steadfast node ${id}: stdin closed, no more commands are read; the node keeps serving its peers until SIGTERM or SIGINT\n`,
      );
    }
  });
  const onSignal = () => {
    void stop(0);
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  const code = await exited;
  rl.close();
  await server?.close();
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  return code;
}
