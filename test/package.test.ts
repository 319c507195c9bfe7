/**
 * The npm package as a user gets it: `npm pack` (which builds dist/ in prepack), the tarball
 * installed into a fresh project, the examples type-checked there by the project's own tsc
 * against the package's .d.ts, compiled, and run on plain node (no tsx anywhere in the project).
 *
 * Guarantees: the tarball ships dist/, the bin and package.json/README only; `steadfast`,
 * `steadfast/sim` and `steadfast/check` resolve and type-check in a strict consumer project
 * (skipLibCheck off: an error in our .d.ts fails here); every example exits 0 and prints what it
 * should; `NodeProcess` supervises a node running the compiled node-main.js (no loader); the
 * installed `steadfast` command runs the compiled CLI.
 * Assumes: `npm ci` ran in this checkout (its npm cache holds every dependency's tarball, so the
 * install is offline-first; the registry is reached only for a miss). The install skips
 * dependencies' install scripts and takes better-sqlite3's native module from this checkout's
 * node_modules (the same pinned version, built for this node): its prebuilt-binary download
 * comes from GitHub, which CI machines may not reach.
 * The pack runs in a staged copy of the checkout (node_modules linked), so it never rewrites the
 * working tree's dist/ under a concurrent build or test.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
/** Every example (examples/NAME.ts) and what its output must contain. */
const EXAMPLES: Record<string, readonly RegExp[]> = {
  'two-nodes': [/n2 received 200 of 200 messages, 0 more than once/],
  effect: [
    /n2 applied 300 orders, 750 in total/,
    /after a restart n2's state holds 300 orders: 0 missing, 0 counted twice/,
    /a Map as the state is refused \(bad-argument\): effect\.init must be plain data/,
  ],
  inbox: [
    /after the restart [1-9]\d* were offered again, [1-9]\d* of them already applied/,
    /the store holds 500 of 500 messages, 0 more than once/,
  ],
  simulate: [
    /seed 7: every property holds/,
    /at-most-once under omission: fail-safe/,
    /exactly-once under omission: masking/,
  ],
  'check-history': [/history 1: ok/, /history 2: violation on key x: #1 a put .*; #4 b get/],
  // Three `steadfast kv serve` replicas from the installed command, then KvClient.
  'kv-client': [
    /greeting = "hello"/,
    /incr twice with one idempotency key: 5, 5; visits = 5/,
    /cas hello→bonjour: true/,
    /cas hello→hola: false/,
  ],
};

/** Top-level entries of the checkout the staged copy leaves out (installed or generated). */
const NOT_STAGED = new Set(['node_modules', '.git', 'dist', 'out', 'artifacts', '.tmp']);

/** The environment for npm, without what an enclosing `npm test` exports about this package. */
function npmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    const lower = k.toLowerCase();
    if (
      !lower.startsWith('npm_') ||
      lower === 'npm_config_cache' ||
      lower === 'npm_config_registry'
    )
      env[k] = v;
  }
  return { ...env, NO_COLOR: '1', npm_config_update_notifier: 'false' };
}

function run(cmd: string, args: readonly string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: npmEnv(), timeout: 120_000 });
  assert.equal(
    r.status,
    0,
    `${cmd} ${args.join(' ')} (in ${cwd}) exited ${String(r.status ?? r.signal)}\n${r.stdout}\n${r.stderr}`,
  );
  return r.stdout;
}

function versionOf(pkg: string): string {
  const json = JSON.parse(
    readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8'),
  ) as { version: string };
  return json.version;
}

