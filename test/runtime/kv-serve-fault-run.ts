/**
 * The process-level fault run of the replicated store (issue 18 item 4), as one process started
 * inside the hub namespace of a NodeNamespaces segment (src/runtime/netns.ts): it supervises the replicas (each in its own
 * namespace, src/runtime/kv-process.ts), runs concurrent clients (KvClient, one idempotency key per logical
 * write), kills replicas with SIGKILL on a schedule and restarts them, and prints the client
 * history as ONE JSON line on stdout for the caller to check (linearizability, the counter).
 *
 *   node --import tsx test/runtime/kv-serve-fault-run.ts --spec spec.json
 *   spec: { configPath, ids, netns, ops, clients, kills: ["leader"|"follower", …], downMs, seed }
 *
 * Workload (per client, drawn from the seed): 70% incr ctr by 1, 10% get (ctr or k0..k2), 10% put
 * k0..k2 (a unique value), 10% cas on k0..k2 (from the value last seen there, or null). The kills
 * come when 15%, 35%, 55%, 75%… of the operations were issued; a killed replica restarts
 * `downMs` later, from its data (no --init). After the workload every key is read once more.
 *
 * History entries: {id, client, input, output, call, ret} for a definite operation; no `ret` and
 * output undefined for an indefinite write (KvError 'indefinite'); operations that definitely did
 * not happen (KvError 'unavailable', and unanswered reads) are left out, and counted.
 * Also prints {"type":"pid","id","pid"} lines as replicas start, so the caller can kill leftovers.
 *
 * Guarantees: every replica it started is stopped (SIGTERM, then SIGKILL) before it exits; exit 0
 * with the result line, 1 with an {"type":"error"} line.
 * Assumes: it runs where every replica's HTTP address is reachable (the hub namespace).
 */

import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { KvClient, KvError } from '../../src/client/kv-client.ts';
import { createRng } from '../../src/core/rng.ts';
import { loadConfig } from '../../src/runtime/config.ts';
import { KvProcess } from '../../src/runtime/kv-process.ts';

interface Spec {
  readonly configPath: string;
  readonly ids: readonly string[];
  readonly netns: readonly string[];
  readonly ops: number;
  readonly clients: number;
  readonly kills: readonly ('leader' | 'follower')[];
  readonly downMs: number;
  readonly seed: number;
}

type Input =
  | { f: 'get'; key: string }
  | { f: 'put'; key: string; value: unknown }
  | { f: 'incr'; key: string; delta: number }
  | { f: 'cas'; key: string; from: unknown; to: unknown };

interface HistoryOp {
  id: number;
  client: string;
  input: Input;
  output: unknown;
  call: number;
  ret?: number;
}

const KEYS = ['k0', 'k1', 'k2'];
const emit = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');

