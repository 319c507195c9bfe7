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
 * Faults: a schedule of kills (restart after `downMs`) and pauses, each taking a node that is up
 * and under no other fault (`pick` chooses among them, by their stats; default: at random from
 * `seed`); `randomFaults` draws one. The supervisor records them in the trace (`crash`,
 * `recover`, `note`) on the nodes' clock (Unix-epoch ms, performance.timeOrigin-based). A node
 * counts as down from its kill until its restarted process is ready.
 * Settling: once the plan is issued, the faults are over and `runMs` has passed, the run ends
 * when every command handed over is answered and done or in doubt (as the nodes' printed
 * deliveries show) and no delivery came for 500 ms (`settled: 'done'`); or when no delivery came
 * for `quietMs` (`'quiet'`: something is not done); or at `settleTimeoutMs` (`'timeout'`).
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
import { createRng, type Rng } from '../core/rng.ts';
import type { TraceEvent } from '../core/trace.ts';
import { makeDirs } from '../platform/dirs.ts';
import { accountOps, deliveryCompletion, completionKey, type Accounting } from './accounting.ts';
import type { ChannelStackConfig } from './config.ts';
import { mergeTraces, parseTraceLines } from './merge.ts';
import { freeTcpPort, freeUdpPort } from './ports.ts';
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
  | { readonly kind: 'kill'; readonly atMs: number; readonly downMs: number }
  | { readonly kind: 'pause'; readonly atMs: number; readonly pauseMs: number };

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
  makeDirs(opts.dir); // not mkdirSync(recursive): it spins forever on /proc/… (platform/dirs.ts)
  const nodes: Record<string, { host: string; port: number }> = {};
  for (const id of ids)
    nodes[id] = {
      host: '127.0.0.1',
      port: opts.transport === 'udp' ? await freeUdpPort() : await freeTcpPort(),
    };
  const configPath = join(opts.dir, 'cluster.json');
  writeFileSync(
    configPath,
    JSON.stringify(
      {
        nodes,
        transport: opts.transport,
        stack: opts.stack,
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
    }
  };
  const procs = new Map(
    ids.map((id) => [
      id,
      new NodeProcess({ id, configPath, deliveries: true, onLine: onLine(id) }),
    ]),
  );
  const proc = (id: NodeId): NodeProcess => {
    const p = procs.get(id);
    if (p === undefined) throw new RangeError(`no node ${id}`);
    return p;
  };
  const started = Date.now();
  const rng = createRng(opts.seed ?? 1).fork('cluster');
  try {
    await Promise.all([...procs.values()].map((p) => p.start()));
    log(
      `${ids.length} nodes up (${opts.transport}, ${stackName(opts.stack)}); config ${configPath}`,
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
    const take = async (what: string): Promise<NodeId | undefined> => {
      const deadline = Date.now() + PICK_WAIT_MS;
      while (Date.now() < deadline) {
        const free = ids.filter((id) => !underFault.has(id) && !down.has(id) && proc(id).running);
        let id: NodeId | undefined;
        if (opts.pick === undefined) id = free[rng.int(Math.max(1, free.length))];
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
    const faultRuns = opts.faults.map(async (f) => {
      await sleep(t0 + f.atMs - now());
      if (f.kind === 'kill') {
        const id = await take('kill -9');
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
        const id = await take('SIGSTOP');
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
    await sleep(t0 + (opts.runMs ?? 0) - now());
    supervisor.push({ t: now(), type: 'note', text: 'workload and faults end: settling' });
    log(`${ops.filter((o) => o.handed === 'written').length} commands handed over; settling`);

    // Settle: every command handed over answered, and done or in doubt; then calm.
    const open = (): number =>
      ops.filter((o, k) => {
        if (o.handed !== 'written') return false;
        const p = proc(o.node);
        const died = (lastKill.get(o.node) ?? -Infinity) >= o.t || p.starts !== wroteTo[k];
        if (died) return false; // in doubt: it will never be answered or done by that process
        if (o.answer === undefined) return true;
        if (o.answer === 'rejected') return false;
        const key = completionKey(o.node, o.cmd);
        return key !== undefined && !seen.has(key);
      }).length;
    const quietMs = opts.quietMs ?? DEFAULT_QUIET_MS;
    const deadline = Date.now() + (opts.settleTimeoutMs ?? 60_000);
    let settled: Settled = 'timeout';
    const settleFrom = now();
    while (Date.now() < deadline) {
      const calm = now() - Math.max(lastDeliveryAt, settleFrom);
      if (open() === 0 && now() - lastDeliveryAt >= CALM_MS) {
        settled = 'done';
        break;
      }
      if (calm >= quietMs) {
        settled = 'quiet';
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
    await Promise.all([...procs.values()].map((p) => p.stop(2000)));
  }
}

function stackName(stack: ClusterOptions['stack']): string {
  return 'protocol' in stack ? stack.protocol : `${stack.guarantee} channel`;
}
