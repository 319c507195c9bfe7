/**
 * The body of `steadfast node` shared by the CLI and src/runtime/node-main.ts: checks the flags,
 * loads and validates the config (errors name the field), runs the node until it stops.
 *
 * Guarantees: returns the process exit code (0 clean stop, 2 usage/config error or a data
 * directory that is missing without --init or present with it, 70 protocol
 * bug, 1 unexpected failure such as a port in use); never throws.
 */

import { SteadfastError } from '../core/errors.ts';
import { loadConfig, ConfigError } from './config.ts';
import { runNodeProcess } from './node.ts';

export async function runNodeMain(opts: {
  id: string | undefined;
  config: string | undefined;
  deliveries: boolean;
  /** The node is new: its data must not exist yet (`--init`). */
  init: boolean;
  /** `--listen PATH`: also serve JSON Lines on a Unix domain socket there (listen.ts). */
  listen?: string | undefined;
  /** `--inbox-max N`: the durable inbox, at most N unacknowledged messages (a positive integer). */
  inboxMax?: string | undefined;
  writeErr: (s: string) => void;
}): Promise<number> {
  if (opts.id === undefined || opts.id === '') {
    opts.writeErr('steadfast node: --id <node> is required\n');
    return 2;
  }
  if (opts.config === undefined || opts.config === '') {
    opts.writeErr('steadfast node: --config <file> is required\n');
    return 2;
  }
  if (opts.listen === '') {
    opts.writeErr('steadfast node: --listen needs a socket path\n');
    return 2;
  }
  let inboxMax: number | undefined;
  if (opts.inboxMax !== undefined) {
    inboxMax = Number(opts.inboxMax);
    if (!Number.isSafeInteger(inboxMax) || inboxMax < 1) {
      opts.writeErr(
        `steadfast node: --inbox-max must be a positive integer, got ${opts.inboxMax}\n`,
      );
      return 2;
    }
  }
  let cfg;
  try {
    cfg = loadConfig(opts.config);
  } catch (e) {
    if (e instanceof ConfigError) {
      opts.writeErr(`steadfast node: bad config ${opts.config}:\n${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (!(opts.id in cfg.nodes)) {
    opts.writeErr(
      `steadfast node: --id ${opts.id} is not in the config's nodes (${Object.keys(cfg.nodes).join(', ')})\n`,
    );
    return 2;
  }
  try {
    return await runNodeProcess(cfg, opts.id, {
      deliveries: opts.deliveries,
      init: opts.init,
      ...(opts.listen === undefined ? {} : { listen: opts.listen }),
      ...(inboxMax === undefined ? {} : { inboxMax }),
      write: (line) => process.stdout.write(line),
      writeErr: opts.writeErr,
    });
  } catch (e) {
    opts.writeErr(`steadfast node ${opts.id}: ${e instanceof Error ? e.message : String(e)}\n`);
    return e instanceof SteadfastError && e.code === 'bad-argument' ? 2 : 1;
  }
}
