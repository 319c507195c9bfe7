// ESLint flat config for steadfast.
//
// Layers, in order (a later block that names the same rule REPLACES that rule's options for the
// files it matches; flat config does not merge the option arrays of one rule across blocks):
//   1. ignores
//   2. plain `@eslint/js` recommended for *.js / *.mjs (Node globals)
//   3. `@eslint/js` recommended + typescript-eslint `strictTypeChecked` for the TypeScript tree
//   4. test-file relaxations
//   5. the sans-I/O ban for protocol code (src/core, src/protocols; not their tests)
//   6. the layer rule: which folder of src/ may import which (ARCHITECTURE.md, "Layers")
//
// test/lint-fixtures/** is ignored here; test/lint.test.ts lints those fixtures with THIS file
// (`overrideConfigFile`) as if they lived in src/ (src/protocols/, src/sim/, src/core/, ...).
import { builtinModules } from 'node:module';
import { dirname, relative, resolve, sep } from 'node:path';
import { defineConfig, globalIgnores } from 'eslint/config';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const tsFiles = ['src/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts', 'test/**/*.ts'];
const testFiles = ['**/*.test.ts'];
const protocolFiles = ['src/core/**/*.ts', 'src/protocols/**/*.ts'];

// ---------------------------------------------------------------------------------------------
// The sans-I/O ban. Everything that can observe or affect the outside world (clocks, timers,
// randomness, the process, the file system, the network, loading code) is forbidden in protocol
// code: the driver (simulator or real runtime) passes `now` in, owns the timers and injects an
// Rng, so one protocol core runs deterministically in the simulator and unchanged over real
// networks. Each rule's full option list lives here, in one place (see the note at the top).
// ---------------------------------------------------------------------------------------------

const WHY = 'protocol code is sans-I/O: time comes in as `now`, randomness from the injected Rng';

const sansIoGlobals = [
  ['Date', `${WHY}. Take \`now: Instant\` as a parameter instead of reading or building a Date.`],
  ['performance', `${WHY}. Take \`now: Instant\` as a parameter instead of performance.now().`],
  ['setTimeout', `${WHY}. Return a timer deadline (Instant) and let the driver schedule it.`],
  ['setInterval', `${WHY}. Return a timer deadline (Instant) and let the driver schedule it.`],
  ['setImmediate', `${WHY}. Return work to the driver instead of scheduling it yourself.`],
  ['clearTimeout', `${WHY}. Timers belong to the driver; cancel by dropping the deadline.`],
  ['clearInterval', `${WHY}. Timers belong to the driver; cancel by dropping the deadline.`],
  ['clearImmediate', `${WHY}. Timers belong to the driver.`],
  ['queueMicrotask', `${WHY}. Return work to the driver instead of scheduling it yourself.`],
  ['process', `${WHY}. No process, env, argv, exit or hrtime: take configuration as arguments.`],
  ['crypto', `${WHY}. Draw random bytes from the injected Rng, not the global crypto.`],
  ['require', `${WHY}. Import pure modules statically; no require().`],
  ['fetch', `${WHY}. The driver does the network I/O; protocol code returns frames to send.`],
  ['globalThis', `${WHY}. Reaching through globalThis would bypass this ban.`],
  ['__dirname', `${WHY}. No file-system paths in protocol code.`],
  ['__filename', `${WHY}. No file-system paths in protocol code.`],
].map(([name, message]) => ({ name, message }));

const sansIoProperties = [
  {
    object: 'Math',
    property: 'random',
    message: `${WHY}. Math.random() is unseeded, so a simulated run could not be replayed.`,
  },
];

