import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { crc32c } from './crc32c.ts';
import { SteadfastError } from './errors.ts';
import type { DecodeErrorCode, DecodeResult, Frame, FrameOptions } from './frame.ts';
import {
  FRAME_MAX_BYTES,
  decodeFrame,
  encodeFrame,
  frameLengthPrefix,
  frameRoom,
  sealFrame,
} from './frame.ts';
import { PlainEncoder } from './msgpack.ts';
import type { KeyRing } from './mac.ts';
import { hmacSha256, pairKeyRing } from '../platform/node-mac.ts';

const CODES: ReadonlySet<DecodeErrorCode> = new Set<DecodeErrorCode>([
  'truncated',
  'too-large',
  'bad-magic',
  'bad-version',
  'bad-flags',
  'bad-node-id',
  'length-mismatch',
  'checksum-missing',
  'checksum-mismatch',
  'auth-missing',
  'auth-unknown-key',
  'auth-failed',
  'bad-payload',
  'internal',
]);

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const keys: KeyRing = pairKeyRing(ascii('frame test secret, thirty-two bytes+'));
const otherKeys: KeyRing = pairKeyRing(ascii('a different secret for the same pairs'));
const fixedKey =
  (key: Uint8Array): KeyRing =>
  () =>
    key;

const PLAIN: FrameOptions = { checksum: false };
const CRC: FrameOptions = { checksum: true };
const AUTH: FrameOptions = { checksum: false, auth: { mac: hmacSha256, keys } };
const CRC_AUTH: FrameOptions = { checksum: true, auth: { mac: hmacSha256, keys } };
const ALL: ReadonlyArray<[string, FrameOptions]> = [
  ['plain', PLAIN],
  ['crc', CRC],
  ['hmac', AUTH],
  ['crc+hmac', CRC_AUTH],
];

const sample: Frame = { from: 'n1', to: 'n2', payload: ascii('hello, steadfast') };

function expectOk(r: DecodeResult, frame: Frame, size: number): void {
  assert.ok(r.ok, r.ok ? '' : `${r.error.code}: ${r.error.detail}`);
  assert.equal(r.frame.from, frame.from);
  assert.equal(r.frame.to, frame.to);
  assert.deepEqual(r.frame.payload, Uint8Array.from(frame.payload));
  assert.equal(r.size, size);
}

function expectError(r: DecodeResult, ...codes: DecodeErrorCode[]): DecodeErrorCode {
  assert.ok(!r.ok, 'expected a decode error, got a frame');
  assert.ok(CODES.has(r.error.code), `unknown code ${r.error.code}`);
  assert.equal(typeof r.error.detail, 'string');
  if (codes.length > 0) assert.ok(codes.includes(r.error.code), `got ${r.error.code}`);
  return r.error.code;
}

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof SteadfastError && e.code === code);
}

function flipBit(bytes: Uint8Array, bit: number): void {
  const i = bit >>> 3;
  bytes[i] = (bytes[i] ?? 0) ^ (1 << (bit & 7));
}

/** Recomputes the CRC of an unauthenticated CRC frame after the test has edited it. */
function reseal(bytes: Uint8Array): Uint8Array {
  const end = bytes.length - 4;
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(end, crc32c(bytes, 0, end));
  return bytes;
}

for (const [name, opts] of ALL) {
  test(`frame round trip (${name})`, () => {
    const frames: Frame[] = [
      sample,
      { from: 'a', to: 'b', payload: new Uint8Array(0) },
      { from: 'nœud-α', to: '节点🙂', payload: Uint8Array.from({ length: 300 }, (_, i) => i) },
      { from: 'x'.repeat(255), to: 'é'.repeat(127), payload: ascii('max ids') },
      { from: '\ufeffbom', to: '\ufeff', payload: ascii('a BOM is part of the id') },
    ];
    for (const f of frames) {
      const bytes = encodeFrame(f, opts);
      assert.equal(frameLengthPrefix(bytes, 0), bytes.length);
      const r = decodeFrame(bytes, opts);
      expectOk(r, f, bytes.length);
      if (r.ok) assert.equal(r.frame.payload.buffer, bytes.buffer, 'payload is a zero-copy view');
    }
  });
}

