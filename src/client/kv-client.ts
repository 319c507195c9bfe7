/**
 * A typed client of the replicated store's HTTP API (`steadfast kv serve`,
 * src/runtime/kv-http.ts), on the global `fetch` of Node 20 (keep-alive by default).
 *
 *   const kv = new KvClient({ endpoints: ['http://127.0.0.1:8001', 'http://127.0.0.1:8002'] });
 *   await kv.put('greeting', 'hello');
 *   const n = await kv.incr('visits', 1);         // the new value
 *   const swapped = await kv.cas('greeting', 'hello', 'bonjour');
 *   const v = await kv.get('greeting');            // undefined when absent
 *
 * GUARANTEES
 * - Every write is ONE logical request with one `Idempotency-Key` (a random UUID unless given),
 *   reused on every retry: a write whose answer was lost, or that timed out (504), is retried at
 *   the next endpoint and applied at most once (within the server's session window).
 * - Retries: on a connection error, a 5xx or a timeout of `attemptTimeoutMs`, the next endpoint in
 *   turn, after `backoffMs · 2^k` (capped at `backoffMsMax`, with equal jitter), at most
 *   `attemptsMax` attempts. Next time the leader's endpoint is tried first when the answer named
 *   it (`X-Steadfast-Leader`, if it is one of `endpoints`), else the one that answered.
 * - Failure is typed: `KvError.code` is the server's problem code (`precondition-failed` is not an
 *   error: `cas` returns false; `not-found` is not an error: `get` returns undefined), or
 *   `unavailable` (every attempt failed and none can have applied the write) or `indefinite`
 *   (the write may have happened: retry it with the same `idempotencyKey` to find out).
 * ASSUMES: the endpoints are replicas of one store (any of them forwards to the leader).
 */

export interface KvClientOptions {
  /** Base URLs of the replicas, e.g. `http://127.0.0.1:8001`. */
  readonly endpoints: readonly string[];
  /** One HTTP attempt gives up after this long (default 15,000: past the server's 10 s). */
  readonly attemptTimeoutMs?: number;
  /** Attempts per operation, over the endpoints in turn (default 8). */
  readonly attemptsMax?: number;
  /** First backoff between attempts (default 100). */
  readonly backoffMs?: number;
  /** Backoff cap (default 2,000). */
  readonly backoffMsMax?: number;
  /** A fetch to use instead of the global one (tests). */
  readonly fetch?: typeof fetch;
}

export interface WriteOptions {
  /** The request's idempotency key (default: a fresh random UUID per call). */
  readonly idempotencyKey?: string;
}

export type Consistency = 'linearizable' | 'stale';

/** An RFC 9457 problem as the server sends it. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail?: string;
  readonly code: string;
}

export class KvError extends Error {
  constructor(
    /** The server's problem code, or `unavailable` / `indefinite` (see the module header). */
    readonly code: string,
    message: string,
    readonly status?: number,
    readonly problem?: Problem,
  ) {
    super(message);
    this.name = 'KvError';
  }

  /** The write may or may not have happened. */
  get indefinite(): boolean {
    return this.code === 'indefinite';
  }
}

interface Attempt {
  readonly status: number;
  readonly body: unknown;
}

export class KvClient {
  private readonly endpoints: readonly string[];
  private readonly attemptTimeoutMs: number;
  private readonly attemptsMax: number;
  private readonly backoffMs: number;
  private readonly backoffMsMax: number;
  private readonly fetchFn: typeof fetch;
  /** The endpoints' origins (scheme, host, port), to recognise the leader's. */
  private readonly origins: readonly string[];
  /** The endpoint tried first: the leader's if the last answer named it, else the one that answered. */
  private preferred = 0;

  constructor(opts: KvClientOptions) {
    if (opts.endpoints.length === 0) {
      throw new RangeError('KvClient: endpoints must list at least one base URL');
    }
    this.endpoints = opts.endpoints.map((e) => {
      const u = new URL(e); // throws TypeError on a malformed URL
      if (u.protocol !== 'http:' && u.protocol !== 'https:') {
        throw new RangeError(`KvClient: endpoint ${e} is not http(s)`);
      }
      return e.replace(/\/+$/, '');
    });
    this.origins = this.endpoints.map((e) => originOf(e) ?? e);
    this.attemptTimeoutMs = positive('attemptTimeoutMs', opts.attemptTimeoutMs ?? 15_000);
    this.attemptsMax = positive('attemptsMax', opts.attemptsMax ?? 8);
    this.backoffMs = positive('backoffMs', opts.backoffMs ?? 100);
    this.backoffMsMax = Math.max(this.backoffMs, opts.backoffMsMax ?? 2000);
    this.fetchFn = opts.fetch ?? globalThis.fetch;
  }

  /** The value of `key`, or undefined when it is absent. */
  async get(key: string, opts: { consistency?: Consistency } = {}): Promise<unknown> {
    const q = opts.consistency === undefined ? '' : `?consistency=${opts.consistency}`;
    const r = await this.request('GET', `${path(key)}${q}`, undefined, undefined);
    if (r.status === 404 && codeOf(r.body) === 'not-found') return undefined;
    return valueOf(this.expectOk(r));
  }

  async put(key: string, value: unknown, opts: WriteOptions = {}): Promise<void> {
    if (value === undefined)
      throw new RangeError('KvClient.put: value must be JSON (not undefined)');
    this.expectOk(await this.request('PUT', path(key), value, idem(opts)));
  }

