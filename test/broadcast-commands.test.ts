/**
 * Every broadcast of the registry refuses, before any output, a command that is not a broadcast
 * (local misuse, e.g. a store's command sent to a broadcast node on the runtime), and takes one
 * that is.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SteadfastError } from '../src/core/errors.ts';
import { nodeIds } from '../src/core/ids.ts';
import { createRng } from '../src/core/rng.ts';
import { instant } from '../src/core/time.ts';
import { protocols } from '../src/matrix/registry.ts';
import { materialize } from '../src/matrix/spec.ts';

test('every broadcast row refuses a non-broadcast command with unknown-command, and takes a broadcast', () => {
  const rows = protocols().filter((p) => p.kind === 'broadcast');
  assert.ok(rows.length >= 13, `only ${rows.length} broadcast rows`);
  for (const entry of rows) {
    const node = () => {
      const p = entry
        .stack(materialize(entry.name, 'none', 5, 1))
        .create({ id: 'n1', nodes: nodeIds(5), rng: createRng(1) });
      p.handleStart(instant(0), new Map());
      while (p.pollOutput() !== undefined);
      return p;
    };
    const p = node();
    for (const bad of [
      { type: 'kv', client: 'c', serial: 1, op: { f: 'get', key: 'x' } },
      { type: 'broadcast' },
      'hello',
      null,
    ]) {
      assert.throws(
        () => {
          p.handleCommand(instant(1), bad);
        },
        (e: unknown) => e instanceof SteadfastError && e.code === 'unknown-command',
        `${entry.name} took ${JSON.stringify(bad)}`,
      );
      assert.equal(p.pollOutput(), undefined, `${entry.name}: an output after a refused command`);
    }
    const ok = node();
    ok.handleCommand(instant(1), { type: 'broadcast', payload: 'm1' });
    assert.notEqual(ok.pollOutput(), undefined, `${entry.name} did nothing with a broadcast`);
  }
});
