// Two steadfast nodes in this process over loopback UDP, exactly-once: n1 sends 200 messages to
// n2, whose application counts them, and waits until n2 has acknowledged each one (`delivered`).
// Each arrives once (the network may reorder them).
//
//   Run: node two-nodes.js (after tsc), or node --import tsx two-nodes.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeUdpPort, parseConfig, startNode, type ChannelDeliver } from 'steadfast';

const COUNT = 200;
const dir = mkdtempSync(join(tmpdir(), 'steadfast-two-nodes-'));
const cfg = parseConfig({
  nodes: {
    n1: { host: '127.0.0.1', port: await freeUdpPort() },
    n2: { host: '127.0.0.1', port: await freeUdpPort() },
  },
  transport: 'udp',
  stack: { guarantee: 'exactly-once' },
  dataDir: join(dir, 'data'), // one SQLite file per node: <dataDir>/<id>/state.db
});

const received = new Map<number, number>(); // message number → times the application saw it

// `init: true`: these nodes are new (their data must not exist yet). A restart leaves it out and
// the node recovers its state from dataDir.
const n2 = await startNode(cfg, 'n2', {
  init: true,
  onDeliver: (event) => {
    const i = ((event as ChannelDeliver).payload as { i: number }).i;
    received.set(i, (received.get(i) ?? 0) + 1);
  },
});
const n1 = await startNode(cfg, 'n1', { init: true });

// send returns the message's id at once; `accepted` resolves once the send is durable at n1 (it
// survives n1 crashing now), `delivered` once n2 has acknowledged it (applied it, exactly-once).
const sent = [];
for (let i = 0; i < COUNT; i++) sent.push(n1.send('n2', { i }, { key: `order-${i}` }));
const first = sent[0];
if (first !== undefined) await first.accepted;
await Promise.all(sent.map((m) => m.delivered));
console.log(`n1 sent ${sent.length} messages (first id ${first?.id ?? '-'}), all delivered`);
await n1.close();
await n2.close();
rmSync(dir, { recursive: true, force: true });

const twice = [...received.values()].filter((n) => n > 1).length;
console.log(`n2 received ${received.size} of ${COUNT} messages, ${twice} more than once`);
process.exitCode = received.size === COUNT && twice === 0 ? 0 : 1;
