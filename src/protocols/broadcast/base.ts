/**
 * Shared plumbing of the broadcast protocols: each one is a layer wrapped around a perfect link
 * (the reliable engine in mode `pl`), as the textbook builds broadcast on perfect links.
 *
 * Guarantees: outputs keep program order exactly. A subclass's `deliver()` and its link sends
 * appear in the output list in the order the subclass made them (each `sendTo` drains the
 * link's outputs at once), so "deliver, then relay" and "relay, then deliver" are different
 * programs and a crash between outputs tells them apart, as the course's cases need.
 * Assumes: crash-stop (broadcast state is volatile; a recovered node starts afresh).
 *
 * The API common to every broadcast: command `{ type: 'broadcast', payload }`; delivery
 * `{ type: 'deliver', origin, n, payload }` where `n` is the origin's broadcast number (1, 2, …).
 */

import type { NodeId } from '../../core/ids.ts';
import type { NodeContext } from '../../core/protocol.ts';
import { OverReliableLink } from '../link/layer.ts';
import type { ReliableOptions } from '../link/reliable.ts';

export interface BroadcastCommand {
  readonly type: 'broadcast';
  readonly payload: unknown;
}

export interface BroadcastDeliver {
  readonly type: 'deliver';
  readonly origin: NodeId;
  readonly n: number;
  readonly payload: unknown;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

export function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
}

/**
 * A broadcast layer over perfect links: the reliable engine in mode `pl`, its timers and durable
 * keys under `pl/`.
 */
export abstract class OverPerfectLinks<C, D> extends OverReliableLink<C, D> {
  constructor(ctx: NodeContext, linkOpts: Partial<ReliableOptions> = {}) {
    super(ctx, { ...linkOpts, defaultMode: 'pl' }, 'pl');
  }
}
