/**
 * Transport benchmark: steadfast over real UDP and TCP between two OS processes, side by side
 * with raw UDP (the ceiling), plain TCP (node:net, no application acks) and MQTT through a real
 * mosquitto broker at QoS 1 and QoS 2 (its at-least-once and exactly-once). One run, loopback,
 * 1 KiB payloads, 200,000 messages per row (--messages to change). The UDP and TCP rows are
 * repeated inside a network namespace whose kernel drops 5% and 20% of UDP and TCP packets at
 * random (nftables), when namespaces are available (root, iproute2, nftables).
 *
 * Per row: messages/s (goodput: distinct messages received per second, from the first send to
 * the last message settled — for steadfast: every message acked, so applied durably for
 * exactly-once), p50/p99 end-to-end latency (send time stamped in the payload, read at the
 * receiver on the same host clock), and the ratio to plain TCP of the same network condition.
 * A row that does not finish within --row-timeout is reported with the goodput it reached.
 *
 * Every sender and receiver runs in its own child process (this file, `--role …`), so no row
 * shares a CPU with its peer's event loop, and namespace rows run entirely inside the namespace.
 * steadfast rows use the node processes of src/runtime (SQLite with synchronous=FULL, group
 * commit), configured by the defaults of src/runtime/node.ts; one extra loopback row runs
 * exactly-once over UDP with synchronous=NORMAL (durable against process crashes, not power
 * loss: see src/runtime/storage.ts) to show what the per-commit fsync costs, and one with
 * datagrams packed only up to 1,200 bytes (one 1 KiB message each), as between machines; every
 * other UDP row uses the loopback default, 16 KiB datagrams (up to fourteen 1 KiB messages each;
 * see udp.ts: a frame is still at most 1,200 bytes, only packing changes).
 * "await accepted" runs exactly-once UDP with an application that counts a message as sent only
 * once it is `accepted` (durable at the sender: the workload's `awaitAccepted`), at most 1,000
 * not yet accepted, against the row above, which hands messages over without waiting (the
 * send-buffer writes are lazy: its frames never wait for their commit).
 * The machine is shared: figures vary between runs; compare rows of one run.
 *
 * The machine is shared and its speed drifts by tens of percent over minutes, while the table's
 * rows run minutes apart: so the loopback targets are judged again on rounds (--rounds, default
 * 3) of plain TCP, exactly-once UDP and MQTT QoS 2 run back to back, on the median ratio.
 *
 * Usage: node --import tsx bench/transport.ts [--messages N] [--quick] [--no-netns] [--no-mqtt]
 *        [--row-timeout S] [--only TEXT] [--rounds N]
 *   --only   run just the rows whose "name (network)" contains TEXT, e.g. --only "TCP (netns 20%)";
 *            several texts separated by ';' run the rows matching any of them.
 *   --quick  20,000 messages per row, a 60 s row timeout and no target rounds (a smoke run).
 *   --rounds target rounds after the table (0: none; not with --only).
 */

import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { NodeProcess, within } from '../src/runtime/process.ts';
import { NetNs, netnsUnavailable } from '../test/runtime/netns.ts';

const PAYLOAD_BYTES = 1024;
/** Datagrams packed only up to the internet-safe frame size, as between machines. */
const SAFE_PACK_BYTES = 1200;
const SELF = fileURLToPath(import.meta.url);
const TSX = import.meta.resolve('tsx');

const wallNow = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) =>
  new Promise<void>((r) => {
    setTimeout(r, ms);
  });

// ------------------------------------------------------------------------------- child roles

/** Latencies of received messages: a bounded sample, summarised at the end. */
/**
 * What a sink received: distinct stamped payloads (each index counted once), the time of the
 * last one, and their latencies (a bounded sample), summarised at the end.
 */
