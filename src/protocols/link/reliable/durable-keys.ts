/**
 * The reliable link's durable keys: one codec for writing and reading them back, so the two can
 * never disagree.
 *
 *   seq/<peer>          the sender's sequence reservation towards <peer> (a number)
 *   rx/<peer>           the receiver's dedup state for <peer>: { w, win } (watermark, window)
 *   tx/<peer>/<seq>     a send-buffer entry (the data message), deleted when acked
 *   key/<key>           an exactly-once idempotency key and its expiry time
 *   app                 the application effect's state
 *   applied             the last message applied (amo/eo): { from, seq, payload }
 *   inbox/<peer>/<seq>  a message held in the durable inbox until the application acks it
 *                       (`inboxMax` set): { payload[, key] }, deleted by its `inbox-ack`
 *
 * Guarantees: `parseKey(formatted)` returns what was formatted, for every node id and key,
 * including ids and keys that contain '/' (the seq of a `tx` or `inbox` key is the part after the LAST
 * slash, and `seq`, `rx` and `key` keep everything after their prefix). A key of another
 * shape parses as `undefined` and is ignored.
 */

import type { NodeId } from '../../../core/ids.ts';

export const APP_KEY = 'app';
/** Durable key naming the last message applied (amo/eo), written in the same batch as its mark. */
export const APPLIED_KEY = 'applied';

export type DurableKey =
  | { readonly kind: 'seq'; readonly peer: NodeId }
  | { readonly kind: 'rx'; readonly peer: NodeId }
  | { readonly kind: 'tx'; readonly peer: NodeId; readonly seq: number }
  | { readonly kind: 'key'; readonly key: string }
  | { readonly kind: 'inbox'; readonly peer: NodeId; readonly seq: number }
  | { readonly kind: 'app' }
  | { readonly kind: 'applied' };

export const seqKey = (peer: NodeId): string => `seq/${peer}`;
export const rxKey = (peer: NodeId): string => `rx/${peer}`;
export const txKey = (peer: NodeId, seq: number): string => `tx/${peer}/${seq}`;
export const idemKey = (key: string): string => `key/${key}`;
export const inboxKey = (peer: NodeId, seq: number): string => `inbox/${peer}/${seq}`;

export function parseKey(key: string): DurableKey | undefined {
  if (key === APP_KEY) return { kind: 'app' };
  if (key === APPLIED_KEY) return { kind: 'applied' };
  if (key.startsWith('key/')) return { kind: 'key', key: key.slice(4) };
  if (key.startsWith('seq/') && key.length > 4) return { kind: 'seq', peer: key.slice(4) };
  if (key.startsWith('rx/') && key.length > 3) return { kind: 'rx', peer: key.slice(3) };
  for (const kind of ['tx', 'inbox'] as const) {
    const prefix = `${kind}/`;
    if (!key.startsWith(prefix)) continue;
    const slash = key.lastIndexOf('/');
    const seq = Number(key.slice(slash + 1));
    if (slash <= prefix.length || !Number.isSafeInteger(seq) || seq < 0) return undefined;
    return { kind, peer: key.slice(prefix.length, slash), seq };
  }
  return undefined;
}
