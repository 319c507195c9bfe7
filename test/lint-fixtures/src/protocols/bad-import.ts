// Lint fixture (test/lint.test.ts): imports Node builtins (network and file system), which
// protocol code must not do.
import { createSocket } from 'node:dgram';
import { readFileSync } from 'fs';

export function openLink(path: string): number {
  const socket = createSocket('udp4');
  socket.close();
  return readFileSync(path).length;
}
