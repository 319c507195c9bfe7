// Proves the sans-I/O ban in eslint.config.js works: every fixture in test/lint-fixtures/src/ is
// linted with the project's real config as if it lived in src/protocols/ (must be flagged, except
// good.ts) and in src/sim/ (must not be flagged: the simulator may do I/O).
//
// And the layer rule (steadfast/layers): test/lint-fixtures/layers/ holds an upward import (core
// importing the runtime: an error) and downward ones (the runtime importing core and platform:
// clean); inline cases cover the other import forms and the one documented exception; a probe in
// every folder of src/ proves each folder is in the layer table.
//
// The files do not exist at those paths, so the project service cannot find them in tsconfig.json.
// The only override is therefore the parser's: those exact virtual paths are opened in a default
// project built from tsconfig.json, so the type-aware rules still run. Every rule, including the
// ban, comes from eslint.config.js unchanged.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint, type Linter } from 'eslint';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixtureDir = `${root}test/lint-fixtures/src/protocols/`;
const layerFixtureDir = `${root}test/lint-fixtures/layers/`;

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

// ---------------------------------------------------------------------------------------------
// The layer rule.

const LAYER_RULE = 'steadfast/layers';

interface LayerCase {
  readonly path: string;
  readonly source: string;
  /** Pieces of each expected steadfast/layers message, in source order; [] means clean. */
  readonly errors: readonly string[];
}

const layerCases: readonly LayerCase[] = [
  {
    // Every import form is judged, by the file the specifier resolves to.
    path: 'src/viz/layer-inline.ts',
    source: [
      "export { runSpec } from '../matrix/spec.ts';",
      "export * from '../sim/nemesis.ts';",
      "export type { ClusterConfig } from '../runtime/config.ts';",
      "export type Config = import('../runtime/config.ts').ClusterConfig;",
      "export const load = (): Promise<unknown> => import('../scenarios/catalog.ts');",
      "import '../../src/platform/dirs.ts';",
      "import '../../test/viz/svg-parse.ts';",
      "export type { Verdict } from '../check/verdict.ts';",
      '',
    ].join('\n'),
    errors: [
      "src/viz may import only src/core, src/check (and itself); '../matrix/spec.ts' is in src/matrix",
      "'../sim/nemesis.ts' is in src/sim",
      "'../runtime/config.ts' is in src/runtime",
      "'../runtime/config.ts' is in src/runtime",
      "'../scenarios/catalog.ts' is in src/scenarios",
      "'../../src/platform/dirs.ts' is in src/platform",
      "src/ must not import from outside src/; '../../test/viz/svg-parse.ts' is test/viz/svg-parse.ts",
    ],
  },
  {
    // A protocol layer imports only the layers below it: a link may not use a delivery channel.
    path: 'src/protocols/link/layer-inline.ts',
    source: "export type { Guarantee } from '../delivery/guarantees.ts';\n",
    errors: [
      "src/protocols/link may import only src/core (and itself); '../delivery/guarantees.ts' is in src/protocols/delivery",
    ],
  },
  {
    path: 'src/protocols/broadcast/layer-inline.ts',
    source: [
      "export type { NodeId } from '../../core/ids.ts';",
      "export type { LinkLayer } from '../link/layer.ts';",
      "export type { Guarantee } from '../delivery/guarantees.ts';",
      '',
    ].join('\n'),
    errors: ["'../delivery/guarantees.ts' is in src/protocols/delivery"],
  },
  {
    // The one exception: the type `Guarantee`, in src/check/guarantees.ts alone.
    path: 'src/check/guarantees.ts',
    source: [
      "import type { Guarantee } from '../protocols/delivery/guarantees.ts';",
      "import { GUARANTEES } from '../protocols/delivery/guarantees.ts';",
      'export const all: readonly Guarantee[] = GUARANTEES;',
      '',
    ].join('\n'),
    errors: [
      "src/check may import only src/core (and itself); '../protocols/delivery/guarantees.ts'",
    ],
  },
  {
    path: 'src/check/layer-inline.ts',
    source: "export type { Guarantee } from '../protocols/delivery/guarantees.ts';\n",
    errors: ["'../protocols/delivery/guarantees.ts' is in src/protocols/delivery"],
  },
  {
    // The top layer may import every other one.
    path: 'src/cli/layer-inline.ts',
    source: [
      "export type { ClusterConfig } from '../runtime/config.ts';",
      "export type { ScenarioResult } from '../scenarios/model.ts';",
      "export type { RunSpec } from '../matrix/spec.ts';",
      '',
    ].join('\n'),
    errors: [],
  },
  {
    // Tests are exempt: a unit test drives its layer with what sits above it.
    path: 'src/core/layer-inline.test.ts',
    source: "export type { ClusterConfig } from '../runtime/config.ts';\n",
    errors: [],
  },
  {
    // A new folder must be added to the table before its files import src/.
    path: 'src/newlayer/layer-inline.ts',
    source: "export type { NodeId } from '../core/ids.ts';\n",
    errors: ['src/newlayer/layer-inline.ts is in no layer of LAYERS in eslint.config.js'],
  },
];

