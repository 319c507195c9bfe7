/**
 * A/B of bench/transport.ts rows between two checkouts (e.g. the commit before a refactoring and
 * after it), interleaved so the machine's drift hits both alike: each round runs every row in A
 * then B, the next round B then A. Prints each run, then per row the medians and the ratio B/A.
 *
 * Usage: node --import tsx bench/transport-ab.ts --a DIR --b DIR [--rounds 3] [--messages 100000]
 *        [--rows "exactly-once UDP (loopback);exactly-once TCP (loopback)"]
 * Each DIR is a checkout with its own node_modules (or a link to one).
 */

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { intFlag, median, strFlag } from './args.ts';

const args = process.argv.slice(2);
const dirA = strFlag(args, 'a');
const dirB = strFlag(args, 'b');
if (dirA === undefined || dirB === undefined) {
  console.error('usage: --a DIR --b DIR [--rounds N] [--messages N] [--rows "row;row"]');
  process.exit(2);
}
const rounds = intFlag(args, 'rounds', 3);
const messages = intFlag(args, 'messages', 100_000);
const rows = (
  strFlag(args, 'rows') ?? 'exactly-once UDP (loopback);exactly-once TCP (loopback)'
).split(';');

function runRow(dir: string, row: string): number {
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      join(dir, 'bench/transport.ts'),
      '--only',
      row,
      '--messages',
      String(messages),
      '--no-netns',
      '--no-mqtt',
      '--rounds',
      '0',
    ],
    { cwd: dir, encoding: 'utf8', timeout: 600_000 },
  );
  const m = /\.\.\. (\d+) msg\/s/.exec(r.stdout);
  if (m === null) {
    console.error(`no figure from ${dir} for ${row}:\n${r.stdout}\n${r.stderr}`);
    return Number.NaN;
  }
  return Number(m[1]);
}

const got = new Map<string, { a: number[]; b: number[] }>();
for (const row of rows) got.set(row, { a: [], b: [] });
for (let i = 0; i < rounds; i++) {
  for (const row of rows) {
    const cell = got.get(row) as { a: number[]; b: number[] };
    const order = i % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const);
    for (const side of order) {
      const v = runRow(side === 'a' ? dirA : dirB, row);
      cell[side].push(v);
      console.log(`round ${i + 1} ${side.toUpperCase()} ${row}: ${v} msg/s`);
    }
  }
}
console.log('');
console.log(`A = ${dirA}\nB = ${dirB}\n${messages} messages per run, ${rounds} rounds`);
for (const [row, { a, b }] of got) {
  const ma = median(a);
  const mb = median(b);
  console.log(
    `${row.padEnd(36)} A median ${Math.round(ma)} [${a.join(', ')}]  B median ${Math.round(mb)} [${b.join(', ')}]  B/A ${(mb / ma).toFixed(2)}`,
  );
}
