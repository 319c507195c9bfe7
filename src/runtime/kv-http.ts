/**
 * The HTTP/JSON API of one replica of the consensus store (`steadfast kv serve`), on node:http.
 *
 *   GET    /v1/kv/{key}[?consistency=linearizable|stale]   → 200 {"key","value"} | 404 not-found
 *   PUT    /v1/kv/{key}            body: the JSON value     → 200 {"key","value"}
 *   DELETE /v1/kv/{key}                                     → 200 {"key","deleted":true}
 *   POST   /v1/kv/{key}/incr       body: {"delta": n} (default 1) → 200 {"key","value": new}
 *   POST   /v1/kv/{key}/cas        body: {"from": a, "to": b}     → 200 {"key","value": b,"swapped":true}
 *                                                             | 412 precondition-failed
 *   GET    /v1/health   → 200 (a leader is known) or 503, {"id","role","leader","term",…}
 *   GET    /metrics     → Prometheus text format 0.0.4
 * `{key}` is one path segment, percent-decoded (a key with '/' is sent as %2F), 1–1024 bytes.
 * `null` stands for "absent": a PUT of null is refused (400), and `"from": null` in cas swaps only
 * an absent key.
 *
 * FORWARDING. Every replica accepts every request: it hands the operation to its own client proxy
 * (raft.ts), which sends it to the leader over the replica link and follows redirects there. So a
 * follower FORWARDS (no HTTP redirect: a client needs one address). `X-Steadfast-Node` names the
 * replica whose state answered; `X-Steadfast-Leader` gives the API URL of the leader this replica
 * believes in (a client may go there next and save the forwarding hop; KvClient does). `?consistency=stale` reads this replica's applied state at once,
 * without asking the leader: it may miss recent writes (X-Steadfast-Consistency: stale).
 *
 * IDEMPOTENCY. `Idempotency-Key: <1–200 visible ASCII characters>` on PUT, DELETE, POST makes the
 * request apply at most once: the key becomes the operation's session in the replicated state
 * (raft.ts, IDEMPOTENCY KEYS), so a retry with the same key — at any replica, after a leader
 * change or a restart of every replica — gets the first answer without applying again. The window
 * is the store's `sessionMax` most recently applied sessions (kv-replica.ts: 4,096); a key reused
 * after its session was evicted is a new request and applies again. The same key with a different
 * operation is refused: 422 idempotency-key-reused, not applied. Without the header a request is
 * still deduplicated against this replica's own retries to the leader, not against the client's.
 * Requests with the same key in flight at once at one replica share one operation and one answer.
 *
 * ERRORS are RFC 9457 `application/problem+json`: {"type": "urn:steadfast:kv:<code>", "title",
 * "status", "detail", "code": "<code>"}. Codes (stable): not-found 404, precondition-failed 412,
 * not-a-number 409 (incr of a non-number), bad-request 400, idempotency-key-invalid 400,
 * idempotency-key-reused 422, route-not-found 404, method-not-allowed 405, body-too-large 413,
 * value-too-large 413, unavailable 503 (definitely not applied: overloaded, or a read that found
 * no leader in time; Retry-After), indefinite 504 (a write that timed out: it MAY have happened;
 * retry with the same Idempotency-Key to learn its outcome), internal 500.
 *
 * BOUNDS. Bodies over `bodyBytesMax` (64 KiB) → 413 and the connection is closed; at most
 * `connectionsMax` sockets (node:http refuses more); at most `slots` operations in flight through
 * this replica's proxy (one per proxy client) and `waitingMax` waiting for one, beyond → 503; a
 * request answered 504 after `requestTimeoutMs` at the latest (the proxy answers indefinite first).
 *
 * Guarantees: no request input throws out of the handler (malformed → 4xx problem, never a crash);
 * every accepted request is answered exactly once. Assumes: the replica's `onResult` is wired to
 * `KvHttpServer.onResult`.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { SteadfastError } from '../core/errors.ts';
import { IDEM_KEY_MAX, type RaftKvCommand } from '../protocols/kv/raft.ts';
import type { KvOp, KvResult } from '../protocols/kv/types.ts';
import type { KvReplica } from './kv-replica.ts';

export interface KvHttpOptions {
  readonly host: string;
  readonly port: number;
  readonly bodyBytesMax?: number;
  readonly connectionsMax?: number;
  readonly slots?: number;
  readonly waitingMax?: number;
  readonly requestTimeoutMs?: number;
  /** Every replica's API base URL by node id: the leader's goes out as `X-Steadfast-Leader`. */
  readonly peers?: ReadonlyMap<string, string>;
}

