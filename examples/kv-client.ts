// The replicated store from a program: three `steadfast kv serve` replicas on loopback (TCP
// between them, each with its HTTP API), then `KvClient` writes and reads through them. A write
// carries one Idempotency-Key on every retry, so sending it again applies it once.
//
//   Run: node kv-client.js (after tsc), or node --import tsx kv-client.ts
//   Against a cluster you started yourself (README, "A replicated store you can curl"):
//     const kv = new KvClient({ endpoints: ['http://127.0.0.1:8001', 'http://127.0.0.1:8002'] });
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freeTcpPort, KvClient } from 'steadfast';

const dir = mkdtempSync(join(tmpdir(), 'steadfast-kv-client-'));
const ids = ['n1', 'n2', 'n3'];
const nodes: Record<string, unknown> = {};
const endpoints: string[] = [];
for (const id of ids) {
  const http = await freeTcpPort();
  nodes[id] = {
    host: '127.0.0.1',
    port: await freeTcpPort(),
    http: { host: '127.0.0.1', port: http },
  };
  endpoints.push(`http://127.0.0.1:${http}`);
}
const config = join(dir, 'cluster.json');
writeFileSync(config, JSON.stringify({ transport: 'tcp', dataDir: 'data', nodes }));

// The installed package's `steadfast` command; --init: these replicas are new.
const bin = fileURLToPath(
  new URL('./bin/steadfast.mjs', import.meta.resolve('steadfast/package.json')),
);
const replicas: ChildProcess[] = [];
await Promise.all(
  ids.map(
    (id) =>
      new Promise<void>((resolve, reject) => {
        const p = spawn(
          process.execPath,
          [bin, 'kv', 'serve', '--config', config, '--id', id, '--init'],
          {
            stdio: ['ignore', 'pipe', 'inherit'],
          },
        );
        replicas.push(p);
        p.once('exit', (code) => reject(new Error(`replica ${id} exited with ${String(code)}`)));
        createInterface({ input: p.stdout! }).on('line', (line) => {
          if (line.includes('"ready"')) resolve();
        });
      }),
  ),
);

try {
  const kv = new KvClient({ endpoints });
  await kv.put('greeting', 'hello');
  console.log(`greeting = ${JSON.stringify(await kv.get('greeting'))}`);

  // One logical request, sent twice with the same key (as a retry after a lost answer would be).
  const once = { idempotencyKey: 'example-visit-1' };
  const first = await kv.incr('visits', 5, once);
  const again = await kv.incr('visits', 5, once);
  console.log(
    `incr twice with one idempotency key: ${first}, ${again}; visits = ${String(await kv.get('visits'))}`,
  );

  console.log(`cas hello→bonjour: ${await kv.cas('greeting', 'hello', 'bonjour')}`);
  console.log(`cas hello→hola: ${await kv.cas('greeting', 'hello', 'hola')}`);
  await kv.delete('greeting');
  console.log(`after delete: ${String(await kv.get('greeting'))}`);
} finally {
  for (const p of replicas) {
    p.removeAllListeners('exit');
    p.kill('SIGTERM');
  }
  await Promise.all(
    replicas.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)))),
  );
  rmSync(dir, { recursive: true, force: true });
}
