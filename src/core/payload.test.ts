import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SteadfastError } from './errors.ts';
import { PAYLOAD_MAX_DEPTH, decodePayload, encodePayload, payloadSize } from './payload.ts';

function roundTrip(value: unknown): unknown {
  const r = decodePayload(encodePayload(value));
  assert.ok(r.ok, r.ok ? '' : r.error.detail);
  return r.value;
}

test('payload round trip of plain data', () => {
  const msg = {
    type: 'data',
    seq: 42,
    big: 2 ** 40 + 1,
    neg: -7,
    ratio: 0.25,
    ok: true,
    none: null,
    text: 'héllo 🙂',
    long: 'é'.repeat(500) + '\ufeff', // over msgpack's TextDecoder threshold
    bytes: Uint8Array.of(0, 1, 255),
    list: [1, 'two', [3], { four: 4 }, null],
    nested: { deeper: { deepest: [] } },
    bare: Object.assign(Object.create(null) as object, { x: 1 }),
  };
  assert.deepEqual(roundTrip(msg), { ...msg, bare: { x: 1 } });
  for (const v of [null, 0, -1, 1.5, NaN, Infinity, '', 'x', true, [], {}]) {
    assert.deepEqual(roundTrip(v), v);
  }
  assert.deepEqual(roundTrip({ a: 1, b: undefined }), { a: 1 });
});

test('property: encodePayload/decodePayload round trip', () => {
  const plain = fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.constant(null),
      fc.boolean(),
      fc.double().filter((d) => !Object.is(d, -0)),
      fc.integer(),
      fc.string({ unit: 'binary' }).filter((t) => !t.startsWith('\ufeff')),
      fc.uint8Array({ maxLength: 20 }),
      fc.array(tie('value'), { maxLength: 5 }),
      fc.dictionary(
        fc.string().filter((k) => k !== '__proto__' && !k.startsWith('\ufeff')),
        tie('value'),
        { maxKeys: 5, noNullPrototype: true },
      ),
    ),
  })).value;
  fc.assert(
    fc.property(plain, (v) => {
      assert.deepEqual(roundTrip(v), v);
      assert.equal(payloadSize(v), encodePayload(v).length, 'payloadSize is exact');
    }),
    { numRuns: 2000 },
  );
});

test('payloadSize is exact at every format boundary, and rejects what encodePayload rejects', () => {
  const ints = [0, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 0x100000000];
  const values: unknown[] = [
    ...ints,
    ...ints.map((n) => -n),
    -0x20,
    -0x21,
    -0x80,
    -0x81,
    -0x8000,
    -0x8001,
    -0x80000000,
    -0x80000001,
    Number.MAX_SAFE_INTEGER,
    2 ** 60,
    0.5,
    NaN,
    ...[0, 31, 32, 255, 256, 65535, 65536].map((n) => 'x'.repeat(n)),
    'é😀\ud800x\udc00',
    ...[0, 255, 256, 65535, 65536].map((n) => new Uint8Array(n)),
    Array.from({ length: 16 }, (_, i) => i),
    Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i])),
    { a: undefined, b: [null, true, false] },
  ];
  for (const v of values) assert.equal(payloadSize(v), encodePayload(v).length, String(v));
  assert.throws(
    () => payloadSize({ a: [1, new Date(0)] }),
    (e: unknown) =>
      e instanceof SteadfastError && e.code === 'bad-argument' && /payload\.a\[1\]/.test(e.message),
  );
});

test('encodePayload rejects what is not plain data', () => {
  class Msg {
    x = 1;
  }
  let deep: unknown = 1;
  for (let i = 0; i <= PAYLOAD_MAX_DEPTH; i++) deep = [deep];
  const cyclic: Record<string, unknown> = {};
  cyclic['self'] = cyclic;
  const bad: unknown[] = [
    undefined,
    [1, undefined],
    // eslint-disable-next-line no-sparse-arrays
    [1, , 3],
    new Msg(),
    new Date(0),
    new Map(),
    new Set(),
    10n,
    () => 1,
    Symbol('s'),
    { nested: { when: new Date(0) } },
    new Int32Array(2),
    JSON.parse('{"__proto__": 1}') as unknown,
    '\ufeff' + 'x'.repeat(300),
    { ['\ufeff' + 'k'.repeat(300)]: 1 },
    deep,
    cyclic,
  ];
  for (const v of bad) {
    assert.throws(
      () => encodePayload(v),
      (e: unknown) => e instanceof SteadfastError && e.code === 'bad-argument',
      String(v),
    );
  }
});

test('decodePayload never throws and reports bad-payload', () => {
  const cases = [
    new Uint8Array(0), // nothing
    Uint8Array.of(0xc1), // never-used type byte
    Uint8Array.of(0x92, 0x01), // array of 2 with 1 element
    Uint8Array.of(0x01, 0x02), // two values
    Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff), // array of 2^32-1, no elements
    Uint8Array.of(0xd6, 0xff, 0, 0, 0, 0), // timestamp extension -> Date
    Uint8Array.of(0xd4, 0x05, 0x00), // unknown extension type
    Uint8Array.of(0x81, 0xa9, ...new TextEncoder().encode('__proto__'), 0x01),
    Uint8Array.of(0x81, 0x90, 0x01), // map key that is an array
  ];
  for (const bytes of cases) {
    const r = decodePayload(bytes);
    assert.ok(!r.ok, `accepted ${Buffer.from(bytes).toString('hex')}`);
    assert.equal(r.error.code, 'bad-payload');
  }
  let deep = new Uint8Array(PAYLOAD_MAX_DEPTH + 2).fill(0x91);
  deep[deep.length - 1] = 0x01;
  const r = decodePayload(deep);
  assert.ok(!r.ok);
  deep = new Uint8Array(100_000).fill(0x91);
  assert.ok(!decodePayload(deep).ok);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const res = decodePayload(bytes);
      if (!res.ok) assert.equal(res.error.code, 'bad-payload');
    }),
    { numRuns: 5000 },
  );
});
