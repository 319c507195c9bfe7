// `steadfast kv serve` on 3 replica processes (TCP between them), driven over HTTP as curl would:
// the API round trip through a follower (it forwards to the leader), idempotent retries, RFC 9457
// problems, /metrics, then kill -9 of the leader under a stream of acknowledged writes (none
// lost, none applied twice) and the killed replica restarted without --init.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KvClient } from '../../src/client/kv-client.ts';
import { KvProcess } from '../../src/runtime/kv-process.ts';
import { runKvServe } from '../../src/runtime/kv-serve.ts';
import { freeTcpPort } from '../../src/runtime/ports.ts';

const IDS = ['n1', 'n2', 'n3'] as const;
const dir = mkdtempSync(join(tmpdir(), 'sf-kv-serve-'));
const configPath = join(dir, 'cluster.json');
const http = new Map<string, string>();
const replicas = new Map<string, KvProcess>();

interface Reply {
  status: number;
  type: string;
  node: string | null;
  leader: string | null;
  body: Record<string, unknown>;
}

async function call(
  id: string,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const res = await fetch(`${http.get(id) ?? ''}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
  });
  const text = await res.text();
  return {
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    node: res.headers.get('x-steadfast-node'),
    leader: res.headers.get('x-steadfast-leader'),
    body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : { text },
  };
}

async function health(id: string): Promise<Record<string, unknown> | undefined> {
  try {
    return (await call(id, 'GET', '/v1/health')).body;
  } catch {
    return undefined;
  }
}

/** The leader every running replica agrees on, within `timeoutMs`. */
async function leader(timeoutMs = 15_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const running = IDS.filter((id) => replicas.get(id)?.running === true);
    const views = await Promise.all(running.map((id) => health(id)));
    const l = views[0]?.leader;
    if (
      typeof l === 'string' &&
      views.every((v) => v?.leader === l) &&
      views.some((v) => v?.role === 'leader')
    ) {
      return l;
    }
    if (Date.now() > until) throw new Error(`no agreed leader: ${JSON.stringify(views)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function problemOf(r: Reply, status: number, code: string): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.type, 'application/problem+json');
  assert.equal(r.body.code, code);
  assert.equal(r.body.type, `urn:steadfast:kv:${code}`);
  assert.equal(r.body.status, status);
  assert.equal(typeof r.body.title, 'string');
}

before(async () => {
  const nodes: Record<string, unknown> = {};
  for (const id of IDS) {
    const port = await freeTcpPort();
    const httpPort = await freeTcpPort();
    nodes[id] = { host: '127.0.0.1', port, http: { host: '127.0.0.1', port: httpPort } };
    http.set(id, `http://127.0.0.1:${httpPort}`);
  }
  writeFileSync(
    configPath,
    JSON.stringify({ transport: 'tcp', stack: { protocol: 'kv-raft' }, dataDir: 'data', nodes }),
  );
  for (const id of IDS) replicas.set(id, new KvProcess({ id, configPath }));
  await Promise.all([...replicas.values()].map((r) => r.start()));
});

after(async () => {
  await Promise.all([...replicas.values()].map((r) => r.stop()));
  rmSync(dir, { recursive: true, force: true });
});

test('kv serve: put/get/incr/cas/delete through a follower, which forwards to the leader', async () => {
  const l = await leader();
  const f = IDS.find((id) => id !== l) ?? 'n1';
  let r = await call(f, 'PUT', '/v1/kv/greeting', '"hello"');
  assert.equal(r.status, 200);
  assert.equal(r.type, 'application/json');
  assert.deepEqual(r.body, { key: 'greeting', value: 'hello' });
  assert.equal(r.node, l, 'the leader answered the follower’s forwarded write');
  assert.equal(r.leader, http.get(l), 'and the follower names the leader’s API');
  r = await call(f, 'GET', '/v1/kv/greeting');
  assert.deepEqual([r.status, r.body.value, r.node], [200, 'hello', l]);
  r = await call(f, 'POST', '/v1/kv/visits/incr', '{"delta": 5}');
  assert.deepEqual(r.body, { key: 'visits', value: 5 });
  r = await call(l, 'POST', '/v1/kv/visits/incr', '');
  assert.deepEqual(r.body, { key: 'visits', value: 6 }, 'an empty incr body adds 1');
  r = await call(f, 'POST', '/v1/kv/greeting/cas', '{"from": "hello", "to": "bonjour"}');
  assert.deepEqual(r.body, { key: 'greeting', value: 'bonjour', swapped: true });
  problemOf(
    await call(f, 'POST', '/v1/kv/greeting/cas', '{"from":"hello","to":"x"}'),
    412,
    'precondition-failed',
  );
  // A key with a slash travels percent-encoded as one segment.
  r = await call(f, 'PUT', `/v1/kv/${encodeURIComponent('a/b c')}`, '{"n":[1,2]}');
  assert.equal(r.status, 200);
  r = await call(l, 'GET', `/v1/kv/${encodeURIComponent('a/b c')}`);
  assert.deepEqual(r.body.value, { n: [1, 2] });
  r = await call(f, 'DELETE', '/v1/kv/greeting');
  assert.deepEqual(r.body, { key: 'greeting', deleted: true });
  problemOf(await call(f, 'GET', '/v1/kv/greeting'), 404, 'not-found');
  // Stale reads answer from the replica itself (eventually the same value).
  let stale: Reply | undefined;
  for (let i = 0; i < 50; i++) {
    stale = await call(f, 'GET', '/v1/kv/visits?consistency=stale');
    if (stale.body.value === 6) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.deepEqual([stale?.status, stale?.body.value, stale?.node], [200, 6, f]);
});

test('kv serve: the same Idempotency-Key twice applies once, at any replica; reused for another op is 422', async () => {
  const l = await leader();
  const f = IDS.find((id) => id !== l) ?? 'n1';
  const key = { 'idempotency-key': 'test-incr-1' };
  const first = await call(f, 'POST', '/v1/kv/ctr/incr', '{"delta": 7}', key);
  const second = await call(f, 'POST', '/v1/kv/ctr/incr', '{"delta": 7}', key);
  const third = await call(l, 'POST', '/v1/kv/ctr/incr', '{"delta": 7}', key);
  assert.deepEqual(first.body, { key: 'ctr', value: 7 });
  assert.deepEqual(second.body, first.body, 'the retry gets the first answer');
  assert.deepEqual(third.body, first.body, 'and so does a retry at another replica');
  assert.deepEqual((await call(l, 'GET', '/v1/kv/ctr')).body.value, 7, 'applied once');
  // Concurrent duplicates at one replica share one operation.
  const both = await Promise.all([
    call(f, 'POST', '/v1/kv/ctr/incr', '{"delta": 1}', { 'idempotency-key': 'test-incr-2' }),
    call(f, 'POST', '/v1/kv/ctr/incr', '{"delta": 1}', { 'idempotency-key': 'test-incr-2' }),
  ]);
  assert.deepEqual(both[0].body, both[1].body);
  assert.deepEqual((await call(l, 'GET', '/v1/kv/ctr')).body.value, 8);
  problemOf(
    await call(f, 'POST', '/v1/kv/ctr/incr', '{"delta": 100}', key),
    422,
    'idempotency-key-reused',
  );
  assert.deepEqual((await call(l, 'GET', '/v1/kv/ctr')).body.value, 8, 'the reuse did not apply');
  problemOf(
    await call(f, 'PUT', '/v1/kv/x', '1', { 'idempotency-key': 'has space' }),
    400,
    'idempotency-key-invalid',
  );
});

test('kv serve: malformed requests are 4xx problems and the replica goes on', async () => {
  const l = await leader();
  problemOf(await call(l, 'PUT', '/v1/kv/x', '{bad'), 400, 'bad-request');
  problemOf(await call(l, 'PUT', '/v1/kv/x', ''), 400, 'bad-request');
  problemOf(await call(l, 'PUT', '/v1/kv/x', 'null'), 400, 'bad-request');
  problemOf(
    await call(l, 'PUT', '/v1/kv/x', '['.repeat(300) + ']'.repeat(300)),
    400,
    'bad-request',
  );
  problemOf(await call(l, 'POST', '/v1/kv/x/incr', '{"delta": 1.5}'), 400, 'bad-request');
  problemOf(await call(l, 'POST', '/v1/kv/x/cas', '{"to": 1}'), 400, 'bad-request');
  problemOf(await call(l, 'GET', '/v1/kv/x?consistency=eventual'), 400, 'bad-request');
  problemOf(await call(l, 'GET', '/v1/kv/%E0%A4%A'), 400, 'bad-request');
  problemOf(await call(l, 'GET', '/v2/whatever'), 404, 'route-not-found');
  const m = await call(l, 'PATCH', '/v1/kv/x', '1');
  problemOf(m, 405, 'method-not-allowed');
  problemOf(
    await call(l, 'PUT', '/v1/kv/x', JSON.stringify('a'.repeat(70_000))),
    413,
    'body-too-large',
  );
  await call(l, 'PUT', '/v1/kv/word', '"text"');
  problemOf(await call(l, 'POST', '/v1/kv/word/incr', '{"delta": 1}'), 409, 'not-a-number');
  assert.equal((await call(l, 'GET', '/v1/kv/word')).body.value, 'text');
});

test('kv serve: /metrics is Prometheus text with commits, term, leader changes, latency, dedup hits', async () => {
  const l = await leader();
  const res = await fetch(`${http.get(l) ?? ''}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? (-?[0-9.e+]+|\+Inf|NaN)$/.exec(line);
    assert.ok(m !== null, `not a Prometheus sample line: ${line}`);
    samples.set(`${m[1] ?? ''}${m[2] ?? ''}`, Number(m[3]));
  }
  const get = (k: string) => samples.get(k.replace('NODE', `node="${l}"`));
  assert.ok((get('steadfast_kv_commits_total{NODE}') ?? 0) >= 5);
  assert.ok((get('steadfast_kv_term{NODE}') ?? 0) >= 1);
  assert.equal(get('steadfast_kv_is_leader{NODE}'), 1);
  assert.ok(get('steadfast_kv_leader_changes_total{NODE}') !== undefined);
  assert.ok((get('steadfast_kv_commit_latency_seconds_count{NODE}') ?? 0) >= 1);
  const dedup = [...samples].filter(([k]) => k.startsWith('steadfast_kv_dedup_hits_total'));
  assert.ok(dedup.reduce((s, [, v]) => s + v, 0) >= 1, 'the retries above were dedup hits');
});

test('kv serve: kill -9 of the leader under writes keeps every acknowledged write; the replica restarts without --init and recovers', async () => {
  const kv = new KvClient({ endpoints: IDS.map((id) => http.get(id) ?? ''), backoffMs: 50 });
  const l = await leader();
  const before = (await kv.get('acked')) ?? 0;
  assert.equal(before, 0);
  let acked = 0;
  const puts: string[] = [];
  const writes = (async () => {
    for (let i = 0; i < 60; i++) {
      assert.equal(await kv.incr('acked', 1), acked + 1, 'each increment applied exactly once');
      acked++;
      await kv.put(`p${i}`, { i });
      puts.push(`p${i}`);
    }
  })();
  while (acked < 15) await new Promise((r) => setTimeout(r, 10));
  const killedAt = acked;
  await replicas.get(l)?.kill9();
  await writes;
  assert.ok(acked > killedAt, 'writes went on after the kill');
  const l2 = await leader();
  assert.notEqual(l2, l);
  assert.equal(await kv.get('acked'), 60, 'every acknowledged increment, none twice');
  for (const [i, k] of puts.entries()) assert.deepEqual(await kv.get(k), { i });
  // Its SQLite file has the store's 4 KiB pages (the page size is bytes 16–17 of the header).
  const header = readFileSync(join(dir, 'data', l, 'state.db')).subarray(0, 100);
  assert.equal(header.readUInt16BE(16), 4096, 'the replica database uses 4 KiB pages');
  // Restart without --init: it recovers its SQLite state and catches up.
  const ready = await replicas.get(l)?.start();
  assert.ok(Number(ready?.incarnation) >= 1, JSON.stringify(ready));
  let seen: unknown;
  for (let i = 0; i < 100; i++) {
    const r = await call(l, 'GET', '/v1/kv/acked?consistency=stale');
    seen = r.body.value;
    if (seen === 60) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(seen, 60, 'the restarted replica caught up');
  assert.deepEqual((await call(l, 'GET', '/v1/kv/p59')).body.value, { i: 59 });
});

test('kv CLI: put/get/incr over --endpoints with a dead endpoint first; usage errors exit 2', async () => {
  const bin = fileURLToPath(new URL('../../bin/steadfast.mjs', import.meta.url));
  const dead = `http://127.0.0.1:${await freeTcpPort()}`;
  const endpoints = [dead, ...IDS.map((id) => http.get(id) ?? '')].join(',');
  const cli = (args: string[]) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const c = spawn(process.execPath, [bin, 'kv', ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr.on('data', (d: Buffer) => (err += d.toString()));
      c.on('exit', (code) => {
        resolve({ code, out, err });
      });
    });
  const [put, bad] = await Promise.all([
    cli(['put', 'cli-key', '{"a":1}', '--endpoints', endpoints]),
    cli(['incr', 'k', 'notanumber', '--endpoints', endpoints]),
  ]);
  assert.deepEqual([put.code, put.out], [0, '"ok"\n'], put.err);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /DELTA must be a safe integer/);
  const [get, missing] = await Promise.all([
    cli(['get', 'cli-key', '--endpoints', endpoints]),
    cli(['get', 'no-such-key', '--endpoints', endpoints]),
  ]);
  assert.deepEqual([get.code, get.out], [0, '{"a":1}\n'], get.err);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /not-found/);
});

test('kv serve: bad config and data-directory errors exit 2 naming the field, without starting', async () => {
  const errs: string[] = [];
  const serve = (config: string, id: string, init = false) =>
    runKvServe({ config, id, init, write: () => undefined, writeErr: (s) => errs.push(s) });
  const noHttp = join(dir, 'no-http.json');
  writeFileSync(
    noHttp,
    JSON.stringify({ dataDir: 'd2', nodes: { n1: { host: '127.0.0.1', port: 1 } } }),
  );
  assert.equal(await serve(noHttp, 'n1'), 2);
  assert.match(errs.pop() ?? '', /nodes\.n1\.http: required by kv serve/);
  const badPort = join(dir, 'bad-port.json');
  writeFileSync(
    badPort,
    JSON.stringify({
      dataDir: 'd2',
      nodes: { n1: { host: '127.0.0.1', port: 1, http: { host: 'h', port: 0 } } },
    }),
  );
  assert.equal(await serve(badPort, 'n1'), 2);
  assert.match(errs.pop() ?? '', /nodes\.n1\.http\.port/);
  const otherStack = join(dir, 'abd.json');
  writeFileSync(
    otherStack,
    JSON.stringify({
      dataDir: 'd2',
      stack: { protocol: 'kv-abd' },
      nodes: { n1: { host: '127.0.0.1', port: 1, http: { host: '127.0.0.1', port: 2 } } },
    }),
  );
  assert.equal(await serve(otherStack, 'n1'), 2);
  assert.match(errs.pop() ?? '', /stack: kv serve runs the consensus store/);
  assert.equal(await serve(configPath, 'n9'), 2);
  assert.match(errs.pop() ?? '', /--id n9: not one of the config's nodes/);
  assert.equal(await serve(join(dir, 'missing.json'), 'n1'), 2);
  assert.match(errs.pop() ?? '', /cannot read config/);
  // A replica whose data is missing is refused unless --init.
  const fresh = join(dir, 'fresh.json');
  writeFileSync(
    fresh,
    JSON.stringify({
      dataDir: 'fresh-data',
      transport: 'tcp',
      nodes: { n1: { host: '127.0.0.1', port: 1, http: { host: '127.0.0.1', port: 2 } } },
    }),
  );
  assert.equal(await serve(fresh, 'n1'), 2);
  assert.match(errs.pop() ?? '', /has no state at .*--init/);
  // An unknown flag of the process entry.
  const p = new KvProcess({ id: 'n1', configPath });
  const r = await p.runToExit(['--bogus']);
  assert.equal(r.code, 2);
  assert.match(r.err, /bogus/);
});