// Every Node builtin (fs, net, dgram, crypto, child_process, os, path, http, https,
// worker_threads, timers, perf_hooks, ... and their subpaths such as fs/promises), from Node's
// own list so it cannot go stale, plus anything spelt `node:*` (node:test, node:sqlite, ...).
const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const bareBuiltins = builtinModules.filter((m) => !m.startsWith('node:') && !m.startsWith('_'));
const nodeBuiltinSource = `^(?:node:|(?:${bareBuiltins.map(escapeRe).join('|')})(?:/|$))`;
// The same regex for esquery selectors, whose /regex/ literals cannot contain a `/`.
const nodeBuiltinSel = nodeBuiltinSource.replaceAll('/', '\\x2F');
const BUILTIN_MESSAGE = `${WHY}. Node builtins (node:*, fs, net, dgram, timers, ...) are I/O; the driver in src/sim or src/platform owns them.`;

const sansIoImports = {
  patterns: [{ regex: nodeBuiltinSource, message: BUILTIN_MESSAGE }],
};

// no-restricted-imports only sees static import/export ... from; the rest is caught by syntax.
const sansIoSyntax = [
  {
    selector: `ImportExpression[source.value=/${nodeBuiltinSel}/]`,
    message: BUILTIN_MESSAGE,
  },
  {
    selector: `ImportExpression:not([source.value=/${nodeBuiltinSel}/])`,
    message: `${WHY}. Dynamic import() loads code at run time (I/O); import statically.`,
  },
  {
    selector: 'TSExternalModuleReference',
    message: `${WHY}. No \`import x = require(...)\`; import pure modules statically.`,
  },
  {
    selector: `TSImportType[argument.literal.value=/${nodeBuiltinSel}/]`,
    message: BUILTIN_MESSAGE,
  },
  {
    selector: "MetaProperty[meta.name='import'][property.name='meta']",
    message: `${WHY}. import.meta (url, dirname, resolve) is about files on disk.`,
  },
];

// ---------------------------------------------------------------------------------------------
// The layer rule (`steadfast/layers`). Each folder of src/ is a layer and may import only from
// itself and from the layers listed for it; ARCHITECTURE.md's "Layers" table shows the same graph
// (keep the two in step). An entry names a folder, and covers the folders under it
// (`src/protocols` is link, delivery and broadcast). A module import is judged by the file it
// resolves to, so `../../src/runtime/x.ts` is caught as surely as `../runtime/x.ts`; package
// imports are not judged here (the sans-I/O ban keeps Node builtins out of core and protocols).
// Files under src/ must not import from outside it (test/, bench/, scripts/), and a src/ file in
// no listed folder may not import src/ at all until its folder is added to LAYERS.
//
// Tests (*.test.ts) are exempt, as from the sans-I/O ban: a unit test beside the code drives it
// with what sits above it (the pair harness in src/sim, the checkers in src/check, a host Mac).
// ---------------------------------------------------------------------------------------------

/** layer → the other layers it may import (a folder covers its subfolders). */
const LAYERS = {
  'src/core': [],
  'src/platform': ['src/core'],
  'src/protocols/link': ['src/core'],
  'src/protocols/delivery': ['src/core', 'src/protocols/link'],
  'src/protocols/broadcast': ['src/core', 'src/protocols/link'],
  // The replicated key-value stores (issue 16): built on the protocol layers below them.
  'src/protocols/kv': [
    'src/core',
    'src/protocols/link',
    'src/protocols/delivery',
    'src/protocols/broadcast',
  ],
  'src/sim': ['src/core', 'src/protocols'],
  'src/check': ['src/core'],
  'src/viz': ['src/core', 'src/check'],
  // The runtime runs any protocol of the matrix registry on real nodes (registry-stack.ts): the
  // registry is where a protocol's stack, workload and specification are named, and src/matrix
  // imports nothing of the runtime, so the graph stays acyclic. It judges its real runs with the
  // same checkers as the simulator (src/check, which imports only src/core).
  'src/runtime': ['src/core', 'src/platform', 'src/protocols', 'src/check', 'src/matrix'],
  'src/matrix': ['src/core', 'src/platform', 'src/protocols', 'src/sim', 'src/check'],
  'src/scenarios': ['src/core', 'src/platform', 'src/protocols', 'src/sim', 'src/check', 'src/viz'],
  'src/cli': [
    'src/core',
    'src/platform',
    'src/protocols',
    'src/sim',
    'src/check',
    'src/viz',
    'src/runtime',
    'src/matrix',
    'src/scenarios',
    'src/client',
  ],
  // The store's HTTP client (src/client/kv-client.ts): global fetch; of the project, at most the
  // core's plain types (every layer may import src/core: test/lint.test.ts probes it).
  'src/client': ['src/core'],
  // The npm package's entry points (package.json `exports`: steadfast, steadfast/sim,
  // steadfast/check): each re-exports a chosen surface of the layers below; nothing imports them.
  'src/api': [
    'src/core',
    'src/protocols',
    'src/sim',
    'src/check',
    'src/runtime',
    'src/matrix',
    'src/client',
  ],
};

