// A cluster config file for tests: two exactly-once channel nodes on loopback UDP, free ports;
// `overrides` replaces top-level fields (e.g. the stack's effect, appliedLog).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
