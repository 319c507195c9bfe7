// The UDP transport's packing (src/runtime/udp.ts): frames to one peer in one synchronous run
// share datagrams up to packBytes (default maxDatagramBytes) and arrive as the same frames, in order; a datagram that
// does not split into whole frames delivers the frames before the bad part and counts the rest.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { encodeFrame } from '../../src/core/frame.ts';
import { LOOPBACK_PACK_BYTES, parseConfig, udpPackBytes } from '../../src/runtime/config.ts';
import { UdpTransport } from '../../src/runtime/udp.ts';
import { freeUdpPort } from '../../src/runtime/ports.ts';

const stat = (t: UdpTransport, k: string): number => t.stats()[k] ?? -1;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function pair(maxDatagramBytes: number, pack = true, packBytes?: number) {
  const [pa, pb] = [await freeUdpPort(), await freeUdpPort()];
  const peers = new Map([
    ['a', { host: '127.0.0.1', port: pa }],
    ['b', { host: '127.0.0.1', port: pb }],
  ]);
  const a = new UdpTransport({
    bind: { host: '127.0.0.1', port: pa },
    peers,
    maxDatagramBytes,
    pack,
    ...(packBytes === undefined ? {} : { packBytes }),
  });
  const b = new UdpTransport({
    bind: { host: '127.0.0.1', port: pb },
    peers,
    maxDatagramBytes,
    pack,
    ...(packBytes === undefined ? {} : { packBytes }),
  });
  const got: Uint8Array[] = [];
  b.onFrame((f) => got.push(Uint8Array.from(f)));
  await a.start();
  await b.start();
  return { a, b, got, pb };
}

const frame = (i: number, bytes = 100) =>
  encodeFrame({ from: 'a', to: 'b', payload: new Uint8Array(bytes).fill(i) }, { checksum: true });

test('udp: a run of frames to one peer is packed into as few datagrams as fit, and arrives intact', async () => {
  const { a, b, got } = await pair(1200);
  try {
    const sent = Array.from({ length: 25 }, (_, i) => frame(i));
    for (const f of sent) a.send('b', f); // one synchronous run: packed
    for (let i = 0; i < 100 && got.length < sent.length; i++) await sleep(10);
    assert.deepEqual(got, sent, 'the same frames, in order');
    const size = sent[0]?.length ?? 0;
    const perDatagram = Math.floor(1200 / size);
    assert.equal(stat(a, 'datagramsSent'), Math.ceil(sent.length / perDatagram));
    assert.equal(stat(b, 'framesReceived'), sent.length);
    assert.ok(stat(a, 'datagramsSent') < sent.length);
  } finally {
    await a.close();
    await b.close();
  }
});

test('udp: packBytes bounds datagrams, maxDatagramBytes still bounds frames', async () => {
  const { a, b, got } = await pair(1200, true, 16_384);
  try {
    const sent = Array.from({ length: 40 }, (_, i) => frame(i, 1000));
    for (const f of sent) a.send('b', f);
    for (let i = 0; i < 100 && got.length < sent.length; i++) await sleep(10);
    assert.deepEqual(got, sent, 'the same frames, in order');
    const perDatagram = Math.floor(16_384 / (sent[0]?.length ?? 1));
    assert.equal(stat(a, 'datagramsSent'), Math.ceil(sent.length / perDatagram));
    assert.throws(() => {
      a.send('b', frame(0, 1200));
    }, /frame-too-large|exceeds the datagram limit of 1200/);
    assert.throws(
      () =>
        new UdpTransport({
          bind: { host: '127.0.0.1', port: 1 },
          peers: new Map(),
          packBytes: 800,
        }),
      /packBytes must be an integer in maxDatagramBytes \(1200\)/,
    );
  } finally {
    await a.close();
    await b.close();
  }
});

test('config: UDP packing fills 16 KiB datagrams when every node is on loopback, else the safe size', () => {
  const base = { transport: 'udp', stack: { guarantee: 'exactly-once' }, dataDir: '/tmp/x' };
  const local = parseConfig({
    ...base,
    nodes: { n1: { host: '127.0.0.1', port: 7001 }, n2: { host: 'localhost', port: 7002 } },
  });
  assert.equal(udpPackBytes(local), LOOPBACK_PACK_BYTES);
  const remote = parseConfig({
    ...base,
    nodes: { n1: { host: '127.0.0.1', port: 7001 }, n2: { host: '10.0.0.2', port: 7002 } },
  });
  assert.equal(udpPackBytes(remote), 1200);
  const set = parseConfig({
    ...base,
    nodes: { n1: { host: '10.0.0.1', port: 7001 } },
    udp: { packBytes: 8972 },
  });
  assert.equal(udpPackBytes(set), 8972);
  assert.throws(
    () =>
      parseConfig({
        ...base,
        nodes: { n1: { host: '10.0.0.1', port: 1 } },
        udp: { packBytes: 900 },
      }),
    /udp\.packBytes: must be at least udp\.maxDatagramBytes \(1200\), got 900/,
  );
});

test('udp: pack: false sends one datagram per frame', async () => {
  const { a, b, got } = await pair(1200, false);
  try {
    for (let i = 0; i < 5; i++) a.send('b', frame(i));
    for (let i = 0; i < 100 && got.length < 5; i++) await sleep(10);
    assert.equal(got.length, 5);
    assert.equal(stat(a, 'datagramsSent'), 5);
  } finally {
    await a.close();
    await b.close();
  }
});

test('udp: a datagram with a broken tail delivers its whole frames and counts the rest', async () => {
  const { a, b, got, pb } = await pair(1200);
  const raw = createSocket('udp4');
  try {
    const f1 = frame(1, 10);
    const f2 = frame(2, 10);
    const junk = Uint8Array.from([0, 0, 0, 200, 1, 2, 3]); // announces 200 bytes, has 3
    for (const d of [
      Buffer.concat([f1, f2, junk]),
      Buffer.from([0, 0, 0, 0]), // a zero length would loop forever if trusted
      Buffer.from([9]),
    ]) {
      await new Promise<void>((r) => {
        raw.send(d, pb, '127.0.0.1', () => {
          r();
        });
      });
    }
    for (let i = 0; i < 100 && stat(b, 'malformed') < 3; i++) await sleep(10);
    assert.deepEqual(got, [f1, f2]);
    assert.equal(stat(b, 'malformed'), 3);
    assert.equal(stat(b, 'framesReceived'), 2);
  } finally {
    raw.close();
    await a.close();
    await b.close();
  }
});
