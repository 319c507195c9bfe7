/**
 * A store replica (`steadfast kv serve`, src/runtime/kv-serve-main.ts) as a child process: the
 * supervisor of process.ts running the `kv-serve` program. Start (the first start passes --init
 * unless `init: false`), wait for its ready line, kill -9, stop with SIGTERM (SIGKILL after a
 * timeout), or run it to its exit to read a flag or config error.
 * Guarantees and assumptions: those of NodeProcess.
 */

import { NodeProcess, type NodeProcessOptions } from './process.ts';

export type KvProcessOptions = Omit<NodeProcessOptions, 'program' | 'deliveries'>;

export class KvProcess extends NodeProcess {
  constructor(opts: KvProcessOptions) {
    super({ ...opts, program: 'kv-serve' });
  }
}
