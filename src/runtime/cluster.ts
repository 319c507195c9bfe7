/**
 * A local cluster of real node processes on loopback (`steadfast cluster`): writes a config,
 * starts one process per node, issues a planned workload through their stdin, injects process
 * faults (kill -9 then restart; SIGSTOP then SIGCONT), waits until the workload is settled, stops
 * the nodes, and returns the merged trace with the fate of every planned command.
 *
 * Stack: the config's `stack`, the channel (`{ guarantee, effect }`) or any registry protocol
 * (`{ protocol }`); every node runs it through the one node path (node.ts).
 * Workload: a plan of commands, each for a node at a moment (ms after the workload begins): the
 * channel's all-pairs sends (`channelPlan`) or a registry protocol's own workload
 * (registry-stack.ts `registryPlan`). Each command is handed to its node as
 * `{type:'command', ref, cmd}`, and the node's reply tells its fate (accounting.ts): a command due
 * while its node is down is REFUSED, never dropped (and recorded in the supervisor's trace as a
 * command with `accepted: false`, as the simulator records one); one handed to a node that dies
 * before answering, or after accepting it and before it is done, is IN DOUBT.
 * Faults: a schedule of kills (restart after `downMs`), crashes (kill -9, never restarted) and
 * pauses, each taking its named `node` or else a node that is up and under no other fault (`pick`
 * chooses among them, by their stats; default: at random from `seed`); `randomFaults` draws one,
 * `faultSchedule` one of a matrix fault model (`crash`, `crash-recover`, `pause`, `omission`,
 * `partition`) with its nodes named. Network faults (omission, partition) are kernel rules
 * (nft.ts): each node then has its own loopback address (n1 127.0.0.2, n2 127.0.0.3, …) and the
 * rules, in a table of the run's own, drop packets between those addresses only; the table is
 * removed when the fault ends (healed) and, whatever happens, before `runCluster` returns or throws
 * (and on SIGINT/SIGTERM, which then end the process). The supervisor records them in the trace (`crash`,
 * `recover`, `note`) on the nodes' clock (Unix-epoch ms, performance.timeOrigin-based). A node
 * counts as down from its kill until its restarted process is ready.
 * Settling: once the plan is issued, the faults are over and `runMs` has passed, the run ends
 * when every command handed over is answered and done or in doubt (as the nodes' printed
 * deliveries show), every broadcast done at its origin has reached every node up and honest, and
 * no delivery came for 500 ms (`settled: 'done'`); or when no delivery came for `quietMs`
 * (`'done'` if every command is, else `'quiet'`: something is not done; a broadcast some node
 * never delivered is then the checkers' to judge); or at `settleTimeoutMs` (`'timeout'`).
 *
 * Guarantees: every node's trace comes from its own SQLite (the driver commits trace events with
 * each batch, so a SIGKILLed node's trace is a consistent prefix of what it did); every planned
 * command has exactly one fate in `accounting`; node processes are always stopped (SIGKILL as a
 * last resort) before `runCluster` returns or throws.
 * Assumes: the ports chosen are free on 127.0.0.1 (picked by binding port 0 first); commands are
 * unique per node (accounting.ts).
 */

import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { NodeId } from '../core/ids.ts';
import { assert, SteadfastError } from '../core/errors.ts';
import { createRng, type Rng } from '../core/rng.ts';
import type { TraceEvent } from '../core/trace.ts';
import { makeDirs } from '../platform/dirs.ts';
import { accountOps, deliveryCompletion, completionKey, type Accounting } from './accounting.ts';
import type { ChannelStackConfig } from './config.ts';
import { mergeTraces, parseTraceLines } from './merge.ts';
import { freeTcpPort, freeUdpPort } from './ports.ts';
import { NETNS_NODE_PORT, NodeNamespaces, netnsClusterUnavailable } from './netns.ts';
import { duplicationRule, NftFaults, nftUnavailable, omissionRule, partitionRules } from './nft.ts';
import { NodeProcess } from './process.ts';
import { Storage } from './storage.ts';
import type { OpRecord } from './accounting.ts';

