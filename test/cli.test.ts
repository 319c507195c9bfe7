/** The `steadfast` command end to end: real processes, real exit codes, real files. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { formatMatrix } from '../src/cli/format.ts';
import type { MatrixResult } from '../src/matrix/matrix.ts';
import { protocols } from '../src/matrix/registry.ts';
import { FAULT_DESCRIPTIONS, FAULT_MODELS } from '../src/matrix/spec.ts';

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

test('--version prints the version of package.json and exits 0', () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  const r = run('--version');
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out.trim(), pkg.version);
});

test('replay: a header without its fields, an unknown protocol and a header-only trace are named, exit 2 / 2 / 4', () => {
  const dir = mkdtempSync(join(tmpdir(), 'steadfast-replay-'));
  const good = join(dir, 'good.jsonl');
  assert.equal(run('sim', '--protocol', 'beb', '--nodes', '3', '--trace', good).code, 0);
  const lines = readFileSync(good, 'utf8').split('\n');
  const header = JSON.parse(lines[0] ?? '{}') as { spec: Record<string, unknown> };

  const lacking = join(dir, 'lacking.jsonl');
  writeFileSync(lacking, JSON.stringify({ type: 'run', spec: { protocol: 'beb' } }) + '\n');
  const r1 = run('replay', lacking);
  assert.equal(r1.code, 2, r1.err);
  assert.match(r1.err, /spec\.faults/);
  assert.doesNotMatch(r1.err, /Cannot read properties/);

  const unknown = join(dir, 'unknown.jsonl');
  writeFileSync(
    unknown,
    [
      JSON.stringify({ ...header, spec: { ...header.spec, protocol: 'nope' } }),
      ...lines.slice(1),
    ].join('\n'),
  );
  const r2 = run('replay', unknown);
  assert.equal(r2.code, 2, r2.err);
  assert.match(r2.err, /protocol "nope"/);

  const headerOnly = join(dir, 'header-only.jsonl');
  writeFileSync(headerOnly, (lines[0] ?? '') + '\n');
  const r3 = run('replay', headerOnly);
  assert.equal(r3.code, 4, r3.out + r3.err);
  assert.match(r3.out + r3.err, /truncated/);
  assert.doesNotMatch(r3.out + r3.err, /DIFFERS/);
  const cut = join(dir, 'cut.jsonl');
  writeFileSync(cut, lines.slice(0, 10).join('\n') + '\n');
  assert.equal(run('replay', cut).code, 4);
  assert.match(run('replay', '--help').out, /4 .*truncated/);
});

test('an unwritable output path names the flag and the path, says what to do, exit 2, before the run', () => {
  const missing = join(mkdtempSync(join(tmpdir(), 'steadfast-out-')), 'no', 'such', 'dir');
  const cases: [string[], string][] = [
    [['sim', '--protocol', 'beb', '--trace', join(missing, 't.jsonl')], '--trace'],
    [['sim', '--protocol', 'beb', '--html', join(missing, 'r.html')], '--html'],
    [['sim', '--protocol', 'beb', '--shiviz', join(missing, 'r.log')], '--shiviz'],
    [['scenario', 'lost-ack', '--svg', join(missing, 'a.svg')], '--svg'],
    [['scenario', 'lost-ack', '--html', join(missing, 'a.html')], '--html'],
    // A matrix of 10 million runs: it must be refused before it starts.
    [['matrix', '--seeds', '100000', '--out', join(missing, 'm.json')], '--out'],
    [['matrix', '--seeds', '100000', '--html', join(missing, 'm.html')], '--html'],
    [['matrix', '--seeds', '100000', '--traces', '/proc/nope/traces'], '--traces'],
  ];
  for (const [args, flag] of cases) {
    const r = spawnSync(process.execPath, [bin, ...args], {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
      timeout: 30_000,
    });
    assert.equal(r.status, 2, `${args.join(' ')} → ${String(r.status)}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`${flag} `), args.join(' '));
    assert.ok(r.stderr.includes(args[args.length - 1] ?? ''), `names the path: ${r.stderr}`);
    assert.match(r.stderr, /create it|choose another|writable/, r.stderr);
    assert.ok(r.stderr.trim().split('\n').length === 1, `one line: ${r.stderr}`);
  }
});

test('sim with fault flags but no --faults says what it ran under, not "none"', () => {
  const r = run(
    'sim',
    '--protocol',
    'exactly-once',
    '--loss',
    '0.3',
    '--dup',
    '0.1',
    '--seed',
    '1',
  );
  assert.equal(r.code, 0, r.err);
  const first = r.out.split('\n')[0] ?? '';
  assert.doesNotMatch(first, /under none/);
  assert.match(first, /under custom faults: loss 30%, duplication 10%/);
  const over = run('sim', '--protocol', 'exactly-once', '--faults', 'omission', '--delay', '7');
  assert.match(over.out.split('\n')[0] ?? '', /under omission \+ delay 7 ms/);
  assert.match(run('sim', '--protocol', 'exactly-once').out, /under none,/);
});

test('--nodes: one range per kind of run, each --help gives it and the reason', () => {
  const cases: [string[], RegExp][] = [
    [['sim'], /--nodes <n>[\s\S]*2\.\.200[\s\S]*simulat/],
    [['explore'], /--nodes <n>[\s\S]*2\.\.200[\s\S]*simulat/],
    [['demo'], /--nodes <n>[\s\S]*2\.\.200[\s\S]*simulat/],
    [['matrix'], /--nodes <n>[\s\S]*2\.\.50[\s\S]*runs/],
    [['cluster'], /--nodes <n>[\s\S]*2\.\.20[\s\S]*process/],
  ];
  for (const [cmd, pattern] of cases) {
    const help = run(...cmd, '--help');
    assert.equal(help.code, 0);
    assert.match(help.out.replace(/\s+/g, ' '), pattern, cmd.join(' '));
  }
  const r = run('demo', '--nodes', '201');
  assert.equal(r.code, 2);
  assert.match(r.err, /--nodes must be an integer in 2\.\.200/);
});

test('matrix text: runs/safe/live per cell, vacuous cells, explanations, within 120 columns', () => {
  const faults = [...FAULT_MODELS];
  const names = protocols().map((p) => p.name);
  const why = '2 of 5 crashed; Bracha is configured for f = 1 and needs 4 echoes';
  const cells = names.flatMap((protocol) =>
    faults.map((f) => {
      if (protocol === 'bracha' && f === 'crash') {
        return {
          protocol,
          faults: f,
          form: 'fail-safe',
          runs: 20,
          safeRuns: 20,
          liveRuns: 17,
          vacuous: false,
          explanation: why,
          counterexample: { seed: 4, property: 'validity', kind: 'liveness', message: 'lost' },
          example: {
            seed: 4,
            property: 'validity',
            kind: 'liveness',
            message: 'n1#1 never delivered by n2',
            reproduce: 'steadfast sim --protocol bracha --faults crash --nodes 5 --seed 4',
          },
        };
      }
      return {
        protocol,
        faults: f,
        form: 'masking',
        runs: 20,
        safeRuns: 20,
        liveRuns: 20,
        vacuous: f === 'none',
      };
    }),
  );
  const m = {
    schema: 'steadfast.matrix/1',
    nodes: 5,
    seeds: 20,
    seedsPerProtocol: Object.fromEntries(names.map((p) => [p, 20])),
    firstSeed: 1,
    messages: 4,
    protocols: names,
    faults,
    cells,
    runs: 20 * cells.length,
    wallMs: 1000,
  } as unknown as MatrixResult;
  const out = formatMatrix(m, false);
  const lines = out.split('\n');
  const bracha = lines.filter((l) => l.startsWith('bracha '));
  assert.equal(bracha.length, 2, 'a row in the table of forms and one in the table of counts');
  for (const row of lines.filter((l) => names.some((n) => l.startsWith(`${n} `)))) {
    assert.ok(row.length <= 120, `${row.length} columns: ${row}`);
  }
  assert.match(bracha[0] ?? '', /^bracha\s+vacuous\s+fail-safe\s+masking/);
  assert.match(bracha[1] ?? '', /^bracha\s+20\/20\/20\s+20\/20\/17\s+20\/20\/20/);
  assert.match(out, /vacuous = .*no fault/);
  const at = lines.findIndex((l) => l.includes('bracha × crash: fail-safe: validity'));
  assert.ok(at > 0);
  assert.equal(lines[at + 1], `      why: ${why}`);
});

test('matrix, sim and explore --help list every fault model with its exact parameters', () => {
  for (const cmd of ['matrix', 'sim', 'explore']) {
    const r = run(cmd, '--help');
    assert.equal(r.code, 0);
    const flat = r.out.replace(/\s+/g, ' ');
    for (const f of FAULT_MODELS) {
      assert.ok(
        flat.includes(`${f} ${FAULT_DESCRIPTIONS[f]}`),
        `${cmd} --help lacks ${f}: ${FAULT_DESCRIPTIONS[f]}`,
      );
    }
  }
});

test('a reader that closes the pipe early ends the command quietly, exit 0, no stack trace', () => {
  const r = spawnSync(
    '/bin/sh',
    ['-c', `"${process.execPath}" "${bin}" matrix --seeds 2 --json | head -c 10`],
    { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
  );
  assert.equal(r.status, 0);
  assert.doesNotMatch(r.stderr, /EPIPE|Error|at /);
});
