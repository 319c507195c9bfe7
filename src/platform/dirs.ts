/**
 * Creating a directory and its missing parents without `mkdirSync(dir, { recursive: true })`.
 *
 * Why: Node's recursive mkdir retries a component that fails with ENOENT although its parent
 * exists, as every mkdir under /proc does; `mkdirSync('/proc/nope', { recursive: true })` then
 * spins at 100% CPU forever (`steadfast cluster --dir /proc/nope` hung that way). Here every
 * missing component is made with one plain mkdir, in order, so any failure is thrown at once.
 *
 * Guarantees: returns only when `dir` exists and is a directory; otherwise throws the failing
 * call's error (its `code` and `path` name what failed). A component created concurrently by
 * someone else (EEXIST) is fine.
 */

import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

export function makeDirs(dir: string): void {
  const missing: string[] = [];
  let p = resolve(dir);
  for (;;) {
    try {
      if (!statSync(p).isDirectory()) {
        throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${p}'`), {
          code: 'ENOTDIR',
          path: p,
        });
      }
      break;
    } catch (err) {
      if (code(err) !== 'ENOENT') throw err;
      missing.push(p);
      const up = dirname(p);
      if (up === p) break;
      p = up;
    }
  }
  for (const m of missing.reverse()) {
    try {
      mkdirSync(m);
    } catch (err) {
      if (code(err) !== 'EEXIST' || !statSync(m).isDirectory()) throw err;
    }
  }
}
