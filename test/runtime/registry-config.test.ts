// The config's `stack` names any protocol of the matrix registry ({ protocol, options }) or the
// channel ({ guarantee, effect }); a bad name, option or mix is an error naming the field and
// the accepted values, and `steadfast node` exits 2 with it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { protocols } from '../../src/matrix/registry.ts';
import { parseConfig } from '../../src/runtime/config.ts';
import { realRunSpec, registryStack } from '../../src/runtime/registry-stack.ts';

const base = { nodes: { n1: { host: '127.0.0.1', port: 7001 } }, dataDir: 'd' };
const stackOf = (stack: unknown) => parseConfig({ ...base, stack }).stack;

test('config: eager-rb, bracha and kv-raft parse; the channel form and its default still do', () => {
  const none = { options: {}, byzantine: [] };
  assert.deepEqual(stackOf({ protocol: 'eager-rb' }), { protocol: 'eager-rb', ...none });
  assert.deepEqual(stackOf({ protocol: 'bracha' }), { protocol: 'bracha', ...none });
  assert.deepEqual(stackOf({ protocol: 'kv-raft', options: {} }), { protocol: 'kv-raft', ...none });
  // Nodes that run the registry's adversary: named, and only nodes of the config.
  assert.deepEqual(stackOf({ protocol: 'bracha', byzantine: ['n1'] }), {
    protocol: 'bracha',
    options: {},
    byzantine: ['n1'],
  });
  assert.throws(
    () => stackOf({ protocol: 'bracha', byzantine: ['n7'] }),
    /stack\.byzantine: n7 not among the nodes \(n1\)/,
  );
  assert.deepEqual(stackOf(undefined), { guarantee: 'exactly-once', effect: 'none' });
  assert.deepEqual(parseConfig(base).stack, { guarantee: 'exactly-once', effect: 'none' });
  assert.deepEqual(stackOf({ guarantee: 'at-least-once', effect: 'counter' }), {
    guarantee: 'at-least-once',
    effect: 'counter',
  });
  // Every registry protocol parses and builds the registry's own stack.
  for (const e of protocols()) {
    assert.deepEqual(stackOf({ protocol: e.name }), { protocol: e.name, ...none });
    const run = { protocol: e.name, nodes: 4, checksum: true, auth: false };
    assert.equal(registryStack(run).name, e.stack(realRunSpec(run)).name);
  }
});

test('config: a bad protocol, option or mix of forms names the field and the accepted values', () => {
  const names = protocols().map((e) => e.name);
  assert.throws(
    () => stackOf({ protocol: 'kv-paxos' }),
    new RegExp(
      `^ConfigError: stack\\.protocol: unknown protocol "kv-paxos"; accepted: ${names.join(', ')}$`,
    ),
  );
  assert.throws(
    () => stackOf({ protocol: 'kv-raft', options: { electionMs: 300 } }),
    /^ConfigError: stack\.options: kv-raft does not take "electionMs"; accepted: none \(its registry entry builds the stack from the config/,
  );
  assert.throws(
    () => stackOf({ protocol: 'eager-rb', guarantee: 'exactly-once' }),
    /^ConfigError: stack: Unrecognized key: "guarantee": a registry protocol is \{ "protocol"/,
  );
  assert.throws(() => stackOf({ protocol: 7 }), /^ConfigError: stack\.protocol: .*expected string/);
  assert.throws(
    () => stackOf('kv-raft'),
    /^ConfigError: stack: must be an object: .*\{ "protocol": "<name>" \} \(fair-loss, /,
  );
  assert.throws(
    () => stackOf({ effect: 'counter', protocl: 'eager-rb' }),
    /^ConfigError: stack: Unrecognized key: "protocl": the channel form takes guarantee and effect; a registry protocol is/,
  );
  assert.throws(
    () => parseConfig({ ...base, stack: { protocol: 'kv-raft' }, reliable: { sendWindowMax: 8 } }),
    /^ConfigError: reliable: tunes the channel's link only; registry protocol kv-raft/,
  );
});

test('steadfast node: a bad stack is exit 2 with the field and the accepted values', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-registry-config-'));
  try {
    const cfg = join(dir, 'c.json');
    writeFileSync(cfg, JSON.stringify({ ...base, stack: { protocol: 'raft' } }));
    const main = fileURLToPath(new URL('../../src/runtime/node-main.ts', import.meta.url));
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', main, '--id', 'n1', '--config', cfg],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /stack\.protocol: unknown protocol "raft"; accepted: .*kv-raft/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
