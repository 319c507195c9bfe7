/**
 * Golden transcripts (etcd-io/raft's datadriven habit): what `steadfast scenario NAME` prints for
 * every scenario of the catalogue, compared byte for byte with test/golden/scenarios/NAME.txt.
 *
 * A scenario is a fixed seed and an explicit fault schedule, so its transcript (fault schedule,
 * verdicts, trace lengths, the explanation computed from the run) changes only when the protocols,
 * the simulator, the checkers or the explanations do. A refactoring that must not change behaviour
 * leaves every file as it is; a change that should alter a transcript shows up as a diff to read.
 *
 * `UPDATE_GOLDEN=1 node scripts/test.mjs golden` rewrites the files from the current code (and
 * deletes those of scenarios that no longer exist) instead of comparing; review the git diff.
 *
 * The command runs in process, through the same commander program as bin/steadfast.mjs, with
 * colour off (NO_COLOR), exactly as `steadfast scenario NAME > file` prints it.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildProgram } from '../../src/cli/main.ts';
import { scenarioNames } from '../../src/scenarios/catalog.ts';

const dir = fileURLToPath(new URL('./scenarios/', import.meta.url));
const update = process.env.UPDATE_GOLDEN !== undefined && process.env.UPDATE_GOLDEN !== '';
const UPDATE_HINT = 'UPDATE_GOLDEN=1 node scripts/test.mjs golden';

process.env.NO_COLOR = '1';
delete process.env.FORCE_COLOR;

/** `steadfast scenario NAME`: stdout, stderr and the exit code. */
async function transcript(name: string): Promise<{ out: string; err: string; code: number }> {
  let out = '';
  let err = '';
  const program = buildProgram(
    (s) => (out += s),
    (s) => (err += s),
  );
  const saved = process.exitCode;
  try {
    process.exitCode = undefined;
    await program.parseAsync(['node', 'steadfast', 'scenario', name]);
    return { out, err, code: typeof process.exitCode === 'number' ? process.exitCode : 0 };
  } finally {
    process.exitCode = saved;
  }
}

/** `line` with control characters escaped and trailing blanks shown as `·`. */
function visible(line: string): string {
  const escaped = line.replace(
    // eslint-disable-next-line no-control-regex -- finding control characters is the point
    /[\u0000-\u001f\u007f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
  const body = escaped.trimEnd();
  return body + '·'.repeat(escaped.length - body.length);
}

/** A unified line diff (LCS), `context` lines around each change; transcripts are short. */
function lineDiff(expected: string, actual: string, context = 2): string {
  const a = expected.split('\n');
  const b = actual.split('\n');
  // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
  const lcs = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      const row = lcs[i];
      const next = lcs[i + 1];
      if (row === undefined || next === undefined) continue;
      row[j] = a[i] === b[j] ? (next[j + 1] ?? 0) + 1 : Math.max(next[j] ?? 0, row[j + 1] ?? 0);
    }
  }
  const ops: { tag: ' ' | '-' | '+'; line: string; at: number }[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      ops.push({ tag: ' ', line: a[i] ?? '', at: i + 1 });
      i++;
      j++;
    } else if (
      i < a.length &&
      (j === b.length || (lcs[i + 1]?.[j] ?? 0) >= (lcs[i]?.[j + 1] ?? 0))
    ) {
      ops.push({ tag: '-', line: a[i] ?? '', at: i + 1 });
      i++;
    } else {
      ops.push({ tag: '+', line: b[j] ?? '', at: i + 1 });
      j++;
    }
  }
  const changed = ops.map((op, k) => (op.tag === ' ' ? -1 : k)).filter((k) => k >= 0);
  const keep = new Set(
    changed.flatMap((k) => Array.from({ length: 2 * context + 1 }, (_, d) => k - context + d)),
  );
  const out: string[] = [];
  let last = -2;
  ops.forEach((op, k) => {
    if (!keep.has(k)) return;
    if (k !== last + 1) out.push(`@@ golden line ${op.at} @@`);
    out.push(`${op.tag} ${visible(op.line)}`);
    last = k;
  });
  return out.join('\n');
}

test('a mismatch is reported as a line diff with line numbers', () => {
  const golden = 'a\nb\nc\nd\ne\nf\ng\n';
  const now = 'a\nb\nc\nD\ne\nf\ng\n';
  assert.equal(lineDiff(golden, now), '@@ golden line 2 @@\n  b\n  c\n- d\n+ D\n  e\n  f');
  // Invisible differences are made visible: trailing blanks and control characters.
  assert.equal(
    lineDiff('x\ny\n', 'x \ny\r\n'),
    '@@ golden line 1 @@\n- x\n- y\n+ x·\n+ y\\x0d\n  ',
  );
});

const names = scenarioNames();

if (update) mkdirSync(dir, { recursive: true });

for (const name of names) {
  test(`scenario ${name}: output matches test/golden/scenarios/${name}.txt`, async () => {
    const r = await transcript(name);
    assert.equal(r.code, 0, `steadfast scenario ${name} exited ${r.code}:\n${r.err}`);
    assert.equal(r.err, '', `steadfast scenario ${name} wrote to stderr`);
    const path = `${dir}${name}.txt`;
    if (update) {
      writeFileSync(path, r.out);
      return;
    }
    let golden: string;
    try {
      golden = readFileSync(path, 'utf8');
    } catch {
      assert.fail(`no golden transcript ${path}; create it with ${UPDATE_HINT}`);
    }
    if (r.out !== golden) {
      assert.fail(
        `steadfast scenario ${name} differs from test/golden/scenarios/${name}.txt ` +
          `(- golden, + now). If the change is intended, rewrite the files with ${UPDATE_HINT} ` +
          `and commit them.\n${lineDiff(golden, r.out)}`,
      );
    }
  });
}

test('every golden transcript belongs to a scenario of the catalogue', () => {
  const stale = readdirSync(dir)
    .filter((f) => f.endsWith('.txt') && !names.includes(f.slice(0, -'.txt'.length)))
    .sort();
  if (update) {
    for (const f of stale) rmSync(`${dir}${f}`);
    return;
  }
  assert.deepEqual(stale, [], `transcripts without a scenario; delete them with ${UPDATE_HINT}`);
});