class Tally {
  distinct = 0;
  last = 0;
  private readonly seen: Uint8Array;
  private readonly xs: number[] = [];
  constructor(private readonly count: number) {
    this.seen = new Uint8Array(count);
  }
  /** A payload of `stampedPayload` starts at `b[off]`. */
  receive(b: Buffer, off = 0): void {
    const i = b.readUInt32BE(off + 8);
    if (i >= this.count || this.seen[i] === 1) return;
    this.seen[i] = 1;
    this.distinct++;
    this.last = wallNow();
    if (this.xs.length < 200_000) this.xs.push(this.last - b.readDoubleBE(off));
  }
  result(): { distinct: number; last: number; p50: number; p99: number } {
    const s = [...this.xs].sort((a, b) => a - b);
    const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
    return { distinct: this.distinct, last: this.last, p50: at(0.5), p99: at(0.99) };
  }
}

function stampedPayload(i: number): Buffer {
  const b = Buffer.alloc(PAYLOAD_BYTES, 0x61);
  b.writeDoubleBE(wallNow(), 0);
  b.writeUInt32BE(i, 8);
  return b;
}

/** Set once the parent writes a line on stdin: report what was received so far. */
function reportRequested(): { yes: boolean } {
  const flag = { yes: false };
  createInterface({ input: process.stdin }).on('line', () => (flag.yes = true));
  return flag;
}

function emit(obj: unknown): void {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function roleUdpSink(port: number, count: number): Promise<void> {
  const s = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
  const tally = new Tally(count);
  s.on('message', (m) => {
    if (m.length >= 12) tally.receive(m); // shorter: the source's end marker
  });
  await new Promise<void>((r) => s.bind(port, '127.0.0.1', r));
  emit({ type: 'ready' });
  // Done when all arrived or nothing arrived for 1 s after the sender said it finished.
  const rl = createInterface({ input: process.stdin });
  const sender = { done: false };
  rl.on('line', () => (sender.done = true)); // "done" or "report": stop waiting
  for (;;) {
    await sleep(50);
    if (tally.distinct === count || (sender.done && wallNow() - tally.last > 1000)) break;
  }
  emit({ type: 'result', ...tally.result() });
  s.close();
  process.exit(0);
}

async function roleUdpSource(port: number, count: number): Promise<void> {
  const s = createSocket({ type: 'udp4', sendBufferSize: 4 * 1024 * 1024 });
  const t0 = wallNow();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const burst = () => {
      for (let k = 0; k < 256 && sent < count; k++)
        s.send(stampedPayload(sent++), port, '127.0.0.1');
      if (sent < count) setImmediate(burst);
      else resolve();
    };
    burst();
  });
  await new Promise<void>((r) => {
    s.send(Buffer.alloc(0), port, '127.0.0.1', () => {
      r();
    });
  });
  emit({ type: 'result', first: t0, sendMs: wallNow() - t0 });
  s.close();
  process.exit(0);
}

async function roleTcpSink(port: number, count: number): Promise<void> {
  const tally = new Tally(count);
  const server = createServer((sock: Socket) => {
    let pending: Buffer = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      let buf = pending.length === 0 ? d : Buffer.concat([pending, d]);
      while (buf.length >= 4 + PAYLOAD_BYTES) {
        tally.receive(buf, 4);
        buf = buf.subarray(4 + PAYLOAD_BYTES);
      }
      pending = buf;
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  emit({ type: 'ready' });
  const asked = reportRequested();
  while (tally.distinct < count && !asked.yes) await sleep(20);
  emit({ type: 'result', ...tally.result() });
  process.exit(0);
}

async function roleTcpSource(port: number, count: number): Promise<void> {
  const sock = connect(port, '127.0.0.1');
  sock.setNoDelay(true);
  await new Promise<void>((r) => sock.once('connect', r));
  const t0 = wallNow();
  for (let i = 0; i < count; i++) {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(PAYLOAD_BYTES);
    sock.write(head);
    if (!sock.write(stampedPayload(i))) await new Promise<void>((r) => sock.once('drain', r));
  }
  emit({ type: 'result', first: t0, sendMs: wallNow() - t0 });
  // Stay connected until killed: closing early could lose unsent bytes.
  await new Promise(() => undefined);
}

async function roleMqttSub(port: number, count: number, qos: 1 | 2): Promise<void> {
  const mqtt = await import('mqtt');
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clean: true });
  await client.subscribeAsync('bench', { qos });
  const tally = new Tally(count);
  client.on('message', (_topic, m) => {
    tally.receive(m);
  });
  emit({ type: 'ready' });
  const asked = reportRequested();
  while (tally.distinct < count && !asked.yes) await sleep(20);
  emit({ type: 'result', ...tally.result() });
  await client.endAsync();
  process.exit(0);
}

