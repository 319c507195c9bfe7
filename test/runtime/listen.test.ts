// The process interface (issue 19, item 4): the node's JSON Lines over a Unix domain socket
// (`--listen PATH`) beside stdin/stdout, several clients at once (replies to the asker,
// deliveries to all), bounded clients and lines, errors answered, stdin EOF harmless; and the
// durable inbox over JSON Lines (`--inbox-max`: deliveries with ids, `inbox`, `ack`, re-offered
// after a kill -9 and to a client that attaches).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LineServer } from '../../src/runtime/listen.ts';
import { NodeProcess } from '../../src/runtime/process.ts';
import { spawnNodeMain, writeTwoNodeConfig } from './two-nodes.ts';

/** A socket client of a node: its lines as they come, and a way to wait for one. */
class Client {
  readonly lines: Record<string, unknown>[] = [];
  private buf = '';
  private readonly waiters: { pred: (o: Record<string, unknown>) => boolean; r: () => void }[] = [];
  closed = false;
  readonly socket: Socket;

  constructor(path: string) {
    this.socket = connect(path);
    this.socket.on('data', (d: Buffer) => {
      this.buf += d.toString();
      for (let nl = this.buf.indexOf('\n'); nl !== -1; nl = this.buf.indexOf('\n')) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        this.lines.push(JSON.parse(line) as Record<string, unknown>);
        for (const w of [...this.waiters]) {
          if (this.lines.some(w.pred)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.r();
          }
        }
      }
    });
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => {
      this.closed = true;
    });
  }

  send(obj: unknown): void {
    this.socket.write(JSON.stringify(obj) + '\n');
  }

  /** The first line (seen so far or later) matching `pred`; fails after `ms`. */
  async wait(
    pred: (o: Record<string, unknown>) => boolean,
    ms = 10_000,
  ): Promise<Record<string, unknown>> {
    const found = () => this.lines.find(pred);
    if (found() === undefined) {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => {
          reject(new Error(`no such line within ${ms} ms; got ${JSON.stringify(this.lines)}`));
        }, ms);
        this.waiters.push({
          pred,
          r: () => {
            clearTimeout(t);
            resolve();
          },
        });
      });
    }
    const o = found();
    assert.ok(o !== undefined);
    return o;
  }

  close(): void {
    this.socket.destroy();
  }
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('--listen: several socket clients beside stdin, replies to the asker, deliveries to all; bounded clients and lines; inbox ack and re-offer after kill -9', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-listen-'));
  const sock = join(dir, 'n2.sock');
  const clients: Client[] = [];
  const stdoutLines: Record<string, unknown>[] = [];
  const n1 = new NodeProcess({ id: 'n1', configPath: await writeTwoNodeConfig(dir) });
  const n2 = new NodeProcess({
    id: 'n2',
    configPath: join(dir, 'cluster.json'),
    deliveries: true,
    onLine: (o) => stdoutLines.push(o),
  });
  try {
    await n2.start(['--listen', sock, '--inbox-max', '100']);
    await n1.start();
    assert.ok(existsSync(sock), 'the socket exists once the node is ready');
    const a = new Client(sock);
    const b = new Client(sock);
    clients.push(a, b);
    // Each client is greeted with the node's ready line.
    assert.equal((await a.wait((o) => o.type === 'ready')).id, 'n2');
    await b.wait((o) => o.type === 'ready');

    // Three exactly-once messages n1 → n2: both clients and stdout see each delivery, with its id.
    for (let i = 0; i < 3; i++) n1.send({ type: 'send', to: 'n2', payload: { i } });
    for (const c of [a, b]) {
      await c.wait((o) => o.type === 'deliver' && (o.payload as { i: number }).i === 2);
    }
    const ids = a.lines.filter((o) => o.type === 'deliver').map((o) => o.id);
    assert.deepEqual(
      ids.map((id) => typeof id === 'string' && /^n1\/\d+$/.test(id)),
      [true, true, true],
    );
    const onStdout = () => stdoutLines.filter((o) => o.type === 'deliver' && o.inbox === true);
    for (let i = 0; i < 250 && onStdout().length < 3; i++) await delay(20); // another pipe
    assert.equal(onStdout().length, 3);

    // Replies go to the asker only: a's inbox query, b's malformed line.
    a.send({ type: 'inbox' });
    const inbox = await a.wait((o) => o.type === 'inbox');
    assert.deepEqual(
      (inbox.messages as { id: string }[]).map((m) => m.id),
      ids,
    );
    b.socket.write('this is not json\n');
    const err = await b.wait((o) => o.type === 'error');
    assert.equal(err.code, 'bad-argument');
    b.send({ type: 'ack', id: 'nobody/x' });
    await b.wait((o) => o.type === 'error' && /not an inbox message id/.test(String(o.message)));
    await delay(100);
    assert.equal(b.lines.filter((o) => o.type === 'inbox').length, 0, 'b never asked');
    assert.equal(a.lines.filter((o) => o.type === 'error').length, 0, 'a made no mistake');

    // A line over 1 MiB is refused with an error line; the connection goes on.
    b.socket.write('{"type":"stats","pad":"' + 'x'.repeat(1024 * 1024 + 10) + '"}\n');
    await b.wait((o) => o.code === 'line-too-long');
    b.send({ type: 'stats' });
    const stats = await b.wait((o) => o.type === 'stats');
    assert.equal((stats.listen as { clients: number }).clients, 2);

    // Ack the first message (from a); the inbox holds the other two.
    a.send({ type: 'ack', id: ids[0] });
    a.send({ type: 'state' });
    await a.wait((o) => o.type === 'state');
    b.send({ type: 'inbox' });
    const after = await b.wait((o) => o.type === 'inbox');
    assert.deepEqual(
      (after.messages as { id: string }[]).map((m) => m.id),
      ids.slice(1),
    );

    // At most 16 clients: the 17th is told so and disconnected.
    for (let i = 0; i < 14; i++) clients.push(new Client(sock));
    await Promise.all(clients.map((c) => c.wait((o) => o.type === 'ready')));
    const extra = new Client(sock);
    clients.push(extra);
    await extra.wait((o) => o.code === 'too-many-clients');
    for (let i = 0; i < 50 && !extra.closed; i++) await delay(20);
    assert.ok(extra.closed, 'the 17th client is disconnected');
    a.send({ type: 'stats' });
    await a.wait((o) => o.type === 'stats');

    // kill -9 and restart: the stale socket file is replaced, and the two unacked messages are
    // offered again (stdout, with again: true), acked one is not; a new client can list them.
    for (const c of clients) c.close();
    await n2.kill9();
    stdoutLines.length = 0;
    await n2.start(['--listen', sock, '--inbox-max', '100']);
    // (after the ready line: startNode hands deliveries over once the handle is returned)
    for (let i = 0; i < 100 && stdoutLines.filter((o) => o.type === 'deliver').length < 2; i++) {
      await delay(20);
    }
    const again = stdoutLines.filter((o) => o.type === 'deliver');
    assert.deepEqual(
      again.map((o) => [o.id, o.again]),
      ids.slice(1).map((id) => [id, true]),
    );
    const c = new Client(sock);
    clients.push(c);
    // A client that attaches is offered again what the inbox holds (an application reattaching).
    await c.wait((o) => o.type === 'deliver' && o.id === ids[2]);
    assert.deepEqual(
      c.lines.filter((o) => o.type === 'deliver').map((o) => [o.id, o.again]),
      ids.slice(1).map((id) => [id, true]),
    );
    assert.equal(c.lines[0]?.type, 'ready', 'after the ready line');
    c.send({ type: 'inbox' });
    const held = await c.wait((o) => o.type === 'inbox');
    assert.deepEqual(
      (held.messages as { id: string }[]).map((m) => m.id),
      ids.slice(1),
    );
    assert.equal(await n2.stop(), 0);
    assert.ok(!existsSync(sock), 'the socket file is removed at stop');
  } finally {
    for (const c of clients) c.close();
    await n1.stop();
    await n2.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--listen: stdin EOF does not matter (no stderr line, the socket still serves); a path that is not a socket is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-listen-eof-'));
  try {
    const cfg = await writeTwoNodeConfig(dir);
    const sock = join(dir, 'n1.sock');
    const { child, out, err, exited } = spawnNodeMain(t, [
      ...['--id', 'n1', '--config', cfg, '--init', '--listen', sock],
    ]);
    for (let i = 0; i < 400 && !out().includes('"type":"ready"'); i++) await delay(50);
    assert.match(out(), /"type":"ready"/, err());
    child.stdin.end();
    await delay(500);
    assert.equal(err(), '', 'nothing said about stdin: commands come over the socket');
    assert.equal(child.exitCode, null, 'still running');
    const c = new Client(sock);
    c.send({ type: 'send', to: 'n2', payload: 1, ack: true });
    const sent = await c.wait((o) => o.type === 'sent');
    assert.match(String(sent.id), /^n2\/\d+$/);
    await c.wait((o) => o.type === 'accepted');
    c.send({ type: 'stop' });
    assert.equal(await exited, 0);
    c.close();

    // A path that exists and is not a socket: refused at start, exit 2... or 1, naming the path.
    const p = new NodeProcess({ id: 'n2', configPath: cfg });
    const r = await p.runToExit(['--listen', cfg]);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /exists and is not a socket/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('LineServer: lines split across chunks and CRLF are whole lines; a client that stops reading is disconnected once its output passes the bound', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-line-server-'));
  const got: string[] = [];
  const server = new LineServer({
    path: join(dir, 's.sock'),
    outputBytesMax: 64 * 1024,
    onLine: (line, client) => {
      got.push(line);
      client.write({ echo: line });
    },
  });
  try {
    await server.start();
    const c = new Client(server.path);
    c.socket.write('{"a":');
    await delay(50);
    c.socket.write('1}\r\n{"b":2}\n{"c"');
    await delay(50);
    c.socket.write(':3}\n');
    await c.wait((o) => o.echo === '{"c":3}');
    assert.deepEqual(got, ['{"a":1}', '{"b":2}', '{"c":3}']);

    // A reader that never reads: the kernel's socket buffers fill, then its output queue passes
    // 64 KiB, and it is dropped; a reading client stays.
    const stuck = connect(server.path);
    stuck.pause();
    stuck.on('error', () => undefined);
    for (let i = 0; i < 200 && server.size < 2; i++) await delay(10);
    const line = { pad: 'x'.repeat(1024) };
    for (let i = 0; i < 20_000 && server.stats().slowClientsDropped === 0; i++) {
      server.broadcast(line);
      if (i % 16 === 0) await delay(1); // 16 KiB at a time: a reading client keeps up
    }
    assert.equal(server.stats().slowClientsDropped, 1, 'the stuck reader is dropped');
    assert.equal(server.size, 1, 'the reading client is still attached');
    c.send({ last: true });
    await c.wait((o) => o.echo === '{"last":true}');
    assert.equal(c.closed, false);
    stuck.destroy();
    c.close();
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