/** Stable problem codes with their HTTP status and title. */
export const PROBLEMS = {
  'not-found': [404, 'Key not found'],
  'precondition-failed': [412, 'Compare-and-set precondition failed'],
  'not-a-number': [409, 'Value is not a number'],
  'bad-request': [400, 'Bad request'],
  'idempotency-key-invalid': [400, 'Invalid Idempotency-Key'],
  'idempotency-key-reused': [422, 'Idempotency-Key reused for another request'],
  'route-not-found': [404, 'No such route'],
  'method-not-allowed': [405, 'Method not allowed'],
  'body-too-large': [413, 'Request body too large'],
  'value-too-large': [413, 'Operation too large for the replica link'],
  unavailable: [503, 'Unavailable'],
  indefinite: [504, 'Timed out: the operation may or may not have happened'],
  internal: [500, 'Internal error'],
} as const satisfies Record<string, readonly [number, string]>;

export type ProblemCode = keyof typeof PROBLEMS;

interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly problem?: ProblemCode;
  readonly node?: string;
  /** With method-not-allowed: the Allow header. */
  readonly allow?: string;
}

const KEY_BYTES_MAX = 1024;
const CLOSE_GRACE_MS = 2000;
const IDEM_KEY = /^[\x21-\x7e]+$/;
/** Commit latency histogram buckets, seconds. */
const BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function problem(code: ProblemCode, detail: string, node?: string): Answer {
  const [status, title] = PROBLEMS[code];
  return {
    status,
    problem: code,
    ...(node === undefined ? {} : { node }),
    body: { type: `urn:steadfast:kv:${code}`, title, status, detail, code },
  };
}

class HttpError extends Error {
  constructor(readonly answer: Answer) {
    super(String((answer.body as { detail?: unknown }).detail));
  }
}

interface Slot {
  readonly client: string;
  serial: number;
  pending:
    { readonly serial: number; readonly resolve: (r: KvResult | undefined) => void } | undefined;
}

export class KvHttpServer {
  readonly server: Server;
  private readonly bodyBytesMax: number;
  private readonly requestTimeoutMs: number;
  private readonly waitingMax: number;
  private readonly free: Slot[] = [];
  private readonly byClient = new Map<string, Slot>();
  private readonly waiting: ((s: Slot | undefined) => void)[] = [];
  /** Keyed operations in flight here: a second request with the key joins the first. */
  private readonly byIdem = new Map<string, Promise<Answer>>();
  private closing = false;
  private readonly metrics = {
    requests: new Map<string, number>(),
    latencyBuckets: BUCKETS_S.map(() => 0),
    latencyCount: 0,
    latencySumS: 0,
    idemJoined: 0,
  };

