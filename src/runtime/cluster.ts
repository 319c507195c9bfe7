/**
 * A local cluster of real node processes on loopback (`steadfast cluster`): writes a config,
 * starts one process per node, drives a workload through their stdin, injects process faults
 * (kill -9 then restart; SIGSTOP then SIGCONT), waits until every message is settled, stops the
 * nodes and returns the merged trace for the checkers.
 *
 * Workload: every node sends `messages` messages to every other node, payload `{ i }` (unique per
 * (from, to), as the checkers require), spread over `spreadMs`.
 * Faults: `kills` times, a random node is killed with SIGKILL at a random moment of the workload
 * and restarted 100–600 ms later; `pauses` times, a random node is stopped with SIGSTOP for
 * 200–1000 ms. The supervisor records them in the trace (`crash`, `recover`, `note`), on the same
 * clock as the nodes (Unix-epoch ms, performance.timeOrigin-based).
 * Settling: after the workload and the faults, the run ends when every node reports an empty send
 * buffer (nothing in flight, nothing waiting) twice in a row, or at `settleTimeoutMs`.
 *
 * Guarantees: every node's trace comes from its own SQLite (the driver commits trace events with
 * each batch, so a SIGKILLed node's trace is a consistent prefix of what it did); node processes
 * are always stopped (SIGKILL as a last resort) before `runCluster` returns or throws.
 * Assumes: the ports chosen are free on 127.0.0.1 (picked by binding port 0 first).
 */

import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { TraceEvent } from '../core/trace.ts';
import { makeDirs } from '../platform/dirs.ts';
import type { Guarantee } from '../protocols/delivery/guarantees.ts';
import { mergeTraces, parseTraceLines } from './merge.ts';
import { freeTcpPort, freeUdpPort } from './ports.ts';
import { NodeProcess } from './process.ts';
import { Storage } from './storage.ts';

export interface ClusterOptions {
  readonly nodes: number;
  readonly transport: 'udp' | 'tcp';
  readonly guarantee: Guarantee;
  /** Messages each node sends to each other node. */
  readonly messages: number;
  readonly kills: number;
  readonly pauses: number;
  /** Working directory (config, data, merged trace). */
  readonly dir: string;
  readonly spreadMs?: number;
  readonly settleTimeoutMs?: number;
  /** HMAC-authenticate every frame (a random cluster secret). Default true. */
  readonly auth?: boolean;
  /** Progress lines. */
  readonly log?: (line: string) => void;
}

export interface ClusterResult {
  readonly trace: TraceEvent[];
  readonly configPath: string;
  readonly settled: boolean;
  readonly elapsedMs: number;
  readonly faults: readonly string[];
  readonly sends: number;
}

const sleep = (ms: number) =>
  new Promise<void>((r) => {
    setTimeout(r, ms);
  });

function now(): number {
  return performance.timeOrigin + performance.now();
}