test('package: the packed tarball installs into a fresh project, whose examples type-check and run on plain node', () => {
  const work = mkdtempSync(join(tmpdir(), 'sf-package-'));
  try {
    // 1. Pack from a staged copy of the checkout.
    const stage = join(work, 'stage');
    cpSync(root, stage, {
      recursive: true,
      filter: (src) => !NOT_STAGED.has(relative(root, src).split(/[\\/]/)[0] ?? ''),
    });
    symlinkSync(join(root, 'node_modules'), join(stage, 'node_modules'), 'dir');
    // (prepack's own output may precede the JSON on stdout)
    const packOut = run('npm', ['pack', '--json', '--pack-destination', work], stage);
    const packed = JSON.parse(packOut.slice(packOut.search(/^\[/m))) as {
      filename: string;
      size: number;
      files: { path: string }[];
    }[];
    const info = packed[0];
    assert.ok(info !== undefined, 'npm pack reported no tarball');
    const files = info.files.map((f) => f.path);
    const stray = files.filter(
      (f) => !/^(dist\/|bin\/steadfast\.mjs$|package\.json$|README\.md$|LICENSE$)/.test(f),
    );
    assert.deepEqual(stray, [], 'only dist/, the bin, package.json, README and LICENSE ship');
    for (const f of [
      'dist/api/index.js',
      'dist/api/index.d.ts',
      'dist/api/sim.js',
      'dist/api/sim.d.ts',
      'dist/api/check.js',
      'dist/api/check.d.ts',
      'dist/cli/main.js',
      'dist/runtime/node-main.js',
      'dist/matrix/worker-entry.mjs',
      'dist/runtime/storage-worker-entry.mjs',
    ]) {
      assert.ok(files.includes(f), `the tarball has ${f}`);
    }
    assert.equal(files.filter((f) => f.includes('.test.')).length, 0, 'no tests in the tarball');

    // 2. A fresh project: ESM, strict TypeScript, the tarball and the compiler from the registry.
    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'steadfast-consumer', private: true, type: 'module' }, null, 2),
    );
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify(
        {
          compilerOptions: {
            target: 'ES2022',
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            lib: ['ES2022'],
            types: ['node'],
            strict: true,
            skipLibCheck: false,
            outDir: 'out',
            rootDir: '.',
          },
          include: ['*.ts'],
        },
        null,
        2,
      ),
    );
    const examples = readdirSync(join(root, 'examples')).filter((f) => f.endsWith('.ts'));
    assert.deepEqual(
      examples.map((f) => f.slice(0, -3)).sort(),
      Object.keys(EXAMPLES).sort(),
      'every examples/*.ts runs here: give a new one its expected output in EXAMPLES',
    );
    for (const f of examples) copyFileSync(join(root, 'examples', f), join(app, f));
    run(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        join(work, info.filename),
        `typescript@${versionOf('typescript')}`,
        `@types/node@${versionOf('@types/node')}`,
      ],
      app,
    );
    const native = join('better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
    mkdirSync(join(app, 'node_modules', 'better-sqlite3', 'build', 'Release'), { recursive: true });
    copyFileSync(join(root, 'node_modules', native), join(app, 'node_modules', native));
    assert.equal(existsSync(join(app, 'node_modules', 'tsx')), false, 'tsx is not installed');

    // 3. Type-check and compile the examples against the package's .d.ts.
    run(process.execPath, [join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], app);

    // 4. The entry points resolve on plain node, and a supervised node process (NodeProcess runs
    // the compiled node-main.js, no loader) starts new, is killed, and recovers.
    writeFileSync(
      join(app, 'surface.mjs'),
      `import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
const [a, b, c] = await Promise.all([import('steadfast'), import('steadfast/sim'), import('steadfast/check')]);
console.log(typeof a.startNode, typeof b.Simulator, typeof c.checkLinearizability);
const dir = mkdtempSync(join(${JSON.stringify(work)}, 'np-'));
const configPath = join(dir, 'cluster.json');
const port = async () => ({ host: '127.0.0.1', port: await a.freeUdpPort() });
writeFileSync(configPath, JSON.stringify({ nodes: { n1: await port(), n2: await port() }, dataDir: 'data' }));
const p = new a.NodeProcess({ id: 'n1', configPath });
const first = await p.start();
await p.kill9();
const again = await p.start();
console.log('incarnations', first.incarnation, again.incarnation, 'exit', await p.stop());
`,
    );
    const surface = run(process.execPath, [join(app, 'surface.mjs')], app);
    assert.match(surface, /^function function function$/m);
    assert.match(surface, /^incarnations 0 1 exit 0$/m);

    // 5. Each example, compiled, on plain node.
    for (const [name, expected] of Object.entries(EXAMPLES)) {
      const printed = run(process.execPath, [join(app, 'out', `${name}.js`)], app);
      for (const pattern of expected) assert.match(printed, pattern, `examples/${name}.ts`);
    }

    // 6. The installed command runs the compiled CLI.
    const bin = join(app, 'node_modules', '.bin', 'steadfast');
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    assert.equal(run(bin, ['--version'], app).trim(), pkg.version);
    assert.match(
      run(bin, ['sim', '--protocol', 'exactly-once', '--faults', 'omission', '--seed', '3'], app),
      /no-duplication/,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
