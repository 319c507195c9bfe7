/**
 * `steadfast scenario` as a commander command (registered the way src/cli/main.ts registers its
 * commands): the list, a run with its explanation, --svg / --html files, --json, usage errors.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { UsageError } from '../../src/cli/commands.ts';
import { registerScenarioCommand, wrap } from '../../src/cli/scenario-command.ts';
import { scenarioNames } from '../../src/scenarios/catalog.ts';
import { find, tags } from './svg-tags.ts';

async function cli(...args: string[]): Promise<{ out: string; err: string; code: number }> {
  let out = '';
  let err = '';
  const program = new Command()
    .name('steadfast')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => (out += s),
      writeErr: (s) => (err += s),
    });
  registerScenarioCommand(
    program,
    (s) => (out += s),
    (s) => (err += s),
  );
  for (const c of program.commands) c.exitOverride().configureOutput(program.configureOutput());
  const saved = process.exitCode;
  try {
    await program.parseAsync(['node', 'steadfast', ...args]);
    return { out, err, code: typeof process.exitCode === 'number' ? process.exitCode : 0 };
  } finally {
    process.exitCode = saved;
  }
}

test('steadfast scenario lists every scenario with a one-line description', async () => {
  const r = await cli('scenario');
  assert.equal(r.code, 0);
  const lines = r.out.trim().split('\n');
  assert.equal(lines.length, scenarioNames().length + 1);
  for (const name of scenarioNames()) {
    assert.ok(
      lines.some((l) => new RegExp(`^  ${name} +\\S`).test(l)),
      `${name} missing from the list`,
    );
  }
});

test('steadfast scenario NAME prints verdicts and the explanation, writes --svg and --html', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'steadfast-scenario-'));
  const svg = join(dir, 'lost-ack.svg');
  const html = join(dir, 'lost-ack.html');
  const r = await cli('scenario', 'lost-ack', '--svg', svg, '--html', html);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /scenario lost-ack/);
  assert.match(r.out, /VIOLATED no-duplication/);
  assert.match(r.out, /expected: reliable-delivery holds, no-duplication violated/);
  assert.match(r.out, /what happened and why:/);
  assert.match(r.out, /was lost by the\s+network/);
  assert.match(r.out, /every verdict is as expected/);
  assert.match(r.out, new RegExp(`diagram: ${svg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  // Drawn messages carry their wire id (the legend's sample glyphs do not).
  const drawn = tags(readFileSync(svg, 'utf8')).filter((t) => t.attrs.has('data-id'));
  assert.equal(find(drawn, ['msg', 'ack', 'drop', 'drop-loss']).length, 1);
  assert.equal(find(drawn, ['msg', 'data', 'retx']).length, 1);
  const page = readFileSync(html, 'utf8');
  assert.match(page, /^<!doctype html>/i);
  assert.match(page, /steadfast scenario lost-ack/);
  assert.equal(
    find(tags(page), ['violation-label'], { 'data-property': 'no-duplication' }).length >= 1,
    true,
  );
});

test('steadfast scenario NAME --json prints verdicts and explanation as JSON', async () => {
  const r = await cli('scenario', 'forged', '--json');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as {
    schema: string;
    name: string;
    ok: boolean;
    explanation: string;
    variants: {
      key: string;
      verdicts: { property: string; holds: boolean; expected: boolean }[];
    }[];
  };
  assert.equal(j.schema, 'steadfast.scenario/1');
  assert.equal(j.name, 'forged');
  assert.equal(j.ok, true);
  assert.deepEqual(
    j.variants.map((v) => v.key),
    ['no-auth', 'hmac'],
  );
  const auth = j.variants.map((v) => v.verdicts.find((x) => x.property === 'authenticity')?.holds);
  assert.deepEqual(auth, [false, true]);
  assert.match(j.explanation, /authenticity VIOLATED/);
});

test('usage errors: unknown NAME, or a file flag without NAME', async () => {
  await assert.rejects(cli('scenario', 'nope'), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    assert.match(e.message, /unknown "nope"; accepted: lost-message, retransmit/);
    return true;
  });
  await assert.rejects(cli('scenario', '--svg', 'x.svg'), UsageError);
});

test('wrap keeps words whole within the width', () => {
  const text = 'a '.repeat(80) + 'averyveryverylongwordthatdoesnotfit';
  for (const line of wrap(text, 40).trimEnd().split('\n')) {
    assert.ok(line.length <= 40 || !line.trim().includes(' '), line);
    assert.ok(line.startsWith('  '));
  }
});
