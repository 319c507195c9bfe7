// A node that cannot start (its port is taken) reports why and exits at once: its commit thread
// and socket are released, nothing keeps the process waiting for a ready line that never comes.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { NodeProcess } from '../../src/runtime/process.ts';
import { freeUdpPort } from '../../src/runtime/ports.ts';

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
