// ESLint flat config for steadfast.
//
// Layers, in order (a later block that names the same rule REPLACES that rule's options for the
// files it matches; flat config does not merge the option arrays of one rule across blocks):
//   1. ignores
//   2. plain `@eslint/js` recommended for *.js / *.mjs (Node globals)
//   3. `@eslint/js` recommended + typescript-eslint `strictTypeChecked` for the TypeScript tree
//   4. test-file relaxations
//   5. the sans-I/O ban for protocol code (src/core, src/protocols; not their tests)
//
// test/lint-fixtures/** is ignored here; test/lint.test.ts lints those fixtures with THIS file
// (`overrideConfigFile`) as if they lived in src/protocols/ and src/sim/.
import { builtinModules } from 'node:module';
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

export default defineConfig([
  globalIgnores(['**/node_modules/', 'out/', 'artifacts/', 'test/lint-fixtures/**']),

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
]);
