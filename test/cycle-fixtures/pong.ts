// Cycle fixture (test/cycles.test.ts): see ping.ts.
import { ping } from './ping.ts';

export function pong(n: number): number {
  return n <= 0 ? 0 : ping(n - 1) + 1;
}