/**
 * Imports the table does not allow, each allowed here alone: one file, one target, type-only.
 * Each entry says why; removing the need for one is better than adding one.
 */
const LAYER_EXCEPTIONS = [
  {
    // The guarantee checkers are keyed by the delivery guarantee they judge. The name `Guarantee`
    // ('at-most-once' | 'at-least-once' | 'exactly-once') is declared by the channel API in
    // src/protocols/delivery; only the type crosses (erased at run time), and check/ still
    // depends on no protocol code.
    from: 'src/check/guarantees.ts',
    to: 'src/protocols/delivery/guarantees.ts',
    typeOnly: true,
  },
];

const projectRoot = import.meta.dirname;
const within = (path, folder) => path === folder || path.startsWith(`${folder}/`);
const layerOf = (path) =>
  Object.keys(LAYERS)
    .filter((layer) => within(path, layer))
    .sort((a, b) => b.length - a.length)[0];
const describeAllowed = (layer) => {
  const allowed = LAYERS[layer];
  return allowed.length === 0
    ? 'nothing outside itself'
    : `only ${allowed.join(', ')} (and itself)`;
};

/** `true` when an import / export node brings in types only. */
function typeOnly(node) {
  if (node.type === 'TSImportType') return true;
  if (node.importKind === 'type' || node.exportKind === 'type') return true;
  const specifiers = node.specifiers ?? [];
  return (
    specifiers.length > 0 &&
    specifiers.every((s) => s.importKind === 'type' || s.exportKind === 'type')
  );
}

const layersRule = {
  meta: {
    type: 'problem',
    docs: { description: 'src/ folders import only the layers ARCHITECTURE.md allows them' },
    schema: [],
  },
  create(context) {
    const file = relative(projectRoot, context.filename).split(sep).join('/');
    if (!within(file, 'src')) return {};
    const from = layerOf(file);

    function check(node, sourceNode) {
      const spec = sourceNode?.value;
      if (typeof spec !== 'string' || !(spec.startsWith('./') || spec.startsWith('../'))) return;
      const target = relative(projectRoot, resolve(dirname(context.filename), spec))
        .split(sep)
        .join('/');
      const to = layerOf(target);
      const report = (message) => context.report({ node: sourceNode, message });
      if (!within(target, 'src')) {
        report(
          `Layer rule (ARCHITECTURE.md): src/ must not import from outside src/; '${spec}' is ${target}.`,
        );
      } else if (from === undefined) {
        report(
          `Layer rule (ARCHITECTURE.md): ${file} is in no layer of LAYERS in eslint.config.js; add its folder there (and to ARCHITECTURE.md's table) before it imports '${spec}'.`,
        );
      } else if (to === from || LAYERS[from].some((layer) => within(to ?? target, layer))) {
        return;
      } else if (
        LAYER_EXCEPTIONS.some(
          (e) => e.from === file && e.to === target && (!e.typeOnly || typeOnly(node)),
        )
      ) {
        return;
      } else {
        report(
          `Layer rule (ARCHITECTURE.md): ${from} may import ${describeAllowed(from)}; '${spec}' is in ${to ?? target}.`,
        );
      }
    }

    return {
      ImportDeclaration: (node) => check(node, node.source),
      ExportNamedDeclaration: (node) => check(node, node.source),
      ExportAllDeclaration: (node) => check(node, node.source),
      ImportExpression: (node) => check(node, node.source),
      TSImportType: (node) => check(node, node.argument?.literal),
      TSExternalModuleReference: (node) => check(node, node.expression),
    };
  },
};

