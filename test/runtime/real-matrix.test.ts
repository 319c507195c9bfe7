// Cells of the matrix on real processes (issue 17): six cells run end to end, each node an OS
// process in a network namespace of its own on a bridge, the faults injected for real (SIGKILL,
// nftables loss and partitions inside the namespaces, a process running the registry's
// adversary), every planned operation accounted for, and each cell's real form asserted equal to
// the simulator's form for the same protocol, fault model and node count. Plus
// `steadfast cluster --matrix` end to end and the rule that flags a real cell worse than the
// simulator's. The kernel tests skip, saying why on stdout too, where namespaces cannot be made.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { formatRealMatrix } from '../../src/cli/runtime-commands.ts';
import type { FaultModel } from '../../src/runtime/cluster.ts';
import { clusterNamespaces, netnsClusterUnavailable } from '../../src/runtime/netns.ts';
import { formLine, runRealCell } from '../../src/runtime/real-cell.ts';
import { simForms, worseThan, type RealMatrixResult } from '../../src/runtime/real-matrix.ts';
import { runCli } from './run-cli.ts';

function skippedWithoutNetns(t: TestContext, what: string): boolean {
  const why = netnsClusterUnavailable();
  if (why === undefined) return false;
  console.log(`SKIPPED (${what}): ${why}`);
  t.skip(why);
  return true;
}

test('worseThan: a real cell is worse only where it lacks a property the simulator has', () => {
  assert.deepEqual(worseThan('masking', 'masking'), []);
  assert.deepEqual(worseThan('masking', 'none'), []); // better: not reported
  assert.deepEqual(worseThan('fail-safe', 'masking'), ['liveness']);
  assert.deepEqual(worseThan('non-masking', 'masking'), ['safety']);
  assert.deepEqual(worseThan('none', 'masking'), ['safety', 'liveness']);
  assert.deepEqual(worseThan('none', 'fail-safe'), ['safety']);
  assert.deepEqual(worseThan('non-masking', 'fail-safe'), ['safety']);
  assert.deepEqual(worseThan('fail-safe', 'non-masking'), ['liveness']);
  const cell = (protocol: string, fault: FaultModel, form: 'masking' | 'none', sim: 'masking') => ({
    protocol,
    fault,
    runs: [],
    form,
    sim: { column: fault === 'pause' ? ('none' as const) : fault, form: sim, seeds: 100 },
    worse: worseThan(form, sim),
  });
  const r: RealMatrixResult = {
    cells: [
      cell('eager-rb', 'crash', 'none', 'masking'),
      cell('eager-rb', 'pause', 'masking', 'masking'),
    ],
    wallMs: 1,
  };
  const text = formatRealMatrix(r, ['eager-rb'], ['crash', 'pause']);
  assert.match(text, /protocol\s+crash\s+pause \(sim: none\)\n/);
  assert.match(text, /eager-rb\s+!! none \/ masking\s+masking \/ masking\n/);
});

/** The six cells CI runs for real; the transport is the cell's own. */
const CELLS: readonly {
  protocol: string;
  fault: FaultModel;
  transport: 'udp' | 'tcp';
  seed: number;
}[] = [
  { protocol: 'logged-eager-rb', fault: 'crash-recover', transport: 'udp', seed: 11 },
  { protocol: 'gossip-rb', fault: 'partition', transport: 'udp', seed: 12 },
  { protocol: 'urb', fault: 'omission', transport: 'tcp', seed: 13 },
  { protocol: 'bracha', fault: 'byzantine', transport: 'udp', seed: 14 },
  { protocol: 'fifo-rb', fault: 'crash', transport: 'udp', seed: 15 },
  { protocol: 'exactly-once', fault: 'omission', transport: 'udp', seed: 16 },
];

const NODES = 4;

