// Send acknowledgements (issue 19, item 2), in process: `send` returns the message's id with its
// `accepted` (durable at the sender) and `delivered` (acknowledged by the receiver) promises;
// `pending()` lists what a restarted sender still holds, by id and key, and their `delivered`
// resolve once the receiver comes up. The kill -9 test of the same is send-acks-kill.test.ts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfig, type ClusterConfig } from '../../src/runtime/config.ts';
import type { CounterState } from '../../src/runtime/effects.ts';
import { startNode } from '../../src/runtime/node.ts';
import { freeUdpPort } from '../../src/runtime/ports.ts';
import { NodeProcess } from '../../src/runtime/process.ts';
import { writeTwoNodeConfig } from './two-nodes.ts';

async function config(dir: string, effect: 'counter' | 'none' = 'counter'): Promise<ClusterConfig> {
  return parseConfig(
    {
      nodes: {
        n1: { host: '127.0.0.1', port: await freeUdpPort() },
        n2: { host: '127.0.0.1', port: await freeUdpPort() },
      },
      transport: 'udp',
      stack: { guarantee: 'exactly-once', effect },
      dataDir: './data',
    },
    dir,
  );
}

test('send: an id, accepted once durable at the sender, delivered once the receiver applied it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-acks-'));
  const cfg = await config(dir);
  const n2 = await startNode(cfg, 'n2', { init: true });
  const n1 = await startNode(cfg, 'n1', { init: true });
  try {
    const a = n1.send('n2', 7, { key: 'order-7' });
    const b = n1.send({ type: 'send', to: 'n2', payload: 8 }); // the command form
    assert.match(a.id, /^n2\/\d+$/);
    assert.equal(a.to, 'n2');
    assert.equal(a.key, 'order-7');
    assert.equal(b.seq, a.seq + 1, 'ids are the link sequence numbers');
    const order: string[] = [];
    await Promise.all([
      a.accepted.then(() => order.push('a accepted')),
      a.delivered.then(() => order.push('a delivered')),
      b.delivered.then(() => order.push('b delivered')),
    ]);
    assert.ok(order.indexOf('a accepted') < order.indexOf('a delivered'), order.join(', '));
    assert.deepEqual(n1.pending(), [], 'nothing held once delivered');
    // Read after the fact: both resolve at once.
    await b.accepted;
    await a.delivered;
    const state = (n2.driver.protocol as unknown as { state: CounterState }).state;
    assert.deepEqual(state, { n: 2, sum: 15 }, 'the receiver applied both, once');
    // At-most-once is neither buffered nor acknowledged.
    const amo = n1.send('n2', 9, { guarantee: 'at-most-once' });
    await assert.rejects(amo.accepted, { code: 'bad-argument' });
    await assert.rejects(amo.delivered, { code: 'bad-argument' });
    assert.throws(() => n1.send('n2', 1, { key: 3 as unknown as string }), {
      code: 'bad-argument',
    });
  } finally {
    await n1.close();
    await n2.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pending: a restarted sender lists what is not yet acknowledged, by id and key; delivered follows', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-acks-pending-'));
  const cfg = await config(dir);
  // The receiver is new but not up yet: nothing can be acknowledged.
  const n2first = await startNode(cfg, 'n2', { init: true });
  await n2first.close();
  let n1 = await startNode(cfg, 'n1', { init: true });
  const sent = [0, 1, 2].map((i) => n1.send('n2', i, { key: `k${i}` }));
  await Promise.all(sent.map((m) => m.accepted));
  const waiting = sent[0]?.delivered;
  assert.deepEqual(
    n1.pending().map((p) => [p.id, p.key, p.payload]),
    sent.map((m, i) => [m.id, `k${i}`, i]),
  );
  await n1.close();
  await assert.rejects(
    waiting ?? Promise.resolve(),
    { code: 'not-running' },
    'close rejects waiters',
  );
  n1 = await startNode(cfg, 'n1'); // recovers its send buffer
  let n2: Awaited<ReturnType<typeof startNode>> | undefined;
  try {
    const pending = n1.pending();
    assert.deepEqual(
      pending.map((p) => [p.id, p.key]),
      sent.map((m, i) => [m.id, `k${i}`]),
      'the same ids and keys after the restart',
    );
    n2 = await startNode(cfg, 'n2');
    await Promise.all(pending.map((p) => p.delivered));
    assert.deepEqual(n1.pending(), []);
    const state = (n2.driver.protocol as unknown as { state: CounterState }).state;
    assert.deepEqual(state, { n: 3, sum: 3 });
  } finally {
    await n1.close();
    await n2?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('JSON Lines: "ack": true prints sent, accepted and delivered with the id; a command ref keeps its own accepted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-acks-jsonl-'));
  const configPath = await writeTwoNodeConfig(dir, {
    stack: { guarantee: 'exactly-once', effect: 'counter' },
  });
  const lines: Record<string, unknown>[] = [];
  const n1 = new NodeProcess({ id: 'n1', configPath, onLine: (o) => lines.push(o) });
  const n2 = new NodeProcess({ id: 'n2', configPath });
  try {
    await n2.start();
    await n1.start();
    const delivered = n1.next((o) => o.type === 'delivered' && o.key === 'b');
    n1.send({ type: 'send', to: 'n2', payload: 1, key: 'a', ack: true });
    n1.send({ type: 'send', to: 'n2', payload: 2 }); // no ack: no line
    n1.send({
      type: 'command',
      ref: 7,
      cmd: { type: 'send', to: 'n2', payload: 3, key: 'b', ack: true },
    });
    await delivered;
    const pending = n1.next((o) => o.type === 'pending');
    n1.send({ type: 'pending', payloads: true });
    assert.deepEqual((await pending).sends, []);
    const acks = lines.filter(
      (o) => ['sent', 'accepted', 'delivered'].includes(String(o.type)) && o.ref === undefined,
    );
    const of = (key: string) => acks.filter((o) => o.key === key).map((o) => o.type);
    assert.deepEqual(of('a'), ['sent', 'accepted', 'delivered']);
    assert.deepEqual(of('b'), ['sent', 'accepted', 'delivered']);
    const [a, b] = [acks[0]?.id, acks.find((o) => o.key === 'b')?.id];
    assert.match(String(a), /^n2\/\d+$/);
    assert.equal(
      Number(String(b).split('/')[1]),
      Number(String(a).split('/')[1]) + 2,
      'ids are seqs',
    );
    assert.ok(
      acks.every((o) => typeof o.id === 'string'),
      'the new lines carry id',
    );
    const refs = lines.filter((o) => o.ref !== undefined);
    assert.deepEqual(refs, [{ type: 'accepted', ref: 7 }], "the supervisor's reply, unchanged");
    assert.equal(lines.filter((o) => o.type === 'error').length, 0);
  } finally {
    await n1.stop();
    await n2.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
