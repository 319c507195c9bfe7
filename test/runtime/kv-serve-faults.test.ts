// The store's process-level fault test (issue 18 item 4): 3 `kv serve` replicas, each in a
// network namespace of its own with its own address on one bridge (netns.ts), 20% of the
// packets between replicas dropped by the kernel (nftables), 4 concurrent clients mixing
// increments with reads, puts and cas, the leader killed with SIGKILL 3 times and a follower once,
// each restarted from its data. The whole client history must be linearizable, the final counter
// must lie in the acceptable set (every acknowledged increment plus a subset of the indefinite
// ones), and no acknowledged write may be lost. SF_KV_FAULT_OPS sets the operation count
// (default and CI: the 10,000, about 90 s on 2 cores; fewer for a quick local run);
// for a local stress run, SF_KV_FAULT_KILLS the kill schedule (e.g. "leader,follower,leader",
// spread evenly over the run) and SF_KV_FAULT_SEED the clients' seed. A history that is not
// linearizable is kept in the temp directory for the post-mortem.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkLinearizability, kvModel, type KvInput } from '../../src/check/linearizability.ts';
import { NodeNamespaces, netnsClusterUnavailable } from '../../src/runtime/netns.ts';
import { NftFaults, portOmissionRules } from '../../src/runtime/nft.ts';

/** Replica links and HTTP: fixed ports, each replica alone in its namespace. */
const REPLICA_PORT = 7000;
const HTTP_PORT = 8000;

const OPS = Number(process.env.SF_KV_FAULT_OPS ?? 10_000);
const KILLS = (process.env.SF_KV_FAULT_KILLS ?? 'leader,leader,follower,leader').split(',');
for (const k of KILLS) {
  if (k !== 'leader' && k !== 'follower') {
    throw new Error(`SF_KV_FAULT_KILLS: "${k}" is neither leader nor follower`);
  }
}
const SEED = Number(process.env.SF_KV_FAULT_SEED ?? 18);
const RUNNER = fileURLToPath(new URL('./kv-serve-fault-run.ts', import.meta.url));

interface HistoryOp {
  id: number;
  client: string;
  input: KvInput;
  output: unknown;
  call: number;
  ret?: number;
}

interface Result {
  history: HistoryOp[];
  finals: Record<string, unknown>;
  kills: { atMs: number; id: string; role: string; upAtMs: number }[];
  counts: { unavailable: number; indefinite: number; unansweredReads: number };
  workloadMs: number;
}

const skip = netnsClusterUnavailable();

