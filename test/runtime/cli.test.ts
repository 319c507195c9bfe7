// The runtime CLI: `steadfast cluster` end to end (real processes, kill -9 and SIGSTOP, verdicts
// from the checkers) and `steadfast node`'s config errors, which name the field.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { registerRuntimeCommands } from '../../src/cli/runtime-commands.ts';

function exitCode(): number {
  const c: unknown = process.exitCode;
  return typeof c === 'number' ? c : 0;
}

async function run(args: string[]): Promise<{ out: string; err: string; code: number }> {
  let out = '';
  let err = '';
  const program = new Command().exitOverride().configureOutput({
    writeOut: (s) => (out += s),
    writeErr: (s) => (err += s),
  });
  registerRuntimeCommands(
    program,
    (s) => (out += s),
    (s) => (err += s),
  );
  const before = process.exitCode;
  process.exitCode = 0;
  let code: number;
  try {
    await program.parseAsync(['node', 'steadfast', ...args]);
    code = exitCode();
  } catch {
    code = 2;
  } finally {
    process.exitCode = before;
  }
  return { out, err, code };
}

test('steadfast cluster: 3 processes, exactly-once over UDP, kill -9 and SIGSTOP, all verdicts hold', async () => {
  const r = await run([
    'cluster',
    '--nodes',
    '3',
    '--messages',
    '15',
    '--kills',
    '1',
    '--pauses',
    '1',
  ]);
  console.log(r.out);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /kill -9 n\d/);
  assert.match(r.out, /SIGSTOP n\d/);
  assert.match(r.out, /✓ reliable-delivery/);
  assert.match(r.out, /✓ no-duplication/);
  assert.match(r.out, /✓ no-creation/);
  assert.match(r.out, /verdict: safe, live/);
});

test('steadfast cluster: at-least-once over TCP', async () => {
  const r = await run([
    'cluster',
    '--nodes',
    '3',
    '--transport',
    'tcp',
    '--guarantee',
    'at-least-once',
    '--messages',
    '10',
    '--kills',
    '1',
    '--pauses',
    '0',
  ]);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /verdict: safe, live/);
});

test('steadfast node: a bad config names the field; an unknown id is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-cli-'));
  try {
    const cfg = join(dir, 'c.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        nodes: { n1: { host: '127.0.0.1', port: 'x' } },
        dataDir: 'd',
        transport: 'sctp',
      }),
    );
    const main = fileURLToPath(new URL('../../src/runtime/node-main.ts', import.meta.url));
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', main, '--id', 'n1', '--config', cfg],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 2);
    assert.match(r.stderr, /nodes\.n1\.port: /);
    assert.match(r.stderr, /transport: /);
    writeFileSync(
      cfg,
      JSON.stringify({ nodes: { n1: { host: '127.0.0.1', port: 7001 } }, dataDir: 'd' }),
    );
    const r2 = spawnSync(
      process.execPath,
      ['--import', 'tsx', main, '--id', 'n9', '--config', cfg],
      { encoding: 'utf8' },
    );
    assert.equal(r2.status, 2);
    assert.match(r2.stderr, /--id n9 is not in the config's nodes \(n1\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