async function roleMqttPub(port: number, count: number, qos: 1 | 2): Promise<void> {
  const mqtt = await import('mqtt');
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clean: true });
  const t0 = wallNow();
  let acked = 0;
  let next = 0;
  const WINDOW = 1000; // outstanding publishes awaiting PUBACK / PUBCOMP
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (next < count && next - acked < WINDOW) {
        client.publish('bench', stampedPayload(next++), { qos }, () => {
          acked++;
          if (acked === count) resolve();
          else if (next < count) pump();
        });
      }
    };
    pump();
  });
  emit({ type: 'result', first: t0, sendMs: wallNow() - t0 });
  await client.endAsync();
  process.exit(0);
}

// -------------------------------------------------------------------------------- the rows

interface Row {
  readonly name: string;
  readonly net: string;
  readonly distinct: number;
  readonly count: number;
  readonly ms: number;
  readonly p50: number;
  readonly p99: number;
  readonly note?: string;
}

interface Child {
  readonly lines: AsyncIterator<Record<string, unknown>>;
  kill(): void;
  stdin(line: string): void;
}

function child(role: string[], netns: string | undefined): Child {
  const args = ['--import', TSX, SELF, ...role];
  const [cmd, argv] =
    netns === undefined
      ? [process.execPath, args]
      : ['ip', ['netns', 'exec', netns, process.execPath, ...args]];
  const p = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'inherit'] });
  const rl = createInterface({ input: p.stdout });
  const it = (async function* () {
    for await (const line of rl) {
      try {
        yield JSON.parse(line) as Record<string, unknown>;
      } catch {
        // ignore non-JSON output
      }
    }
  })();
  return {
    lines: it,
    kill: () => p.kill('SIGKILL'),
    stdin: (line) => p.stdin.write(line + '\n'),
  };
}

/**
 * The child's next JSON line, or undefined after `timeoutMs`. A read that timed out stays pending
 * and is the one the next call waits on: a fresh `next()` would queue behind it, and the line the
 * old one then receives (say, the sink's answer to "report") would be lost.
 */
const pendingLines = new WeakMap<Child, Promise<IteratorResult<Record<string, unknown>>>>();
async function nextLine(c: Child, timeoutMs: number): Promise<Record<string, unknown> | undefined> {
  let p = pendingLines.get(c);
  if (p === undefined) {
    p = c.lines.next();
    pendingLines.set(c, p);
  }
  const r = await within(p, timeoutMs);
  if (r === undefined) return undefined;
  pendingLines.delete(c);
  return r.done === true ? undefined : r.value;
}

let portBase = 21000;
const nextPort = () => portBase++;