/** One command of the workload: for `node`, `at` ms after the workload begins. */
export interface PlannedCommand {
  readonly at: number;
  readonly node: NodeId;
  readonly cmd: unknown;
}

export type ClusterFault =
  | {
      readonly kind: 'kill';
      readonly atMs: number;
      readonly downMs: number;
      readonly node?: NodeId;
    }
  | { readonly kind: 'crash'; readonly atMs: number; readonly node?: NodeId }
  | {
      readonly kind: 'pause';
      readonly atMs: number;
      readonly pauseMs: number;
      readonly node?: NodeId;
    }
  | {
      readonly kind: 'omission';
      readonly atMs: number;
      readonly durationMs: number;
      /** Percentage of the UDP datagrams between any two nodes the kernel drops. */
      readonly percent: number;
      /**
       * Percentage of them the kernel sends twice (nftables `dup`; only where each node has an
       * interface of its own, `network: 'netns'`; ignored on loopback).
       */
      readonly duplicatePercent?: number;
    }
  | {
      readonly kind: 'partition';
      readonly atMs: number;
      readonly durationMs: number;
      readonly groups: readonly [readonly NodeId[], readonly NodeId[]];
    }
  | {
      /** From the start, `nodes` run the registry's adversary instead of the protocol. */
      readonly kind: 'byzantine';
      readonly atMs: 0;
      readonly nodes: readonly NodeId[];
    };

/** The matrix's fault models `steadfast cluster --faults` injects for real. */
export const FAULT_MODELS = [
  'crash',
  'crash-recover',
  'pause',
  'omission',
  'partition',
  'byzantine',
] as const;
export type FaultModel = (typeof FAULT_MODELS)[number];

/** Whether a schedule needs kernel rules (nft.ts) and an address per node. */
export function needsNetworkFaults(faults: readonly ClusterFault[]): boolean {
  return faults.some((f) => f.kind === 'omission' || f.kind === 'partition');
}

/** The nodes a schedule makes Byzantine (they run the registry's adversary from the start). */
export function byzantineNodes(faults: readonly ClusterFault[]): NodeId[] {
  return faults.flatMap((f) => (f.kind === 'byzantine' ? [...f.nodes] : []));
}

/** The loopback address of node number `i` (1-based) when nodes need their own: 127.0.0.(i+1). */
export function nodeHost(i: number): string {
  if (!Number.isInteger(i) || i < 1 || i > 250) throw new RangeError(`no host for node ${i}`);
  return `127.0.0.${i + 1}`;
}

/** A node a fault may take: up, under no other fault; its stats if `pick` asked for them. */
export interface NodeCandidate {
  readonly id: NodeId;
  readonly stats: Readonly<Record<string, unknown>> | undefined;
}

export interface ClusterOptions {
  readonly nodes: number;
  readonly transport: 'udp' | 'tcp';
  /** The stack every node runs: the channel, or a registry protocol by name. */
  readonly stack: ChannelStackConfig | { readonly protocol: string };
  /** The workload, for nodes n1…nN. */
  readonly plan: readonly PlannedCommand[];
  readonly faults: readonly ClusterFault[];
  /** Which candidate a fault takes (default: one at random); undefined: wait for another. */
  readonly pick?: (candidates: readonly NodeCandidate[]) => NodeId | undefined;
  /** Seed of the supervisor's own choices (the default pick). Default 1. */
  readonly seed?: number;
  /** The run lasts at least this long after the workload begins (its liveness phase). */
  readonly runMs?: number;
  /** Working directory (config, data, merged trace). */
  readonly dir: string;
  /** Settle gives up after this long without a delivery (default 5,000 ms). */
  readonly quietMs?: number;
  readonly settleTimeoutMs?: number;
  /** HMAC-authenticate every frame (a random cluster secret). Default true. */
  readonly auth?: boolean;
  /**
   * Where the nodes live: `loopback` (127.0.0.1, or 127.0.0.x each when network faults need an
   * address per node; default) or `netns` (a network namespace each on a bridge, netns.ts).
   */
  readonly network?: 'loopback' | 'netns';
  /** `udp.maxDatagramBytes` of the config (default: the config's default, 1,200). */
  readonly udpMaxDatagramBytes?: number;
  /** Progress lines. */
  readonly log?: (line: string) => void;
}

