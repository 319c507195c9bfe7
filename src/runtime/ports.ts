/**
 * Free loopback ports for a local cluster and for tests: ask the kernel for an ephemeral port
 * (bind to port 0), note it, release it.
 *
 * Guarantees: the port was free a moment ago. Assumes: nobody takes it between release and reuse;
 * on one machine that race is rare, and a node that hits it exits at once with EADDRINUSE.
 */

import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

export async function freeUdpPort(host = '127.0.0.1'): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, host, () => {
      resolve();
    });
  });
  const port = s.address().port;
  await new Promise<void>((resolve) => {
    s.close(() => {
      resolve();
    });
  });
  return port;
}

export async function freeTcpPort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      resolve();
    });
  });
  const a = server.address();
  const port = typeof a === 'object' && a !== null ? a.port : 0;
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
  return port;
}