/** Every folder of src/ that holds source files (not only tests), relative to the root. */
function sourceFolders(dir = `${root}src`): string[] {
  const entries = readdirSync(dir, { withFileTypes: true });
  const here = entries.some(
    (e) => e.isFile() && /\.(?:ts|mjs)$/.test(e.name) && !e.name.endsWith('.test.ts'),
  );
  const below = entries
    .filter((e) => e.isDirectory())
    .flatMap((e) => sourceFolders(`${dir}/${e.name}`));
  return [...(here ? [relative(root, dir)] : []), ...below];
}

const probeFolders = sourceFolders();
const probePath = (folder: string) => `${folder}/layer-probe.ts`;
/** A type-only import of src/core, which every layer may import. */
function probeSource(folder: string): string {
  const ids = relative(`${root}${folder}`, `${root}src/core/ids.ts`);
  return `export type { NodeId } from '${ids.startsWith('.') ? ids : `./${ids}`}';\n`;
}

const virtualPaths = [
  ...[...badFixtures.keys(), 'good.ts'].flatMap((f) => [
    `src/protocols/${f}`,
    `src/sim/${f}`,
    `src/protocols/${f.replace(/\.ts$/, '.test.ts')}`,
  ]),
  ...inlineCases.map(([path]) => path),
  'src/core/layer-fixture.ts',
  'src/runtime/layer-fixture.ts',
  // src/check/guarantees.ts is a real file of the project, so it is not a virtual path.
  ...layerCases.map((c) => c.path).filter((p) => p !== 'src/check/guarantees.ts'),
  ...probeFolders.map(probePath),
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

function layerMessages(messages: readonly Linter.LintMessage[]): Linter.LintMessage[] {
  return messages.filter((m) => m.ruleId === LAYER_RULE);
}

describe('layer rule (eslint.config.js, steadfast/layers)', () => {
  test('core importing the runtime (an upward import) is an error', async () => {
    const source = readFileSync(`${layerFixtureDir}core-imports-runtime.ts.txt`, 'utf8');
    const messages = await lint(source, 'src/core/layer-fixture.ts');
    const layer = layerMessages(messages);
    const [m] = layer;
    assert.ok(layer.length === 1 && m?.severity === 2, show(messages));
    assert.match(
      m.message,
      /src\/core may import nothing outside itself; '\.\.\/runtime\/config\.ts' is in src\/runtime/,
    );
  });

  test('the runtime importing core and platform (downward imports) has no errors at all', async () => {
    const source = readFileSync(`${layerFixtureDir}runtime-imports-core.ts.txt`, 'utf8');
    const messages = await lint(source, 'src/runtime/layer-fixture.ts');
    assert.deepEqual(messages, [], show(messages));
  });

  for (const c of layerCases) {
    test(`${c.path}: ${c.errors.length === 0 ? 'clean' : `${c.errors.length} layer error(s)`}`, async () => {
      const layer = layerMessages(await lint(c.source, c.path));
      assert.equal(layer.length, c.errors.length, show(layer));
      c.errors.forEach((piece, i) => {
        const m = layer[i];
        assert.ok(
          m?.severity === 2 && m.message.includes(piece),
          `expected "${piece}", got:\n${show(layer)}`,
        );
      });
    });
  }

  test('every folder of src/ is a layer of the table', async () => {
    assert.ok(
      probeFolders.includes('src/core') && probeFolders.includes('src/cli'),
      probeFolders.join(' '),
    );
    for (const folder of probeFolders) {
      const layer = layerMessages(await lint(probeSource(folder), probePath(folder)));
      assert.deepEqual(layer, [], `${folder}:\n${show(layer)}`);
    }
  });
});
