// Cycle fixture (test/cycles.test.ts): ping.ts and pong.ts import each other at run time, so
// `dpdm --transform` must report a circular dependency.
import { pong } from './pong.ts';

export function ping(n: number): number {
  return n <= 0 ? 0 : pong(n - 1) + 1;
}