for (const c of CELLS) {
  test(`real cell ${c.protocol} × ${c.fault} (${NODES} processes, ${c.transport}, a namespace each): the simulator's form, every operation accounted for`, async (t) => {
    if (skippedWithoutNetns(t, `${c.protocol} × ${c.fault}`)) return;
    const sim = (await simForms([c.protocol], [c.fault], NODES)).get(
      `${c.protocol}\u0000${c.fault}`,
    );
    assert.ok(sim !== undefined);
    assert.equal(sim.form, 'masking', `the simulator's ${c.protocol} × ${c.fault}`);
    const dir = mkdtempSync(join(tmpdir(), 'sf-real-cell-'));
    let tag: string | undefined;
    try {
      const cell = await runRealCell({
        protocol: c.protocol,
        fault: c.fault,
        seed: c.seed,
        nodes: NODES,
        transport: c.transport,
        network: 'netns',
        messages: 5,
        faultMs: 1500,
        livenessMs: 2000,
        dir,
        log: (line) => {
          tag ??= /\(sfc([0-9a-f]+)-\*/.exec(line)?.[1];
        },
      });
      const a = cell.cluster.accounting;
      console.log(
        `${c.protocol} × ${c.fault}: ${formLine(c.fault, cell)}; faults: ${cell.cluster.faults.join('; ')}; ` +
          `planned ${a.planned}, refused ${a.refused}, in doubt ${a.inDoubt}, done ${a.done}, not done ${a.notDone}; ` +
          `${(cell.cluster.elapsedMs / 1000).toFixed(1)} s; repeat: ${cell.repeat}`,
      );
      assert.equal(cell.form, sim.form, formLine(c.fault, cell));
      assert.equal(a.refused + a.rejected + a.inDoubt + a.done + a.notDone, a.planned);
      assert.ok(cell.verdicts.some((v) => v.property === 'accounted' && v.holds));
      // The faults really happened.
      const happened = cell.cluster.faults.join('; ');
      if (c.fault === 'omission' || c.fault === 'partition' || c.fault === 'byzantine') {
        const dropped = /the kernel dropped (\d+) packets/.exec(happened);
        assert.ok(dropped !== null && Number(dropped[1]) > 0, happened);
      }
      if (c.fault === 'omission' && c.protocol === 'urb') {
        // In namespaces the kernel also sends second copies (nftables dup on the output hook).
        const copies = /and duplicated (\d+)/.exec(happened);
        assert.ok(copies !== null && Number(copies[1]) > 0, happened);
      }
      if (c.fault === 'crash') assert.match(happened, /kill -9 n\d, not restarted/);
      if (c.fault === 'crash-recover') assert.match(happened, /kill -9 n\d, restarted after/);
      if (c.fault === 'byzantine') assert.match(happened, /n\d runs the registry's adversary/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const made = tag;
    assert.ok(made !== undefined, 'the run said which namespaces it made');
    assert.deepEqual(
      clusterNamespaces().filter((n) => n.startsWith(`sfc${made}-`)),
      [],
      'every namespace the run made is gone',
    );
  });
}

test('steadfast cluster --matrix: a grid on real processes beside the simulator, its HTML, exit 0 when no cell is worse', async (t) => {
  if (skippedWithoutNetns(t, 'cluster --matrix')) return;
  const dir = mkdtempSync(join(tmpdir(), 'sf-real-matrix-'));
  try {
    const html = join(dir, 'real.html');
    const started = Date.now();
    const r = await runCli([
      'cluster',
      '--matrix',
      ...['--protocols', 'eager-rb', '--faults', 'pause,crash', '--nodes', '3'],
      ...['--runs', '1', '--seed', '5', '--messages', '4'],
      ...['--fault-ms', '1500', '--liveness-ms', '1500', '--html', html],
    ]);
    console.log(r.out + r.err + `(${Date.now() - started} ms)`);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(
      r.out,
      /real matrix: 1 protocols × 2 fault models × 1 run, 3 processes each over udp, a network namespace each, seed 5/,
    );
    assert.match(r.out, /eager-rb × pause, seed 5: (masking|fail-safe|non-masking|none) \(/);
    assert.match(r.out, /each cell: real form \/ simulator form/);
    assert.match(r.out, /eager-rb\s+masking \/ masking\s+masking \/ masking\n/);
    assert.match(r.out, /no real cell is worse than the simulator's \(2 cells/);
    assert.ok(existsSync(html));
    const page = readFileSync(html, 'utf8');
    assert.match(page, /Fault-tolerance matrix, on real processes/);
    assert.match(page, /Real beside the simulator/);
    assert.match(page, /data-protocol="eager-rb" data-fault="crash"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('steadfast cluster --matrix: bad grids are exit 2 saying why', async () => {
  const r1 = await runCli(['cluster', '--matrix', '--protocols', 'nope']);
  assert.equal(r1.code, 2);
  assert.match(r1.err, /unknown protocol "nope"; accepted: fair-loss/);
  const r2 = await runCli(['cluster', '--matrix', '--protocol', 'eager-rb']);
  assert.equal(r2.code, 2);
  assert.match(r2.err, /--matrix takes --protocols, not --protocol/);
  const r3 = await runCli(['cluster', '--protocols', 'eager-rb']);
  assert.equal(r3.code, 2);
  assert.match(r3.err, /--protocols goes with --matrix/);
  const r4 = await runCli(['cluster', '--matrix', '--faults', 'byzantine', '--nodes', '3']);
  assert.equal(r4.code, 2);
  assert.match(r4.err, /byzantine needs --nodes 4 or more/);
});
