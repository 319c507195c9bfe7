// Replay resistance (issue 19, item 5): two exactly-once node processes over UDP through a relay
// that drops 10% of datagrams each way (replay-relay.ts); in the attacked runs the relay's
// attacker re-sends 200 recorded datagrams per second in each direction, byte-for-byte copies
// of frames it saw earlier in the run (no key, nothing forged). Before the fix every ack that
// answered a replayed data frame echoed its old timestamp, the sender measured round trips of
// seconds and its RTO sat at the 2 s maximum (issue: 14,013 → 3,824 msg/s).
//
// Judged on: the attacked sender's SRTT stays a loopback round trip (< 200 ms; before the fix it
// was 1.0-1.5 s, with the RTO at its 2 s maximum), and the attacked throughput is at least 0.7×
// the unattacked, best run against best run of interleaved pairs (before the fix: 0.21×). Best
// runs, not medians: this machine is shared, and other jobs only ever slow a run down (seen here:
// two identical clean runs at 21.9k and 6.9k msg/s under load), so the best of each kind is the
// least disturbed estimate; 0.7 leaves room for what noise remains. Every run must also apply
// each message exactly once (the receiver's counter effect, read from its SQLite).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CounterState } from '../../src/runtime/effects.ts';
import { freeUdpPort } from '../../src/runtime/ports.ts';
import { NodeProcess } from '../../src/runtime/process.ts';
import { Storage } from '../../src/runtime/storage.ts';

const MESSAGES = 40_000;
const DROP = 0.1;
const REPLAY_PER_SECOND = 200;
const RUNS_EACH = 2;
const RATIO_MIN = 0.7;
const SRTT_MS_MAX = 200;
const RUN_TIMEOUT_MS = 40_000;

const RELAY = fileURLToPath(new URL('./replay-relay.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

interface Run {
  readonly msgPerS: number;
  readonly srttMs: number;
  readonly rtoMs: number;
  readonly replayed: number;
}

function lines(
  child: ChildProcess,
): (pred: (o: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>> {
  const waiters: {
    pred: (o: Record<string, unknown>) => boolean;
    resolve: (o: Record<string, unknown>) => void;
  }[] = [];
  if (child.stdout === null) throw new Error('relay: no stdout');
  createInterface({ input: child.stdout }).on('line', (line) => {
    const o = JSON.parse(line) as Record<string, unknown>;
    const i = waiters.findIndex((w) => w.pred(o));
    if (i >= 0) waiters.splice(i, 1)[0]?.resolve(o);
  });
  return (pred) => new Promise((resolve) => waiters.push({ pred, resolve }));
}

async function run(replayPerSecond: number, seed: number): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'sf-replay-'));
  const [a, b, toA, toB] = [
    await freeUdpPort(),
    await freeUdpPort(),
    await freeUdpPort(),
    await freeUdpPort(),
  ];
  // Each node's config names the relay as its peer's address; the data directory is shared.
  const config = (self: 'n1' | 'n2') => {
    const path = join(dir, `${self}.json`);
    const nodes =
      self === 'n1'
        ? { n1: { host: '127.0.0.1', port: a }, n2: { host: '127.0.0.1', port: toB } }
        : { n1: { host: '127.0.0.1', port: toA }, n2: { host: '127.0.0.1', port: b } };
    writeFileSync(
      path,
      JSON.stringify({
        nodes,
        transport: 'udp',
        stack: { guarantee: 'exactly-once', effect: 'counter' },
        dataDir: './data',
      }),
    );
    return path;
  };
  const relay = spawn(
    process.execPath,
    [
      '--import',
      TSX,
      RELAY,
      '--a',
      String(a),
      '--b',
      String(b),
      '--to-a',
      String(toA),
      '--to-b',
      String(toB),
      '--drop',
      String(DROP),
      '--replay',
      String(replayPerSecond),
      '--seed',
      String(seed),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const next = lines(relay);
  const sender = new NodeProcess({ id: 'n1', configPath: config('n1') });
  const receiver = new NodeProcess({ id: 'n2', configPath: config('n2') });
  try {
    await next((o) => o.type === 'ready');
    await receiver.start();
    await sender.start();
    const done = sender.next((o) => o.type === 'workload-done');
    const t0 = performance.now();
    sender.send({ type: 'workload', to: 'n2', count: MESSAGES, plain: true });
    await done;
    let p: Record<string, number> | undefined;
    for (;;) {
      const st = await sender.stats();
      p = st?.protocol as Record<string, number> | undefined;
      if (p !== undefined && p.inFlight === 0 && p.waiting === 0) break;
      if (performance.now() - t0 > RUN_TIMEOUT_MS)
        throw new Error('transfer did not finish in time');
      await new Promise((r) => setTimeout(r, 20));
    }
    const ms = performance.now() - t0;
    const counters = next((o) => o.type === 'relay');
    relay.stdin.write('report\n');
    const replayed = Number((await counters).replayed);
    await sender.stop();
    await receiver.stop();
    const st = new Storage({ path: join(dir, 'data', 'n2', 'state.db') });
    try {
      const state = st.load().get('rl/app') as CounterState;
      assert.equal(state.n, MESSAGES, 'every message applied once');
      assert.equal(state.sum, (MESSAGES * (MESSAGES - 1)) / 2, 'each index once');
    } finally {
      st.close();
    }
    return {
      msgPerS: (MESSAGES / ms) * 1000,
      srttMs: p.srttMsMax ?? Number.NaN,
      rtoMs: p.rtoMsMax ?? Number.NaN,
      replayed,
    };
  } finally {
    await sender.stop();
    await receiver.stop();
    relay.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

test(`replayed datagrams (${REPLAY_PER_SECOND}/s each way) leave throughput and the RTT estimate alone`, async () => {
  const clean: Run[] = [];
  const attacked: Run[] = [];
  for (let i = 0; i < RUNS_EACH; i++) {
    // Interleaved, the order alternating, so the machine's drift hits both alike.
    const pair =
      i % 2 === 0 ? ([0, REPLAY_PER_SECOND] as const) : ([REPLAY_PER_SECOND, 0] as const);
    for (const rate of pair) (rate === 0 ? clean : attacked).push(await run(rate, i + 1));
  }
  const fmt = (r: Run) =>
    `${Math.round(r.msgPerS)} msg/s (srtt ${r.srttMs.toFixed(1)} ms, rto ${r.rtoMs} ms, ${r.replayed} replayed)`;
  const best = (rs: readonly Run[]) => Math.max(...rs.map((r) => r.msgPerS));
  const ratio = best(attacked) / best(clean);
  console.log(
    `${MESSAGES} exactly-once messages, ${DROP * 100}% drop each way: clean ${clean.map(fmt).join(', ')}; ` +
      `attacked ${attacked.map(fmt).join(', ')}; best-run ratio ${ratio.toFixed(2)} (≥ ${RATIO_MIN})`,
  );
  for (const r of attacked) {
    assert.ok(r.replayed > 0, 'the attacker replayed datagrams');
    assert.ok(
      r.srttMs < SRTT_MS_MAX,
      `attacked srtt ${r.srttMs} ms (a loopback round trip is < ${SRTT_MS_MAX})`,
    );
  }
  assert.ok(ratio >= RATIO_MIN, `throughput under replay ${ratio.toFixed(2)}× the unattacked run`);
});
