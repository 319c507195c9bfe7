// Exactly-once to the application, way 2: the DURABLE INBOX, for an application that keeps its
// own store. With `inboxMax`, every exactly-once delivery carries an `id` (`<from>/<seq>`, the same
// each time it is offered) and stays in the node until the application calls `node.ack(id)`; what
// is still there is offered again after a restart (`again: true`). The application applies each
// message in its own store together with its id, and acks only after that store is on disk: a
// message offered again whose id is already in the store is only acked. So each message takes
// effect in the application's store exactly once, whatever crashes, and the node never holds
// more than `inboxMax` (a sender whose message finds the inbox full retransmits it later).
//
// The store here is an append-only JSON Lines file (one line per applied message, fsynced before
// the acks; a torn last line, from a power loss, is dropped at load). Any store with atomic
// writes works: a SQLite table, a JSON file written to a temporary name and renamed.
//
//   Run: node inbox.js                       n1 sends 500 messages to n2's application, which
//                                            "crashes" once between its store and its acks
//        node inbox.js receive CONFIG STORE [--init]
//                                            n2 and its application as a process (the kill test
//                                            kills it with SIGKILL mid-stream); prints a status
//                                            line every 200 ms
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  freeUdpPort,
  loadConfig,
  parseConfig,
  startNode,
  type ChannelDeliver,
  type ClusterConfig,
  type NodeHandle,
} from 'steadfast';

/** The application's own store: the ids it has applied, and an append-only file of them. */
class Store {
  readonly applied = new Set<string>();
  private readonly fd: number;

  constructor(readonly path: string) {
    if (existsSync(path)) {
      const text = readFileSync(path, 'utf8');
      const end = text.lastIndexOf('\n') + 1; // a torn last line is not applied: drop it
      for (const line of text.slice(0, end).split('\n')) {
        if (line !== '') this.applied.add((JSON.parse(line) as { id: string }).id);
      }
      if (end < text.length) truncateSync(path, Buffer.byteLength(text.slice(0, end)));
    }
    this.fd = openSync(path, 'a');
  }

  /** Applies `msgs` (their ids not yet applied) in one durable write. */
  apply(msgs: readonly ChannelDeliver[]): void {
    if (msgs.length === 0) return;
    let text = '';
    for (const m of msgs) text += JSON.stringify({ id: m.id, payload: m.payload }) + '\n';
    writeSync(this.fd, text);
    fsyncSync(this.fd);
    for (const m of msgs) this.applied.add(m.id ?? '');
  }

  close(): void {
    closeSync(this.fd);
  }
}

/**
 * The application: takes n2's deliveries, applies each new id in its store and acks it; an id
 * already in the store (offered again after a crash) is only acked. `crashBefore` makes it stop
 * once, after its store write and before its acks, as a crash there would.
 */
class App {
  private queue: ChannelDeliver[] = [];
  private scheduled = false;
  node: NodeHandle | undefined;
  offeredAgain = 0;
  skipped = 0;
  crashed = false;

  constructor(
    readonly store: Store,
    private readonly crashAt?: number,
  ) {}

  onDeliver = (d: unknown): void => {
    const m = d as ChannelDeliver;
    if (m.id === undefined) return; // not an inbox message
    if (m.again === true) this.offeredAgain++;
    this.queue.push(m);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.flush();
      });
    }
  };

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    const node = this.node;
    if (node === undefined || this.crashed) return;
    const fresh = batch.filter((m) => !this.store.applied.has(m.id ?? ''));
    this.skipped += batch.length - fresh.length;
    this.store.apply(fresh);
    if (this.crashAt !== undefined && this.store.applied.size >= this.crashAt) {
      this.crashed = true; // applied, never acked: the node still holds them
      return;
    }
    for (const m of batch) node.ack(m.id ?? '');
  }
}

async function receive(cfg: ClusterConfig, storePath: string, init: boolean): Promise<void> {
  const app = new App(new Store(storePath));
  const node = await startNode(cfg, 'n2', { init, inboxMax: 4096, onDeliver: app.onDeliver });
  app.node = node;
  const status = () => ({
    type: 'status',
    applied: app.store.applied.size,
    inbox: node.inbox().length,
    offeredAgain: app.offeredAgain,
    skipped: app.skipped,
  });
  console.log(JSON.stringify({ ...status(), type: 'ready' }));
  const timer = setInterval(() => {
    console.log(JSON.stringify(status()));
  }, 200);
  process.once('SIGTERM', () => {
    clearInterval(timer);
    void node.close().then(() => {
      app.store.close();
      process.exit(0);
    });
  });
}

if (process.argv[2] === 'receive') {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(3),
    options: { init: { type: 'boolean', default: false } },
    allowPositionals: true,
  });
  const [config, store] = positionals;
  if (config === undefined || store === undefined) {
    throw new Error('usage: inbox.js receive CONFIG STORE [--init]');
  }
  await receive(loadConfig(config), store, values.init);
} else {
  const COUNT = 500;
  const dir = mkdtempSync(join(tmpdir(), 'steadfast-inbox-'));
  const cfg = parseConfig({
    nodes: {
      n1: { host: '127.0.0.1', port: await freeUdpPort() },
      n2: { host: '127.0.0.1', port: await freeUdpPort() },
    },
    transport: 'udp',
    stack: { guarantee: 'exactly-once' },
    dataDir: join(dir, 'data'),
  });
  const storePath = join(dir, 'applied.jsonl');
  const until = async (cond: () => boolean) => {
    while (!cond()) await new Promise((r) => setTimeout(r, 10));
  };

  // First run of n2's application: it stops after its store holds 200 messages, before acking
  // the batch that got it there (as a crash between its commit and its acks would).
  const first = new App(new Store(storePath), 200);
  let n2 = await startNode(cfg, 'n2', { init: true, inboxMax: 1000, onDeliver: first.onDeliver });
  first.node = n2;
  const n1 = await startNode(cfg, 'n1', { init: true });
  const sent = [];
  for (let i = 0; i < COUNT; i++) sent.push(n1.send('n2', { i }));
  await until(() => first.crashed);
  const held = n2.inbox().length;
  await n2.close();
  first.store.close();

  // Restart: the node offers again what it still holds; the application skips what its store has.
  const second = new App(new Store(storePath));
  n2 = await startNode(cfg, 'n2', { inboxMax: 1000, onDeliver: second.onDeliver });
  second.node = n2;
  await Promise.all(sent.map((m) => m.delivered));
  await until(() => n2.inbox().length === 0);
  console.log(
    `the application stopped with ${first.store.applied.size} applied; the node held ${held} unacked`,
  );
  console.log(
    `after the restart ${second.offeredAgain} were offered again, ${second.skipped} of them already applied (only acked)`,
  );
  await n1.close();
  await n2.close();
  second.store.close();

  // Counted from the store itself: each message once.
  const counts = new Map<number, number>();
  for (const line of readFileSync(storePath, 'utf8').split('\n')) {
    if (line === '') continue;
    const i = (JSON.parse(line) as { payload: { i: number } }).payload.i;
    counts.set(i, (counts.get(i) ?? 0) + 1);
  }
  const twice = [...counts.values()].filter((n) => n > 1).length;
  console.log(`the store holds ${counts.size} of ${COUNT} messages, ${twice} more than once`);
  rmSync(dir, { recursive: true, force: true });
  process.exitCode = counts.size === COUNT && twice === 0 && second.skipped > 0 ? 0 : 1;
}
