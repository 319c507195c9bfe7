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

import { SteadfastError } from '../../core/errors.ts';
import type { NodeId } from '../../core/ids.ts';
import type { NodeContext, StackSpec } from '../../core/protocol.ts';
import { SeqSet } from '../../core/seqset.ts';
import { OverReliableLink } from '../link/layer.ts';
import { isReliableMsg, type ReliableMsg, type ReliableOptions } from '../link/reliable.ts';

export interface BroadcastCommand {
  readonly type: 'broadcast';
  readonly payload: unknown;
}

/**
 * Refuses a command that is not `{ type: 'broadcast', payload }` (local misuse, e.g. a store's
 * command sent to a broadcast node) with SteadfastError('unknown-command'), before any output.
 */
export function requireBroadcastCommand(
  who: string,
  cmd: unknown,
): asserts cmd is BroadcastCommand {
  if (!isObject(cmd) || cmd.type !== 'broadcast' || !('payload' in cmd)) {
    const got = JSON.stringify(cmd) as string | undefined;
    throw new SteadfastError(
      'unknown-command',
      `${who}: expected { type: "broadcast", payload }, got ${(got ?? String(cmd)).slice(0, 80)}`,
    );
  }
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

/** A broadcast message that names its origin `o` and the origin's broadcast number `n`. */
export interface OriginMsg<K extends string> {
  readonly k: K;
  readonly o: NodeId;
  readonly n: number;
  readonly payload: unknown;
}

/** True for `{ k, o, n, payload }` with the expected kind and an origin among `nodes`. */
export function isOriginMsg<K extends string>(
  v: unknown,
  k: K,
  nodes: readonly NodeId[],
): v is OriginMsg<K> {
  return (
    isObject(v) &&
    v.k === k &&
    typeof v.o === 'string' &&
    nodes.includes(v.o) &&
    isCount(v.n) &&
    'payload' in v
  );
}

/** The per-origin set of broadcast numbers in `sets`, created (bounded by `windowMax`) on first use. */
export function seqSetOf(sets: Map<NodeId, SeqSet>, origin: NodeId, windowMax: number): SeqSet {
  let s = sets.get(origin);
  if (s === undefined) {
    s = new SeqSet(windowMax);
    sets.set(origin, s);
  }
  return s;
}

/** The stack of a broadcast over perfect links: its messages are the reliable engine's. */
export function broadcastStack<C, D>(
  name: string,
  create: (ctx: NodeContext) => OverReliableLink<C, D>,
): StackSpec<ReliableMsg, C, D> {
  return { name, create, isMessage: isReliableMsg };
}
