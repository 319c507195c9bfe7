/**
 * Process entry of one store replica: `node --import tsx src/runtime/kv-serve-main.ts --config
 * cluster.json --id n1 [--init]`. The same as `steadfast kv serve`, without loading the whole
 * CLI (tests and supervisors spawn replicas through it, kv-process.ts).
 *
 * Guarantees: the exit codes of runKvServe (kv-serve.ts); 2 for an unknown flag.
 */

import { parseArgs } from 'node:util';
import { runKvServe } from './kv-serve.ts';

let args;
try {
  args = parseArgs({
    options: {
      id: { type: 'string' },
      config: { type: 'string' },
      init: { type: 'boolean', default: false },
    },
    strict: true,
  }).values;
} catch (e) {
  process.stderr.write(`steadfast kv serve: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(2);
}
process.exitCode = await runKvServe({
  id: args.id,
  config: args.config,
  init: args.init,
  write: (s) => process.stdout.write(s),
  writeErr: (s) => process.stderr.write(s),
});
// Open handles (keep-alive sockets closing) must not hold a stopped replica.
process.exit();
