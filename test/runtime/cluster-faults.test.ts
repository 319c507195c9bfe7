// `steadfast cluster --faults MODEL`: the matrix's fault models injected for real, from a schedule
// drawn from --seed and printed. The schedule is a pure function of the seed; a partition is two
// nftables drop rules between the nodes' own loopback addresses, installed then removed (no table
// left behind); 20-40% kernel omission is masked by the exactly-once channel; a crash kills a
// minority for good; a bad model or a network model over TCP is exit 2 saying why. The kernel
// tests skip, saying why on stdout too, where nftables cannot be used (not root, nft missing).
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { createRng } from '../../src/core/rng.ts';
import {
  describeFault,
  FAULT_MODELS,
  faultSchedule,
  type ClusterFault,
} from '../../src/runtime/cluster.ts';
import { inetTables, nftUnavailable } from '../../src/runtime/nft.ts';
import { runCli } from './run-cli.ts';

/** Skips `t`, saying why on stdout too, where nftables cannot be used. */
function skippedWithoutNft(t: TestContext, what: string): boolean {
  const why = nftUnavailable();
  if (why === undefined) return false;
  console.log(`SKIPPED (${what}): ${why}`);
  t.skip(why);
  return true;
}

const ours = () => inetTables().filter((n) => n.startsWith('steadfast_'));

const schedule = (model: (typeof FAULT_MODELS)[number], seed: number, n = 5): ClusterFault[] =>
  faultSchedule(model, createRng(seed).fork('faults'), {
    ids: Array.from({ length: n }, (_, i) => `n${i + 1}`),
    withinMs: 2000,
  });

test('fault schedules: a pure function of the seed, within the fault phase, of the model asked for', () => {
  for (const model of FAULT_MODELS) {
    const seen = new Set<string>();
    for (let seed = 1; seed <= 20; seed++) {
      const a = schedule(model, seed);
      assert.deepEqual(schedule(model, seed), a, `${model} seed ${seed} repeats`);
      seen.add(a.map(describeFault).join('; '));
      for (const f of a) {
        assert.ok(f.atMs >= 0 && f.atMs < 2000, `${model}: ${describeFault(f)}`);
        const ends =
          f.atMs +
          (f.kind === 'kill'
            ? f.downMs
            : f.kind === 'pause'
              ? f.pauseMs
              : 'durationMs' in f
                ? f.durationMs
                : 0);
        assert.ok(ends <= 2000, `${model} ends within the phase: ${describeFault(f)}`);
      }
      if (model === 'crash') {
        // A minority of 5, distinct nodes, never restarted.
        assert.equal(a.length, 2);
        assert.equal(new Set(a.map((f) => (f.kind === 'crash' ? f.node : ''))).size, 2);
      }
      if (model === 'partition') {
        const f = a[0];
        assert.ok(f?.kind === 'partition');
        assert.equal(f.groups[0].length + f.groups[1].length, 5);
        assert.ok(f.groups[0].length <= 2 && f.groups[0].length >= 1);
        assert.deepEqual([...f.groups[0], ...f.groups[1]].sort(), ['n1', 'n2', 'n3', 'n4', 'n5']);
      }
      if (model === 'omission') {
        const f = a[0];
        assert.ok(f?.kind === 'omission' && f.percent >= 20 && f.percent <= 40);
      }
    }
    assert.ok(seen.size > 5, `${model}: different seeds draw different schedules`);
  }
});

test('steadfast cluster --faults: a bad model names the accepted ones; network models refuse TCP on loopback; byzantine needs a protocol and 4 nodes; --kills conflicts (exit 2)', async () => {
  const bad = await runCli(['cluster', '--faults', 'bogus']);
  assert.equal(bad.code, 2);
  assert.match(
    bad.err,
    /unknown fault model "bogus"; accepted: crash, crash-recover, pause, omission, partition, byzantine/,
  );
  const tcp = await runCli([
    'cluster',
    ...['--faults', 'partition', '--transport', 'tcp', '--network', 'loopback'],
  ]);
  assert.equal(tcp.code, 2);
  assert.match(
    tcp.err,
    /--faults partition cannot be injected here: on loopback it needs --transport udp/,
  );
  const two = await runCli(['cluster', '--faults', 'crash,partition']);
  assert.equal(two.code, 2);
  assert.match(two.err, /--faults takes one model without --matrix, got crash,partition/);
  const channel = await runCli(['cluster', '--faults', 'byzantine', '--network', 'loopback']);
  assert.equal(channel.code, 2);
  assert.match(channel.err, /byzantine needs --protocol/);
  const few = await runCli([
    'cluster',
    '--faults',
    'byzantine',
    '--protocol',
    'bracha',
    '--nodes',
    '3',
  ]);
  assert.equal(few.code, 2);
  assert.match(few.err, /byzantine needs at least 4 nodes/);
  const both = await runCli(['cluster', '--faults', 'crash', '--kills', '2']);
  assert.equal(both.code, 2);
  assert.match(both.err, /cannot be used with option '--kills <n>'/);
});

