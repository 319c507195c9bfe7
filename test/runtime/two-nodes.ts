// A cluster config file for tests: two exactly-once channel nodes on loopback UDP, free ports;
// `overrides` replaces top-level fields (e.g. the stack's effect, appliedLog). And a node process.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeUdpPort } from '../../src/runtime/ports.ts';

/** Writes `<dir>/<file>` and returns its path. */
export async function writeTwoNodeConfig(
  dir: string,
  overrides: Readonly<Record<string, unknown>> = {},
  file = 'cluster.json',
): Promise<string> {
  const path = join(dir, file);
  writeFileSync(
    path,
    JSON.stringify({
      nodes: {
        n1: { host: '127.0.0.1', port: await freeUdpPort() },
        n2: { host: '127.0.0.1', port: await freeUdpPort() },
      },
      transport: 'udp',
      stack: { guarantee: 'exactly-once' },
      dataDir: './data',
      ...overrides,
    }),
  );
  return path;
}

/**
 * `node-main.ts` (one node, JSON Lines) as a child process with `args`, its stdout and stderr
 * collected; killed after the test `t` if it is still running.
 */
export function spawnNodeMain(
  t: { after: (fn: () => void) => void },
  args: readonly string[],
): {
  child: ChildProcessWithoutNullStreams;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
} {
  const main = fileURLToPath(new URL('../../src/runtime/node-main.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => {
    child.on('exit', (code) => {
      r(code);
    });
  });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return { child, out: () => out, err: () => err, exited };
}
