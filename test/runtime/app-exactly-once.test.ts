// The in-process API of exactly-once to the application (issue 19, item 3): an application's own
// effect (checked, read back after a restart, refused on a registry stack) and the durable inbox
// (ids, ack, the inboxMax bound: a full inbox holds the sender back, loses nothing).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SteadfastError } from '../../src/core/errors.ts';
import type { ChannelDeliver } from '../../src/protocols/delivery/guarantees.ts';
import { parseConfig, type ClusterConfig } from '../../src/runtime/config.ts';
import type { AppEffect } from '../../src/runtime/effects.ts';
import { startNode } from '../../src/runtime/node.ts';
import { freeUdpPort } from '../../src/runtime/ports.ts';

async function config(dir: string, stack: unknown = { guarantee: 'exactly-once' }) {
  return parseConfig(
    {
      nodes: {
        n1: { host: '127.0.0.1', port: await freeUdpPort() },
        n2: { host: '127.0.0.1', port: await freeUdpPort() },
      },
      transport: 'udp',
      stack,
      dataDir: './data',
    },
    dir,
  );
}

const until = async (cond: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** Sums the payloads' `n` per sender; returns a Map (not plain data) once `badAfter` is passed. */
const sums = (badAfter = Infinity): AppEffect<Record<string, number>> => ({
  init: {},
  apply(state, from, payload) {
    const next = { ...state, [from]: (state[from] ?? 0) + (payload as { n: number }).n };
    return (next[from] ?? 0) > badAfter ? (new Map() as unknown as typeof next) : next;
  },
});

test('effect: an application reducer is applied once per message, read with state(), back after a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-app-effect-'));
  try {
    const cfg = await config(dir);
    let n2 = await startNode(cfg, 'n2', { init: true, effect: sums() });
    const n1 = await startNode(cfg, 'n1', { init: true });
    assert.deepEqual(n2.state(), {});
    const sent = [1, 2, 3, 4].map((n) => n1.send('n2', { n }));
    await Promise.all(sent.map((m) => m.delivered));
    assert.deepEqual(n2.state(), { n1: 10 });
    await n2.close();
    n2 = await startNode(cfg, 'n2', { effect: sums() });
    assert.deepEqual(n2.state(), { n1: 10 }, 'read back from SQLite');
    await n1.close();
    await n2.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('effect: a state that is not plain data is a clear error (init at once; a returned one stops the node before anything of that message is persisted)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-app-effect-bad-'));
  try {
    const cfg = await config(dir);
    await assert.rejects(
      startNode(cfg, 'n2', { init: true, effect: { init: new Set(), apply: (s) => s } }),
      (e: unknown) =>
        e instanceof SteadfastError &&
        e.code === 'bad-argument' &&
        /effect\.init must be plain data, to be persisted: it is not a plain object \(Set\)/.test(
          e.message,
        ),
    );
    await assert.rejects(
      startNode(cfg, 'n2', { init: true, effect: { init: 0 } as unknown as AppEffect }),
      /needs \{ init, apply/,
    );
    let fatal: unknown;
    const n2 = await startNode(cfg, 'n2', {
      init: true,
      effect: sums(3),
      onFatal: (e) => (fatal = e),
    });
    const n1 = await startNode(cfg, 'n1', { init: true });
    await n1.send('n2', { n: 1 }).delivered;
    n1.send('n2', { n: 5 }); // its state would be a Map
    await until(() => fatal !== undefined);
    assert.ok(fatal instanceof SteadfastError && fatal.code === 'bad-argument');
    assert.match(
      fatal.message,
      /effect\.apply's state after a message from n1 must be plain data, to be persisted: it is not a plain object \(Map\)/,
    );
    await n2.close();
    // Restarted with a correct reducer: the first message is there once, the second was never
    // applied (nor acked), and is applied now from n1's retransmission.
    const again = await startNode(cfg, 'n2', { effect: sums() });
    await until(() => (again.state() as Record<string, number>).n1 === 6);
    await n1.close();
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('effect and inboxMax are the channel’s: a registry stack refuses them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-app-registry-'));
  try {
    const cfg: ClusterConfig = await config(dir, { protocol: 'eager-rb' });
    await assert.rejects(startNode(cfg, 'n1', { init: true, effect: sums() }), {
      code: 'bad-argument',
    });
    await assert.rejects(startNode(cfg, 'n1', { init: true, inboxMax: 5 }), {
      code: 'bad-argument',
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('inbox: ids, ack, and the bound: a full inbox holds the sender back, loses nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-app-inbox-'));
  try {
    const cfg = await config(dir);
    const got: ChannelDeliver[] = [];
    const n2 = await startNode(cfg, 'n2', {
      init: true,
      inboxMax: 5,
      onDeliver: (d) => got.push(d as ChannelDeliver),
    });
    const n1 = await startNode(cfg, 'n1', { init: true });
    const sent = Array.from({ length: 12 }, (_, i) => n1.send('n2', { i }));
    await until(() => got.length === 5);
    await new Promise((r) => setTimeout(r, 300)); // retransmissions meet the full inbox
    assert.equal(n2.inbox().length, 5, 'at most inboxMax held');
    assert.equal(got.length, 5, 'nothing delivered past the bound');
    const proto = n2.driver.stats().protocol;
    assert.ok((proto.inboxFullDropped ?? 0) > 0, 'arrivals beyond it were dropped unacked');
    assert.ok(got.every((d) => d.inbox === true && d.id === `n1/${d.seq}`));
    assert.deepEqual(
      n2.inbox().map((m) => m.id),
      got.map((d) => d.id),
    );
    assert.throws(() => n2.ack('n1'), { code: 'bad-argument' });
    assert.throws(() => n2.ack('n9/1'), { code: 'bad-argument' });
    assert.throws(() => n1.ack('n2/1'), /has no inbox/);
    // The application acks as it goes: everything arrives, each once.
    const seen = new Set<string>();
    for (let k = 0; seen.size < 12; k++) {
      if (k > 1000) throw new Error(`stuck at ${seen.size}`);
      for (const d of got.splice(0)) {
        assert.ok(!seen.has(d.id ?? ''), 'no delivery twice');
        seen.add(d.id ?? '');
        assert.equal(n2.ack(d.id ?? ''), true);
        assert.equal(n2.ack(d.id ?? ''), false, 'a second ack is a no-op');
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    await Promise.all(sent.map((m) => m.delivered));
    assert.equal(n2.inbox().length, 0);
    await n1.close();
    await n2.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