test("a payload encoded into the frame's room and sealed is the very frame encodeFrame makes", () => {
  const enc = new PlainEncoder();
  const msgs: unknown[] = [
    { type: 'data', seq: 7, floor: 1, mode: 'eo', payload: { pad: new Uint8Array(990) }, ts: 1.5 },
    { type: 'ack', cum: 3, sack: [] },
    'x'.repeat(70_000),
  ];
  for (const [name, opts] of ALL) {
    for (const m of msgs) {
      const room = frameRoom('n1', 'nœud-2', opts);
      const sealed = sealFrame(
        enc.encodeWithRoom(m, room.before, room.after),
        'n1',
        'nœud-2',
        opts,
      );
      const made = encodeFrame({ from: 'n1', to: 'nœud-2', payload: enc.encode(m) }, opts);
      assert.deepEqual(sealed, made, name);
    }
  }
  throwsCode(() => sealFrame(new Uint8Array(5), 'n1', 'n2', CRC), 'bad-argument');
  throwsCode(() => frameRoom('', 'n2', CRC), 'bad-argument');
});

test('frame layout is as specified', () => {
  const bytes = encodeFrame({ from: 'a', to: 'bc', payload: Uint8Array.of(9, 8, 7) }, CRC);
  // prettier-ignore
  const head = [0, 0, 0, 19, 0x53, 1, 1, 1, 0x61, 2, 0x62, 0x63, 0, 0, 0, 3, 9, 8, 7];
  assert.deepEqual([...bytes.subarray(0, 19)], head);
  assert.equal(new DataView(bytes.buffer, bytes.byteOffset).getUint32(19), crc32c(bytes, 0, 19));
  assert.equal(bytes.length, 23);
  const tagged = encodeFrame({ from: 'a', to: 'bc', payload: Uint8Array.of(9, 8, 7) }, CRC_AUTH);
  assert.equal(tagged.length, 23 + 32);
  assert.equal(tagged[6], 3);
  const key = keys('a', 'bc');
  assert.ok(key !== undefined);
  assert.deepEqual(tagged.subarray(23), hmacSha256.sign(key, tagged.subarray(0, 23)));
});

test('encodeFrame rejects local misuse with SteadfastError', () => {
  throwsCode(() => encodeFrame({ ...sample, from: '' }, CRC), 'bad-argument');
  throwsCode(() => encodeFrame({ ...sample, to: 'x'.repeat(256) }, CRC), 'bad-argument');
  throwsCode(() => encodeFrame({ ...sample, to: 'é'.repeat(128) }, CRC), 'bad-argument');
  throwsCode(() => encodeFrame({ ...sample, from: 'bad\ud800' }, CRC), 'bad-argument');
  throwsCode(
    () => encodeFrame(sample, { checksum: true, auth: { mac: hmacSha256, keys: () => undefined } }),
    'bad-argument',
  );
  throwsCode(
    () => encodeFrame({ ...sample, payload: new Uint8Array(FRAME_MAX_BYTES) }, PLAIN),
    'frame-too-large',
  );
  const fits = FRAME_MAX_BYTES - encodeFrame({ ...sample, payload: new Uint8Array(0) }, CRC).length;
  const big = encodeFrame({ ...sample, payload: new Uint8Array(fits) }, CRC);
  assert.equal(big.length, FRAME_MAX_BYTES);
  assert.ok(decodeFrame(big, CRC).ok);
  throwsCode(
    () => encodeFrame({ ...sample, payload: new Uint8Array(fits + 1) }, CRC),
    'frame-too-large',
  );
});

test('receiver policy: missing CRC or tag is rejected when required; a present CRC is verified', () => {
  const plain = encodeFrame(sample, PLAIN);
  expectError(decodeFrame(plain, CRC), 'checksum-missing');
  expectError(decodeFrame(plain, AUTH), 'auth-missing');
  expectError(decodeFrame(encodeFrame(sample, CRC), CRC_AUTH), 'auth-missing');

  const crc = encodeFrame(sample, CRC);
  expectOk(decodeFrame(crc, PLAIN), sample, crc.length);
  const corrupted = crc.slice();
  flipBit(corrupted, (corrupted.length - 6) * 8 + 4); // a payload bit
  expectError(decodeFrame(corrupted, PLAIN), 'checksum-mismatch');

  // A receiver without keys cannot verify a tag: it skips it.
  const tagged = encodeFrame(sample, CRC_AUTH);
  expectOk(decodeFrame(tagged, CRC), sample, tagged.length);
  expectOk(decodeFrame(encodeFrame(sample, AUTH), PLAIN), sample, tagged.length - 4);
});

for (const [name, opts] of [
  ['crc', CRC],
  ['crc+hmac', CRC_AUTH],
] as const) {
  test(`every single-bit flip of a ${name} frame is rejected`, () => {
    const bytes = encodeFrame(sample, opts);
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      const copy = bytes.slice();
      flipBit(copy, bit);
      expectError(decodeFrame(copy, opts));
      if (opts === CRC) expectError(decodeFrame(copy, PLAIN)); // a present CRC is still checked
    }
  });
}

