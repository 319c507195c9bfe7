// Proves the sans-I/O ban in eslint.config.js works: every fixture in test/lint-fixtures/ is
// linted with the project's real config as if it lived in src/protocols/ (must be flagged, except
// good.ts) and in src/sim/ (must not be flagged: the simulator may do I/O).
//
// The files do not exist at those paths, so the project service cannot find them in tsconfig.json.
// The only override is therefore the parser's: those exact virtual paths are opened in a default
// project built from tsconfig.json, so the type-aware rules still run. Every rule, including the
// ban, comes from eslint.config.js unchanged.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ESLint, type Linter } from 'eslint';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixtureDir = `${root}test/lint-fixtures/src/protocols/`;

const WHY = 'protocol code is sans-I/O: time comes in as `now`, randomness from the injected Rng';
const BAN_RULES = new Set([
  'no-restricted-globals',
  'no-restricted-properties',
  'no-restricted-syntax',
  'no-restricted-imports',
]);

interface Expected {
  readonly rule: string;
  /** A piece of the message naming what was used. */
  readonly names: string;
}

const badFixtures: ReadonlyMap<string, readonly Expected[]> = new Map([
  ['bad-clock.ts', [{ rule: 'no-restricted-globals', names: "'Date'" }]],
  ['bad-random.ts', [{ rule: 'no-restricted-properties', names: "'Math.random'" }]],
  ['bad-timer.ts', [{ rule: 'no-restricted-globals', names: "'setTimeout'" }]],
  [
    'bad-import.ts',
    [
      { rule: 'no-restricted-imports', names: "'node:dgram'" },
      { rule: 'no-restricted-imports', names: "'fs'" },
    ],
  ],
  ['bad-performance.ts', [{ rule: 'no-restricted-globals', names: "'performance'" }]],
  ['bad-crypto.ts', [{ rule: 'no-restricted-globals', names: "'crypto'" }]],
]);

// More of the ban, inline (no fixture file needed): [virtual path, source, expected].
const inlineCases: readonly (readonly [string, string, readonly Expected[]])[] = [
  [
    'src/core/sans-io-inline.ts',
    [
      'export async function load(): Promise<unknown> {',
      '  const d = new Date(0);',
      '  queueMicrotask(() => d.getTime());',
      '  setImmediate(() => process.exitCode);',
      '  clearInterval(setInterval(() => 0, 1));',
      "  globalThis.console.log('x');",
      "  await import('node:os');",
      "  return import('./anything.ts');",
      '}',
      "export * from 'node:os';",
      "export { join } from 'path/posix';",
      "export type { Socket } from 'net';",
      '',
    ].join('\n'),
    [
      { rule: 'no-restricted-globals', names: "'Date'" },
      { rule: 'no-restricted-globals', names: "'queueMicrotask'" },
      { rule: 'no-restricted-globals', names: "'setImmediate'" },
      { rule: 'no-restricted-globals', names: "'process'" },
      { rule: 'no-restricted-globals', names: "'setInterval'" },
      { rule: 'no-restricted-globals', names: "'globalThis'" },
      { rule: 'no-restricted-syntax', names: 'Node builtins' },
      { rule: 'no-restricted-syntax', names: 'Dynamic import()' },
      { rule: 'no-restricted-imports', names: "'node:os'" },
      { rule: 'no-restricted-imports', names: "'path/posix'" },
      { rule: 'no-restricted-imports', names: "'net'" },
    ],
  ],
  [
    'src/protocols/link/sans-io-inline.ts',
    "export const load = (): unknown => require('node:child_process');\n",
    [{ rule: 'no-restricted-globals', names: "'require'" }],
  ],
];

const virtualPaths = [
  ...[...badFixtures.keys(), 'good.ts'].flatMap((f) => [
    `src/protocols/${f}`,
    `src/sim/${f}`,
    `src/protocols/${f.replace(/\.ts$/, '.test.ts')}`,
  ]),
  ...inlineCases.map(([path]) => path),
];

const eslint = new ESLint({
  cwd: root,
  overrideConfigFile: `${root}eslint.config.js`,
  ignore: false,
  overrideConfig: {
    files: virtualPaths,
    languageOptions: {
      parserOptions: {
        projectService: {
          allowDefaultProject: virtualPaths,
          defaultProject: 'tsconfig.json',
          maximumDefaultProjectFileMatchCount_THIS_WILL_SLOW_DOWN_LINTING: virtualPaths.length,
        },
      },
    },
  },
});

function fixture(name: string): string {
  return readFileSync(fixtureDir + name, 'utf8');
}

async function lint(source: string, relPath: string): Promise<Linter.LintMessage[]> {
  const [result] = await eslint.lintText(source, { filePath: root + relPath });
  assert.ok(result, `no lint result for ${relPath}`);
  const fatal = result.messages.filter((m) => m.fatal === true);
  assert.deepEqual(fatal, [], `${relPath} did not parse`);
  return result.messages;
}

function show(messages: readonly Linter.LintMessage[]): string {
  return messages.map((m) => `  ${m.line}:${m.column} ${m.ruleId ?? '?'} ${m.message}`).join('\n');
}

function assertBanned(messages: readonly Linter.LintMessage[], expected: readonly Expected[]) {
  for (const e of expected) {
    const hit = messages.find(
      (m) =>
        m.severity === 2 &&
        m.ruleId === e.rule &&
        m.message.includes(e.names) &&
        m.message.includes(WHY),
    );
    assert.ok(hit, `expected ${e.rule} error naming ${e.names}, got:\n${show(messages)}`);
  }
}

function banMessages(messages: readonly Linter.LintMessage[]): Linter.LintMessage[] {
  return messages.filter((m) => m.ruleId !== null && BAN_RULES.has(m.ruleId));
}

describe('sans-I/O ban (eslint.config.js)', () => {
  for (const [name, expected] of badFixtures) {
    test(`${name} is an error in src/protocols/`, async () => {
      assertBanned(await lint(fixture(name), `src/protocols/${name}`), expected);
    });

    test(`${name} is allowed in src/sim/`, async () => {
      const messages = await lint(fixture(name), `src/sim/${name}`);
      assert.deepEqual(banMessages(messages), [], show(messages));
    });

    test(`${name} is allowed in a protocol test file`, async () => {
      const path = `src/protocols/${name.replace(/\.ts$/, '.test.ts')}`;
      const messages = await lint(fixture(name), path);
      assert.deepEqual(banMessages(messages), [], show(messages));
    });
  }

  test('good.ts (takes `now` as a parameter) has no errors at all in src/protocols/', async () => {
    const messages = await lint(fixture('good.ts'), 'src/protocols/good.ts');
    assert.deepEqual(messages, [], show(messages));
  });

  for (const [path, source, expected] of inlineCases) {
    test(`the ban covers ${path}`, async () => {
      assertBanned(await lint(source, path), expected);
    });
  }
});
