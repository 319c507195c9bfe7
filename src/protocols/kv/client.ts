/**
 * The client side every store's node proxy shares: per-client queues with one operation in
 * flight, and the retry schedule (exponential backoff with jitter from the injected Rng).
 *
 * GUARANTEES
 * - A client's operations run one at a time, in the order their commands arrived; `submit`
 *   refuses (returns the reason) beyond `queueMax` waiting operations per client or `clientsMax`
 *   distinct clients hosted (a client is remembered for the node's incarnation: a store may key
 *   its sessions by it), so the proxy's memory is bounded.
 * - Every operation started has a deadline `timeoutMs` after its start: the caller reports it as
 *   'indefinite' then (it may or may not have happened), never as failed.
 * - `retryDelayMs`: the k-th retry waits d/2 + uniform[0, d/2] with d = min(retryMsMax,
 *   retryMs · 2^(k−1)) ("equal jitter"): retries of many clients spread out instead of arriving
 *   in lockstep after a failover, and a long outage costs one request per retryMsMax, not one per
 *   retryMs. Never past the deadline.
 * The idempotency key of an operation (client session, serial) and leader discovery belong to
 * each store (their servers deduplicate and redirect differently); this module only schedules.
 * ASSUMES: single-threaded use from a protocol's handle* methods; `now` never goes backwards.
 */

import { assert, SteadfastError } from '../../core/errors.ts';
import type { Rng } from '../../core/rng.ts';
import type { KvCommand } from './types.ts';

export interface RetryPolicy {
  /** First retry after about this long (the base of the backoff). */
  readonly retryMs: number;
  /** Backoff cap. */
  readonly retryMsMax: number;
  /** The operation is indefinite this long after it started. */
  readonly timeoutMs: number;
}

/** Validates a retry policy; throws `SteadfastError('bad-argument')` naming the bad field. */
export function checkRetryPolicy(who: string, p: RetryPolicy): void {
  for (const field of ['retryMs', 'retryMsMax', 'timeoutMs'] as const) {
    const v = p[field];
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new SteadfastError(
        'bad-argument',
        `${who}: ${field} must be an integer ≥ 1, got ${JSON.stringify(v)}`,
      );
    }
  }
  if (p.retryMsMax < p.retryMs) {
    throw new SteadfastError(
      'bad-argument',
      `${who}: retryMsMax (${p.retryMsMax}) must be at least retryMs (${p.retryMs})`,
    );
  }
}

/** How long to wait before retry number `retry` (1, 2, …): see the module header. */
export function retryDelayMs(p: RetryPolicy, retry: number, rng: Rng): number {
  assert(retry >= 1, `retry-count: retries count from 1, got ${retry}`);
  const d = Math.min(p.retryMsMax, p.retryMs * 2 ** Math.min(retry - 1, 30));
  const half = Math.floor(d / 2);
  return Math.max(1, d - half + rng.int(half + 1));
}

/** An operation in flight: what every store's proxy tracks, plus its own fields `F`. */
export type InFlight<F> = F & {
  readonly cmd: KvCommand;
  readonly startedAt: number;
  readonly deadlineAt: number;
  /** Retries sent so far (0 after the first send). */
  retries: number;
};

interface ClientState<F> {
  readonly queue: KvCommand[];
  inflight: InFlight<F> | undefined;
}

export class ClientQueues<F> {
  private readonly clients = new Map<string, ClientState<F>>();

  constructor(
    private readonly limits: { readonly queueMax: number; readonly clientsMax: number },
    private readonly policy: RetryPolicy,
  ) {}

  /**
   * Queues `cmd` behind its client's operations. Returns undefined when queued, else why it was
   * refused (the caller answers 'fail': the operation was never sent).
   */
  submit(cmd: KvCommand): string | undefined {
    let c = this.clients.get(cmd.client);
    if (c === undefined) {
      if (this.clients.size >= this.limits.clientsMax) {
        return `this node hosts clientsMax = ${this.limits.clientsMax} clients`;
      }
      c = { queue: [], inflight: undefined };
      this.clients.set(cmd.client, c);
    }
    if (c.queue.length >= this.limits.queueMax) {
      return `client queue full (queueMax = ${this.limits.queueMax})`;
    }
    c.queue.push(cmd);
    return undefined;
  }

  /**
   * Starts the client's next operation if none is in flight; `make` adds the store's fields.
   * Returns it (the caller sends it), or undefined (busy, or nothing queued).
   */
  startNext(client: string, now: number, make: (cmd: KvCommand) => F): InFlight<F> | undefined {
    const c = this.clients.get(client);
    if (c === undefined || c.inflight !== undefined) return undefined;
    const cmd = c.queue.shift();
    if (cmd === undefined) return undefined;
    const op = {
      ...make(cmd),
      cmd,
      startedAt: now,
      deadlineAt: now + this.policy.timeoutMs,
      retries: 0,
    } as InFlight<F>;
    c.inflight = op;
    return op;
  }

  inflight(client: string): InFlight<F> | undefined {
    return this.clients.get(client)?.inflight;
  }

  /** Ends the client's operation in flight (answered or given up); returns it. */
  end(client: string): InFlight<F> | undefined {
    const c = this.clients.get(client);
    const op = c?.inflight;
    if (c !== undefined) c.inflight = undefined;
    return op;
  }

  /** When to retry `op` next (counting the retry), never past its deadline. */
  nextRetryAt(op: InFlight<F>, now: number, rng: Rng): number {
    op.retries++;
    return Math.min(op.deadlineAt, now + retryDelayMs(this.policy, op.retries, rng));
  }

  /** Clients hosted in this incarnation (at most clientsMax). */
  get size(): number {
    return this.clients.size;
  }
}
