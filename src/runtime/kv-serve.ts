/**
 * `steadfast kv serve --config cluster.json --id n1 [--init]`: one replica of the consensus store
 * (kv-replica.ts) with its HTTP/JSON API (kv-http.ts) on the address the config gives the node:
 *
 *   "nodes": { "n1": { "host": "127.0.0.1", "port": 7101, "http": { "host": "127.0.0.1", "port": 8001 } }, … }
 *
 * The config's `stack` may be left out or be `{ "protocol": "kv-raft" }` (the store whose
 * replicated sessions carry the Idempotency-Key); anything else is refused. Prefer
 * `"transport": "tcp"`: over UDP every replica message, an InstallSnapshot included, must fit
 * one datagram (`udp.maxDatagramBytes`), which bounds the whole store's size.
 *
 * Prints one JSON line on stdout once it serves: {"type":"ready","id","http":"http://host:port",
 * "pid","incarnation"}; logs go to stderr.
 *
 * Guarantees: returns the exit code and never throws: 0 after SIGTERM/SIGINT (pending commits
 * done, the HTTP server closed), 2 for a bad flag or config (the message names the field) or the
 * data-directory rule (data-dir.ts: missing state without --init, existing state with it),
 * 70 for a protocol bug, 1 for anything else (e.g. a port in use).
 */

import { SteadfastError } from '../core/errors.ts';
import { ConfigError, isProtocolStack, loadConfig, type ClusterConfig } from './config.ts';
import { KvHttpServer } from './kv-http.ts';
import { startKvReplica, type KvReplica } from './kv-replica.ts';

export interface KvServeOptions {
  readonly config: string | undefined;
  readonly id: string | undefined;
  readonly init: boolean;
  readonly write: (s: string) => void;
  readonly writeErr: (s: string) => void;
  /** Resolves when the server should stop (default: SIGTERM or SIGINT). */
  readonly stopped?: Promise<void>;
}

/** What is wrong with `cfg` for kv serve of `id`, naming the field; undefined if nothing. */
export function kvServeProblem(cfg: ClusterConfig, id: string): string | undefined {
  const node = cfg.nodes[id];
  if (node === undefined) {
    return `--id ${id}: not one of the config's nodes (${Object.keys(cfg.nodes).join(', ')})`;
  }
  if (node.http === undefined) {
    return `nodes.${id}.http: required by kv serve: the API's address, { "host": "127.0.0.1", "port": 8001 }`;
  }
  const s = cfg.stack;
  if (
    isProtocolStack(s)
      ? s.protocol !== 'kv-raft'
      : s.effect !== 'none' || s.guarantee !== 'exactly-once'
  ) {
    return (
      `stack: kv serve runs the consensus store: leave "stack" out or set { "protocol": "kv-raft" } ` +
      `(got ${JSON.stringify(s)})`
    );
  }
  for (const [other, a] of Object.entries(cfg.nodes)) {
    if (
      other !== id &&
      a.http !== undefined &&
      a.http.host === node.http.host &&
      a.http.port === node.http.port
    ) {
      return `nodes.${id}.http: the same address as nodes.${other}.http`;
    }
  }
  return undefined;
}

function signalled(): Promise<void> {
  return new Promise((resolve) => {
    const on = () => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve();
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

export async function runKvServe(opts: KvServeOptions): Promise<number> {
  const err = (s: string) => {
    opts.writeErr(`steadfast kv serve: ${s}\n`);
  };
  if (opts.id === undefined || opts.id === '') {
    err('--id <node> is required');
    return 2;
  }
  if (opts.config === undefined || opts.config === '') {
    err('--config <file> is required');
    return 2;
  }
  let cfg: ClusterConfig;
  try {
    cfg = loadConfig(opts.config);
  } catch (e) {
    if (e instanceof ConfigError) {
      err(`bad config ${opts.config}:\n${e.message}`);
      return 2;
    }
    throw e;
  }
  const bad = kvServeProblem(cfg, opts.id);
  if (bad !== undefined) {
    err(`bad config ${opts.config}: ${bad}`);
    return 2;
  }
  const id = opts.id;
  const http = cfg.nodes[id]?.http;
  if (http === undefined) return 2; // checked above
  let fatal: (code: number) => void = () => undefined;
  const failed = new Promise<number>((r) => (fatal = r));
  /** Results go to the HTTP server once it exists (none can come before a command). */
  const route: { server?: KvHttpServer } = {};
  let replica: KvReplica;
  try {
    replica = await startKvReplica(cfg, id, {
      init: opts.init,
      onResult: (r) => route.server?.onResult(r),
      onFatal: (e) => {
        err(`protocol failure: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        fatal(70);
      },
    });
  } catch (e) {
    err(`${id}: ${e instanceof Error ? e.message : String(e)}`);
    return e instanceof SteadfastError && e.code === 'bad-argument' ? 2 : 1;
  }
  const peers = new Map<string, string>();
  for (const [other, a] of Object.entries(cfg.nodes)) {
    if (a.http !== undefined) peers.set(other, `http://${a.http.host}:${a.http.port}`);
  }
  const server = new KvHttpServer(replica, { host: http.host, port: http.port, peers });
  route.server = server;
  try {
    await server.listen();
  } catch (e) {
    err(
      `${id}: cannot listen on ${http.host}:${http.port}: ${e instanceof Error ? e.message : String(e)}`,
    );
    await replica.close();
    return 1;
  }
  opts.write(
    JSON.stringify({
      type: 'ready',
      id,
      http: `http://${http.host}:${http.port}`,
      pid: process.pid,
      incarnation: replica.driver.incarnation,
    }) + '\n',
  );
  const code = await Promise.race([(opts.stopped ?? signalled()).then(() => 0), failed]);
  await server.close().catch(() => undefined);
  await replica.close().catch(() => undefined);
  return code;
}
