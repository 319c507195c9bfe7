/**
 * Process entry of one node: `node --import tsx src/runtime/node-main.ts --id n1 --config
 * cluster.json [--init] [--no-deliveries] [--listen PATH] [--inbox-max N]`. The same as `steadfast node`, without loading the whole CLI
 * (the local cluster and the tests spawn nodes through it).
 *
 * Guarantees: exit code 0 after a clean stop, 2 for a bad flag or config (one line naming the
 * field on stderr), 70 for a protocol bug, 1 for anything else unexpected.
 */

import { parseArgs } from 'node:util';
import { runNodeMain } from './node-run.ts';

let args;
try {
  args = parseArgs({
    options: {
      id: { type: 'string' },
      config: { type: 'string' },
      'no-deliveries': { type: 'boolean', default: false },
      init: { type: 'boolean', default: false },
      listen: { type: 'string' },
      'inbox-max': { type: 'string' },
    },
    strict: true,
  }).values;
} catch (e) {
  process.stderr.write(`steadfast node: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(2);
}
process.exitCode = await runNodeMain({
  id: args.id,
  config: args.config,
  deliveries: !args['no-deliveries'],
  init: args.init,
  listen: args.listen,
  inboxMax: args['inbox-max'],
  writeErr: (s) => process.stderr.write(s),
});