export default defineConfig([
  globalIgnores(['**/node_modules/', 'out/', 'artifacts/', 'dist/', 'test/lint-fixtures/**']),

  // 2. Plain JavaScript (scripts/*.mjs, bin/*.mjs, this file): recommended only, Node globals.
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [js.configs.recommended],
    languageOptions: {
      ecmaVersion: 'latest',
      sourceType: 'module',
      globals: { ...globals.node },
    },
  },

  // 3. TypeScript: recommended + strictTypeChecked with the project service (tsconfig.json).
  {
    files: tsFiles,
    extends: [js.configs.recommended, tseslint.configs.strictTypeChecked],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
      globals: { ...globals.node },
    },
    rules: {
      // Protocol messages and assertions interpolate sequence numbers, ids, byte counts and
      // Instants (branded numbers) all the time; `${seq}` is clear and safe. Everything else
      // (objects, unions with undefined, any) stays an error.
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        {
          allowNumber: true,
          allowBoolean: false,
          allowAny: false,
          allowNullish: false,
          allowRegExp: false,
          allowNever: false,
        },
      ],
      // Same convention as tsc's noUnusedParameters: a leading `_` marks a deliberately unused
      // binding (a handler that must match an interface but ignores an argument).
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
        },
      ],
      // Type-only imports must say so (`import type`), so that `dpdm --transform` (npm run
      // cycles) and the runtime both drop them: an import cycle made only of types is harmless
      // and is not counted, but `import { type X }` would leave an `import {}` edge behind.
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { prefer: 'type-imports', fixStyle: 'separate-type-imports' },
      ],
      '@typescript-eslint/no-import-type-side-effects': 'error',
      // Kept as errors on purpose (strictTypeChecked defaults): `!` hides exactly the
      // noUncheckedIndexedAccess bugs a protocol state machine must handle explicitly; use
      // `assert()` from src/core/errors.ts instead.
      '@typescript-eslint/no-non-null-assertion': 'error',
    },
  },

  // 4. Tests: node:test's test()/describe()/it()/suite() return promises that the runner itself
  // tracks, so not awaiting them is correct. Everything else must still be awaited.
  {
    files: testFiles,
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] },
          ],
        },
      ],
    },
  },

  // 5. The sans-I/O ban (see the top of this file). Protocol tests are exempt: they may use the
  // test runner, fixtures on disk and real clocks to drive the pure code.
  {
    files: protocolFiles,
    ignores: testFiles,
    rules: {
      // These four rules are set nowhere else. If a project-wide restriction for one of them is
      // ever added to block 3, spread it in here too: this block replaces the rule's options.
      'no-restricted-globals': ['error', ...sansIoGlobals],
      'no-restricted-properties': ['error', ...sansIoProperties],
      'no-restricted-syntax': ['error', ...sansIoSyntax],
      'no-restricted-imports': ['error', sansIoImports],
    },
  },

  // 6. The layer rule (see LAYERS above), for every source file under src/ but tests.
  {
    files: ['src/**/*.ts', 'src/**/*.mjs'],
    ignores: testFiles,
    plugins: { steadfast: { rules: { layers: layersRule } } },
    rules: { 'steadfast/layers': 'error' },
  },
]);