  async delete(key: string, opts: WriteOptions = {}): Promise<void> {
    this.expectOk(await this.request('DELETE', path(key), undefined, idem(opts)));
  }

  /** Adds `delta` (a safe integer) to the number at `key` (absent: 0); returns the new value. */
  async incr(key: string, delta = 1, opts: WriteOptions = {}): Promise<number> {
    const r = await this.request('POST', `${path(key)}/incr`, { delta }, idem(opts));
    const v = valueOf(this.expectOk(r));
    if (typeof v !== 'number') throw new KvError('bad-response', `incr answered ${String(v)}`);
    return v;
  }

  /** Sets `key` to `to` if it holds `from` (null: absent); false when it does not. */
  async cas(key: string, from: unknown, to: unknown, opts: WriteOptions = {}): Promise<boolean> {
    const r = await this.request('POST', `${path(key)}/cas`, { from, to }, idem(opts));
    if (r.status === 412 && codeOf(r.body) === 'precondition-failed') return false;
    this.expectOk(r);
    return true;
  }

  // ---------------------------------------------------------------------------- internals

  private expectOk(r: Attempt): unknown {
    if (r.status >= 200 && r.status < 300) return r.body;
    const p = r.body as Partial<Problem> | undefined;
    const code = typeof p?.code === 'string' ? p.code : `http-${r.status}`;
    throw new KvError(
      code,
      `${code}: ${typeof p?.detail === 'string' ? p.detail : `HTTP ${r.status}`}`,
      r.status,
      p as Problem,
    );
  }

  /**
   * One logical request: attempts over the endpoints until an answer that is not a 5xx. Throws
   * KvError 'unavailable' or 'indefinite' when every attempt failed.
   */
  private async request(
    method: string,
    target: string,
    body: unknown,
    idemKey: string | undefined,
  ): Promise<Attempt> {
    const write = method !== 'GET';
    let mayHaveHappened = false;
    let last = '';
    for (let attempt = 0; attempt < this.attemptsMax; attempt++) {
      if (attempt > 0) await sleep(this.backoff(attempt));
      const i = (this.preferred + attempt) % this.endpoints.length;
      const base = this.endpoints[i] as string;
      const headers: Record<string, string> = { accept: 'application/json' };
      if (body !== undefined) headers['content-type'] = 'application/json';
      if (idemKey !== undefined) headers['idempotency-key'] = idemKey;
      let res: Response;
      try {
        res = await this.fetchFn(`${base}${target}`, {
          method,
          headers,
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(this.attemptTimeoutMs),
        });
      } catch (e) {
        // Refused: never reached a server. Anything else (reset, timeout): it may have.
        if (!refused(e)) mayHaveHappened = true;
        last = `${base}: ${describe(e)}`;
        continue;
      }
      let parsed: unknown;
      try {
        const text = await res.text();
        parsed = text === '' ? undefined : (JSON.parse(text) as unknown);
      } catch (e) {
        mayHaveHappened = true;
        last = `${base}: unreadable answer (${describe(e)})`;
        continue;
      }
      if (res.status >= 500) {
        // 503 says "not applied"; 504 and the rest may have applied.
        if (res.status !== 503) mayHaveHappened = true;
        last = `${base}: HTTP ${res.status} ${codeOf(parsed) ?? ''}`.trim();
        continue;
      }
      this.preferred = this.leaderIndex(res.headers.get('x-steadfast-leader')) ?? i;
      return { status: res.status, body: parsed };
    }
    if (write && mayHaveHappened) {
      throw new KvError(
        'indefinite',
        `indefinite: ${method} ${target} may or may not have happened after ${this.attemptsMax} attempts (last: ${last})` +
          (idemKey === undefined ? '' : `; retry with idempotencyKey ${idemKey} to find out`),
      );
    }
    throw new KvError(
      'unavailable',
      `unavailable: ${method} ${target} failed on every attempt (last: ${last})`,
    );
  }

  /** The index of the endpoint the server named as the leader's, if it is one of ours. */
  private leaderIndex(url: string | null): number | undefined {
    if (url === null) return undefined;
    const i = this.origins.indexOf(originOf(url) ?? '');
    return i < 0 ? undefined : i;
  }

  private backoff(attempt: number): number {
    const d = Math.min(this.backoffMsMax, this.backoffMs * 2 ** Math.min(attempt - 1, 20));
    return d / 2 + Math.random() * (d / 2);
  }
}

function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

function positive(name: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0)
    throw new RangeError(`KvClient: ${name} must be > 0, got ${v}`);
  return v;
}

function path(key: string): string {
  if (key === '') throw new RangeError('KvClient: a key is a non-empty string');
  return `/v1/kv/${encodeURIComponent(key)}`;
}

function idem(opts: WriteOptions): string {
  return opts.idempotencyKey ?? globalThis.crypto.randomUUID();
}

function codeOf(body: unknown): string | undefined {
  const c = (body as { code?: unknown } | undefined)?.code;
  return typeof c === 'string' ? c : undefined;
}

function valueOf(body: unknown): unknown {
  return (body as { value?: unknown } | undefined)?.value;
}

function refused(e: unknown): boolean {
  const cause = (e as { cause?: { code?: unknown } } | undefined)?.cause;
  return cause?.code === 'ECONNREFUSED';
}

function describe(e: unknown): string {
  const cause = (e as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  return e instanceof Error ? e.message : String(e);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