test('every single-bit flip of an hmac frame (no CRC) is rejected', () => {
  const bytes = encodeFrame(sample, AUTH);
  for (let bit = 0; bit < bytes.length * 8; bit++) {
    const copy = bytes.slice();
    flipBit(copy, bit);
    expectError(decodeFrame(copy, AUTH));
  }
});

test('wrong key -> auth-failed; no key for the pair -> auth-unknown-key', () => {
  for (const checksum of [false, true]) {
    const bytes = encodeFrame(sample, { checksum, auth: { mac: hmacSha256, keys } });
    const wrong: FrameOptions = { checksum, auth: { mac: hmacSha256, keys: otherKeys } };
    expectError(decodeFrame(bytes, wrong), 'auth-failed');
    const none: FrameOptions = { checksum, auth: { mac: hmacSha256, keys: () => undefined } };
    expectError(decodeFrame(bytes, none), 'auth-unknown-key');
  }
});

test('a throwing key ring or mac is reported, not thrown', () => {
  const bytes = encodeFrame(sample, AUTH);
  const throwingRing: KeyRing = () => {
    throw new Error('boom');
  };
  expectError(
    decodeFrame(bytes, { checksum: false, auth: { mac: hmacSha256, keys: throwingRing } }),
    'internal',
  );
  const throwingMac = {
    tagBytes: 32,
    sign: (): Uint8Array => {
      throw new Error('boom');
    },
  };
  expectError(
    decodeFrame(bytes, { checksum: false, auth: { mac: throwingMac, keys } }),
    'internal',
  );
});

for (const [name, opts] of ALL) {
  test(`a ${name} frame truncated at every length is 'truncated'`, () => {
    const bytes = encodeFrame(sample, opts);
    for (let n = 0; n < bytes.length; n++) {
      expectError(decodeFrame(bytes.subarray(0, n), opts), 'truncated');
      expectError(decodeFrame(bytes.slice(0, n), opts), 'truncated');
    }
  });
}

test('trailing garbage -> length-mismatch', () => {
  for (const [, opts] of ALL) {
    const bytes = encodeFrame(sample, opts);
    for (const extra of [1, 4, 100]) {
      const longer = new Uint8Array(bytes.length + extra);
      longer.set(bytes);
      expectError(decodeFrame(longer, opts), 'length-mismatch');
    }
  }
});

test('structural errors get their own codes', () => {
  const good = encodeFrame(sample, CRC);
  /** `good` with byte `index` set to `value` (or a u32 written there), CRC recomputed. */
  const poke = (index: number, value: number, u32 = false): Uint8Array => {
    const b = good.slice();
    if (u32) new DataView(b.buffer).setUint32(index, value);
    else b[index] = value;
    return reseal(b);
  };
  // `good` is 'n1' -> 'n2': fromLength at 7, 'n1' at 8..9, toLength at 10, 'n2' at 11..12,
  // payloadLength at 13.
  expectError(decodeFrame(poke(4, 0x54), CRC), 'bad-magic');
  expectError(decodeFrame(poke(5, 2), CRC), 'bad-version');
  expectError(decodeFrame(poke(6, 1 | 4), CRC), 'bad-flags');
  expectError(decodeFrame(poke(6, 1 | 0x80), CRC), 'bad-flags');
  expectError(decodeFrame(poke(8, 0xff), CRC), 'bad-node-id'); // never valid in UTF-8
  expectError(decodeFrame(poke(8, 0xc3), CRC), 'bad-node-id'); // lead byte, no continuation
  expectError(decodeFrame(poke(12, 0xed), CRC), 'bad-node-id'); // truncated at the end
  expectError(decodeFrame(poke(7, 0), CRC), 'bad-node-id');
  expectError(decodeFrame(poke(7, 200), CRC), 'length-mismatch');
  expectError(decodeFrame(poke(10, 0), CRC), 'bad-node-id');
  expectError(decodeFrame(poke(10, 200), CRC), 'length-mismatch');
  expectError(decodeFrame(poke(13, 17, true), CRC), 'length-mismatch');
  expectError(decodeFrame(poke(13, 15, true), CRC), 'length-mismatch');
  expectError(decodeFrame(poke(13, 0xffffffff, true), CRC), 'length-mismatch');

  const huge = good.slice();
  new DataView(huge.buffer).setUint32(0, 0xffffffff);
  expectError(decodeFrame(huge, CRC), 'too-large');
  new DataView(huge.buffer).setUint32(0, FRAME_MAX_BYTES - 3);
  expectError(decodeFrame(huge, CRC), 'too-large');
  // Too short to hold even the fixed fields.
  expectError(decodeFrame(Uint8Array.of(0, 0, 0, 3, 0x53, 1, 0), PLAIN), 'length-mismatch');
  expectError(decodeFrame(Uint8Array.of(0, 0, 0, 0), PLAIN), 'length-mismatch');
});

