// A registry protocol on real processes: a 3-node kv-raft cluster over UDP, one follower killed
// with SIGKILL while the workload runs and restarted from its SQLite state. The registry's own
// specification judges the merged durable traces, and every operation the registry's workload
// planned is accounted for: refused while the follower was down (and recorded so, never
// dropped), in doubt where the kill cut it off, done otherwise.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { nodeIds } from '../../src/core/ids.ts';
import { toJsonLines } from '../../src/core/trace.ts';
import { findProtocol } from '../../src/matrix/registry.ts';
import { formatAccounting } from '../../src/runtime/accounting.ts';
import { runCluster, type NodeCandidate } from '../../src/runtime/cluster.ts';
import { registryPlan } from '../../src/runtime/registry-stack.ts';

/** A follower, once some node leads (Raft's stats say `leader: 1` on the leader). */
function follower(candidates: readonly NodeCandidate[]): string | undefined {
  const leads = (c: NodeCandidate) =>
    (c.stats?.protocol as Record<string, number> | undefined)?.leader === 1;
  if (!candidates.some(leads)) return undefined;
  return candidates.find((c) => c.stats !== undefined && !leads(c))?.id;
}

test('kv-raft on 3 real processes: a follower killed -9 and restarted; safe, live, every operation accounted for', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-cluster-kv-raft-'));
  const ids = nodeIds(3);
  const faultPhaseMs = 4000;
  const runMs = faultPhaseMs + 3000;
  const seed = 3;
  const plan = registryPlan('kv-raft', ids, { messages: 10, faultPhaseMs, runMs, seed });
  try {
    const r = await runCluster({
      nodes: 3,
      transport: 'udp',
      stack: { protocol: 'kv-raft' },
      plan,
      // As soon as a leader is known, a follower goes down for 1.5 s: its share of the
      // workload (spread over the first 2.4 s) meets it down.
      faults: [{ kind: 'kill', atMs: 0, downMs: 1500 }],
      pick: follower,
      seed,
      runMs,
      dir,
      udpMaxDatagramBytes: 65_507,
    });
    const killed = /kill -9 (n\d)/.exec(r.faults.join(' '))?.[1];
    assert.ok(killed !== undefined, r.faults.join('; '));
    const verdicts = findProtocol('kv-raft').check(r.trace, {
      nodes: ids,
      correct: 'up-at-end',
      byzantine: [],
    });
    const failed = verdicts.filter((v) => !v.holds);
    if (failed.length > 0) {
      // Keep the merged trace of a failing real run: it cannot be replayed, only read.
      const kept = join(tmpdir(), `sf-kv-raft-failure-${process.pid}.jsonl`);
      writeFileSync(kept, toJsonLines(r.trace));
      assert.fail(
        failed.map((v) => `${v.property} (${v.kind}): ${v.violation?.message ?? ''}`).join('\n') +
          `\nfaults: ${r.faults.join('; ')}\nmerged trace kept in ${kept}`,
      );
    }
    const a = r.accounting;
    console.log(`${r.faults.join('; ')}: ${formatAccounting(a)}`);
    assert.equal(r.settled, 'done');
    assert.equal(a.planned, plan.length);
    assert.equal(a.planned, a.refused + a.rejected + a.inDoubt + a.done + a.notDone);
    assert.equal(a.notDone, 0, a.notDoneOps.join('; '));
    assert.deepEqual([a.untraced, a.unplanned], [[], []]);
    // The follower was down for part of its workload: refused, never dropped, and on record.
    assert.ok(a.refused > 0, `nothing refused: ${JSON.stringify(a)}`);
    plan.forEach((c, k) => {
      if (a.fates[k] === 'refused') assert.equal(c.node, killed);
    });
    const refusedInTrace = r.trace.filter((e) => e.type === 'command' && !e.accepted).length;
    assert.equal(refusedInTrace, a.refused + a.rejected);
    // Every final read (after the faults) was answered, at every node, the restarted one too.
    const finals = plan.filter((c) => (c.cmd as { serial: number }).serial >= 1_000_000);
    assert.ok(finals.every((c) => a.fates[plan.indexOf(c)] === 'done'));
    // The restarted follower recovered its Raft state from SQLite (its log was not empty).
    const restart = r.trace.find(
      (e) => e.type === 'start' && e.node === killed && e.incarnation === 1,
    );
    assert.ok(restart?.type === 'start' && restart.records > 0, JSON.stringify(restart));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