test(
  'kv serve under kernel loss and kill -9: 3 replicas in namespaces, 20% drop, leader killed 3× and a follower once; linearizable, nothing acknowledged lost',
  { skip: skip === undefined ? false : `skipped: ${skip}`, timeout: Math.max(170_000, OPS * 60) },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sf-kv-faults-'));
    const ids = ['n1', 'n2', 'n3'];
    // Clients run in the hub (its bridge has an address); a datacenter's TCP retransmission
    // floor (10 ms) on the replicas' routes, so a dropped segment costs milliseconds.
    const net = NodeNamespaces.create(ids, { hubAddress: true, rtoMinMs: 10 });
    // 20% of the replica links' packets dropped by each replica's kernel, both directions.
    const tables = net.namespaces().map((ns) => new NftFaults('sf_kv', ns));
    const pids = new Set<number>();
    try {
      for (const t of tables) t.install(portOmissionRules(REPLICA_PORT, 20));
      const nodes: Record<string, unknown> = {};
      for (const id of ids) {
        const host = net.hostOf(id);
        nodes[id] = { host, port: REPLICA_PORT, http: { host, port: HTTP_PORT } };
      }
      const configPath = join(dir, 'cluster.json');
      writeFileSync(configPath, JSON.stringify({ transport: 'tcp', dataDir: 'data', nodes }));
      const specPath = join(dir, 'spec.json');
      writeFileSync(
        specPath,
        JSON.stringify({
          configPath,
          ids,
          netns: net.namespaces(),
          ops: OPS,
          clients: 4,
          kills: KILLS,
          downMs: 1000,
          seed: SEED,
        }),
      );
      const lines: Record<string, unknown>[] = [];
      let stderr = '';
      const code = await new Promise<number | null>((resolve) => {
        const c = spawn(
          'ip',
          [
            'netns',
            'exec',
            net.hub,
            process.execPath,
            '--import',
            'tsx',
            RUNNER,
            '--spec',
            specPath,
          ],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let buf = '';
        c.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            const o = JSON.parse(line) as Record<string, unknown>;
            if (o.type === 'pid' && typeof o.pid === 'number') pids.add(o.pid);
            lines.push(o);
          }
        });
        c.stderr.on('data', (d: Buffer) => {
          if (stderr.length < 64 * 1024) stderr += d.toString();
        });
        c.on('exit', resolve);
      });
      const result = lines.find((l) => l.type === 'result') as unknown as Result | undefined;
      assert.ok(
        code === 0 && result !== undefined,
        `runner exit ${String(code)}: ${JSON.stringify(lines.find((l) => l.type === 'error'))}\n${stderr.slice(-4000)}`,
      );
      const dropped = tables.reduce((sum, t) => sum + t.dropped(), 0);
      const { history, finals, kills, counts } = result;
      const summary =
        `${OPS} ops in ${(result.workloadMs / 1000).toFixed(1)} s, kills ${JSON.stringify(kills)}, ` +
        `${dropped} packets dropped by the kernel, ${JSON.stringify(counts)}`;
      process.stdout.write(`# ${summary}\n`);
      assert.deepEqual(
        kills.map((k) => k.role),
        KILLS,
        summary,
      );
      assert.ok(dropped > 100, `the kernel dropped replica packets (${dropped})`);

      // 1. Linearizable, key by key, with the indefinite writes as "may have happened".
      const verdict = checkLinearizability(kvModel, history, { stepBudget: 20_000_000 });
      if (verdict.result !== 'ok') {
        // Kept for the post-mortem (the run's directory is removed below).
        const kept = join(tmpdir(), `sf-kv-faults-history-${process.pid}.json`);
        writeFileSync(kept, JSON.stringify({ verdict, kills, history }));
        assert.fail(`${JSON.stringify(verdict).slice(0, 3000)}\nhistory in ${kept}\n${summary}`);
      }

      // 2. The final counter: every acknowledged increment, plus some of the indefinite ones.
      const incr = history.filter((o) => o.input.f === 'incr');
      const acked = incr.filter((o) => o.ret !== undefined).length;
      const indefinite = incr.length - acked;
      const final = finals.ctr;
      assert.ok(
        typeof final === 'number' && final >= acked && final <= acked + indefinite,
        `final counter ${String(final)} outside [${acked}, ${acked + indefinite}]; ${summary}`,
      );
      // Each acknowledged increment returned a distinct value: none was applied twice.
      const values = incr.filter((o) => o.ret !== undefined).map((o) => o.output as number);
      assert.equal(new Set(values).size, values.length, 'two increments answered the same value');

      // 3. No acknowledged write lost: the last acknowledged write of each key that nothing
      // could have overwritten later is what the final read sees.
      for (const key of ['k0', 'k1', 'k2']) {
        const writes = history.filter(
          (o) =>
            o.input.key === key &&
            (o.input.f === 'put' || (o.input.f === 'cas' && o.output !== false)),
        );
        const acks = writes.filter((o) => o.ret !== undefined);
        const last = acks.reduce<HistoryOp | undefined>(
          (a, o) => (a === undefined || (o.ret ?? 0) > (a.ret ?? 0) ? o : a),
          undefined,
        );
        if (last === undefined) continue;
        const later = writes.filter(
          (o) => o !== last && (o.ret === undefined || o.ret > last.call),
        );
        if (later.length > 0) continue; // a concurrent or in-doubt write may legitimately win
        const expected =
          last.input.f === 'put' ? last.input.value : (last.input as { to: unknown }).to;
        assert.deepEqual(finals[key], expected, `acknowledged write of ${key} lost; ${summary}`);
      }
    } finally {
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      for (const t of tables) t.delete();
      net.delete();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