async function rawRow(
  kind: 'udp' | 'tcp' | 'mqtt1' | 'mqtt2',
  count: number,
  netns: string | undefined,
  timeoutMs: number,
  brokerPort?: number,
): Promise<Omit<Row, 'name' | 'net'>> {
  const port = brokerPort ?? nextPort();
  const qos = kind === 'mqtt2' ? '2' : '1';
  const [sinkRole, sourceRole] =
    kind === 'udp'
      ? ['udp-sink', 'udp-source']
      : kind === 'tcp'
        ? ['tcp-sink', 'tcp-source']
        : ['mqtt-sub', 'mqtt-pub'];
  const sink = child(
    ['--role', sinkRole, '--port', String(port), '--count', String(count), '--qos', qos],
    netns,
  );
  const source: Child[] = [];
  try {
    const ready = await nextLine(sink, 30_000);
    if (ready?.type !== 'ready') throw new Error(`${kind} sink did not start`);
    const src = child(
      ['--role', sourceRole, '--port', String(port), '--count', String(count), '--qos', qos],
      netns,
    );
    source.push(src);
    const start = wallNow();
    const sent = await nextLine(src, timeoutMs);
    if (kind === 'udp') sink.stdin('done');
    let res = await nextLine(sink, Math.max(1000, timeoutMs - (wallNow() - start)));
    const first = typeof sent?.first === 'number' ? sent.first : start;
    let timedOut = false;
    if (res === undefined) {
      // Timed out: ask the sink what it has received so far.
      timedOut = true;
      sink.stdin('report');
      res = await nextLine(sink, 5000);
    }
    if (res === undefined) {
      return { distinct: 0, count, ms: wallNow() - first, p50: 0, p99: 0, note: 'timed out' };
    }
    const distinct = Number(res.distinct);
    const last = timedOut ? wallNow() : Number(res.last);
    const note = timedOut
      ? `timed out after ${Math.round(timeoutMs / 1000)} s`
      : kind === 'udp'
        ? `sender handed ${count} datagrams to the kernel at ${Math.round(count / (Number(sent?.sendMs) / 1000))}/s`
        : undefined;
    return {
      distinct,
      count,
      ms: Math.max(1, last - first),
      p50: Number(res.p50),
      p99: Number(res.p99),
      ...(note === undefined ? {} : { note }),
    };
  } finally {
    sink.kill();
    for (const s of source) s.kill();
  }
}

