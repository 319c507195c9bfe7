/**
 * The rule that keeps a lost disk from rejoining as an empty member: a node's state file
 * (`<dataDir>/<id>/state.db`) must exist when the node starts, unless the caller says the node is
 * new (`--init`, `{ init: true }`), and must not exist when it says so.
 *
 * Why: a node that starts from nothing at incarnation 0 has forgotten what it acknowledged (its
 * dedup marks, its delivered log, its votes), so in-flight messages are applied twice and a
 * replica can undo acknowledged writes. Treating a missing directory as a new node hides exactly
 * the failure (a lost or wrong disk) that must be seen.
 *
 * Guarantees: `checkNodeState` throws a `SteadfastError('bad-argument')` naming the path and the
 * fix; it creates nothing.
 */

import { existsSync } from 'node:fs';
import { SteadfastError } from '../core/errors.ts';

export function checkNodeState(statePath: string, id: string, init: boolean): void {
  const exists = existsSync(statePath);
  if (!exists && !init) {
    throw new SteadfastError(
      'bad-argument',
      `node ${id} has no state at ${statePath}: if this is a new node, start it once with --init ` +
        `({ init: true }); if it is not, its data directory is lost or misplaced (check dataDir), ` +
        `and starting it empty could apply messages twice or undo acknowledged writes`,
    );
  }
  if (exists && init) {
    throw new SteadfastError(
      'bad-argument',
      `--init: node ${id} already has state at ${statePath}; start it without --init to ` +
        `recover that state, or remove the file to make it a new node`,
    );
  }
}
