// Registry protocols on the runtime's one node path: an in-process cluster of real nodes over
// UDP on loopback runs a matrix registry protocol's stack (the very StackSpec the simulator
// runs), its merged durable traces judged by the registry's own specification.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createRng } from '../../src/core/rng.ts';
import type { TraceEvent } from '../../src/core/trace.ts';
import { findProtocol } from '../../src/matrix/registry.ts';
import { parseConfig } from '../../src/runtime/config.ts';
import { mergeTraces, parseTraceLines } from '../../src/runtime/merge.ts';
import { startNode, type NodeHandle } from '../../src/runtime/node.ts';
import { freeUdpPort } from '../../src/runtime/ports.ts';
import { Storage } from '../../src/runtime/storage.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('eager-rb: 3 in-process nodes over real UDP deliver every broadcast; the registry check passes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-registry-node-'));
  const ids = ['n1', 'n2', 'n3'];
  const nodes: Record<string, { host: string; port: number }> = {};
  for (const id of ids) nodes[id] = { host: '127.0.0.1', port: await freeUdpPort() };
  const cfg = parseConfig(
    { nodes, transport: 'udp', stack: { protocol: 'eager-rb' }, dataDir: './data', trace: true },
    dir,
  );
  const entry = findProtocol('eager-rb');
  const delivered = new Map<string, unknown[]>(ids.map((id) => [id, []]));
  const handles: NodeHandle[] = [];
  try {
    for (const id of ids) {
      handles.push(
        await startNode(cfg, id, {
          init: true,
          onDeliver: (d) => delivered.get(id)?.push(d),
          seed: 7,
        }),
      );
    }
    // The registry's own workload: each node broadcasts 5 messages, issued at their times.
    const plan = entry.workload(ids, 5, 300, createRng(1), { faultPhaseMs: 500, runMs: 1000 });
    const t0 = Date.now();
    for (const c of plan) {
      const wait = c.at - (Date.now() - t0);
      if (wait > 0) await sleep(wait);
      handles[ids.indexOf(c.node)]?.command(c.cmd);
    }
    const want = plan.length; // every node delivers every broadcast
    const end = Date.now() + 10_000;
    while ([...delivered.values()].some((d) => d.length < want) && Date.now() < end)
      await sleep(20);
    assert.deepEqual(
      ids.map((id) => delivered.get(id)?.length),
      ids.map(() => want),
    );
  } finally {
    await Promise.all(handles.map((h) => h.close()));
  }
  try {
    const traces = ids.map((id) => {
      const st = new Storage({ path: join(dir, 'data', id, 'state.db') });
      try {
        return parseTraceLines(st.traceLines());
      } finally {
        st.close();
      }
    });
    const trace: TraceEvent[] = mergeTraces(traces);
    const verdicts = entry.check(trace, { nodes: ids, correct: 'up-at-end', byzantine: [] });
    assert.ok(verdicts.length >= 4, JSON.stringify(verdicts));
    for (const v of verdicts) assert.ok(v.holds, `${v.property}: ${JSON.stringify(v.violation)}`);
    assert.ok(
      verdicts.every((v) => v.checked > 0),
      JSON.stringify(verdicts),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
