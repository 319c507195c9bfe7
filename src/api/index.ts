/**
 * `steadfast`: the node and client API. Run a node of a cluster in this process (`startNode`) or
 * as a supervised child process (`NodeProcess`), from a validated cluster config.
 *
 * Exports, stable in 0.x (names, signatures, and the behaviour their doc comments promise):
 *   - `startNode(cfg, id, { init, onDeliver, onFatal, effect, inboxMax })` → `NodeHandle`
 *     (`send`, `pending`, `state`, `ack`, `inbox`, `command`, `close`): `init: true` for a new
 *     node's first start (its data must not exist), absent to restart one from its durable state;
 *     `send(to, payload, { key })` returns the message's id and its `accepted` (durable at the
 *     sender) and `delivered` promises; `effect` (an `AppEffect`: a pure reducer) is applied
 *     exactly once per message, atomically with its dedup mark, and read with `state()`;
 *     `inboxMax` keeps each exactly-once delivery (with its `id`) in the node until `ack(id)`;
 *   - `parseConfig` / `loadConfig` → `ClusterConfig` (throws `ConfigError` naming each field);
 *   - `NodeProcess`: one node as a child process (start, JSON Lines commands, kill9, stop);
 *   - `KvClient`: the HTTP client of a replicated store (`steadfast kv serve`);
 *   - `freeUdpPort` / `freeTcpPort` for a local cluster; the errors (`SteadfastError` with a
 *     stable `code`, `AssertionFailed`); ids and the channel's command and delivery types.
 * `NodeHandle.driver` is exposed for inspection (stats); its shape is not stable.
 * Guarantees: importing this module starts nothing (no socket, thread or file until a call).
 * Assumes: Node ≥ 20.19 with better-sqlite3's native module installed (a dependency).
 * The simulator is `steadfast/sim`, the checkers `steadfast/check`.
 */

export {
  startNode,
  type InboxMessage,
  type NodeDriver,
  type NodeHandle,
  type SendOptions,
  type StartOptions,
} from '../runtime/node.ts';
export type { AppEffect } from '../runtime/effects.ts';
export type { PendingMessage, SentMessage } from '../runtime/send-acks.ts';
export {
  ConfigError,
  loadConfig,
  parseConfig,
  type ChannelStackConfig,
  type ClusterConfig,
  type ProtocolStackConfig,
  type StackConfig,
} from '../runtime/config.ts';
export { NodeProcess, type NodeProcessOptions } from '../runtime/process.ts';
export { freeTcpPort, freeUdpPort } from '../runtime/ports.ts';
export { AssertionFailed, SteadfastError, type ErrorCode } from '../core/errors.ts';
export { nodeIds, type NodeId } from '../core/ids.ts';
export type {
  ChannelDeliver,
  ChannelInboxAck,
  ChannelSend,
  Guarantee,
} from '../protocols/delivery/guarantees.ts';
export { KvClient, KvError, type KvClientOptions, type WriteOptions } from '../client/kv-client.ts';
