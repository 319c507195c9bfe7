// Proves `npm run cycles` fails on a circular import and passes on src/. The dpdm flags are read
// from package.json so this test and the script cannot drift apart. `--transform` compiles each
// file to JavaScript first, so type-only imports (`import type`) are dropped: a cycle made only of
// types is harmless at run time and deliberately does not count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dpdm = join(root, 'node_modules', '.bin', 'dpdm');

/** The flags of the `cycles` script, minus the `dpdm` word and its quoted 'src/**\/*.ts' glob. */
function cyclesFlags(): string[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    scripts: Record<string, string | undefined>;
  };
  const script = pkg.scripts.cycles;
  assert.ok(script, 'package.json has no "cycles" script');
  const words = script.split(/\s+/);
  assert.equal(words[0], 'dpdm', `unexpected cycles script: ${script}`);
  assert.ok(words.includes('--transform'), 'cycles must use --transform (type-only imports)');
  assert.ok(words.includes('circular:1'), 'cycles must exit non-zero on a cycle');
  return words.slice(1).filter((w) => !w.startsWith("'") && !w.endsWith('.ts'));
}

function runDpdm(glob: string): { status: number | null; output: string } {
  const r = spawnSync(dpdm, [...cyclesFlags(), glob], { cwd: root, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

test('dpdm exits non-zero on the cycle in test/cycle-fixtures/', () => {
  const r = runDpdm('test/cycle-fixtures/**/*.ts');
  assert.notEqual(r.status, 0, r.output);
  assert.match(r.output, /ping\.ts/);
  assert.match(r.output, /pong\.ts/);
});

test('dpdm ignores a cycle made only of type imports', () => {
  const dir = mkdtempSync(join(tmpdir(), 'steadfast-cycles-'));
  try {
    writeFileSync(
      join(dir, 'a.ts'),
      "import type { B } from './b.ts';\nexport interface A { b?: B }\nexport const a = 1;\n",
    );
    writeFileSync(
      join(dir, 'b.ts'),
      "import { a } from './a.ts';\nexport interface B { a: number }\nexport const b = a;\n",
    );
    const r = runDpdm(join(dir, '*.ts'));
    assert.equal(r.status, 0, r.output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('src/ has no circular imports (npm run cycles)', () => {
  const r = runDpdm('src/**/*.ts');
  assert.equal(r.status, 0, r.output);
});