async function steadfastRow(
  transport: 'udp' | 'tcp',
  guarantee: 'at-least-once' | 'exactly-once',
  count: number,
  netns: string | undefined,
  timeoutMs: number,
  synchronous: 'FULL' | 'NORMAL' = 'FULL',
  packBytes?: number,
  awaitAccepted = false,
): Promise<Omit<Row, 'name' | 'net'>> {
  const dir = mkdtempSync(join(tmpdir(), 'sf-bench-'));
  const configPath = join(dir, 'cluster.json');
  const p1 = nextPort();
  const p2 = nextPort();
  writeFileSync(
    configPath,
    JSON.stringify({
      nodes: { n1: { host: '127.0.0.1', port: p1 }, n2: { host: '127.0.0.1', port: p2 } },
      transport,
      stack: { guarantee, effect: 'counter' },
      dataDir: './data',
      synchronous,
      ...(packBytes === undefined ? {} : { udp: { packBytes } }),
    }),
  );
  const opts = netns === undefined ? {} : { netns };
  const a = new NodeProcess({ id: 'n1', configPath, ...opts });
  const b = new NodeProcess({ id: 'n2', configPath, ...opts });
  try {
    await b.start();
    await a.start();
    const t0 = wallNow();
    // 1 KiB of payload: msgpack {i, ts, pad} with a 990-byte pad.
    // A small queue above the send window, so latency is not mostly time spent queued (MQTT's
    // publisher keeps at most 1,000 outstanding too).
    // Awaiting accepted: the sender's application does not count a message as sent before it is
    // durable at the sender, so at most 1,000 are not yet accepted (rather than 1,000 queued).
    a.send({
      type: 'workload',
      to: 'n2',
      count,
      stamp: true,
      padBytes: 990,
      maxQueued: 1000,
      ...(awaitAccepted ? { awaitAccepted: true } : {}),
    });
    const deadline = t0 + timeoutMs;
    const flag = { done: false };
    void a.next((o) => o.type === 'workload-done').then(() => (flag.done = true));
    let settled = false;
    while (wallNow() < deadline) {
      await sleep(100);
      if (!flag.done) continue;
      const st = await a.stats();
      const p = st?.protocol as Record<string, number> | undefined;
      if (p?.inFlight === 0 && p.waiting === 0) {
        settled = true;
        break;
      }
    }
    const ms = wallNow() - t0;
    const rs = await b.stats();
    const lat = rs?.latency as { count: number; p50: number; p99: number } | undefined;
    const delivered = lat?.count ?? 0;
    return {
      distinct: settled ? count : Math.min(count, delivered),
      count,
      ms,
      p50: lat?.p50 ?? 0,
      p99: lat?.p99 ?? 0,
      ...(settled ? {} : { note: 'timed out' }),
    };
  } finally {
    await a.stop();
    await b.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function withMosquitto<T>(fn: (port: number) => Promise<T>): Promise<T | string> {
  if (spawnSync('sh', ['-c', 'command -v mosquitto'], { stdio: 'ignore' }).status !== 0) {
    return 'mosquitto is not installed (apt-get install mosquitto)';
  }
  const dir = mkdtempSync(join(tmpdir(), 'sf-mqtt-'));
  const port = nextPort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'max_inflight_messages 1000',
      'max_queued_messages 1000000',
      'log_type error',
      '',
    ].join('\n'),
  );
  const broker = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    for (let k = 0; k < 50; k++) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => {
          resolve(false);
        });
      });
      if (ok) break;
      await sleep(100);
    }
    return await fn(port);
  } finally {
    broker.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

function fmtRate(r: Row): string {
  return String(Math.round((r.distinct / r.ms) * 1000));
}

function printTable(rows: readonly Row[], out: (s: string) => void): void {
  const tcpRate = new Map<string, number>();
  for (const r of rows) if (r.name === 'plain TCP') tcpRate.set(r.net, r.distinct / r.ms);
  out(
    `${'row'.padEnd(42)} ${'network'.padEnd(12)} ${'msgs/s'.padStart(9)} ${'p50 ms'.padStart(8)} ` +
      `${'p99 ms'.padStart(8)} ${'× TCP'.padStart(6)}  note\n`,
  );
  for (const r of rows) {
    const tcp = tcpRate.get(r.net);
    const ratio = tcp === undefined || tcp === 0 ? '-' : (r.distinct / r.ms / tcp).toFixed(2);
    const done = r.distinct < r.count ? `${r.distinct}/${r.count} received` : '';
    out(
      `${r.name.padEnd(42)} ${r.net.padEnd(12)} ${fmtRate(r).padStart(9)} ${r.p50.toFixed(1).padStart(8)} ` +
        `${r.p99.toFixed(1).padStart(8)} ${ratio.padStart(6)}  ${[done, r.note ?? ''].filter((x) => x !== '').join('; ')}\n`,
    );
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const flag = (name: string) => argv.includes(name);
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const role = value('--role');
  if (role !== undefined) {
    const port = Number(value('--port'));
    const count = Number(value('--count'));
    const qos = value('--qos') === '2' ? 2 : 1;
    switch (role) {
      case 'udp-sink':
        return roleUdpSink(port, count);
      case 'udp-source':
        return roleUdpSource(port, count);
      case 'tcp-sink':
        return roleTcpSink(port, count);
      case 'tcp-source':
        return roleTcpSource(port, count);
      case 'mqtt-sub':
        return roleMqttSub(port, count, qos);
      case 'mqtt-pub':
        return roleMqttPub(port, count, qos);
      default:
        throw new Error(`unknown role ${role}`);
    }
  }
  const quick = flag('--quick');
  const count = Number(value('--messages') ?? (quick ? 20_000 : 200_000));
  const timeoutMs = 1000 * Number(value('--row-timeout') ?? (quick ? 60 : 300));
  if (!Number.isInteger(count) || count < 1)
    throw new Error('--messages must be a positive integer');
  const out = (s: string) => process.stdout.write(s);
  const rows: Row[] = [];
  const only = value('--only');
  const selected = (row: string) =>
    only === undefined || only.split(';').some((text) => row.includes(text));
  const run = async (name: string, net: string, f: () => Promise<Omit<Row, 'name' | 'net'>>) => {
    if (!selected(`${name} (${net})`)) return;
    out(`  ${name} (${net}) ...`);
    const r = { name, net, ...(await f()) };
    rows.push(r);
    out(` ${fmtRate(r)} msg/s\n`);
  };
  out(`bench/transport: ${count} messages of ${PAYLOAD_BYTES} B per row, loopback\n`);
  const nets: { label: string; drop: number }[] = [{ label: 'loopback', drop: 0 }];
  const why = flag('--no-netns') ? '--no-netns' : netnsUnavailable();
  if (why === undefined)
    nets.push({ label: 'netns 5%', drop: 5 }, { label: 'netns 20%', drop: 20 });
  else out(`namespace rows skipped: ${why}\n`);
  for (const { label, drop } of nets) {
    const ns = drop === 0 ? undefined : NetNs.create(drop, ['udp', 'tcp']);
    const nsName = ns?.name;
    try {
      await run('raw UDP (ceiling)', label, () => rawRow('udp', count, nsName, timeoutMs));
      await run('plain TCP', label, () => rawRow('tcp', count, nsName, timeoutMs));
      await run('steadfast at-least-once UDP', label, () =>
        steadfastRow('udp', 'at-least-once', count, nsName, timeoutMs),
      );
      await run('steadfast exactly-once UDP', label, () =>
        steadfastRow('udp', 'exactly-once', count, nsName, timeoutMs),
      );
      await run('steadfast exactly-once UDP await accepted', label, () =>
        steadfastRow('udp', 'exactly-once', count, nsName, timeoutMs, 'FULL', undefined, true),
      );
      if (drop === 0) {
        await run('steadfast exactly-once UDP NORMAL', label, () =>
          steadfastRow('udp', 'exactly-once', count, nsName, timeoutMs, 'NORMAL'),
        );
        await run(`steadfast exactly-once UDP ${SAFE_PACK_BYTES} B dgrams`, label, () =>
          steadfastRow('udp', 'exactly-once', count, nsName, timeoutMs, 'FULL', SAFE_PACK_BYTES),
        );
      }
      await run('steadfast at-least-once TCP', label, () =>
        steadfastRow('tcp', 'at-least-once', count, nsName, timeoutMs),
      );
      await run('steadfast exactly-once TCP', label, () =>
        steadfastRow('tcp', 'exactly-once', count, nsName, timeoutMs),
      );
      if (drop === 0 && !flag('--no-mqtt')) {
        for (const q of ['mqtt1', 'mqtt2'] as const) {
          const name = `MQTT QoS ${q === 'mqtt1' ? 1 : 2} (mosquitto)`;
          if (!selected(`${name} (${label})`)) continue;
          const r = await withMosquitto((port) => rawRow(q, count, undefined, timeoutMs, port));
          if (typeof r === 'string') out(`  ${name}: skipped, ${r}\n`);
          else {
            rows.push({ name, net: label, ...r });
            out(`  ${name} (${label}) ... ${fmtRate({ name, net: label, ...r })} msg/s\n`);
          }
        }
      }
    } finally {
      ns?.delete();
    }
  }
  out('\n');
  printTable(rows, out);
  // The targets, checked on the figures above.
  const rate = (name: string, net: string) => {
    const r = rows.find((x) => x.name === name && x.net === net);
    return r === undefined ? undefined : r.distinct / r.ms;
  };
  const eo0 = rate('steadfast exactly-once UDP', 'loopback');
  const q2 = rate('MQTT QoS 2 (mosquitto)', 'loopback');
  const tcp0 = rate('plain TCP', 'loopback');
  const eo20 = rate('steadfast exactly-once UDP', 'netns 20%');
  const tcp20 = rate('plain TCP', 'netns 20%');
  const target = (label: string, ours: number | undefined, base: number | undefined, k: number) => {
    if (ours === undefined || base === undefined) return `${label}: not measured\n`;
    if (base === 0) {
      return `${label}: the baseline made no progress within the row timeout (ours ${Math.round(ours * 1000)} msg/s): MET only trivially\n`;
    }
    const x = ours / base;
    return `${label}: ${x.toFixed(2)}× (target ≥ ${k}×) ${x >= k ? 'MET' : 'NOT MET'}\n`;
  };
  out('\nratios of the table above (one run of each row):\n');
  out(target('exactly-once UDP vs MQTT QoS 2, loopback', eo0, q2, 3));
  out(target('exactly-once UDP vs plain TCP, loopback', eo0, tcp0, 0.5));
  out(target('exactly-once UDP vs plain TCP, 20% drop', eo20, tcp20, 2));
  const rounds = Number(value('--rounds') ?? (quick ? 0 : 3));
  if (!Number.isInteger(rounds) || rounds < 0) {
    throw new Error('--rounds must be a non-negative integer');
  }
  if (rounds > 0 && only === undefined) await targetRounds(rounds, count, timeoutMs, out);
}

/**
 * The loopback targets again, judged on rounds: each round runs plain TCP, exactly-once UDP and
 * MQTT QoS 2 back to back (in a rotating order) and takes the two ratios within the round; the
 * verdict is on the median ratio. The machine's speed drifts by tens of percent over minutes
 * (the table's rows run minutes apart), and a ratio of rows run seconds apart cancels most of it.
 */
async function targetRounds(
  rounds: number,
  count: number,
  timeoutMs: number,
  out: (s: string) => void,
): Promise<void> {
  out(
    `\ntarget rounds (loopback): plain TCP, exactly-once UDP and MQTT QoS 2 back to back, ${rounds} rounds\n`,
  );
  const perSecond = (r: Omit<Row, 'name' | 'net'>) => (r.distinct / r.ms) * 1000;
  const vsTcp: number[] = [];
  const vsQos2: number[] = [];
  type Kind = 'tcp' | 'eo' | 'qos2';
  const order: Kind[] = ['tcp', 'eo', 'qos2'];
  for (let i = 0; i < rounds; i++) {
    const rate = new Map<Kind, number>();
    for (let k = 0; k < order.length; k++) {
      const kind = order[(i + k) % order.length] ?? 'tcp';
      if (kind === 'tcp')
        rate.set(kind, perSecond(await rawRow('tcp', count, undefined, timeoutMs)));
      else if (kind === 'eo') {
        rate.set(
          kind,
          perSecond(await steadfastRow('udp', 'exactly-once', count, undefined, timeoutMs)),
        );
      } else {
        const r = await withMosquitto((port) => rawRow('mqtt2', count, undefined, timeoutMs, port));
        if (typeof r !== 'string') rate.set(kind, perSecond(r));
      }
    }
    const tcp = rate.get('tcp') ?? 0;
    const eo = rate.get('eo') ?? 0;
    const q2 = rate.get('qos2');
    if (tcp > 0) vsTcp.push(eo / tcp);
    if (q2 !== undefined && q2 > 0) vsQos2.push(eo / q2);
    out(
      `  round ${i + 1}: plain TCP ${Math.round(tcp)}, exactly-once UDP ${Math.round(eo)}, ` +
        `MQTT QoS 2 ${q2 === undefined ? 'skipped' : Math.round(q2)} msg/s: ` +
        `${tcp > 0 ? (eo / tcp).toFixed(2) : '-'}× TCP, ` +
        `${q2 !== undefined && q2 > 0 ? (eo / q2).toFixed(2) : '-'}× QoS 2\n`,
    );
  }
  const verdict = (label: string, xs: number[], k: number) => {
    if (xs.length === 0) return `${label}: not measured\n`;
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    const median =
      sorted.length % 2 === 1
        ? (sorted[mid] ?? 0)
        : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
    const all = xs.map((x) => x.toFixed(2)).join(', ');
    return `${label}: median ${median.toFixed(2)}× of ${xs.length} rounds [${all}] (target ≥ ${k}×) ${median >= k ? 'MET' : 'NOT MET'}\n`;
  };
  out(verdict('exactly-once UDP vs MQTT QoS 2, loopback', vsQos2, 3));
  out(verdict('exactly-once UDP vs plain TCP, loopback', vsTcp, 0.5));
}

await main();
