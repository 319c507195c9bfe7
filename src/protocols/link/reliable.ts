/**
 * The reliable-link engine's public face: everything the other layers, the runtime and the tests
 * use, re-exported from its parts under reliable/ (endpoint.ts states the engine's guarantees;
 * each part states its own).
 */

export { ReliableEndpoint, type PendingSend } from './reliable/endpoint.ts';
export { APPLIED_KEY } from './reliable/durable-keys.ts';
export type { InboxEntry } from './reliable/inbox.ts';
export { RELIABLE_DEFAULTS, type ReliableOptions, type SendObserver } from './reliable/options.ts';
export type { ReliableStats } from './reliable/out.ts';
export { POLICY, type ModePolicy } from './reliable/policy.ts';
export {
  isReliableMsg,
  MODES,
  type AckMsg,
  type DataMsg,
  type Effect,
  type Mode,
  type ReliableCommand,
  type ReliableDeliver,
  type ReliableInboxAck,
  type ReliableMsg,
  type ReliableSend,
} from './reliable/wire.ts';