test('frameLengthPrefix reads the 4-byte prefix at an offset', () => {
  const bytes = encodeFrame(sample, CRC);
  const stream = new Uint8Array(3 + bytes.length + 2);
  stream.set(bytes, 3);
  assert.equal(frameLengthPrefix(stream, 3), bytes.length);
  assert.equal(frameLengthPrefix(stream, stream.length - 3), undefined);
  assert.equal(frameLengthPrefix(stream, stream.length), undefined);
  assert.equal(frameLengthPrefix(new Uint8Array(3), 0), undefined);
  assert.equal(frameLengthPrefix(Uint8Array.of(0xff, 0xff, 0xff, 0xff), 0), 0xffffffff + 4);
  throwsCode(() => frameLengthPrefix(stream, -1), 'bad-argument');
  throwsCode(() => frameLengthPrefix(stream, stream.length + 1), 'bad-argument');
});

// ---- property tests ----

const nodeId = fc.string({ minLength: 1, maxLength: 40, unit: 'binary' });
const frameArb: fc.Arbitrary<Frame> = fc.record({
  from: nodeId,
  to: nodeId,
  payload: fc.uint8Array({ maxLength: 200 }),
});
const optsArb: fc.Arbitrary<FrameOptions> = fc.constantFrom(...ALL.map(([, o]) => o));

test('property: arbitrary bytes decode to a typed result and never throw', () => {
  // Pure noise, and noise behind a plausible header (right prefix, magic and version) so that
  // the decoder gets past its first checks.
  const noise = fc.uint8Array({ maxLength: 300 });
  const plausible = fc
    .tuple(fc.uint8Array({ minLength: 7, maxLength: 300 }), fc.nat(3))
    .map(([noise, flags]) => {
      const b = noise.slice(); // never mutate a generated value
      new DataView(b.buffer).setUint32(0, b.length - 4);
      b[4] = 0x53;
      b[5] = 1;
      b[6] = flags;
      return b;
    });
  fc.assert(
    fc.property(fc.oneof(noise, plausible), optsArb, (bytes, opts) => {
      const r = decodeFrame(bytes, opts);
      if (r.ok) {
        assert.equal(r.size, bytes.length);
        assert.ok(r.frame.from.length > 0 && r.frame.to.length > 0);
      } else {
        assert.ok(CODES.has(r.error.code), r.error.code);
        assert.notEqual(r.error.code, 'internal', r.error.detail);
      }
    }),
    { numRuns: 10_000 },
  );
});

test('property: 1-8 bit flips of a CRC frame never decode to a different frame', () => {
  fc.assert(
    fc.property(frameArb, fc.array(fc.nat(), { minLength: 1, maxLength: 8 }), (frame, flips) => {
      const bytes = encodeFrame(frame, CRC);
      const copy = bytes.slice();
      for (const f of flips) {
        const bit = f % (bytes.length * 8);
        flipBit(copy, bit);
      }
      const r = decodeFrame(copy, CRC);
      const unchanged = copy.every((b, i) => b === bytes[i]);
      if (unchanged) expectOk(r, frame, bytes.length);
      else expectError(r);
    }),
    { numRuns: 10_000 },
  );
});

test('property: a valid frame truncated anywhere is rejected with a typed error', () => {
  fc.assert(
    fc.property(frameArb, optsArb, fc.nat(), (frame, opts, cut) => {
      const bytes = encodeFrame(frame, opts);
      expectError(decodeFrame(bytes.subarray(0, cut % bytes.length), opts), 'truncated');
    }),
    { numRuns: 10_000 },
  );
});

test('property: an hmac frame re-signed with a different key is auth-failed', () => {
  const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
  fc.assert(
    fc.property(frameArb, fc.boolean(), key32, key32, (frame, checksum, good, forged) => {
      fc.pre(!good.every((b, i) => b === forged[i]));
      const bytes = encodeFrame(frame, {
        checksum,
        auth: { mac: hmacSha256, keys: fixedKey(forged) },
      });
      const r = decodeFrame(bytes, { checksum, auth: { mac: hmacSha256, keys: fixedKey(good) } });
      expectError(r, 'auth-failed');
      const same = decodeFrame(bytes, {
        checksum,
        auth: { mac: hmacSha256, keys: fixedKey(forged) },
      });
      expectOk(same, frame, bytes.length);
    }),
    { numRuns: 10_000 },
  );
});
