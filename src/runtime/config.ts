/**
 * The cluster configuration file shared by every node (`steadfast node --config cluster.json`),
 * validated with zod. Every error names the field (`nodes.n2.port: …`).
 *
 *   {
 *     "nodes": { "n1": { "host": "127.0.0.1", "port": 7001 }, "n2": { … } },
 *                                             // + "http": { "host", "port" }: kv serve's API
 *     "transport": "udp",                     // or "tcp"
 *     "stack": { "guarantee": "exactly-once", "effect": "counter" },   // the channel, or
 *              { "protocol": "kv-raft" }  // any protocol of the matrix registry (registry-stack.ts)
 *     "auth": { "secretHex": "<64+ hex digits>" },        // optional: HMAC-SHA256 on every frame
 *     "dataDir": "./data",                    // relative to the config file; one subdir per node
 *     "synchronous": "FULL",                  // or "NORMAL" (see storage.ts for the trade-off)
 *     "commitThread": true,                   // SQLite commits on a thread of their own
 *     "trace": true,                          // record the trace in each node's SQLite
 *     "appliedLog": false,                    // durable log of every application (tests)
 *     "udp": { "maxDatagramBytes": 1200, "receiveBufferBytes": 4194304 },
 *                                             // + "packBytes": datagram size packing fills
 *                                             //   (default 16384 if every node is on loopback,
 *                                             //   else maxDatagramBytes; see udp.ts)
 *     "reliable": { "sendWindowMax": 256 }    // optional overrides of the channel's link options
 *   }
 *
 * Nodes on different machines: give each node's reachable address in `nodes` (the same file on
 * every machine); each node binds the address listed under its own id. Use "auth" whenever the
 * network is not trusted: without it anyone who can reach the port can inject frames.
 *
 * Guarantees: `parseConfig` returns a fully-defaulted, validated config or throws `ConfigError`
 * whose message lists every problem as `field: what is wrong`.
 * Assumes: nothing about the file beyond JSON.
 */

import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { protocolNames, registryStackProblem } from './registry-stack.ts';

const NODE_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

const hostPort = z
  .object({
    host: z.string().min(1, 'must be a non-empty host name or IP address'),
    port: z.number().int().min(1).max(65_535),
  })
  .strict();

/** A node's address; `http`: where `steadfast kv serve` serves its API (runtime/kv-serve.ts). */
const address = z.object({
  host: z.string().min(1, 'must be a non-empty host name or IP address'),
  port: z.number().int().min(1).max(65_535),
  http: hostPort.optional(),
});

const reliableOverrides = z
  .object({
    sendWindowMax: z.number().int().min(1).max(65_536),
    sendQueueMax: z.number().int().min(1),
    dedupWindowMax: z.number().int().min(1).max(1_000_000),
    sackMax: z.number().int().min(1).max(1024),
    rtoInitialMs: z.number().positive(),
    rtoMinMs: z.number().positive(),
    rtoMaxMs: z.number().positive(),
    ackDelayMs: z.number().min(0),
    keyWindowMs: z.number().positive(),
    receiveWindowMax: z.number().int().min(1),
    congestion: z.boolean(),
  })
  .partial()
  .strict();

/** The point-to-point channel: a delivery guarantee and an application effect. */
const channelStack = z
  .object({
    guarantee: z.enum(['at-most-once', 'at-least-once', 'exactly-once']).default('exactly-once'),
    effect: z.enum(['none', 'counter', 'kv']).default('none'),
  })
  .strict();

export type ChannelStackConfig = z.infer<typeof channelStack>;

/** Any protocol of the matrix registry, by name (registry-stack.ts builds it). */
const protocolStack = z
  .object({
    protocol: z.string(),
    options: z.record(z.string(), z.unknown()).default({}),
    /** Nodes that run the registry's adversary instead (tests of Byzantine tolerance). */
    byzantine: z.array(z.string()).default([]),
  })
  .strict();

export type ProtocolStackConfig = z.infer<typeof protocolStack>;

/** What a node runs: the channel (`{ guarantee, effect }`) or a registry protocol. */
export type StackConfig = ChannelStackConfig | ProtocolStackConfig;

export function isProtocolStack(s: StackConfig): s is ProtocolStackConfig {
  return 'protocol' in s;
}

const DEFAULT_STACK: ChannelStackConfig = { guarantee: 'exactly-once', effect: 'none' };

type StackParse =
  | { readonly ok: true; readonly stack: StackConfig }
  | { readonly ok: false; readonly issues: { message: string; path: PropertyKey[] }[] };

/**
 * The `stack` field: absent → the exactly-once channel; an object with `protocol` → a registry
 * protocol (its name one of the registry's, its options only those the entry takes); else the
 * channel form. Issues name the field under `stack`.
 */
