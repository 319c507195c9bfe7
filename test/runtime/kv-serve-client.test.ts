// KvClient's retry contract on a scripted fetch (no server): one Idempotency-Key per logical
// write, reused on every retry; 503 and connection errors move to the next endpoint; a write whose
// every attempt may have applied ends `indefinite`, one that none can have applied `unavailable`;
// 4xx problems are typed and not retried; not-found and precondition-failed are answers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KvClient, KvError } from '../../src/client/kv-client.ts';

interface Seen {
  url: string;
  method: string;
  key: string | null;
  body: string | undefined;
}

/** A fetch that answers from `script` in turn and records every request. */
function scripted(script: (() => Response)[]): { fetch: typeof fetch; seen: Seen[] } {
  const seen: Seen[] = [];
  let i = 0;
  const f = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const headers = new Headers(init?.headers);
    seen.push({
      url: typeof input === 'string' ? input : input instanceof URL ? input.href : input.url,
      method: init?.method ?? 'GET',
      key: headers.get('idempotency-key'),
      body: typeof init?.body === 'string' ? init.body : undefined,
    });
    const next = script[i++];
    if (next === undefined) return Promise.reject(new Error('script exhausted'));
    try {
      return Promise.resolve(next());
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  };
  return { fetch: f, seen };
}

const json =
  (status: number, body: unknown, type = 'application/json') =>
  () =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': type } });
const problem = (status: number, code: string) =>
  json(
    status,
    { type: `urn:steadfast:kv:${code}`, title: code, status, code },
    'application/problem+json',
  );
const refused = () => {
  throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
};
const reset = () => {
  throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNRESET' } });
};
const endpoints = ['http://a:1', 'http://b:2', 'http://c:3/'];
const fast = { backoffMs: 1, backoffMsMax: 2 };

test('KvClient: a write retried after 504 and a refused endpoint keeps one Idempotency-Key', async () => {
  const { fetch, seen } = scripted([
    problem(504, 'indefinite'),
    refused,
    json(200, { key: 'n', value: 8 }),
  ]);
  const kv = new KvClient({ endpoints, fetch, ...fast });
  assert.equal(await kv.incr('n', 3), 8);
  assert.deepEqual(
    seen.map((s) => s.url),
    ['http://a:1/v1/kv/n/incr', 'http://b:2/v1/kv/n/incr', 'http://c:3/v1/kv/n/incr'],
  );
  const keys = new Set(seen.map((s) => s.key));
  assert.equal(keys.size, 1);
  assert.match([...keys][0] ?? '', /^[0-9a-f-]{36}$/);
  assert.deepEqual(JSON.parse(seen[0]?.body ?? ''), { delta: 3 });
  // The next operation starts at the endpoint that answered, with a new key.
  const next = scripted([json(200, { key: 'x', value: 1 })]);
  const kv2 = new KvClient({ endpoints, fetch: next.fetch, ...fast });
  await kv2.put('x', 1, { idempotencyKey: 'mine' });
  assert.equal(next.seen[0]?.key, 'mine');
});

test('KvClient: an answer naming the leader (X-Steadfast-Leader) sends the next request there', async () => {
  const named = () =>
    new Response(JSON.stringify({ key: 'x', value: 1 }), {
      status: 200,
      headers: { 'content-type': 'application/json', 'x-steadfast-leader': 'http://c:3' },
    });
  const { fetch, seen } = scripted([named, json(200, { key: 'x', value: 2 }), named]);
  const kv = new KvClient({ endpoints, fetch, ...fast });
  await kv.incr('x');
  await kv.incr('x');
  await kv.incr('x');
  assert.deepEqual(
    seen.map((s) => new URL(s.url).host),
    ['a:1', 'c:3', 'c:3'],
    'to the leader, then the one that answered',
  );
});

test('KvClient: every attempt failed — indefinite if one may have applied, else unavailable', async () => {
  const a = scripted([reset, problem(503, 'unavailable'), problem(503, 'unavailable')]);
  const e1 = await new KvClient({ endpoints, fetch: a.fetch, attemptsMax: 3, ...fast })
    .put('k', 'v', { idempotencyKey: 'k-1' })
    .catch((e: unknown) => e);
  assert.ok(e1 instanceof KvError && e1.code === 'indefinite' && e1.indefinite, String(e1));
  assert.match(e1.message, /k-1/, 'the message names the key to retry with');
  const b = scripted([refused, problem(503, 'unavailable'), refused]);
  const e2 = await new KvClient({ endpoints, fetch: b.fetch, attemptsMax: 3, ...fast })
    .put('k', 'v')
    .catch((e: unknown) => e);
  assert.ok(e2 instanceof KvError && e2.code === 'unavailable', String(e2));
  // A read that failed everywhere is unavailable, never indefinite.
  const c = scripted([reset, problem(504, 'indefinite')]);
  const e3 = await new KvClient({ endpoints, fetch: c.fetch, attemptsMax: 2, ...fast })
    .get('k')
    .catch((e: unknown) => e);
  assert.ok(e3 instanceof KvError && e3.code === 'unavailable', String(e3));
});

test('KvClient: answers and typed problems are not retried', async () => {
  const s = scripted([
    problem(404, 'not-found'),
    problem(412, 'precondition-failed'),
    problem(422, 'idempotency-key-reused'),
    json(200, { key: 'g', value: { a: [1] } }),
  ]);
  const kv = new KvClient({ endpoints, fetch: s.fetch, ...fast });
  assert.equal(await kv.get('missing'), undefined);
  assert.equal(await kv.cas('c', 1, 2), false);
  const e = await kv.delete('d', { idempotencyKey: 'reused' }).catch((x: unknown) => x);
  assert.ok(e instanceof KvError && e.code === 'idempotency-key-reused' && e.status === 422);
  assert.deepEqual(await kv.get('g', { consistency: 'stale' }), { a: [1] });
  assert.equal(s.seen.length, 4, 'one request each');
  assert.equal(s.seen[3]?.url, 'http://a:1/v1/kv/g?consistency=stale');
  assert.throws(() => new KvClient({ endpoints: [] }), RangeError);
  assert.throws(() => new KvClient({ endpoints: ['ftp://x'] }), RangeError);
  await assert.rejects(kv.put('', 1), RangeError);
});
