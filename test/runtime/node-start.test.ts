// A node that cannot start (its port is taken) reports why and exits at once: its commit thread
// and socket are released, nothing keeps the process waiting for a ready line that never comes.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PAYLOAD_MAX_DEPTH } from '../../src/core/payload.ts';
import { parseConfig } from '../../src/runtime/config.ts';
import { startNode } from '../../src/runtime/node.ts';
import { NodeProcess } from '../../src/runtime/process.ts';
import { freeUdpPort } from '../../src/runtime/ports.ts';
import { writeTwoNodeConfig } from './two-nodes.ts';

test('node: a taken port is reported and the process exits, well before the ready timeout', async () => {
  const port = await freeUdpPort();
  const other = await freeUdpPort();
  const squatter = createSocket('udp4');
  await new Promise<void>((r) => {
    squatter.bind(port, '127.0.0.1', () => {
      r();
    });
  });
  const dir = mkdtempSync(join(tmpdir(), 'sf-node-start-'));
  try {
    const configPath = join(dir, 'cluster.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        nodes: { n1: { host: '127.0.0.1', port }, n2: { host: '127.0.0.1', port: other } },
        transport: 'udp',
        stack: { guarantee: 'exactly-once' },
        dataDir: './data',
      }),
    );
    const t0 = Date.now();
    const p = new NodeProcess({ id: 'n1', configPath, readyTimeoutMs: 20_000 });
    await assert.rejects(p.start(), /exited \(code 1\) before ready[\s\S]*EADDRINUSE/);
    assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
  } finally {
    squatter.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('node: send says what is wrong with a payload before it is queued', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-node-send-'));
  const cfg = parseConfig(
    {
      nodes: {
        n1: { host: '127.0.0.1', port: await freeUdpPort() },
        n2: { host: '127.0.0.1', port: await freeUdpPort() },
      },
      transport: 'udp',
      stack: { guarantee: 'exactly-once' },
      dataDir: './data',
    },
    dir,
  );
  const node = await startNode(cfg, 'n1', { init: true });
  try {
    const send = (payload: unknown) => {
      node.send({ type: 'send', to: 'n2', payload });
    };
    assert.throws(() => {
      send({ when: new Date(0) });
    }, /not plain data: payload\.when is not a plain object \(Date\)/);
    // The payload travels one level down, inside the message: 63 levels fit, 64 do not.
    const nest = (levels: number): unknown => {
      let v: unknown = 0;
      for (let i = 0; i < levels; i++) v = [v];
      return v;
    };
    send(nest(PAYLOAD_MAX_DEPTH - 1));
    assert.throws(() => {
      send(nest(PAYLOAD_MAX_DEPTH));
    }, /payload(\[0\])+ is nested deeper than 64/);
    assert.throws(() => {
      send(new Uint8Array(2000));
    }, /payload of 2003 bytes: at most 1040 fit one udp frame/);
    assert.throws(() => {
      node.command({ type: 'broadcast', payload: 1 });
    }, /unknown command type "broadcast": the channel takes "send"/);
    const stats = node.driver.protocol?.stats();
    assert.equal(stats?.waiting, 0, 'only the valid send was queued');
    assert.equal(stats.inFlight, 1);
  } finally {
    await node.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('node: missing data is refused without --init (exit 2, nothing created); --init on existing data is refused; a restart recovers', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-node-init-'));
  try {
    const configPath = await writeTwoNodeConfig(dir);
    const statePath = join(dir, 'data', 'n1', 'state.db');
    // Not new, no data: refused with the fix, and no state file appears.
    const old = new NodeProcess({ id: 'n1', configPath, init: false, readyTimeoutMs: 20_000 });
    await assert.rejects(
      old.start(),
      /exited \(code 2\) before ready[\s\S]*has no state at[\s\S]*--init/,
    );
    assert.equal(existsSync(statePath), false);
    // New: created; killed and restarted (no --init the second time): recovers incarnation 1.
    const p = new NodeProcess({ id: 'n1', configPath, readyTimeoutMs: 20_000 });
    const first = await p.start();
    assert.equal(first.incarnation, 0);
    await p.kill9();
    const again = await p.start();
    assert.equal(again.incarnation, 1);
    await p.stop();
    // --init on a node that has state: refused, the state untouched.
    const twice = new NodeProcess({ id: 'n1', configPath, readyTimeoutMs: 20_000 });
    await assert.rejects(twice.start(), /exited \(code 2\) before ready[\s\S]*already has state/);
    assert.equal(existsSync(statePath), true);
    // In process: the same rule.
    const cfg = parseConfig(JSON.parse(readFileSync(configPath, 'utf8')) as unknown, dir);
    await assert.rejects(startNode(cfg, 'n1', { init: true }), /already has state/);
    await assert.rejects(startNode(cfg, 'n2'), /has no state/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
