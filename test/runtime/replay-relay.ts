/**
 * A lossy UDP relay with a replaying attacker, as a process of its own (replay.test.ts spawns
 * it): node a reaches node b at `--to-b` and b reaches a at `--to-a`; the relay forwards each
 * datagram to the real address (`--a`, `--b`), dropping `--drop` of them (a seeded PRNG), and
 * records what it saw in a uniform sample of every datagram of the run, per direction (4,096
 * each, Algorithm R: so the copies range from milliseconds to the whole run old).
 *
 * The attacker holds no key and forges nothing: from a socket of its own it sends `--replay`
 * datagrams per second per direction, each a byte-for-byte copy of one recorded datagram, to that datagram's
 * original destination, in each direction (data frames to b, acks to a). The nodes identify peers by the frames'
 * `from`, never by source address, so the copies are taken as theirs (with HMAC on, they would
 * still pass: they are authentic frames).
 *
 * Prints {"type":"ready"} once bound; on any line on stdin prints
 * {"type":"relay","forwarded":…,"dropped":…,"replayed":…}.
 *
 * Usage: node --import tsx test/runtime/replay-relay.ts --a PORT --b PORT --to-a PORT
 *        --to-b PORT [--drop 0.1] [--replay 200] [--seed 1]
 */

import { createSocket, type Socket } from 'node:dgram';
import { createInterface } from 'node:readline';

const HOST = '127.0.0.1';
const SAMPLE_MAX = 4096;
const REPLAY_TICK_MS = 5;

function arg(name: string, dflt?: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : dflt;
  if (v === undefined || !Number.isFinite(v)) throw new Error(`--${name} NUMBER is required`);
  return v;
}

/** mulberry32: a small seeded PRNG (the relay's drops and picks repeat with the seed). */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniform sample of every datagram seen in one direction. */
class Recorded {
  readonly xs: Buffer[] = [];
  seen = 0;
  constructor(private readonly random: () => number) {}
  add(b: Buffer): void {
    const n = this.seen++;
    if (n < SAMPLE_MAX) this.xs.push(Buffer.from(b));
    else {
      const j = Math.floor(this.random() * (n + 1));
      if (j < SAMPLE_MAX) this.xs[j] = Buffer.from(b);
    }
  }
}

const portA = arg('a');
const portB = arg('b');
const dropRatio = arg('drop', 0);
const replayPerSecond = arg('replay', 0);
const random = prng(arg('seed', 1));
const counters = { forwarded: 0, dropped: 0, replayed: 0 };

async function bound(port: number): Promise<Socket> {
  const s = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  await new Promise<void>((resolve) => s.bind(port, HOST, resolve));
  return s;
}

const toB = await bound(arg('to-b')); // a → b: data frames
const toA = await bound(arg('to-a')); // b → a: acks
const attacker = await bound(0);
const recorded = { b: new Recorded(random), a: new Recorded(random) };

function relay(from: Socket, dest: number, rec: Recorded): void {
  from.on('message', (m) => {
    rec.add(m);
    if (random() < dropRatio) {
      counters.dropped++;
      return;
    }
    counters.forwarded++;
    from.send(m, dest, HOST);
  });
}
relay(toB, portB, recorded.b);
relay(toA, portA, recorded.a);

if (replayPerSecond > 0) {
  let owed = 0;
  setInterval(() => {
    owed += (replayPerSecond * REPLAY_TICK_MS) / 1000;
    for (; owed >= 1; owed--) {
      for (const [rec, port] of [
        [recorded.b, portB],
        [recorded.a, portA],
      ] as const) {
        const copy = rec.xs[Math.floor(random() * rec.xs.length)];
        if (copy === undefined) continue;
        counters.replayed++;
        attacker.send(copy, port, HOST);
      }
    }
  }, REPLAY_TICK_MS);
}

createInterface({ input: process.stdin }).on('line', () => {
  process.stdout.write(JSON.stringify({ type: 'relay', ...counters }) + '\n');
});
process.stdout.write(JSON.stringify({ type: 'ready' }) + '\n');
