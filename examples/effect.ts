// Exactly-once to the application, way 1: an application-defined EFFECT. The application gives
// the receiving node a pure reducer over its own state; the node commits each message's new
// state in the same SQLite transaction as the message's dedup mark, before acknowledging it. So
// every message is counted in that state exactly once, whatever crashes, and the state is there
// again after a restart (`node.state()`).
//
//   Run: node effect.js                     n1 sends 300 orders to n2, whose reducer tallies
//                                            them; n2 restarts and reads the same state back
//        node effect.js receive CONFIG [--init]
//                                            n2 alone, as a process with this reducer (the kill
//                                            test kills it with SIGKILL mid-stream)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  freeUdpPort,
  loadConfig,
  parseConfig,
  startNode,
  SteadfastError,
  type AppEffect,
} from 'steadfast';

/** The application's state: plain data only (it is persisted as it is). */
interface Tally {
  readonly orders: number;
  readonly cents: number;
  /** How often each order number was counted (it must be 1 for each). */
  readonly seen: Uint8Array;
}

/** A pure reducer: a new state from the old one and the message, no I/O, no mutation. */
const tally: AppEffect<Tally> = {
  init: { orders: 0, cents: 0, seen: new Uint8Array(0) },
  apply(state, _from, payload) {
    const { i, cents = 0 } = payload as { i: number; cents?: number };
    const seen = new Uint8Array(Math.max(state.seen.length, i + 1));
    seen.set(state.seen);
    seen[i] = Math.min(255, (seen[i] ?? 0) + 1);
    return { orders: state.orders + 1, cents: state.cents + cents, seen };
  },
};

/** Order numbers counted other than once, among 0..count−1: [missing, more than once]. */
function audit(t: Tally, count: number): [number, number] {
  let missing = 0;
  let twice = 0;
  for (let i = 0; i < count; i++) {
    const n = t.seen[i] ?? 0;
    if (n === 0) missing++;
    if (n > 1) twice++;
  }
  return [missing, twice];
}

if (process.argv[2] === 'receive') {
  // n2 as a process of its own, until SIGTERM.
  const { values, positionals } = parseArgs({
    args: process.argv.slice(3),
    options: { init: { type: 'boolean', default: false } },
    allowPositionals: true,
  });
  const cfg = loadConfig(positionals[0] ?? 'cluster.json');
  const n2 = await startNode(cfg, 'n2', { init: values.init, effect: tally });
  console.log(JSON.stringify({ type: 'ready', orders: (n2.state() as Tally).orders }));
  process.once('SIGTERM', () => {
    void n2.close().then(() => process.exit(0));
  });
} else {
  const COUNT = 300;
  const dir = mkdtempSync(join(tmpdir(), 'steadfast-effect-'));
  const cfg = parseConfig({
    nodes: {
      n1: { host: '127.0.0.1', port: await freeUdpPort() },
      n2: { host: '127.0.0.1', port: await freeUdpPort() },
    },
    transport: 'udp',
    stack: { guarantee: 'exactly-once' },
    dataDir: join(dir, 'data'),
  });
  let n2 = await startNode(cfg, 'n2', { init: true, effect: tally });
  const n1 = await startNode(cfg, 'n1', { init: true });
  const sent = [];
  for (let i = 0; i < COUNT; i++) sent.push(n1.send('n2', { i, cents: 250 }));
  await Promise.all(sent.map((m) => m.delivered)); // delivered = applied in n2's state, durably
  const before = n2.state() as Tally;
  console.log(`n2 applied ${before.orders} orders, ${before.cents / 100} in total`);

  // A restart (no `init`): the state comes back from n2's SQLite, as after a crash.
  await n2.close();
  n2 = await startNode(cfg, 'n2', { effect: tally });
  const after = n2.state() as Tally;
  const [missing, twice] = audit(after, COUNT);
  console.log(
    `after a restart n2's state holds ${after.orders} orders: ${missing} missing, ${twice} counted twice`,
  );

  // A reducer whose state could not be persisted is refused, naming what is wrong.
  try {
    await startNode(cfg, 'n2', { effect: { init: new Map(), apply: (s) => s } });
  } catch (e) {
    if (!(e instanceof SteadfastError)) throw e;
    console.log(`a Map as the state is refused (${e.code}): ${e.message.split(' (plain')[0]}`);
  }
  await n1.close();
  await n2.close();
  rmSync(dir, { recursive: true, force: true });
  process.exitCode = after.orders === COUNT && missing === 0 && twice === 0 ? 0 : 1;
}