export type Settled = 'done' | 'quiet' | 'timeout';

export interface ClusterResult {
  readonly trace: TraceEvent[];
  readonly configPath: string;
  readonly settled: Settled;
  readonly elapsedMs: number;
  readonly faults: readonly string[];
  readonly accounting: Accounting;
}

/** Settle gives up after this long without a delivery, by default. */
export const DEFAULT_QUIET_MS = 5000;
/** A fault waits this long at most for a node it may take, then is skipped (and reported). */
const PICK_WAIT_MS = 10_000;
/** Quiet after the last delivery before a run whose commands are all accounted for ends. */
const CALM_MS = 500;

const sleep = (ms: number) =>
  new Promise<void>((r) => {
    setTimeout(r, Math.max(0, ms));
  });

function now(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * The channel's workload: every node sends `messages` messages to every other, payload `{ i }`
 * (unique per (from, to), as the checkers require), interleaved, in batches every 10 ms over
 * `spreadMs`.
 */
export function channelPlan(
  ids: readonly NodeId[],
  messages: number,
  spreadMs: number,
): PlannedCommand[] {
  const sends: { node: NodeId; cmd: unknown }[] = [];
  for (let i = 0; i < messages; i++) {
    for (const from of ids) {
      for (const to of ids) {
        if (from !== to) sends.push({ node: from, cmd: { type: 'send', to, payload: { i } } });
      }
    }
  }
  const step = Math.max(1, Math.ceil(sends.length / Math.max(1, spreadMs / 10)));
  return sends.map((s, k) => ({ at: Math.floor(k / step) * 10, ...s }));
}

/** One fault as a line of the printed schedule: `412 ms: kill -9 n2, restart after 300 ms`. */
export function describeFault(f: ClusterFault): string {
  const who = (n: NodeId | undefined) => n ?? 'a random node';
  switch (f.kind) {
    case 'kill':
      return `${f.atMs} ms: kill -9 ${who(f.node)}, restart after ${f.downMs} ms`;
    case 'crash':
      return `${f.atMs} ms: kill -9 ${who(f.node)}, no restart`;
    case 'pause':
      return `${f.atMs} ms: SIGSTOP ${who(f.node)} for ${f.pauseMs} ms`;
    case 'omission':
      return (
        `${f.atMs} ms: drop ${f.percent}%` +
        (f.duplicatePercent === undefined
          ? ''
          : ` and duplicate ${f.duplicatePercent}% (in namespaces)`) +
        ` of the packets between nodes for ${f.durationMs} ms`
      );
    case 'partition':
      return `${f.atMs} ms: partition {${f.groups[0].join(',')}} | {${f.groups[1].join(',')}} for ${f.durationMs} ms`;
    case 'byzantine':
      return `from the start: ${f.nodes.join(', ')} run${f.nodes.length === 1 ? 's' : ''} the registry's adversary (Byzantine)`;
    default: {
      const never: never = f;
      throw new RangeError(`unknown fault ${JSON.stringify(never)}`);
    }
  }
}

/**
 * A schedule of the fault model `model` within the first `withinMs` ms, drawn from `rng` alone
 * (so a seed repeats it; print it with `describeFault`), nodes named:
 *   crash          kill -9 a minority (⌊(n−1)/2⌋ distinct nodes, at least one), never restarted
 *   crash-recover  two kill -9s, each restarted after 200–800 ms, one at a time
 *   pause          two SIGSTOPs of 200–1000 ms (then SIGCONT), one at a time
 *   omission       20–40% of the nodes' packets dropped by the kernel for most of the phase, and
 *                  (in namespaces) 5–30% sent twice
 *   partition      a minority group cut off from the rest for a third to two thirds of the phase
 *   byzantine      ⌊(n−1)/3⌋ nodes (n ≥ 4) run the registry's adversary from the start, plus the
 *                  omission schedule (as the simulator's byzantine column adds its losses)
 */
export function faultSchedule(
  model: FaultModel,
  rng: Rng,
  opts: { readonly ids: readonly NodeId[]; readonly withinMs: number },
): ClusterFault[] {
  const { ids } = opts;
  const within = Math.max(100, Math.floor(opts.withinMs));
  assert(ids.length >= 2, 'a fault schedule needs at least two nodes');
  const pickNode = () => ids[rng.int(ids.length)] ?? 'n1';
  const shuffled = (): NodeId[] => {
    const a = [...ids];
    for (let i = a.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [a[i], a[j]] = [a[j] ?? '', a[i] ?? ''];
    }
    return a;
  };
  switch (model) {
    case 'crash': {
      const minority = Math.max(1, Math.floor((ids.length - 1) / 2));
      return shuffled()
        .slice(0, minority)
        .map((node) => ({ kind: 'crash', atMs: rng.int(Math.floor(within / 2)), node }));
    }
    case 'crash-recover':
    case 'pause': {
      // Two windows, one fault in each, so at most one node is down or paused at a time.
      const slot = Math.floor(within / 2);
      return [0, 1].map((k) => {
        const lengthMs =
          model === 'pause'
            ? rng.intBetween(200, Math.max(200, Math.min(1000, slot - 50)))
            : rng.intBetween(200, Math.max(200, Math.min(800, slot - 50)));
        const atMs = k * slot + rng.int(Math.max(1, slot - lengthMs));
        return model === 'pause'
          ? { kind: 'pause', atMs, pauseMs: lengthMs, node: pickNode() }
          : { kind: 'kill', atMs, downMs: lengthMs, node: pickNode() };
      });
    }
    case 'omission': {
      const atMs = rng.int(Math.floor(within / 4));
      return [
        {
          kind: 'omission',
          atMs,
          durationMs: within - atMs,
          percent: rng.intBetween(20, 40),
          // As the simulator's omission column duplicates 5..30% of the messages.
          duplicatePercent: rng.intBetween(5, 30),
        },
      ];
    }
    case 'byzantine': {
      const f = Math.floor((ids.length - 1) / 3);
      if (f < 1) {
        throw new RangeError(
          `byzantine needs at least 4 nodes (f = ⌊(N−1)/3⌋ liars, here ${ids.length} nodes: 0)`,
        );
      }
      const sort = (a: NodeId[]) => a.sort((x, y) => x.localeCompare(y, 'en', { numeric: true }));
      const liars = sort(shuffled().slice(0, f));
      return [
        { kind: 'byzantine', atMs: 0, nodes: liars },
        ...faultSchedule('omission', rng, opts),
      ];
    }
    case 'partition': {
      const order = shuffled();
      const minority = rng.intBetween(1, Math.max(1, Math.floor(ids.length / 2)));
      const durationMs = rng.intBetween(Math.floor(within / 3), Math.floor((2 * within) / 3));
      const atMs = rng.int(Math.max(1, within - durationMs));
      const sort = (a: NodeId[]) => a.sort((x, y) => x.localeCompare(y, 'en', { numeric: true }));
      return [
        {
          kind: 'partition',
          atMs,
          durationMs,
          groups: [sort(order.slice(0, minority)), sort(order.slice(minority))],
        },
      ];
    }
    default: {
      const never: never = model;
      throw new RangeError(`unknown fault model ${String(never)}`);
    }
  }
}

/** `kills` kills (down 100–600 ms) and `pauses` pauses (200–1000 ms) at moments in [0, withinMs). */
export function randomFaults(
  rng: Rng,
  opts: { readonly kills: number; readonly pauses: number; readonly withinMs: number },
): ClusterFault[] {
  const out: ClusterFault[] = [];
  const at = () => rng.int(Math.max(1, Math.floor(opts.withinMs)));
  for (let k = 0; k < opts.kills; k++) {
    out.push({ kind: 'kill', atMs: at(), downMs: rng.intBetween(100, 600) });
  }
  for (let k = 0; k < opts.pauses; k++) {
    out.push({ kind: 'pause', atMs: at(), pauseMs: rng.intBetween(200, 1000) });
  }
  return out;
}

export async function runCluster(opts: ClusterOptions): Promise<ClusterResult> {
  const log = opts.log ?? (() => undefined);
  const ids = Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`);
  for (const c of opts.plan) {
    if (!ids.includes(c.node))
      throw new RangeError(`plan: no node ${c.node} among ${ids.join(', ')}`);
  }
  const mode = opts.network ?? 'loopback';
  const network = needsNetworkFaults(opts.faults);
  const liars = byzantineNodes(opts.faults);
  if (liars.length > 0 && !('protocol' in opts.stack)) {
    throw new SteadfastError(
      'bad-argument',
      'a Byzantine fault needs a registry protocol (--protocol): the registry defines its adversary',
    );
  }
  if (mode === 'netns') {
    const why = netnsClusterUnavailable();
    if (why !== undefined) {
      throw new SteadfastError('bad-argument', `cannot give each node a namespace: ${why}`);
    }
  } else if (network) {
    if (opts.transport !== 'udp') {
      throw new SteadfastError(
        'bad-argument',
        'omission and partition faults on loopback need --transport udp (a TCP client socket is not bound to its node address; --network netns has no such limit)',
      );
    }
    const why = nftUnavailable();
    if (why !== undefined) {
      throw new SteadfastError('bad-argument', `cannot inject network faults: ${why}`);
    }
  }
  makeDirs(opts.dir); // not mkdirSync(recursive): it spins forever on /proc/… (platform/dirs.ts)
  const segment = mode === 'netns' ? NodeNamespaces.create(ids) : undefined;
  /** The kernel tables network faults are rules in: the host's, or one per node namespace. */
  const tables =
    segment !== undefined
      ? segment.namespaces().map((ns) => new NftFaults('steadfast', ns))
      : network
        ? [new NftFaults()]
        : [];
  const nodes: Record<string, { host: string; port: number }> = {};
  for (const [i, id] of ids.entries()) {
    if (segment !== undefined) {
      nodes[id] = { host: segment.hostOf(id), port: NETNS_NODE_PORT };
      continue;
    }
    const host = network ? nodeHost(i + 1) : '127.0.0.1';
    nodes[id] = {
      host,
      port: opts.transport === 'udp' ? await freeUdpPort(host) : await freeTcpPort(host),
    };
  }
  const hostOf = (id: NodeId): string => nodes[id]?.host ?? '127.0.0.1';
  const configPath = join(opts.dir, 'cluster.json');
  writeFileSync(
    configPath,
    JSON.stringify(
      {
        nodes,
        transport: opts.transport,
        stack: liars.length > 0 ? { ...opts.stack, byzantine: liars } : opts.stack,
        ...(opts.auth === false ? {} : { auth: { secretHex: randomBytes(32).toString('hex') } }),
        dataDir: './data',
        trace: true,
        ...(opts.udpMaxDatagramBytes === undefined
          ? {}
          : { udp: { maxDatagramBytes: opts.udpMaxDatagramBytes } }),
      },
      null,
      2,
    ) + '\n',
  );
  const supervisor: TraceEvent[] = [];
  const faults: string[] = [];
  const ops: OpRecord[] = opts.plan.map((c) => ({
    node: c.node,
    cmd: c.cmd,
    t: 0,
    handed: 'pending',
  }));
  /** The process incarnation each written command went to (NodeProcess.starts). */
  const wroteTo: number[] = [];
  /** Completions the nodes printed (live view; the verdict reads the durable traces). */
  const seen = new Set<string>();
  /** Each broadcast delivered somewhere (by origin and payload): the nodes that delivered it. */
  const reached = new Map<string, { origin: NodeId; nodes: Set<NodeId> }>();
  let lastDeliveryAt = now();
  /** Nodes between their kill and their restarted process's ready line. */
  const down = new Set<NodeId>();
  const lastKill = new Map<NodeId, number>();
  const onLine = (id: NodeId) => (o: Record<string, unknown>) => {
    if (o.type === 'accepted' || (o.type === 'error' && o.ref !== undefined)) {
      const op = typeof o.ref === 'number' ? ops[o.ref] : undefined;
      if (op !== undefined && op.node === id)
        op.answer = o.type === 'accepted' ? 'accepted' : 'rejected';
    } else if (o.type === 'deliver' || o.type === 'kv-result') {
      lastDeliveryAt = now();
      const c = deliveryCompletion(id, o);
      if (c !== undefined) seen.add(c.key);
      if (o.type === 'deliver' && typeof o.origin === 'string') {
        const key = `${o.origin}\0${JSON.stringify(o.payload)}`;
        const at = reached.get(key) ?? { origin: o.origin, nodes: new Set<NodeId>() };
        at.nodes.add(id);
        reached.set(key, at);
      }
    }
  };
  const procs = new Map(
    ids.map((id) => [
      id,
      new NodeProcess({
        id,
        configPath,
        deliveries: true,
        onLine: onLine(id),
        ...(segment === undefined ? {} : { netns: segment.nsOf(id) }),
      }),
    ]),
  );
  const proc = (id: NodeId): NodeProcess => {
    const p = procs.get(id);
    if (p === undefined) throw new RangeError(`no node ${id}`);
    return p;
  };
  const started = Date.now();
  const rng = createRng(opts.seed ?? 1).fork('cluster');
  /** The network faults now in force, by fault index: their rules. */
  const netRules = new Map<number, readonly string[]>();
  /** The duplication rules now in force (namespaces only), by fault index. */
  const dupRules = new Map<number, readonly string[]>();
  const applyNet = (): void => {
    for (const t of tables) t.install([...netRules.values()].flat(), [...dupRules.values()].flat());
  };
  const dropped = (): number => tables.reduce((sum, t) => sum + t.dropped(), 0);
  const duplicated = (): number => tables.reduce((sum, t) => sum + t.duplicated(), 0);
  const removeKernelState = (): void => {
    for (const t of tables) t.delete();
    segment?.delete();
  };
  const kernelState = tables.length > 0 || segment !== undefined;
  // On SIGINT/SIGTERM the finally below never runs: remove the rules, the namespaces and the
  // nodes, then exit.
  const onSignal = (sig: NodeJS.Signals) => {
    for (const p of procs.values()) {
      if (p.pid !== undefined && p.running) process.kill(p.pid, 'SIGKILL');
    }
    removeKernelState();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  if (kernelState) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  try {
    await Promise.all([...procs.values()].map((p) => p.start()));
    log(
      `${ids.length} nodes up (${opts.transport}, ${stackName(opts.stack)}` +
        (segment === undefined
          ? ''
          : `, a network namespace each (sfc${segment.tag}-*, 10.77.0.0/24 on a bridge)`) +
        `${liars.length === 0 ? '' : `; Byzantine: ${liars.join(', ')}`}); config ${configPath}`,
    );
    const t0 = now();
    supervisor.push({ t: t0, type: 'note', text: 'workload begins' });

    // The workload: each command at its moment, refused if its node is down then.
    const order = opts.plan
      .map((_, k) => k)
      .sort((a, b) => (opts.plan[a]?.at ?? 0) - (opts.plan[b]?.at ?? 0));
    const workload = (async () => {
      for (const k of order) {
        const c = opts.plan[k];
        const op = ops[k];
        if (c === undefined || op === undefined) continue;
        const wait = t0 + c.at - now();
        if (wait > 0) await sleep(wait);
        const p = proc(c.node);
        op.t = now();
        if (down.has(c.node) || !p.running) {
          op.handed = 'refused';
          supervisor.push({ t: op.t, type: 'command', node: c.node, cmd: c.cmd, accepted: false });
        } else {
          op.handed = 'written';
          wroteTo[k] = p.starts;
          p.send({ type: 'command', ref: k, cmd: c.cmd });
        }
      }
    })();

    // The faults, each on a node that is up and under no other fault.
    const underFault = new Set<NodeId>();
    const take = async (what: string, node?: NodeId): Promise<NodeId | undefined> => {
      const deadline = Date.now() + PICK_WAIT_MS;
      while (Date.now() < deadline) {
        const free = ids.filter((id) => !underFault.has(id) && !down.has(id) && proc(id).running);
        let id: NodeId | undefined;
        if (node !== undefined) id = node;
        else if (opts.pick === undefined) id = free[rng.int(Math.max(1, free.length))];
        else if (free.length > 0) {
          const stats = await Promise.all(free.map((f) => proc(f).stats(1000)));
          id = opts.pick(free.map((f, i) => ({ id: f, stats: stats[i] })));
        }
        if (id !== undefined && free.includes(id) && !underFault.has(id)) {
          underFault.add(id);
          return id;
        }
        await sleep(20);
      }
      faults.push(`${what} skipped: no node to take within ${PICK_WAIT_MS} ms`);
      return undefined;
    };
    const faultRuns = opts.faults.map(async (f, index) => {
      if (f.kind === 'byzantine') {
        supervisor.push({ t: t0, type: 'note', text: describeFault(f) });
        faults.push(describeFault(f));
        return;
      }
      await sleep(t0 + f.atMs - now());
      if (f.kind === 'omission' || f.kind === 'partition') {
        const dup = f.kind === 'omission' && segment !== undefined ? f.duplicatePercent : undefined;
        const what =
          f.kind === 'omission'
            ? `drop ${f.percent}%${dup === undefined ? '' : ` and duplicate ${dup}%`} of ${opts.transport.toUpperCase()} between nodes`
            : `partition {${f.groups[0].join(',')}} | {${f.groups[1].join(',')}}`;
        netRules.set(
          index,
          f.kind === 'omission'
            ? [omissionRule(ids.map(hostOf), f.percent, opts.transport)]
            : partitionRules(f.groups[0].map(hostOf), f.groups[1].map(hostOf)),
        );
        if (dup !== undefined) {
          dupRules.set(index, [duplicationRule(ids.map(hostOf), dup, 'eth0', opts.transport)]);
        }
        applyNet();
        supervisor.push({ t: now(), type: 'note', text: `${what} (nftables)` });
        log(
          `${what} (nftables ${segment === undefined ? `table inet ${tables[0]?.name ?? '?'}` : "tables in each node's namespace"})`,
        );
        await sleep(f.durationMs);
        netRules.delete(index);
        dupRules.delete(index);
        applyNet();
        supervisor.push({ t: now(), type: 'note', text: `healed: ${what}` });
        faults.push(`${what} for ${f.durationMs} ms, then healed`);
        log(`healed: ${what}`);
        return;
      }
      if (f.kind === 'crash') {
        const id = await take('kill -9 (no restart)', f.node);
        if (id === undefined) return;
        down.add(id); // for good: it stays under this fault
        await proc(id).kill9();
        lastKill.set(id, now());
        supervisor.push({ t: now(), type: 'crash', node: id, lostOutputs: 0 });
        faults.push(`kill -9 ${id}, not restarted`);
        log(`kill -9 ${id} (no restart)`);
        return;
      }
      if (f.kind === 'kill') {
        const id = await take('kill -9', f.node);
        if (id === undefined) return;
        const p = proc(id);
        down.add(id);
        await p.kill9();
        lastKill.set(id, now());
        supervisor.push({ t: now(), type: 'crash', node: id, lostOutputs: 0 });
        faults.push(`kill -9 ${id}, restarted after ${f.downMs} ms`);
        log(`kill -9 ${id}`);
        await sleep(f.downMs);
        supervisor.push({ t: now(), type: 'recover', node: id });
        await p.start();
        down.delete(id);
        log(`${id} restarted`);
        underFault.delete(id);
      } else {
        const id = await take('SIGSTOP', f.node);
        if (id === undefined) return;
        const p = proc(id);
        p.pause();
        supervisor.push({ t: now(), type: 'note', text: `SIGSTOP ${id} for ${f.pauseMs} ms` });
        faults.push(`SIGSTOP ${id} for ${f.pauseMs} ms`);
        log(`SIGSTOP ${id}`);
        await sleep(f.pauseMs);
        p.resume();
        underFault.delete(id);
        supervisor.push({ t: now(), type: 'note', text: `SIGCONT ${id}` });
      }
    });
    await workload;
    await Promise.all(faultRuns);
    if (tables.length > 0 && network) {
      netRules.clear();
      for (const t of tables) t.delete();
      const copies = duplicated();
      faults.push(
        `the kernel dropped ${dropped()} packets${copies > 0 ? ` and duplicated ${copies}` : ''}`,
      );
      log(
        `nftables tables removed; ${dropped()} packets were dropped${copies > 0 ? `, ${copies} duplicated` : ''}`,
      );
    }
    await sleep(t0 + (opts.runMs ?? 0) - now());
    supervisor.push({ t: now(), type: 'note', text: 'workload and faults end: settling' });
    log(`${ops.filter((o) => o.handed === 'written').length} commands handed over; settling`);

    // Settle: every command handed over answered, and done or in doubt; then calm.
    // A Byzantine node's commands are its adversary's: nothing obliges it to complete them.
    const open = (): number =>
      ops.filter((o, k) => {
        if (o.handed !== 'written' || liars.includes(o.node)) return false;
        const p = proc(o.node);
        const died = (lastKill.get(o.node) ?? -Infinity) >= o.t || p.starts !== wroteTo[k];
        if (died) return false; // in doubt: it will never be answered or done by that process
        if (o.answer === undefined) return true;
        if (o.answer === 'rejected') return false;
        const key = completionKey(o.node, o.cmd);
        return key !== undefined && !seen.has(key);
      }).length;
    // Broadcasts done at their origin that a node now up and honest has not delivered yet: the
    // run waits for them too (a retransmission to a restarted node may be seconds away), up to
    // `quietMs` without any delivery; whether they had to arrive is the checkers' verdict.
    const unspread = (): number => {
      const up = ids.filter((id) => !down.has(id) && !liars.includes(id));
      let n = 0;
      for (const r of reached.values()) {
        if (r.nodes.has(r.origin) && up.some((id) => !r.nodes.has(id))) n++;
      }
      return n;
    };
    const quietMs = opts.quietMs ?? DEFAULT_QUIET_MS;
    const deadline = Date.now() + (opts.settleTimeoutMs ?? 60_000);
    let settled: Settled = 'timeout';
    const settleFrom = now();
    while (Date.now() < deadline) {
      const calm = now() - Math.max(lastDeliveryAt, settleFrom);
      if (open() === 0 && unspread() === 0 && now() - lastDeliveryAt >= CALM_MS) {
        settled = 'done';
        break;
      }
      if (calm >= quietMs) {
        settled = open() === 0 ? 'done' : 'quiet';
        break;
      }
      await sleep(100);
    }
    supervisor.push({
      t: now(),
      type: 'note',
      text:
        settled === 'done'
          ? 'settled'
          : settled === 'quiet'
            ? `no delivery for ${quietMs} ms with ${open()} commands open`
            : 'settle timeout',
    });
    await Promise.all([...procs.values()].map((p) => p.stop()));
    const traces = ids.map((id) => {
      const st = new Storage({ path: join(opts.dir, 'data', id, 'state.db') });
      try {
        return parseTraceLines(st.traceLines());
      } finally {
        st.close();
      }
    });
    const trace = mergeTraces([supervisor, ...traces]);
    return {
      trace,
      configPath,
      settled,
      elapsedMs: Date.now() - started,
      faults,
      accounting: accountOps(ops, trace),
    };
  } finally {
    for (const t of tables) t.delete();
    if (kernelState) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    await Promise.all([...procs.values()].map((p) => p.stop(2000)));
    segment?.delete(); // after the processes: a namespace goes once its last process has left
  }
}

function stackName(stack: ClusterOptions['stack']): string {
  return 'protocol' in stack ? stack.protocol : `${stack.guarantee} channel`;
}
