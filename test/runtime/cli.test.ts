// The runtime CLI: `steadfast cluster` end to end (real processes, kill -9 and SIGSTOP, verdicts
// from the checkers) and `steadfast node`'s config errors, which name the field.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from './run-cli.ts';
import { spawnNodeMain, writeTwoNodeConfig } from './two-nodes.ts';

test('steadfast cluster: 3 processes, exactly-once over UDP, kill -9 and SIGSTOP, all verdicts hold', async () => {
  const r = await runCli([
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
  assert.match(r.out, /✓ accounted \(safety, 90 checked\)/);
  // 15 messages × 6 ordered pairs, each with one fate.
  const ops =
    /operations: planned (\d+) · issued (\d+) · refused (\d+) \(node down\) · in doubt (\d+)(?: \(\d+ unanswered\))? · done (\d+) · not done (\d+)/.exec(
      r.out,
    );
  assert.ok(ops !== null, r.out);
  const [planned, issued, refused, inDoubt, done, notDone] = ops.slice(1).map(Number);
  assert.equal(planned, 90);
  assert.equal(planned, (issued ?? 0) + (refused ?? 0));
  assert.equal(issued, (inDoubt ?? 0) + (done ?? 0) + (notDone ?? 0));
  assert.match(r.out, /verdict: safe, live/);
});

test('steadfast cluster --protocol bracha: the registry workload on 4 processes, its specification and the accounting', async () => {
  const r = await runCli([
    'cluster',
    '--nodes',
    '4',
    '--protocol',
    'bracha',
    '--messages',
    '3',
    '--kills',
    '0',
    '--pauses',
    '1',
    '--fault-ms',
    '1000',
    '--liveness-ms',
    '1000',
    '--seed',
    '4',
  ]);
  console.log(r.out);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /4 processes over udp( \(a network namespace each\))?, bracha, seed 4, /);
  assert.match(r.out, /SIGSTOP n\d/);
  assert.match(
    r.out,
    /operations: planned 12 · issued 12 · refused 0 \(node down\) · in doubt 0 · done 12 · not done 0/,
  );
  for (const p of [
    'validity',
    'no-duplication',
    'no-creation',
    'brb-consistency',
    'brb-totality',
    'accounted',
  ]) {
    assert.match(r.out, new RegExp(`✓ ${p} `));
  }
  assert.match(r.out, /verdict: safe, live/);
});

test('steadfast cluster --protocol: an unknown name lists the registry; it excludes --guarantee', async () => {
  const bad = await runCli(['cluster', '--protocol', 'raft']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /'raft' is invalid\. Allowed choices are .*eager-rb.*bracha.*kv-raft/);
  const both = await runCli(['cluster', '--protocol', 'kv-raft', '--guarantee', 'at-least-once']);
  assert.equal(both.code, 2);
  assert.match(both.err, /'--protocol <name>' cannot be used with option '--guarantee <g>'/);
});

test('steadfast cluster: at-least-once over TCP', async () => {
  const r = await runCli([
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

test('steadfast cluster --dir on a path that cannot be created fails at once, naming --dir, exit 2', () => {
  const bin = fileURLToPath(new URL('../../bin/steadfast.mjs', import.meta.url));
  const t0 = Date.now();
  // mkdir -p on /proc/nope used to spin at 100% CPU forever (Node's recursive mkdir retries ENOENT).
  const r = spawnSync(process.execPath, [bin, 'cluster', '--dir', '/proc/nope', '--nodes', '2'], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(r.status, 2, `status ${String(r.status)} after ${Date.now() - t0} ms: ${r.stderr}`);
  assert.match(r.stderr, /--dir \/proc\/nope/);
  assert.ok(r.stderr.trim().split('\n').length === 1, r.stderr);
});

test('steadfast node: at stdin EOF it says so on stderr and keeps serving until SIGTERM', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-node-eof-'));
  try {
    const cfg = await writeTwoNodeConfig(dir, {}, 'c.json');
    const {
      child,
      out: stdout,
      err: stderr,
      exited,
    } = spawnNodeMain(t, [...['--id', 'n1', '--config', cfg, '--init']]);
    const until = async (cond: () => boolean, ms: number) => {
      const end = Date.now() + ms;
      while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    };
    await until(() => stdout().includes('"type":"ready"'), 20_000);
    assert.match(stdout(), /"type":"ready"/, stderr());
    child.stdin.end();
    await until(() => stderr().includes('stdin'), 5_000);
    assert.match(stderr(), /stdin closed/);
    assert.match(stderr(), /SIGTERM/);
    assert.equal(stderr().trim().split('\n').length, 1, stderr());
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(child.exitCode, null, 'still running: it keeps serving its peers');
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
