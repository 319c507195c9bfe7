// Real faults: two node processes in a network namespace whose kernel drops 30% of UDP packets
// (nftables), 100,000 exactly-once messages; then the same with the receiver killed with SIGKILL
// 10 times at random moments and restarted. The verdict is read from the receiver's SQLite:
// its applied log (written in the same transaction as each dedup mark and effect) must hold every
// message exactly once, and its counter effect must agree. Skips, saying why, without root,
// iproute2 or nftables.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { payloadIndex, type CounterState } from '../../src/runtime/effects.ts';
import { NodeProcess } from '../../src/runtime/process.ts';
import { Storage } from '../../src/runtime/storage.ts';
import { NetNs, netnsUnavailable } from './netns.ts';

const MESSAGES = 100_000;
const DROP_PERCENT = 30;
const KILLS = 10;
/** Generous but finite: the whole transfer, restarts included. */
const TRANSFER_TIMEOUT_MS = 8 * 60_000;

interface Setup {
  dir: string;
  ns: NetNs;
  sender: NodeProcess;
  receiver: NodeProcess;
}

function setup(): Setup {
  const dir = mkdtempSync(join(tmpdir(), 'sf-kdrop-'));
  const ns = NetNs.create(DROP_PERCENT);
  const configPath = join(dir, 'cluster.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      nodes: { n1: { host: '127.0.0.1', port: 7001 }, n2: { host: '127.0.0.1', port: 7002 } },
      transport: 'udp',
      stack: { guarantee: 'exactly-once', effect: 'counter' },
      dataDir: './data',
      appliedLog: true,
    }),
  );
  const mk = (id: string) => new NodeProcess({ id, configPath, netns: ns.name });
  return { dir, ns, sender: mk('n1'), receiver: mk('n2') };
}

/** Skips `t`, saying why on stdout too, where namespaces are unavailable. */
function skippedWithoutNetns(t: TestContext, what: string): boolean {
  const why = netnsUnavailable();
  if (why === undefined) return false;
  console.log(`SKIPPED (${what}): ${why}`);
  t.skip(why);
  return true;
}

/** Starts both nodes and the sender's workload; returns when it was handed over (Date.now()). */
async function startWorkload(s: Setup): Promise<number> {
  await s.receiver.start();
  await s.sender.start();
  const started = Date.now();
  s.sender.send({ type: 'workload', to: 'n2', count: MESSAGES, plain: true, maxQueued: 20_000 });
  return started;
}

async function teardown(s: Setup): Promise<void> {
  await s.sender.stop();
  await s.receiver.stop();
  s.ns.delete();
  rmSync(s.dir, { recursive: true, force: true });
}

/** Resolves when the sender has handed out the whole workload and every message is acked. */
async function transferDone(sender: NodeProcess, deadline: number): Promise<void> {
  const done = sender.next((o) => o.type === 'workload-done');
  const flag = { workloadDone: false };
  void done.then(() => (flag.workloadDone = true));
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    if (!flag.workloadDone) continue;
    const st = await sender.stats();
    const p = st?.protocol as Record<string, number> | undefined;
    if (p !== undefined && p.inFlight === 0 && p.waiting === 0) return;
  }
  throw new Error('transfer did not finish in time');
}

function verify(dir: string): { distinct: number; state: CounterState } {
  const st = new Storage({ path: join(dir, 'data', 'n2', 'state.db') });
  try {
    const counts = new Uint8Array(MESSAGES);
    let rows = 0;
    for (const row of st.appliedRows()) {
      rows++;
      const i = payloadIndex((row.value as { payload: unknown }).payload);
      assert.ok(
        i !== undefined && i >= 0 && i < MESSAGES,
        `applied a message never sent: ${String(i)}`,
      );
      assert.equal(counts[i], 0, `message ${i} applied twice`);
      counts[i] = 1;
    }
    const missing = counts.indexOf(0);
    assert.equal(missing, -1, `message ${missing} never applied`);
    assert.equal(rows, MESSAGES);
    const state = st.load().get('rl/app') as CounterState;
    assert.equal(state.n, MESSAGES, 'counter effect: applications');
    assert.equal(state.sum, (MESSAGES * (MESSAGES - 1)) / 2, 'counter effect: sum of indexes');
    return { distinct: rows, state };
  } finally {
    st.close();
  }
}

test(`${MESSAGES} exactly-once messages under ${DROP_PERCENT}% kernel UDP drop arrive exactly once`, async (t) => {
  if (skippedWithoutNetns(t, 'kernel-drop test')) return;
  const s = setup();
  try {
    const started = await startWorkload(s);
    await transferDone(s.sender, started + TRANSFER_TIMEOUT_MS);
    const ms = Date.now() - started;
    const senderStats = await s.sender.stats();
    await s.sender.stop();
    await s.receiver.stop();
    const { distinct } = verify(s.dir);
    const p = senderStats?.protocol as Record<string, number> | undefined;
    console.log(
      `${distinct} messages applied exactly once in ${(ms / 1000).toFixed(1)} s ` +
        `(${Math.round((MESSAGES / ms) * 1000)} msg/s) under ${DROP_PERCENT}% drop; ` +
        `kernel dropped ${s.ns.dropped()} packets; sender retransmissions ${p?.retransmissions ?? '?'}, ` +
        `congestion episodes ${p?.congestionEpisodes ?? '?'}, cwnd ${p?.cwnd ?? '?'}`,
    );
  } finally {
    await teardown(s);
  }
});

test(`the same with the receiver killed with SIGKILL ${KILLS} times at random moments`, async (t) => {
  if (skippedWithoutNetns(t, 'kill -9 test')) return;
  const s = setup();
  try {
    const started = await startWorkload(s);
    const finished = transferDone(s.sender, started + TRANSFER_TIMEOUT_MS);
    const run = { over: false };
    void finished.then(
      () => (run.over = true),
      () => (run.over = true),
    );
    const killedAt: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      // A random moment: 100–900 ms of the receiver running.
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 800));
      if (run.over) break;
      await s.receiver.kill9();
      killedAt.push(Date.now() - started);
      await new Promise((r) => setTimeout(r, Math.random() * 200));
      await s.receiver.start();
    }
    await finished;
    const ms = Date.now() - started;
    await s.sender.stop();
    await s.receiver.stop();
    verify(s.dir);
    console.log(
      `${MESSAGES} messages applied exactly once in ${(ms / 1000).toFixed(1)} s across ` +
        `${killedAt.length} SIGKILLs of the receiver (at ${killedAt.map((x) => `${x} ms`).join(', ')})`,
    );
    assert.equal(
      killedAt.length,
      KILLS,
      `only ${killedAt.length} kills happened before the transfer ended`,
    );
  } finally {
    await teardown(s);
  }
});
