/** The `steadfast` command end to end: real processes, real exit codes, real files. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const bin = new URL('../bin/steadfast.mjs', import.meta.url).pathname;

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('bad flags: one line naming the flag and what it accepts, exit code 2, no stack trace', () => {
  const cases: [string[], RegExp][] = [
    [['sim', '--protocol', 'nope'], /--protocol.*Allowed choices are/],
    [['sim', '--protocol', 'exactly-once', '--loss', '2'], /--loss must be a number in \[0, 1\]/],
    [['sim', '--protocol', 'exactly-once', '--delay', 'fast'], /--delay must be "MS"/],
    [['sim', '--protocol', 'exactly-once', '--crash', 'n9@100'], /--crash: no node "n9"/],
    [['sim', '--protocol', 'exactly-once', '--crash', 'n2'], /--crash must be NODE@MS/],
    [['matrix', '--faults', 'gremlins'], /--faults: unknown "gremlins"; accepted: none, crash/],
    [['matrix', '--seeds', '0'], /--seeds must be an integer in 1\.\./],
    [['explore'], /required option '--protocol <name>'/],
    [['frobnicate'], /unknown command 'frobnicate'/],
  ];
  for (const [args, pattern] of cases) {
    const r = run(...args);
    assert.equal(r.code, 2, `${args.join(' ')} → ${String(r.code)}: ${r.err}`);
    assert.match(r.err, pattern, args.join(' '));
    assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
    assert.ok(r.err.trim().split('\n').length <= 2, `one line: ${r.err}`);
  }
});

test('sim prints the verdicts, exits 1 on a violation, and its trace replays identically', () => {
  const dir = mkdtempSync(join(tmpdir(), 'steadfast-cli-'));
  const trace = join(dir, 'alo.jsonl');
  const r = run(
    'sim',
    '--protocol',
    'at-least-once',
    '--faults',
    'omission',
    '--seed',
    '2',
    '--trace',
    trace,
  );
  assert.equal(r.code, 1, r.err);
  assert.match(r.out, /VIOLATED no-duplication/);
  assert.match(r.out, /holds\s+reliable-delivery/);
  const replay = run('replay', trace);
  assert.match(replay.out, /identical to the recording/);
  assert.equal(replay.code, 1);
  const ok = run(
    'sim',
    '--protocol',
    'exactly-once',
    '--faults',
    'omission',
    '--seed',
    '2',
    '--json',
  );
  assert.equal(ok.code, 0);
  const j = JSON.parse(ok.out) as { schema: string; safe: boolean; live: boolean };
  assert.deepEqual([j.schema, j.safe, j.live], ['steadfast.sim/1', true, true]);
});

test('explore finds, shrinks and writes a counterexample that replays', () => {
  const dir = mkdtempSync(join(tmpdir(), 'steadfast-explore-'));
  const r = run(
    'explore',
    '--protocol',
    'at-most-once',
    '--faults',
    'omission',
    '--seeds',
    '20',
    '--workers',
    '2',
    '--out',
    dir,
  );
  assert.equal(r.code, 1, r.err);
  assert.match(r.out, /first counterexample: seed \d+: reliable-delivery/);
  assert.match(r.out, /shrunk in \d+ runs: size (\d+) → (\d+)/);
  const files = readdirSync(dir);
  assert.equal(files.length, 1);
  const header = JSON.parse(
    readFileSync(join(dir, files[0] ?? ''), 'utf8').split('\n')[0] ?? '{}',
  ) as { type: string };
  assert.equal(header.type, 'run');
  assert.match(run('replay', join(dir, files[0] ?? '')).out, /identical to the recording/);
});

test('matrix --json follows the documented schema', () => {
  const r = run(
    'matrix',
    '--protocols',
    'exactly-once,at-most-once',
    '--faults',
    'none,omission',
    '--seeds',
    '3',
    '--json',
    '--no-shrink',
  );
  assert.equal(r.code, 0, r.err);
  const m = JSON.parse(r.out) as {
    schema: string;
    cells: { protocol: string; faults: string; form: string; runs: number }[];
  };
  assert.equal(m.schema, 'steadfast.matrix/1');
  assert.equal(m.cells.length, 4);
  for (const c of m.cells) assert.equal(c.runs, 3);
  assert.equal(
    m.cells.find((c) => c.protocol === 'at-most-once' && c.faults === 'omission')?.form,
    'fail-safe',
  );
});