function parseStack(v: unknown): StackParse {
  if (v === undefined) return { ok: true, stack: DEFAULT_STACK };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    const message =
      'must be an object: { "guarantee": …, "effect": … } (the channel) or ' +
      `{ "protocol": "<name>" } (${protocolNames().join(', ')})`;
    return { ok: false, issues: [{ path: [], message }] };
  }
  if ('protocol' in v) {
    const r = protocolStack.safeParse(v);
    if (!r.success) {
      return {
        ok: false,
        issues: r.error.issues.map((i) => ({
          path: i.path,
          message:
            i.code === 'unrecognized_keys'
              ? `${i.message}: a registry protocol is { "protocol": …, "options": {…} } ` +
                '(guarantee and effect belong to the channel form, without "protocol")'
              : i.message,
        })),
      };
    }
    const problem = registryStackProblem(r.data.protocol, r.data.options);
    if (problem !== undefined) {
      return { ok: false, issues: [{ path: [problem.field], message: problem.message }] };
    }
    return { ok: true, stack: r.data };
  }
  const r = channelStack.safeParse(v);
  if (r.success) return { ok: true, stack: r.data };
  return {
    ok: false,
    issues: r.error.issues.map((i) => ({
      path: i.path,
      message:
        i.code === 'unrecognized_keys'
          ? `${i.message}: the channel form takes guarantee and effect; a registry protocol is { "protocol": "<name>" } (${protocolNames().join(', ')})`
          : i.message,
    })),
  };
}

export const configSchema = z
  .object({
    nodes: z
      .record(z.string().regex(NODE_ID, 'node ids are 1–64 of A–Z a–z 0–9 _ . : -'), address)
      .refine((n) => Object.keys(n).length >= 1, 'needs at least one node'),
    transport: z.enum(['udp', 'tcp']).default('udp'),
    stack: z
      .unknown()
      .optional()
      .transform((v, ctx): StackConfig => {
        const r = parseStack(v);
        if (r.ok) return r.stack;
        for (const i of r.issues)
          ctx.addIssue({ code: 'custom', message: i.message, path: i.path });
        return z.NEVER;
      }),
    auth: z
      .object({
        secretHex: z
          .string()
          .regex(/^(?:[0-9a-fA-F]{2}){32,}$/, 'must be at least 32 bytes (64 hex digits)'),
      })
      .strict()
      .optional(),
    checksum: z.boolean().default(true),
    dataDir: z.string().min(1),
    synchronous: z.enum(['FULL', 'NORMAL']).default('FULL'),
    commitThread: z.boolean().default(true),
    trace: z.boolean().default(false),
    appliedLog: z.boolean().default(false),
    udp: z
      .object({
        maxDatagramBytes: z.number().int().min(64).max(65_507).default(1200),
        /** Datagram size packing fills; default: see `udpPackBytes`. */
        packBytes: z.number().int().min(64).max(65_507).optional(),
        receiveBufferBytes: z
          .number()
          .int()
          .min(4096)
          .default(4 * 1024 * 1024),
      })
      .strict()
      .default({ maxDatagramBytes: 1200, receiveBufferBytes: 4 * 1024 * 1024 }),
    reliable: reliableOverrides.default({}),
  })
  .strict();

export type ClusterConfig = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((i) => {
      const path = i.path.map(String).join('.');
      return `${path === '' ? '(top level)' : path}: ${i.message}`;
    })
    .join('\n');
}

/** Validates parsed JSON; `baseDir` resolves a relative `dataDir`. */
export function parseConfig(json: unknown, baseDir = '.'): ClusterConfig {
  const r = configSchema.safeParse(json);
  if (!r.success) throw new ConfigError(describeIssues(r.error.issues));
  const cfg = r.data;
  if (isProtocolStack(cfg.stack) && Object.keys(cfg.reliable).length > 0) {
    throw new ConfigError(
      `reliable: tunes the channel's link only; registry protocol ${cfg.stack.protocol} builds its links with the registry's settings (remove "reliable" or use the channel form)`,
    );
  }
  if (isProtocolStack(cfg.stack)) {
    const unknown = cfg.stack.byzantine.filter((b) => !(b in cfg.nodes));
    if (unknown.length > 0) {
      throw new ConfigError(
        `stack.byzantine: ${unknown.join(', ')} not among the nodes (${Object.keys(cfg.nodes).join(', ')})`,
      );
    }
  }
  if (cfg.udp.packBytes !== undefined && cfg.udp.packBytes < cfg.udp.maxDatagramBytes) {
    throw new ConfigError(
      `udp.packBytes: must be at least udp.maxDatagramBytes (${cfg.udp.maxDatagramBytes}), got ${cfg.udp.packBytes}`,
    );
  }
  return isAbsolute(cfg.dataDir) ? cfg : { ...cfg, dataDir: join(baseDir, cfg.dataDir) };
}

/** Datagram size packing fills when every node is on loopback (whose MTU is 64 KiB). */
export const LOOPBACK_PACK_BYTES = 16_384;

/** A host that is this machine's loopback interface: 127.0.0.0/8, ::1 or localhost. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * The datagram size UDP packing fills: `udp.packBytes` if set; else, when every node of the
 * cluster is on loopback, LOOPBACK_PACK_BYTES (nothing on that path fragments below 64 KiB);
 * else `udp.maxDatagramBytes` (a datagram then never exceeds the safe size).
 */
export function udpPackBytes(cfg: ClusterConfig): number {
  if (cfg.udp.packBytes !== undefined) return cfg.udp.packBytes;
  const local = Object.values(cfg.nodes).every((a) => isLoopbackHost(a.host));
  return local ? Math.max(cfg.udp.maxDatagramBytes, LOOPBACK_PACK_BYTES) : cfg.udp.maxDatagramBytes;
}

export function loadConfig(path: string): ClusterConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(
      `cannot read config ${path}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(
      `config ${path} is not JSON: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  return parseConfig(json, dirname(path));
}
