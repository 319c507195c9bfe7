// The hot-path encoder (msgpack.ts) writes exactly the bytes of @msgpack/msgpack's encoder for
// plain data, and refuses what is not plain data.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Encoder } from '@msgpack/msgpack';
import fc from 'fast-check';
import { NOT_PLAIN, PAYLOAD_MAX_DEPTH, PlainEncoder } from './msgpack.ts';

const reference = new Encoder({ ignoreUndefined: true });
const ours = new PlainEncoder();

/** Plain data reaching every format: wide integers, doubles, long and astral strings, big maps. */
const plain = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.double(),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.constantFrom(0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 0x100000000),
    fc.constantFrom(-0x20, -0x21, -0x80, -0x81, -0x8000, -0x8001, -0x80000000, -0x80000001),
    fc.string({ unit: 'binary', maxLength: 80 }).filter((t) => !t.startsWith('\ufeff')),
    fc.string({ unit: 'grapheme', minLength: 40, maxLength: 300 }),
    fc.uint8Array({ maxLength: 300 }),
    fc.array(tie('value'), { maxLength: 20 }),
    fc.dictionary(
      fc.string({ maxLength: 40 }).filter((k) => k !== '__proto__' && !k.startsWith('\ufeff')),
      fc.oneof(tie('value'), fc.constant(undefined)),
      { maxKeys: 20 },
    ),
  ),
})).value;

test('property: the encoder writes the same bytes as @msgpack/msgpack for plain data', () => {
  fc.assert(
    fc.property(plain, (v) => {
      assert.deepEqual(ours.encode(v), reference.encode(v));
    }),
    { numRuns: 3000 },
  );
});

test('property: encodeWithRoom and encodeKeyedBins write what encode would', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.string({ maxLength: 20 }), fc.option(plain, { nil: null })), {
        maxLength: 20,
      }),
      fc.nat({ max: 40 }),
      fc.nat({ max: 40 }),
      (pairs, before, after) => {
        const writes = new Map(pairs);
        const expected = reference.encode(
          [...writes].map(([k, v]) => [k, v === null ? null : reference.encode(v)]),
        );
        assert.deepEqual(ours.encodeKeyedBins(writes), expected);
        const value = pairs[0]?.[1] ?? null;
        const roomy = ours.encodeWithRoom(value, before, after);
        assert.deepEqual(roomy.subarray(before, roomy.length - after), reference.encode(value));
        assert.equal(roomy.length, before + after + reference.encode(value).length);
      },
    ),
    { numRuns: 1000 },
  );
  // Values on each side of the bin 8 / bin 16 / bin 32 boundaries.
  const sizes = [0xfd, 0xfe, 0xff, 0x100, 0xfffd, 0xffff, 0x10000];
  const writes = new Map<string, unknown>(
    sizes.map((n) => [`k${n}`, new Uint8Array(n - 3).fill(1)] as const),
  );
  writes.set('gone', null);
  const expected = reference.encode(
    [...writes].map(([k, v]) => [k, v === null ? null : reference.encode(v)]),
  );
  assert.deepEqual(ours.encodeKeyedBins(writes), expected);
  assert.throws(() => ours.encodeKeyedBins(new Map([['k', new Date(0)]])), NOT_PLAIN);
});

test('the encoder: large containers, lone surrogates, 64-bit integers and a nested call', () => {
  const big = {
    arr: Array.from({ length: 70_000 }, (_, i) => i % 3),
    map: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, -i])),
    bin: new Uint8Array(70_000).fill(7),
    str: 'é'.repeat(40_000),
    lone: ['\ud800', 'a\udc00b', 'x'.repeat(60) + '\ud800'],
    wide: [Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 40, -(2 ** 40), -0, NaN, 1.5],
  };
  assert.deepEqual(ours.encode(big), reference.encode(big));
  // A getter that encodes while the outer encode is running gets an encoder of its own.
  const tricky = {
    get inner(): unknown {
      return ours.encode({ deep: [1, 2, 3] });
    },
  };
  assert.deepEqual(ours.encode(tricky), reference.encode(tricky));
});

test('the encoder throws NOT_PLAIN for what is not plain data', () => {
  let deep: unknown = 1;
  for (let i = 0; i < PAYLOAD_MAX_DEPTH + 1; i++) deep = [deep];
  const bad: unknown[] = [
    undefined,
    [1, undefined],
    () => 1,
    10n,
    Symbol('s'),
    new Date(0),
    new Map(),
    new Int16Array(2),
    JSON.parse('{"__proto__": 1}'),
    { '\ufeffkey': 1 },
    '\ufeffvalue',
    deep,
  ];
  for (const v of bad) {
    assert.throws(
      () => ours.encode(v),
      (e: unknown) => e === NOT_PLAIN,
    );
  }
  // And after a refusal, the next encode starts clean.
  assert.deepEqual(ours.encode({ a: 1 }), reference.encode({ a: 1 }));
});