test('steadfast cluster --faults partition, eager-rb on 3 processes: rules installed, removed, the form printed', async (t) => {
  if (skippedWithoutNft(t, '--faults partition')) return;
  const before = ours();
  const seed = 7;
  const started = Date.now();
  const r = await runCli([
    'cluster',
    ...['--faults', 'partition', '--protocol', 'eager-rb', '--nodes', '3'],
    ...['--seed', String(seed), '--messages', '5', '--fault-ms', '2000', '--liveness-ms', '1500'],
    ...['--network', 'loopback'],
  ]);
  console.log(r.out + r.err + `(${Date.now() - started} ms)`);
  // The schedule printed is the seed's.
  assert.ok(
    r.out.includes(
      `fault schedule (--faults partition, seed ${seed}): ${schedule('partition', seed, 3).map(describeFault).join('; ')}\n`,
    ),
    r.out,
  );
  const table = /partition \{[n\d,]+\} \| \{[n\d,]+\} \(nftables table inet (steadfast_\d+)\)/.exec(
    r.out,
  );
  assert.ok(table !== null, r.out);
  assert.match(r.out, /healed: partition/);
  const dropped = /removed; (\d+) packets were dropped/.exec(r.out);
  assert.ok(dropped !== null && Number(dropped[1]) > 0, 'the kernel dropped packets in between');
  assert.deepEqual(ours(), before, 'no nftables table left behind');
  assert.ok(!inetTables().includes(table[1] ?? ''));
  assert.match(r.out, /verdict: (safe|NOT SAFE), (live|NOT LIVE)/);
  assert.match(r.out, /form under partition: (masking|fail-safe|non-masking|none) \(/);
  assert.match(
    r.out,
    /repeat the schedule: steadfast cluster --faults partition --seed 7 --nodes 3 --network loopback/,
  );
  assert.ok(r.code === 0 || r.code === 1, `exit ${r.code}: ${r.err}`);
});

test('steadfast cluster --faults omission, exactly-once on 3 processes: the channel masks kernel omission', async (t) => {
  if (skippedWithoutNft(t, '--faults omission')) return;
  const before = ours();
  const started = Date.now();
  const r = await runCli([
    'cluster',
    ...['--faults', 'omission', '--nodes', '3', '--seed', '3', '--network', 'loopback'],
    ...['--messages', '10', '--fault-ms', '2000', '--liveness-ms', '1000'],
  ]);
  console.log(r.out + r.err + `(${Date.now() - started} ms)`);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /drop \d+% of UDP between nodes for \d+ ms, then healed/);
  const dropped = /the kernel dropped (\d+) packets/.exec(r.out);
  assert.ok(dropped !== null && Number(dropped[1]) > 0, r.out);
  assert.match(r.out, /✓ reliable-delivery/);
  assert.match(r.out, /✓ no-duplication/);
  assert.match(r.out, /✓ accounted/);
  assert.match(r.out, /verdict: safe, live/);
  assert.match(r.out, /form under omission: masking/);
  assert.deepEqual(ours(), before, 'no nftables table left behind');
});

test('steadfast cluster --faults crash, eager-rb on 3 processes: a minority killed -9 for good, the survivors judged', async () => {
  const started = Date.now();
  const r = await runCli([
    'cluster',
    ...['--faults', 'crash', '--protocol', 'eager-rb', '--nodes', '3', '--seed', '3'],
    ...['--messages', '5', '--fault-ms', '2000', '--liveness-ms', '1000'],
  ]);
  console.log(r.out + r.err + `(${Date.now() - started} ms)`);
  const [f] = schedule('crash', 3, 3);
  assert.ok(f?.kind === 'crash');
  assert.ok(
    r.out.includes(`fault schedule (--faults crash, seed 3): ${describeFault(f)}\n`),
    r.out,
  );
  assert.ok(r.out.includes(`faults: kill -9 ${f.node ?? '?'}, not restarted\n`), r.out);
  assert.match(r.out, /✓ accounted/);
  assert.match(r.out, /form under crash: (masking|fail-safe|non-masking|none) \(/);
  assert.ok(r.code === 0 || r.code === 1, `exit ${r.code}: ${r.err}`);
});