  constructor(
    private readonly replica: KvReplica,
    private readonly opts: KvHttpOptions,
  ) {
    this.bodyBytesMax = opts.bodyBytesMax ?? 64 * 1024;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 15_000;
    this.waitingMax = opts.waitingMax ?? 1024;
    const slots = opts.slots ?? 128;
    for (let i = 0; i < slots; i++) {
      const s: Slot = { client: `http-${i}`, serial: 0, pending: undefined };
      this.free.push(s);
      this.byClient.set(s.client, s);
    }
    this.server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        this.reply(res, problem('internal', e instanceof Error ? e.message : String(e)));
      });
    });
    this.server.maxConnections = opts.connectionsMax ?? 512;
    this.server.keepAliveTimeout = 5000;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** Stops accepting; answers what waits for a slot 503; closes idle keep-alive connections. */
  async close(): Promise<void> {
    this.closing = true;
    for (const w of this.waiting.splice(0)) w(undefined);
    // Requests in flight get `CLOSE_GRACE_MS` to be answered; then every connection is cut.
    const cut = setTimeout(() => {
      this.server.closeAllConnections();
    }, CLOSE_GRACE_MS);
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
      this.server.closeIdleConnections();
    });
    clearTimeout(cut);
  }

  /** Wire the replica's results here. */
  onResult(r: KvResult): void {
    const slot = this.byClient.get(r.client);
    const p = slot?.pending;
    if (slot === undefined || p === undefined || p.serial !== r.serial) return; // given up on
    slot.pending = undefined;
    p.resolve(r);
  }

  // ------------------------------------------------------------------------------ routing

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    let answer: Answer;
    try {
      answer = await this.route(req);
    } catch (e) {
      if (e instanceof HttpError) answer = e.answer;
      else throw e;
    }
    if (answer.status === 200 && req.method !== 'GET') this.observe(performance.now() - started);
    this.reply(res, answer);
    if (answer.problem === 'body-too-large') {
      res.on('finish', () => req.socket.destroy());
    }
  }

  private async route(req: IncomingMessage): Promise<Answer> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const parts = url.pathname.split('/').slice(1);
    const method = req.method ?? 'GET';
    if (url.pathname === '/v1/health') {
      onlyMethods(method, ['GET']);
      return this.health();
    }
    if (url.pathname === '/metrics') {
      onlyMethods(method, ['GET']);
      return { status: 200, body: this.prometheus() };
    }
    if (parts[0] !== 'v1' || parts[1] !== 'kv' || parts.length < 3 || parts.length > 4) {
      throw new HttpError(problem('route-not-found', `no route ${method} ${url.pathname}`));
    }
    const key = decodeKey(parts[2] ?? '');
    const action = parts[3];
    if (action === undefined) {
      onlyMethods(method, ['GET', 'PUT', 'DELETE']);
      if (method === 'GET') return this.get(key, url.searchParams.get('consistency'));
      if (method === 'PUT') {
        const value = await this.jsonBody(req, false);
        if (value === null) {
          throw new HttpError(problem('bad-request', 'null stands for absent: DELETE the key'));
        }
        return this.write(req, { f: 'put', key, value });
      }
      await this.jsonBody(req, true);
      return this.write(req, { f: 'delete', key });
    }
    if (action !== 'incr' && action !== 'cas') {
      throw new HttpError(problem('route-not-found', `no route ${method} ${url.pathname}`));
    }
    onlyMethods(method, ['POST']);
    const body = await this.jsonBody(req, action === 'incr');
    if (action === 'incr') {
      const delta = body === undefined ? 1 : field(body, 'delta');
      if (typeof delta !== 'number' || !Number.isSafeInteger(delta)) {
        throw new HttpError(
          problem('bad-request', 'incr takes {"delta": n} with n a safe integer (default 1)'),
        );
      }
      return this.write(req, { f: 'incr', key, delta });
    }
    if (!isRecord(body) || !('from' in body) || !('to' in body)) {
      throw new HttpError(problem('bad-request', 'cas takes {"from": a, "to": b} (null: absent)'));
    }
    return this.write(req, { f: 'cas', key, from: body.from, to: body.to });
  }

  // ------------------------------------------------------------------------- operations

  private async get(key: string, consistency: string | null): Promise<Answer> {
    if (consistency !== null && consistency !== 'linearizable' && consistency !== 'stale') {
      throw new HttpError(
        problem('bad-request', `consistency must be linearizable or stale, got ${consistency}`),
      );
    }
    if (consistency === 'stale') {
      const store = this.replica.store();
      if (store === undefined) throw new HttpError(problem('unavailable', 'replica not running'));
      const value = store.readLocal(key);
      if (value === null) {
        return problem('not-found', `no key ${JSON.stringify(key)} (stale read)`, this.replica.id);
      }
      return { status: 200, body: { key, value }, node: this.replica.id };
    }
    const r = await this.run({ f: 'get', key }, undefined);
    if (r.status === 'ok') {
      if (r.output === null || r.output === undefined) {
        return problem('not-found', `no key ${JSON.stringify(key)}`, r.node);
      }
      return { status: 200, body: { key, value: r.output }, ...nodeOf(r) };
    }
    // A read changes nothing: whatever stopped it, it definitely did not "happen".
    return problem('unavailable', `read not answered: ${r.reason ?? r.status}`);
  }

  private async write(req: IncomingMessage, op: KvOp): Promise<Answer> {
    const raw = req.headers['idempotency-key'];
    if (raw === undefined) return this.answerWrite(op, await this.run(op, undefined));
    const idem = Array.isArray(raw) ? raw[0] : raw;
    if (idem === undefined || idem.length > IDEM_KEY_MAX || !IDEM_KEY.test(idem)) {
      throw new HttpError(
        problem(
          'idempotency-key-invalid',
          `Idempotency-Key must be 1–${IDEM_KEY_MAX} visible ASCII characters`,
        ),
      );
    }
    const joined = this.byIdem.get(idem);
    if (joined !== undefined) {
      this.metrics.idemJoined++;
      return joined;
    }
    const p = this.run(op, idem).then((r) => this.answerWrite(op, r));
    this.byIdem.set(idem, p);
    try {
      return await p;
    } finally {
      this.byIdem.delete(idem);
    }
  }

  private answerWrite(op: KvOp, r: KvResult): Answer {
    const key = op.key;
    if (r.status === 'indefinite') {
      return problem(
        'indefinite',
        `${op.f} ${JSON.stringify(key)} not answered in time (${r.reason ?? 'timeout'}): it may ` +
          'or may not have happened; retry with the same Idempotency-Key to learn which',
      );
    }
    if (r.status === 'fail') {
      if (r.reason?.startsWith('idempotency-key-reused') === true) {
        return problem('idempotency-key-reused', r.reason, r.node);
      }
      return problem('unavailable', `not applied: ${r.reason ?? 'refused'}`);
    }
    const node = nodeOf(r);
    switch (op.f) {
      case 'put':
        return { status: 200, body: { key, value: op.value }, ...node };
      case 'delete':
        return { status: 200, body: { key, deleted: true }, ...node };
      case 'incr':
        if (typeof r.output !== 'number') {
          return problem('not-a-number', `${JSON.stringify(key)} holds a non-number`, r.node);
        }
        return { status: 200, body: { key, value: r.output }, ...node };
      case 'cas':
        if (r.output !== true) {
          return problem(
            'precondition-failed',
            `${JSON.stringify(key)} does not hold ${JSON.stringify(op.from)}`,
            r.node,
          );
        }
        return { status: 200, body: { key, value: op.to, swapped: true }, ...node };
      case 'get':
        return { status: 200, body: { key, value: r.output }, ...node };
    }
  }

  /** Runs `op` through a proxy slot; resolves with its result (indefinite on our deadline). */
  private async run(op: KvOp, idem: string | undefined): Promise<KvResult> {
    const slot = await this.acquire();
    if (slot === undefined) {
      return {
        type: 'kv-result',
        client: '',
        serial: 0,
        op,
        status: 'fail',
        reason: 'shutting down',
      };
    }
    try {
      slot.serial++;
      const cmd: RaftKvCommand = {
        type: 'kv',
        client: slot.client,
        serial: slot.serial,
        op,
        ...(idem === undefined ? {} : { idem }),
      };
      let timer: NodeJS.Timeout | undefined;
      const result = new Promise<KvResult | undefined>((resolve) => {
        slot.pending = { serial: cmd.serial, resolve };
        timer = setTimeout(() => {
          slot.pending = undefined;
          resolve(undefined);
        }, this.requestTimeoutMs);
      });
      try {
        this.replica.command(cmd);
      } catch (e) {
        clearTimeout(timer);
        slot.pending = undefined;
        if (e instanceof SteadfastError && e.code === 'frame-too-large') {
          throw new HttpError(problem('value-too-large', e.message));
        }
        if (e instanceof SteadfastError) throw new HttpError(problem('bad-request', e.message));
        throw e;
      }
      const r = await result;
      clearTimeout(timer);
      return (
        r ?? {
          type: 'kv-result',
          client: slot.client,
          serial: cmd.serial,
          op,
          status: 'indefinite',
          reason: `no answer within ${this.requestTimeoutMs} ms`,
        }
      );
    } finally {
      this.release(slot);
    }
  }

  private acquire(): Promise<Slot | undefined> {
    if (this.closing) return Promise.resolve(undefined);
    const s = this.free.pop();
    if (s !== undefined) return Promise.resolve(s);
    if (this.waiting.length >= this.waitingMax) {
      throw new HttpError(
        problem('unavailable', `overloaded: ${this.waitingMax} requests already wait here`),
      );
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(s: Slot): void {
    const w = this.waiting.shift();
    if (w !== undefined) w(s);
    else this.free.push(s);
  }

  // ----------------------------------------------------------------------- body, reply

  /** The body as JSON; `optional`: an empty body is undefined. */
  private async jsonBody(req: IncomingMessage, optional: boolean): Promise<unknown> {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > this.bodyBytesMax) {
      throw new HttpError(
        problem('body-too-large', `body of ${declared} bytes: at most ${this.bodyBytesMax}`),
      );
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > this.bodyBytesMax) {
        throw new HttpError(problem('body-too-large', `body over ${this.bodyBytesMax} bytes`));
      }
      chunks.push(c);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.trim() === '') {
      if (optional) return undefined;
      throw new HttpError(problem('bad-request', 'the body must be a JSON value'));
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw new HttpError(
        problem('bad-request', `body is not JSON: ${e instanceof Error ? e.message : String(e)}`),
      );
    }
  }

  private reply(res: ServerResponse, a: Answer): void {
    if (res.headersSent) return;
    const isText = typeof a.body === 'string';
    const text = typeof a.body === 'string' ? a.body : JSON.stringify(a.body);
    const headers: Record<string, string | number> = {
      'content-type': isText
        ? 'text/plain; version=0.0.4; charset=utf-8'
        : a.problem !== undefined
          ? 'application/problem+json'
          : 'application/json',
      'content-length': Buffer.byteLength(text),
    };
    if (a.node !== undefined) headers['x-steadfast-node'] = a.node;
    const leader = this.replica.store()?.leaderHint().leader;
    const leaderUrl = leader === undefined ? undefined : this.opts.peers?.get(leader);
    if (leaderUrl !== undefined) headers['x-steadfast-leader'] = leaderUrl;
    if (a.problem === 'unavailable') headers['retry-after'] = 1;
    if (a.problem === 'method-not-allowed') {
      headers.allow = a.allow ?? '';
    }
    if (a.problem === 'body-too-large') headers.connection = 'close';
    const code = String(a.status);
    this.metrics.requests.set(code, (this.metrics.requests.get(code) ?? 0) + 1);
    res.writeHead(a.status, headers);
    res.end(text);
  }

  // ------------------------------------------------------------------- health, metrics

  private health(): Answer {
    const store = this.replica.store();
    const stats = store?.stats() ?? {};
    const hint = store?.leaderHint();
    const body = {
      id: this.replica.id,
      role: hint?.isLeader === true ? 'leader' : 'follower',
      leader: hint?.leader ?? null,
      term: stats.term ?? 0,
      commitIndex: stats.commitIndex ?? 0,
      incarnation: this.replica.driver.incarnation,
    };
    return { status: hint?.leader === undefined ? 503 : 200, body, node: this.replica.id };
  }

  private observe(ms: number): void {
    const s = ms / 1000;
    const m = this.metrics;
    m.latencyCount++;
    m.latencySumS += s;
    BUCKETS_S.forEach((b, i) => {
      if (s <= b) m.latencyBuckets[i] = (m.latencyBuckets[i] ?? 0) + 1;
    });
  }

  private prometheus(): string {
    const store = this.replica.store();
    const p = store?.stats() ?? {};
    const d = this.replica.driver.stats();
    const m = this.metrics;
    const id = `node="${this.replica.id}"`;
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, samples: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, v] of samples) lines.push(`${name}{${labels}} ${v}`);
    };
    metric('steadfast_kv_commits_total', 'counter', 'Operations applied by this replica', [
      [id, p.applied ?? 0],
    ]);
    metric('steadfast_kv_commit_index', 'gauge', 'Raft commit index', [[id, p.commitIndex ?? 0]]);
    metric('steadfast_kv_term', 'gauge', 'Raft term', [[id, p.term ?? 0]]);
    metric('steadfast_kv_is_leader', 'gauge', '1 on the leader', [[id, p.leader ?? 0]]);
    metric('steadfast_kv_leader_changes_total', 'counter', 'Leader changes seen here', [
      [id, p.leaderChanges ?? 0],
    ]);
    metric('steadfast_kv_dedup_hits_total', 'counter', 'Retries answered from a session', [
      [`${id},where="request"`, p.duplicateRequests ?? 0],
      [`${id},where="apply"`, p.dedupApplied ?? 0],
      [`${id},where="http"`, m.idemJoined],
    ]);
    metric('steadfast_kv_sessions', 'gauge', 'Client sessions in the replicated state', [
      [id, p.sessions ?? 0],
    ]);
    metric('steadfast_storage_commits_total', 'counter', 'SQLite group commits', [[id, d.commits]]);
    lines.push(
      '# HELP steadfast_kv_commit_latency_seconds Acknowledged writes: request to answer',
      '# TYPE steadfast_kv_commit_latency_seconds histogram',
    );
    BUCKETS_S.forEach((b, i) => {
      lines.push(
        `steadfast_kv_commit_latency_seconds_bucket{${id},le="${b}"} ${m.latencyBuckets[i] ?? 0}`,
      );
    });
    lines.push(
      `steadfast_kv_commit_latency_seconds_bucket{${id},le="+Inf"} ${m.latencyCount}`,
      `steadfast_kv_commit_latency_seconds_sum{${id}} ${m.latencySumS}`,
      `steadfast_kv_commit_latency_seconds_count{${id}} ${m.latencyCount}`,
    );
    metric(
      'steadfast_http_responses_total',
      'counter',
      'HTTP responses by status',
      [...m.requests].map(([code, n]) => [`${id},code="${code}"`, n]),
    );
    return lines.join('\n') + '\n';
  }
}

function onlyMethods(method: string, allowed: readonly string[]): void {
  if (!allowed.includes(method)) {
    const a = problem(
      'method-not-allowed',
      `${method} not allowed here; use ${allowed.join(', ')}`,
    );
    throw new HttpError({ ...a, allow: allowed.join(', ') });
  }
}

function decodeKey(segment: string): string {
  let key: string;
  try {
    key = decodeURIComponent(segment);
  } catch {
    throw new HttpError(problem('bad-request', 'the key is not valid percent-encoding'));
  }
  if (key === '' || Buffer.byteLength(key) > KEY_BYTES_MAX) {
    throw new HttpError(problem('bad-request', `a key is 1–${KEY_BYTES_MAX} bytes`));
  }
  return key;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function field(body: unknown, name: string): unknown {
  return isRecord(body) ? body[name] : undefined;
}

function nodeOf(r: KvResult): { node?: string } {
  return r.node === undefined ? {} : { node: r.node };
}