export async function runCluster(opts: ClusterOptions): Promise<ClusterResult> {
  const log = opts.log ?? (() => undefined);
  const ids = Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`);
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
        stack: { guarantee: opts.guarantee, effect: 'counter' },
        ...(opts.auth === false ? {} : { auth: { secretHex: randomBytes(32).toString('hex') } }),
        dataDir: './data',
        trace: true,
      },
      null,
      2,
    ) + '\n',
  );
  const supervisor: TraceEvent[] = [];
  const faults: string[] = [];
  const procs = new Map(ids.map((id) => [id, new NodeProcess({ id, configPath })]));
  const started = Date.now();
  let sends = 0;
  try {
    await Promise.all([...procs.values()].map((p) => p.start()));
    log(`${ids.length} nodes up (${opts.transport}, ${opts.guarantee}); config ${configPath}`);
    supervisor.push({ t: now(), type: 'note', text: 'workload begins' });

    // The workload: each ordered pair gets `messages` sends, interleaved, over spreadMs.
    const spreadMs = opts.spreadMs ?? 2000;
    const plan: { from: string; to: string; i: number }[] = [];
    for (let i = 0; i < opts.messages; i++) {
      for (const from of ids) for (const to of ids) if (from !== to) plan.push({ from, to, i });
    }
    const workload = (async () => {
      const step = Math.max(1, Math.ceil(plan.length / Math.max(1, spreadMs / 10)));
      for (let k = 0; k < plan.length; k += step) {
        for (const s of plan.slice(k, k + step)) {
          procs.get(s.from)?.send({ type: 'send', to: s.to, payload: { i: s.i } });
          sends++;
        }
        await sleep(10);
      }
    })();

    // The faults, at random moments of the workload.
    const faultRuns: Promise<void>[] = [];
    // A fault takes a node that is up and not already under another fault, waiting for one if
    // every node is busy, so each requested fault really happens (never a pause of a node that is
    // down, which would be no fault at all).
    const underFault = new Set<string>();
    const pick = async (): Promise<{ id: string; p: NodeProcess }> => {
      for (;;) {
        const free = ids.filter((id) => !underFault.has(id) && procs.get(id)?.running === true);
        const id = free[Math.floor(Math.random() * free.length)];
        const p = id === undefined ? undefined : procs.get(id);
        if (id !== undefined && p !== undefined) {
          underFault.add(id);
          return { id, p };
        }
        await sleep(20);
      }
    };
    for (let k = 0; k < opts.kills; k++) {
      faultRuns.push(
        (async () => {
          await sleep(Math.random() * spreadMs);
          const { id, p } = await pick();
          await p.kill9();
          supervisor.push({ t: now(), type: 'crash', node: id, lostOutputs: 0 });
          const down = 100 + Math.random() * 500;
          faults.push(`kill -9 ${id}, restarted after ${Math.round(down)} ms`);
          log(`kill -9 ${id}`);
          await sleep(down);
          supervisor.push({ t: now(), type: 'recover', node: id });
          await p.start();
          log(`${id} restarted`);
          underFault.delete(id);
        })(),
      );
    }
    for (let k = 0; k < opts.pauses; k++) {
      faultRuns.push(
        (async () => {
          await sleep(Math.random() * spreadMs);
          const { id, p } = await pick();
          const ms = 200 + Math.random() * 800;
          p.pause();
          supervisor.push({
            t: now(),
            type: 'note',
            text: `SIGSTOP ${id} for ${Math.round(ms)} ms`,
          });
          faults.push(`SIGSTOP ${id} for ${Math.round(ms)} ms`);
          log(`SIGSTOP ${id}`);
          await sleep(ms);
          p.resume();
          underFault.delete(id);
          supervisor.push({ t: now(), type: 'note', text: `SIGCONT ${id}` });
        })(),
      );
    }
    await workload;
    await Promise.all(faultRuns);
    supervisor.push({ t: now(), type: 'note', text: 'workload and faults end: settling' });
    log(`${sends} sends issued; settling`);

    // Settle: every node's send buffer empty, twice in a row.
    const deadline = Date.now() + (opts.settleTimeoutMs ?? 60_000);
    let settled = false;
    let calm = 0;
    while (Date.now() < deadline) {
      await sleep(200);
      const stats = await Promise.all([...procs.values()].map((p) => p.stats()));
      const busy = stats.some((s) => {
        const p = s?.protocol as Record<string, number> | undefined;
        return p === undefined || p.inFlight !== 0 || p.waiting !== 0;
      });
      calm = busy ? 0 : calm + 1;
      if (calm >= 2) {
        settled = true;
        break;
      }
    }
    supervisor.push({ t: now(), type: 'note', text: settled ? 'settled' : 'settle timeout' });
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
    return { trace, configPath, settled, elapsedMs: Date.now() - started, faults, sends };
  } finally {
    await Promise.all([...procs.values()].map((p) => p.stop(2000)));
  }
}