async function main(spec: Spec): Promise<void> {
  const cfg = loadConfig(spec.configPath);
  const url = (id: string) => {
    const h = cfg.nodes[id]?.http;
    if (h === undefined) throw new Error(`nodes.${id}.http missing`);
    return `http://${h.host}:${h.port}`;
  };
  const procs = spec.ids.map(
    (id, i) =>
      new KvProcess({
        id,
        configPath: spec.configPath,
        readyTimeoutMs: 60_000,
        ...(spec.netns[i] === undefined ? {} : { netns: spec.netns[i] }),
      }),
  );
  const start = async (p: KvProcess) => {
    await p.start();
    emit({ type: 'pid', id: p.id, pid: p.pid });
  };
  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const history: HistoryOp[] = [];
  const counts = { unavailable: 0, indefinite: 0, unansweredReads: 0 };
  const kills: { atMs: number; id: string; role: string; upAtMs: number }[] = [];
  try {
    await Promise.all(procs.map(start));
    const leaderOf = async (): Promise<string | undefined> => {
      for (let tries = 0; tries < 300; tries++) {
        const views = await Promise.all(
          procs
            .filter((p) => p.running)
            .map(async (p) => {
              try {
                const r = await fetch(`${url(p.id)}/v1/health`, {
                  signal: AbortSignal.timeout(1000),
                });
                return (await r.json()) as { role?: string; leader?: string | null; id?: string };
              } catch {
                return undefined;
              }
            }),
        );
        const lead = views.find((v) => v?.role === 'leader');
        if (lead?.id !== undefined) return lead.id;
        await sleep(100);
      }
      return undefined;
    };
    if ((await leaderOf()) === undefined) throw new Error('no leader elected');

    let issued = 0;
    let nextId = 1;
    const lastSeen = new Map<string, unknown>();
    const endpoints = spec.ids.map(url);
    const client = async (c: number) => {
      const name = `c${c}`;
      const rng = createRng(spec.seed).fork(`client:${c}`);
      const kv = new KvClient({
        endpoints: [
          ...endpoints.slice(c % endpoints.length),
          ...endpoints.slice(0, c % endpoints.length),
        ],
        attemptsMax: 30,
        backoffMs: 50,
        backoffMsMax: 1000,
        attemptTimeoutMs: 12_000,
      });
      while (issued < spec.ops) {
        issued++;
        const roll = rng.int(100);
        const key = KEYS[rng.int(KEYS.length)] ?? 'k0';
        let input: Input;
        if (roll < 70) input = { f: 'incr', key: 'ctr', delta: 1 };
        else if (roll < 80) input = { f: 'get', key: rng.int(2) === 0 ? 'ctr' : key };
        else if (roll < 90) input = { f: 'put', key, value: `${name}-${nextId}` };
        else
          input = { f: 'cas', key, from: lastSeen.get(key) ?? null, to: `${name}-${nextId}-cas` };
        const op: HistoryOp = { id: nextId++, client: name, input, output: undefined, call: now() };
        try {
          switch (input.f) {
            case 'get': {
              const v = await kv.get(input.key);
              op.output = v === undefined ? null : v;
              lastSeen.set(input.key, op.output);
              break;
            }
            case 'put':
              await kv.put(input.key, input.value);
              op.output = null;
              lastSeen.set(input.key, input.value);
              break;
            case 'incr':
              op.output = await kv.incr(input.key, input.delta);
              break;
            case 'cas':
              op.output = await kv.cas(input.key, input.from, input.to);
              if (op.output === true) lastSeen.set(input.key, input.to);
              break;
          }
          op.ret = now();
          history.push(op);
        } catch (e) {
          if (!(e instanceof KvError)) throw e;
          if (input.f === 'get') counts.unansweredReads++;
          else if (e.code === 'indefinite') {
            counts.indefinite++;
            history.push(op); // no ret: it may or may not have happened
          } else if (e.code === 'unavailable') counts.unavailable++;
          else throw e;
        }
      }
    };
    const nemesis = async () => {
      for (const [k, role] of spec.kills.entries()) {
        const at = Math.floor(spec.ops * (0.15 + (0.8 * k) / spec.kills.length));
        while (issued < at) await sleep(20);
        const leader = await leaderOf();
        const victim =
          role === 'leader'
            ? procs.find((p) => p.id === leader)
            : procs.find((p) => p.id !== leader && p.running);
        if (victim === undefined) throw new Error(`no ${role} to kill`);
        const atMs = now();
        await victim.kill9();
        await sleep(spec.downMs);
        await start(victim);
        kills.push({ atMs, id: victim.id, role, upAtMs: now() });
      }
    };
    const workload = Promise.all(Array.from({ length: spec.clients }, (_, c) => client(c)));
    await Promise.all([workload, nemesis()]);
    const workloadMs = now();
    // Final reads of every key, through any replica (every replica is up again).
    const kv = new KvClient({ endpoints, attemptsMax: 60, backoffMs: 100 });
    const finals: Record<string, unknown> = {};
    for (const key of ['ctr', ...KEYS]) {
      const op: HistoryOp = {
        id: nextId++,
        client: 'final',
        input: { f: 'get', key },
        output: undefined,
        call: now(),
      };
      const v = await kv.get(key);
      op.output = v === undefined ? null : v;
      op.ret = now();
      finals[key] = op.output;
      history.push(op);
    }
    emit({ type: 'result', history, finals, kills, counts, workloadMs, ops: spec.ops });
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const args = parseArgs({ options: { spec: { type: 'string' } }, strict: true }).values;
try {
  await main(JSON.parse(readFileSync(args.spec ?? '', 'utf8')) as Spec);
  process.exitCode = 0;
} catch (e) {
  emit({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  process.exitCode = 1;
}
process.exit();
