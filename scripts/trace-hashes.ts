/**
 * Trace fingerprints: SHA-256 of the simulator trace (JSON Lines) of every protocol × fault
 * model × seed, per cell and overall. A refactoring that must not change behaviour keeps every
 * fingerprint; run `--write` before the change and `--check` after it.
 *
 * Usage: node --import tsx scripts/trace-hashes.ts [--seeds 50] [--write FILE | --check FILE]
 * Exit code: 0 when written or every cell matches, 1 when a cell differs (each is named).
 */

import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { toJsonLines } from '../src/core/trace.ts';
import { defaultProtocols } from '../src/matrix/registry.ts';
import { FAULT_MODELS, materialize, runSpec } from '../src/matrix/spec.ts';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i < 0 ? undefined : args[i + 1];
};
const seeds = Number(flag('seeds') ?? 50);
if (!Number.isInteger(seeds) || seeds < 1) {
  console.error(`--seeds must be a positive integer, got ${String(flag('seeds'))}`);
  process.exit(2);
}

const t0 = performance.now();
const cells: Record<string, string> = {};
const all = createHash('sha256');
for (const p of defaultProtocols()) {
  for (const f of FAULT_MODELS) {
    const h = createHash('sha256');
    for (let seed = 1; seed <= seeds; seed++) {
      h.update(toJsonLines(runSpec(materialize(p.name, f, 5, seed)).trace));
    }
    const digest = h.digest('hex');
    cells[`${p.name} × ${f}`] = digest;
    all.update(digest);
  }
}
const result = { seeds, overall: all.digest('hex'), cells };
console.log(
  `${Object.keys(cells).length} cells × ${seeds} seeds hashed in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${result.overall}`,
);

const write = flag('write');
const check = flag('check');
if (write !== undefined) {
  writeFileSync(write, JSON.stringify(result, null, 1) + '\n');
  console.log(`written to ${write}`);
} else if (check !== undefined) {
  const before = JSON.parse(readFileSync(check, 'utf8')) as typeof result;
  if (before.seeds !== seeds) {
    console.error(`${check} was made with --seeds ${before.seeds}; run with the same`);
    process.exit(2);
  }
  const differ = Object.keys({ ...before.cells, ...cells }).filter(
    (k) => before.cells[k] !== cells[k],
  );
  for (const k of differ) console.log(`DIFFERS ${k}`);
  console.log(
    differ.length === 0 ? 'every cell identical' : `${differ.length} cells differ from ${check}`,
  );
  process.exitCode = differ.length === 0 ? 0 : 1;
}
