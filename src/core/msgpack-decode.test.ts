// The hot-path decoder (msgpack-decode.ts) accepts and rejects exactly what the reference does
// (@msgpack/msgpack's Decoder, then the plain-data walk), with deep-equal results.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Decoder, Encoder } from '@msgpack/msgpack';
import fc from 'fast-check';
import { FRAME_MAX_BYTES } from './frame.ts';
import { PlainDecoder } from './msgpack-decode.ts';
import { PAYLOAD_MAX_DEPTH } from './msgpack.ts';
import { decodePayload, encodePayload } from './payload.ts';

// ---------------------------------------------------------------------------------------------
// The reference, kept here only: the library's Decoder with the limits of payload.ts (every
// length at most FRAME_MAX_BYTES), then the plain-data walk of payload.ts's contract (`isPlain`).
// ---------------------------------------------------------------------------------------------

function libraryDecoder(max: number, keyCache: boolean): Decoder {
  return new Decoder({
    maxStrLength: max,
    maxBinLength: max,
    maxArrayLength: max,
    maxMapLength: max,
    maxExtLength: max,
    ...(keyCache ? {} : { keyDecoder: null }),
  });
}

/** The reference with the library's shared key cache on, its default. */
const refLibrary = libraryDecoder(FRAME_MAX_BYTES, true);
/**
 * The same without the library's key cache, whose results depend on history for a key whose
 * last UTF-8 sequence is cut short (see the test below): the reference for arbitrary bytes.
 */
const refNoCache = libraryDecoder(FRAME_MAX_BYTES, false);

/** The plain-data walk: true if the decoded value is plain data (payload.ts's contract). */
function isPlain(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'boolean':
    case 'number':
      return true;
    case 'string':
      return value.charCodeAt(0) !== 0xfeff;
    case 'object':
      break;
    default:
      return false;
  }
  if (value === null || value instanceof Uint8Array) return true;
  if (depth >= PAYLOAD_MAX_DEPTH) return false;
  if (Array.isArray(value)) return value.every((v: unknown) => isPlain(v, depth + 1));
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (key === '__proto__' || key.charCodeAt(0) === 0xfeff) return false;
    const v = (value as Record<string, unknown>)[key];
    if (v !== undefined && !isPlain(v, depth + 1)) return false;
  }
  return true;
}

type Outcome = { ok: true; value: unknown } | { ok: false };

function refDecode(lib: Decoder, bytes: Uint8Array): Outcome {
  let value: unknown;
  try {
    value = lib.decode(bytes);
  } catch {
    return { ok: false };
  }
  return isPlain(value, 0) ? { ok: true, value } : { ok: false };
}

function ours(bytes: Uint8Array): Outcome {
  const r = decodePayload(bytes);
  if (r.ok) return r;
  assert.equal(r.error.code, 'bad-payload', r.error.detail);
  assert.match(r.error.detail, /. at byte \d+$/);
  return { ok: false };
}

/** Every Uint8Array in `v` is a view into `bytes` (same buffer, inside its window). */
function assertViews(v: unknown, bytes: Uint8Array): void {
  if (v instanceof Uint8Array) {
    assert.equal(v.buffer, bytes.buffer, 'a bin is a view into the input');
    assert.ok(v.byteOffset >= bytes.byteOffset);
    assert.ok(v.byteOffset + v.byteLength <= bytes.byteOffset + bytes.byteLength);
  } else if (Array.isArray(v)) {
    for (const x of v as unknown[]) assertViews(x, bytes);
  } else if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) assertViews(x, bytes);
  }
}

/**
 * Ours and the reference agree on `bytes`: same verdict, deep-equal values. Returns the verdict.
 */
function agree(
  bytes: Uint8Array,
  lib: Decoder = refNoCache,
  decode: (b: Uint8Array) => Outcome = ours,
): boolean {
  const ref = refDecode(lib, bytes);
  const got = decode(bytes);
  assert.equal(got.ok, ref.ok, `verdict for ${hex(bytes)}`);
  if (got.ok && ref.ok) {
    assert.deepEqual(got.value, ref.value);
    // deepEqual does not see the order of properties: the same insertion order too.
    assert.deepEqual(keyOrder(got.value), keyOrder(ref.value));
    assertViews(got.value, bytes);
  }
  return got.ok;
}

function keyOrder(v: unknown): unknown {
  if (Array.isArray(v)) return (v as unknown[]).map(keyOrder);
  if (typeof v === 'object' && v !== null && !(v instanceof Uint8Array)) {
    return Object.entries(v).map(([k, x]) => [k, keyOrder(x)]);
  }
  return null;
}

function hex(b: Uint8Array): string {
  const s = Array.from(b.subarray(0, 64), (x) => x.toString(16).padStart(2, '0')).join('');
  return b.length > 64 ? `${s}… (${b.length} bytes)` : s;
}

function bytesOf(...parts: (number | string | Uint8Array | readonly number[])[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else for (const b of typeof p === 'string' ? new TextEncoder().encode(p) : p) out.push(b);
  }
  return Uint8Array.from(out);
}

/** `bytes` as a window of a larger buffer whose bytes around it are not zero. */
function windowed(bytes: Uint8Array, before: number, after: number, fill: number): Uint8Array {
  const big = new Uint8Array(before + bytes.length + after).fill(fill);
  big.set(bytes, before);
  return big.subarray(before, before + bytes.length);
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/** Values as a sender might encode them, plain or nearly: BOMs, __proto__, Dates, deep nests. */
const nearlyPlain = fc.letrec<{ value: unknown; key: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.double(),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.constantFrom(0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 0x100000000, 2 ** 60),
    fc.constantFrom(-0x20, -0x21, -0x80, -0x81, -0x8000, -0x8001, -0x80000001, -(2 ** 60), -0),
    fc.string({ unit: 'binary', maxLength: 80 }),
    fc.string({ unit: 'grapheme', minLength: 60, maxLength: 300 }),
    fc.string({ unit: 'binary', minLength: 190, maxLength: 230 }),
    fc.constantFrom(
      '\ufeff',
      '\ufeffx',
      '\ud800',
      'a\udc00b',
      `\ufeff${'z'.repeat(250)}`,
      `\ufeff\ufeff${'y'.repeat(250)}`,
      `${'x'.repeat(250)}\ud800`,
      'x'.repeat(990),
    ),
    fc.uint8Array({ maxLength: 300 }),
    fc.date({ noInvalidDate: true }),
    fc.array(tie('value'), { maxLength: 20 }),
    fc.dictionary(tie('key'), tie('value'), { maxKeys: 20, noNullPrototype: true }),
    fc
      .tuple(fc.integer({ min: PAYLOAD_MAX_DEPTH - 3, max: PAYLOAD_MAX_DEPTH + 3 }), fc.boolean())
      .map(([depth, asMap]) => {
        let v: unknown = 1;
        for (let i = 1; i < depth; i++) v = asMap ? { d: v } : [v];
        return v;
      }),
  ),
  key: fc.oneof(
    fc.string({ maxLength: 20 }),
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.string({ minLength: 195, maxLength: 210 }),
    fc.constantFrom('__proto__', '\ufeffk', 'constructor', 'toString', '0', '1', '4294967295'),
  ),
})).value;

const libraryEncoder = new Encoder({ ignoreUndefined: true });
const float32Encoder = new Encoder({ ignoreUndefined: true, forceFloat32: true });

/** One MessagePack item's bytes, for building arbitrary (not necessarily plain) encodings. */
type Bytes = readonly number[];

function be(n: number, width: number): Bytes {
  const out: number[] = [];
  for (let i = width - 1; i >= 0; i--) out.push(Math.floor(n / 2 ** (8 * i)) & 0xff);
  return out;
}

/** A str/bin/ext length header: 0 smallest, 1..3 the 8/16/32-bit form if it fits. */
function lengthHead(n: number, form: number, fix: number | undefined, h8: number): Bytes {
  if (form === 0 && fix !== undefined && n < 32) return [fix | n];
  if (form <= 1 && n < 0x100) return [h8, n];
  if (form <= 2 && n < 0x10000) return [h8 + 1, ...be(n, 2)];
  return [h8 + 2, ...be(n, 4)];
}

function containerHead(n: number, form: number, isMap: boolean): Bytes {
  if (form === 0 && n < 16) return [(isMap ? 0x80 : 0x90) | n];
  if (form <= 1 && n < 0x10000) return [isMap ? 0xde : 0xdc, ...be(n, 2)];
  return [isMap ? 0xdf : 0xdd, ...be(n, 4)];
}

const form = fc.integer({ min: 0, max: 3 });

/** UTF-8-ish string bodies: valid text, BOM prefixes, overlong forms, surrogates, cut sequences. */
const strBody = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }).map((s) => [...new TextEncoder().encode(s)]),
  fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 30 }),
  fc.array(fc.constantFrom(0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80, 0xff), {
    maxLength: 30,
  }),
  fc.constantFrom(
    [0xef, 0xbb, 0xbf],
    [0xef, 0xbb, 0xbf, 0x61],
    [0xc1, 0x9f], // overlong '_'
    [0xed, 0xa0, 0x80], // an encoded lone surrogate
    [0xf4, 0x90, 0x80, 0x80], // beyond U+10FFFF
    [0xf0, 0x80, 0x80, 0xaf], // overlong 4-byte
    [0x61, 0xe2], // cut short: reads on into the next bytes
    [0xf7, 0xbf],
  ),
  fc
    .tuple(fc.boolean(), fc.integer({ min: 195, max: 215 }), fc.integer({ min: 0, max: 255 }))
    .map(([bom, n, b]) => [...(bom ? [0xef, 0xbb, 0xbf] : []), ...new Array<number>(n).fill(b)]),
);

const rawStr = fc
  .tuple(strBody, form)
  .map(([body, f]) => [...lengthHead(body.length, f, 0xa0, 0xd9), ...body]);

const rawNumber = fc.oneof(
  fc.integer({ min: 0, max: 0x7f }).map((n) => [n]),
  fc.integer({ min: 0xe0, max: 0xff }).map((n) => [n]),
  fc
    .tuple(
      fc.constantFrom(0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xca, 0xcb),
      fc.uint8Array({ minLength: 8, maxLength: 8 }),
    )
    .map(([h, b]) => {
      // uint 8/16/32/64, int 8/16/32/64, float 32/64: 1, 2, 4, 8 bytes by the low 2 bits.
      const width = h === 0xca ? 4 : h === 0xcb ? 8 : 1 << (h & 3);
      return [h, ...b.subarray(0, width)];
    }),
  fc.constantFrom(
    [0xcb, 0x80, 0, 0, 0, 0, 0, 0, 0],
    [0xca, 0x80, 0, 0, 0],
    [0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1],
  ),
);

const rawExt = fc
  .tuple(
    fc.constantFrom(0, 1, 2, 4, 8, 12, 16, 3),
    fc.constantFrom(-1, 0, 1, 127, -128),
    fc.boolean(),
    form,
  )
  .map(([n, type, fixed, f]) => {
    const fixHead: Record<number, number> = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 };
    const fh = fixHead[n];
    const head = fixed && fh !== undefined ? [fh] : lengthHead(n, Math.max(f, 1), undefined, 0xc7);
    return [...head, type & 0xff, ...new Array<number>(n).fill(0x11)];
  });

const rawScalar = fc.oneof(
  fc.constantFrom([0xc0], [0xc2], [0xc3], [0xc1]),
  rawNumber,
  rawStr,
  fc
    .tuple(fc.uint8Array({ maxLength: 20 }), form)
    .map(([b, f]) => [...lengthHead(b.length, Math.max(f, 1), undefined, 0xc4), ...b]),
  rawExt,
);

/** Keys from a small pool (so duplicates are common), number keys, and keys of other types. */
const rawKey = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom([0xa1, 0x61], [0xa1, 0x62], [0xd9, 0x01, 0x61], [0xa1, 0x31]),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      [0x01],
      [0xcc, 0x01],
      [0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0],
      [0xca, 0x3f, 0xc0, 0, 0],
      [0xd0, 0xff],
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      [0xa9, ...'__proto__'.split('').map((c) => c.charCodeAt(0))],
      [0xa4, 0xef, 0xbb, 0xbf, 0x6b],
    ),
  },
  { weight: 1, arbitrary: rawStr },
  {
    weight: 1,
    arbitrary: fc.constantFrom([0xc0], [0xc3], [0xc4, 0x00], [0x90], [0x80], [0xd4, 0x01, 0x00]),
  },
);

/** Arbitrary MessagePack items: plain or not, duplicate keys, nests around the depth limit. */
const raw = fc.letrec<{ item: Bytes }>((tie) => ({
  item: fc.oneof(
    { depthSize: 'small' },
    rawScalar,
    fc
      .tuple(fc.array(tie('item'), { maxLength: 6 }), form)
      .map(([items, f]) => [...containerHead(items.length, f, false), ...items.flat()]),
    fc
      .tuple(fc.array(fc.tuple(rawKey, tie('item')), { maxLength: 6 }), form)
      .map(([entries, f]) => [...containerHead(entries.length, f, true), ...entries.flat(2)]),
    fc
      .tuple(
        fc.integer({ min: PAYLOAD_MAX_DEPTH - 2, max: PAYLOAD_MAX_DEPTH + 2 }),
        fc.boolean(),
        tie('item'),
      )
      .map(([depth, asMap, inner]) => {
        const out: number[] = [];
        for (let i = 1; i < depth; i++) out.push(...(asMap ? [0x81, 0xa1, 0x64] : [0x91]));
        return [...out, ...inner];
      }),
  ),
})).item;

type Mutation = { at: number; kind: 'flip' | 'set' | 'insert' | 'delete' | 'cut'; byte: number };

const mutation: fc.Arbitrary<Mutation> = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('flip', 'set', 'insert', 'delete', 'cut'),
  byte: fc.integer({ min: 0, max: 255 }),
});

function mutate(bytes: Uint8Array, ms: Mutation[]): Uint8Array {
  const b = [...bytes];
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % (b.length + (m.kind === 'insert' ? 1 : 0));
    if (m.kind === 'flip' && b.length > 0) b[at] = (b[at] ?? 0) ^ (1 << (m.byte % 8));
    else if (m.kind === 'set' && b.length > 0) b[at] = m.byte;
    else if (m.kind === 'insert') b.splice(at, 0, m.byte);
    else if (m.kind === 'delete') b.splice(at, 1);
    else if (m.kind === 'cut') b.length = at;
  }
  return Uint8Array.from(b);
}

/** Arbitrary bytes biased toward head bytes and small lengths. */
const junk = fc
  .array(
    fc.oneof(
      fc.integer({ min: 0, max: 255 }),
      fc.constantFrom(
        0x00,
        0x01,
        0x61,
        0x81,
        0x91,
        0xa1,
        0xc0,
        0xc4,
        0xca,
        0xcb,
        0xd9,
        0xdc,
        0xde,
        0xef,
        0xbb,
        0xbf,
      ),
    ),
    { maxLength: 48 },
  )
  .map((a) => Uint8Array.from(a));

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

test('property: values encoded by @msgpack/msgpack decode as in the reference (cache on)', () => {
  let accepted = 0;
  fc.assert(
    fc.property(nearlyPlain, fc.boolean(), (v, f32) => {
      let bytes: Uint8Array;
      try {
        bytes = (f32 ? float32Encoder : libraryEncoder).encode(v);
      } catch {
        return; // the library's encoder refuses it (nested over its own maxDepth of 100)
      }
      if (agree(bytes, refLibrary)) accepted++;
    }),
    { numRuns: 4000, seed: 0x5eed1 },
  );
  assert.ok(accepted > 2000, `most are plain data (${accepted} accepted)`);
});

test('property: arbitrary MessagePack items (duplicate keys, number keys, bad UTF-8, exts)', () => {
  let accepted = 0;
  fc.assert(
    fc.property(raw, fc.nat(3), fc.integer({ min: 1, max: 255 }), (item, after, fill) => {
      // As a window of a larger buffer: a cut-short UTF-8 sequence must read 0 past its end.
      if (agree(windowed(Uint8Array.from(item), 3, after, fill))) accepted++;
    }),
    { numRuns: 6000, seed: 0x5eed2 },
  );
  assert.ok(accepted > 1000, `enough are accepted to compare values (${accepted})`);
});

test('property: mutated encodings (flip, set, insert, delete, cut): the reference verdict', () => {
  const source = fc.oneof(
    raw.map((b) => Uint8Array.from(b)),
    nearlyPlain.map((v) => {
      try {
        return libraryEncoder.encode(v);
      } catch {
        return new Uint8Array(0);
      }
    }),
  );
  fc.assert(
    fc.property(source, fc.array(mutation, { minLength: 1, maxLength: 4 }), (bytes, ms) => {
      agree(mutate(bytes, ms));
    }),
    { numRuns: 6000, seed: 0x5eed3 },
  );
});

test('property: arbitrary bytes get the reference verdict', () => {
  fc.assert(
    fc.property(junk, (bytes) => {
      agree(bytes);
    }),
    { numRuns: 6000, seed: 0x5eed4 },
  );
});

test('property: length limits (maxLength 3) are applied as the library applies its max*Length', () => {
  const small = new PlainDecoder(3);
  const refSmall = libraryDecoder(3, false);
  const decodeSmall = (b: Uint8Array): Outcome => {
    const r = small.decode(b);
    return r.ok ? r : { ok: false };
  };
  fc.assert(
    fc.property(raw, (item) => {
      agree(Uint8Array.from(item), refSmall, decodeSmall);
    }),
    { numRuns: 3000, seed: 0x5eed5 },
  );
});

// ---------------------------------------------------------------------------------------------
// Unit tests
// ---------------------------------------------------------------------------------------------

test('typical messages decode as in the reference, round trip included', () => {
  const msgs = [
    {
      type: 'data',
      seq: 123456,
      floor: 123000,
      mode: 'eo',
      payload: { i: 42, ts: 1795678967692.123, pad: new Uint8Array(990).fill(97) },
      ts: 1795678967692.5,
    },
    { type: 'ack', cum: 123456, sack: [], wnd: 2000, ts: 1795678967692.5 },
    { type: 'data', text: 'a'.repeat(990), long: 'é'.repeat(150), short: 'héllo 🙂', n: -0.5 },
  ];
  for (let round = 0; round < 3; round++) {
    for (const m of msgs) {
      const bytes = encodePayload(m);
      assert.ok(agree(bytes, refLibrary));
      assert.deepEqual(ours(bytes), { ok: true, value: m });
    }
  }
});

test('every number format, 64-bit integers as the nearest double, float 32 and -0', () => {
  const cases: [Uint8Array, number][] = [
    [bytesOf(0x7f), 127],
    [bytesOf(0xe0), -32],
    [bytesOf(0xcc, 0xff), 255],
    [bytesOf(0xcd, 0xff, 0xff), 65535],
    [bytesOf(0xce, 0xff, 0xff, 0xff, 0xff), 4294967295],
    [bytesOf(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), 2 ** 64],
    [bytesOf(0xcf, 0, 0x20, 0, 0, 0, 0, 0, 1), 2 ** 53],
    [bytesOf(0xd0, 0x80), -128],
    [bytesOf(0xd1, 0x80, 0x00), -32768],
    [bytesOf(0xd2, 0x80, 0, 0, 0), -(2 ** 31)],
    [bytesOf(0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0), -(2 ** 63)],
    [bytesOf(0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), -1],
    [bytesOf(0xca, 0x3f, 0xc0, 0, 0), 1.5],
    [bytesOf(0xca, 0x3d, 0xcc, 0xcc, 0xcd), Math.fround(0.1)],
    [bytesOf(0xca, 0x80, 0, 0, 0), -0],
    [bytesOf(0xca, 0x7f, 0xc0, 0, 1), NaN],
    [bytesOf(0xcb, 0x80, 0, 0, 0, 0, 0, 0, 0), -0],
    [bytesOf(0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0), Infinity],
  ];
  for (const [bytes, n] of cases) {
    assert.ok(agree(bytes, refLibrary));
    assert.deepEqual(ours(bytes), { ok: true, value: n }, hex(bytes));
  }
});

test('rejected: reserved byte, empty and truncated input, trailing bytes', () => {
  const bad = [
    bytesOf(0xc1),
    bytesOf(0x91, 0xc1),
    bytesOf(),
    bytesOf(0x01, 0x02),
    bytesOf(0x90, 0x00),
    bytesOf(0xc0, 0xc0),
    ...[0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xca, 0xcb].map((h) => bytesOf(h)),
    bytesOf(0xa3, 0x61, 0x62),
    bytesOf(0xd9),
    bytesOf(0xda, 0x00),
    bytesOf(0xdb, 0, 0, 0),
    bytesOf(0xc4, 0x02, 0x00),
    bytesOf(0xc5),
    bytesOf(0xc6, 0, 0, 0, 9),
    bytesOf(0x92, 0x01),
    bytesOf(0xdc, 0x00),
    bytesOf(0xdd, 0, 0, 0, 2, 0x01),
    bytesOf(0x81, 0xa1, 0x61),
    bytesOf(0x82, 0xa1, 0x61, 0x01, 0xa1),
    bytesOf(0xde, 0x00, 0x01),
    bytesOf(0xdf, 0, 0, 0, 1, 0x01),
  ];
  for (const b of bad) assert.equal(agree(b, refLibrary), false, hex(b));
});

test('rejected: every extension type, timestamps included, as a value or a key', () => {
  const exts = [
    bytesOf(0xd4, 0x01, 0x00),
    bytesOf(0xd5, 0x01, 0, 0),
    bytesOf(0xd6, 0xff, 0, 0, 0, 1), // timestamp 32
    bytesOf(0xd7, 0xff, 0, 0, 0, 0, 0, 0, 0, 1), // timestamp 64
    bytesOf(0xc7, 12, 0xff, ...new Array<number>(12).fill(0)), // timestamp 96
    bytesOf(0xd8, 0x05, ...new Array<number>(16).fill(0)),
    bytesOf(0xc7, 0x00, 0x05),
    bytesOf(0xc8, 0x00, 0x01, 0x05, 0x00),
    bytesOf(0xc9, 0, 0, 0, 1, 0x05, 0x00),
    bytesOf(0xd4, 0xff, 0x00), // timestamp of a size the library refuses
  ];
  for (const e of exts) {
    assert.equal(agree(e, refLibrary), false, hex(e));
    assert.equal(agree(bytesOf(0x92, 0x01, e)), false);
    assert.equal(agree(bytesOf(0x81, 0xa1, 0x61, e)), false);
    assert.equal(agree(bytesOf(0x81, e, 0x01)), false);
  }
});

test('map keys: strings and numbers (as their String), not __proto__, nothing else', () => {
  const ok: [Uint8Array, unknown][] = [
    [bytesOf(0x82, 0x01, 0xa1, 0x61, 0xa1, 0x62, 0x02), { 1: 'a', b: 2 }],
    [bytesOf(0x81, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xc0), { '1.5': null }],
    [bytesOf(0x81, 0xcb, 0x80, 0, 0, 0, 0, 0, 0, 0, 0xc3), { 0: true }],
    [bytesOf(0x81, 0xff, 0xc2), { '-1': false }],
    [bytesOf(0x81, 0xa0, 0x01), { '': 1 }],
    [bytesOf(0x81, 0xab, 'constructor', 0x01), { constructor: 1 }],
    // A duplicate key keeps its first position and its last value; "1" and 1 are one key.
    [bytesOf(0x83, 0xa1, 0x61, 0x01, 0xa1, 0x31, 0x02, 0xa1, 0x61, 0x03), { a: 3, 1: 2 }],
    [bytesOf(0x82, 0xa1, 0x31, 0x01, 0x01, 0x02), { 1: 2 }],
  ];
  for (const [b, v] of ok) {
    assert.ok(agree(b, refLibrary), hex(b));
    assert.deepEqual(ours(b), { ok: true, value: v });
  }
  const bad = [
    bytesOf(0x81, 0xa9, '__proto__', 0x01),
    bytesOf(0x81, 0xd9, 9, '__proto__', 0x01),
    bytesOf(0x81, 0xa9, '__proto_', 0xc1, 0x9f), // overlong '_' read past the key: __proto__
    bytesOf(0x81, 0xc0, 0x01),
    bytesOf(0x81, 0xc2, 0x01),
    bytesOf(0x81, 0xc4, 0x01, 0x61, 0x01),
    bytesOf(0x81, 0x90, 0x01),
    bytesOf(0x81, 0x80, 0x01),
    bytesOf(0x81, 0x91, 0x01, 0x01),
  ];
  for (const b of bad) assert.equal(agree(b, refLibrary), false, hex(b));
});

test('U+FEFF: a leading BOM is rejected, unless TextDecoder strips it (strings over 200 bytes)', () => {
  const bom = [0xef, 0xbb, 0xbf];
  assert.equal(agree(bytesOf(0xa4, bom, 0x61), refLibrary), false);
  assert.equal(
    agree(bytesOf(0xd9, 200, bom, new Array<number>(197).fill(0x61)), refLibrary),
    false,
  );
  assert.equal(agree(bytesOf(0x81, 0xa4, bom, 0x61, 0x01), refLibrary), false);
  assert.equal(agree(bytesOf(0x91, 0xa3, bom), refLibrary), false);
  // Over 200 bytes: the default TextDecoder strips one BOM, as the library's did.
  const long = bytesOf(0xd9, 201, bom, new Array<number>(198).fill(0x61));
  assert.ok(agree(long, refLibrary));
  assert.deepEqual(ours(long), { ok: true, value: 'a'.repeat(198) });
  const key = bytesOf(0x81, 0xd9, 201, bom, new Array<number>(198).fill(0x62), 0x01);
  assert.ok(agree(key, refLibrary));
  // Two BOMs: one is stripped, the other stays and is rejected.
  assert.equal(agree(bytesOf(0xd9, 204, bom, bom, new Array<number>(198).fill(0x61))), false);
  // A BOM anywhere but at the start is fine.
  assert.ok(agree(bytesOf(0xa4, 0x61, bom), refLibrary));
});

test('a later duplicate key overwrites a value the plain-data walk would have rejected', () => {
  const deep = [...new Array<number>(100_000).fill(0x91), 0x01];
  const overwritten = [
    bytesOf(0xa3, 0xef, 0xbb, 0xbf), // BOM string
    bytesOf(0xd4, 0x01, 0x00), // extension
    bytesOf(0xd6, 0xff, 0, 0, 0, 1), // timestamp
    bytesOf(0x81, 0xa3, 0xef, 0xbb, 0xbf, 0x01), // a map with a BOM key
    bytesOf(new Array<number>(PAYLOAD_MAX_DEPTH).fill(0x91), 0x01), // one level too deep
    bytesOf(deep), // far too deep
    bytesOf(0x92, 0x01, 0xd4, 0x01, 0x00), // an array holding an extension
  ];
  for (const v of overwritten) {
    const b = bytesOf(0x82, 0xa1, 0x61, v, 0xa1, 0x61, 0x01);
    assert.ok(agree(b, refLibrary), hex(b));
    assert.deepEqual(ours(b), { ok: true, value: { a: 1 } });
    // Not overwritten (the duplicate comes first, or the other way round): rejected.
    assert.equal(agree(bytesOf(0x82, 0xa1, 0x61, 0x01, 0xa1, 0x61, v), refLibrary), false);
  }
  // A well-formedness error is never forgiven, overwritten or not.
  for (const v of [
    bytesOf(0xd4, 0xff, 0x00), // timestamp of a bad size
    bytesOf(0x91, 0xc1),
    bytesOf(0x81, 0xa9, '__proto__', 0x01),
    bytesOf(0x81, 0xc0, 0x01),
    bytesOf(new Array<number>(100).fill(0x91), 0x81, 0xc0, 0x01),
    bytesOf(new Array<number>(100).fill(0x91), 0x81, 0xa9, '__proto__', 0x01),
    bytesOf(new Array<number>(100).fill(0x91), 0xc1),
  ]) {
    assert.equal(agree(bytesOf(0x82, 0xa1, 0x61, v, 0xa1, 0x61, 0x01), refLibrary), false, hex(v));
  }
});

test('nesting: PAYLOAD_MAX_DEPTH containers deep is fine, one more is not; no stack overflow', () => {
  for (const open of [[0x91], [0x81, 0xa1, 0x6b]]) {
    for (const inner of [[0x01], [0x90], [0x80], [0xc4, 0x00]]) {
      const at = (depth: number): Uint8Array =>
        bytesOf(...new Array<number[]>(depth).fill(open), inner);
      // `inner` an empty container adds a level.
      const own = inner[0] === 0x90 || inner[0] === 0x80 ? 1 : 0;
      assert.ok(agree(at(PAYLOAD_MAX_DEPTH - own), refLibrary));
      assert.equal(agree(at(PAYLOAD_MAX_DEPTH + 1 - own), refLibrary), false);
    }
  }
  // 100,000 and 1,000,000 levels of fixarray(1): rejected cleanly, in a loop.
  for (const depth of [100_000, 1_000_000]) {
    const deep = new Uint8Array(depth + 1).fill(0x91);
    deep[depth] = 0x01;
    assert.equal(agree(deep, refLibrary), false);
    deep[depth] = 0xc1;
    assert.equal(agree(deep, refLibrary), false);
  }
  const deepMaps = bytesOf(...new Array<number[]>(100_000).fill([0x81, 0xa1, 0x6b]), 0x01);
  assert.equal(agree(deepMaps, refLibrary), false);
});

test('containers over 15 and over 65,535 entries (array 16/32, map 16/32)', () => {
  const values = [
    Array.from({ length: 16 }, (_, i) => i),
    Array.from({ length: 70_000 }, (_, i) => (i % 3 === 0 ? i : `s${i % 50}`)),
    Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, -i - 1])),
    Object.fromEntries(
      Array.from({ length: 70_000 }, (_, i) => [`key${i}`, i % 7 === 0 ? [i] : i]),
    ),
  ];
  for (const v of values) {
    const bytes = encodePayload(v);
    assert.ok(agree(bytes, refLibrary));
    assert.deepEqual(ours(bytes), { ok: true, value: v });
  }
  // A declared length the bytes cannot hold fails at once, without a huge allocation.
  for (const h of [0xdd, 0xdf, 0xdb, 0xc6, 0xc9]) {
    assert.equal(agree(bytesOf(h, 0x00, 0x0f, 0xff, 0xff, 0x01)), false);
    assert.equal(agree(bytesOf(h, 0xff, 0xff, 0xff, 0xff, 0x01)), false);
  }
});

test('lengths over FRAME_MAX_BYTES are rejected even when the bytes are there', () => {
  const n = FRAME_MAX_BYTES + 1;
  const len = [0, 0x10, 0, 1];
  assert.equal(n, 0x100001);
  const big = new Uint8Array(n + 16).fill(0x61);
  for (const h of [0xdb, 0xc6]) {
    const b = bytesOf(h, len, big.subarray(0, n));
    assert.equal(agree(b, refLibrary), false);
    // One byte fewer is accepted.
    const ok = bytesOf(h, 0, 0x10, 0, 0, big.subarray(0, n - 1));
    assert.ok(agree(ok, refLibrary));
  }
  assert.equal(agree(bytesOf(0xc9, len, 0x05, big.subarray(0, n))), false);
  assert.equal(agree(bytesOf(0xdd, len, big.subarray(0, n))), false);
  assert.equal(agree(bytesOf(0xdf, len, big.subarray(0, 2 * n))), false);
});

test('bins are views into the input, of its class (a Buffer gives Buffer views)', () => {
  const msg = {
    a: new Uint8Array([1, 2, 3]),
    b: [new Uint8Array(300).fill(9)],
    c: new Uint8Array(0),
  };
  const bytes = windowed(encodePayload(msg), 7, 5, 0xee);
  const r = ours(bytes);
  assert.ok(r.ok);
  assert.deepEqual(r.value, msg);
  assertViews(r.value, bytes);
  const buf = Buffer.from(bytes);
  const rb = decodePayload(buf);
  assert.ok(rb.ok);
  assert.ok((rb.value as { a: unknown }).a instanceof Buffer);
  assert.ok(agree(buf, refLibrary));
});

test('strings: invalid UTF-8 decodes as the library decodes it, on either side of 200 bytes', () => {
  const bodies = [
    [0xc3, 0xa9],
    [0xc1, 0x9f, 0xe0, 0x80, 0xaf], // overlong
    [0xed, 0xa0, 0x80, 0xed, 0xbf, 0xbf], // encoded surrogates
    [0xf4, 0x90, 0x80, 0x80, 0xf7, 0xbf, 0xbf, 0xbf], // beyond U+10FFFF
    [0x80, 0xbf, 0xf8, 0xff, 0x61],
    [0x61, 0xe2, 0x82], // cut short at the end of the string
  ];
  for (const body of bodies) {
    for (const pad of [0, 150, 198, 199, 200, 201]) {
      const s = [...new Array<number>(pad).fill(0x61), ...body];
      const head =
        s.length < 32
          ? [0xa0 | s.length]
          : s.length < 256
            ? [0xd9, s.length]
            : [0xda, 0, s.length & 0xff];
      assert.ok(agree(bytesOf(head, s), refLibrary), hex(bytesOf(head, s)));
      // Followed by another value, whose bytes a cut-short sequence reads.
      assert.ok(agree(bytesOf(0x92, head, s, 0x7f)), hex(bytesOf(head, s)));
      // At the very end of a window: past it reads as 0, not the buffer's next bytes.
      assert.ok(agree(windowed(bytesOf(head, s), 0, 4, 0xbf)));
    }
  }
  // A cut-short sequence reads on into the next value, as the library's JS decoder does.
  assert.deepEqual(ours(bytesOf(0x92, 0xa2, 0x61, 0xc3, 0x29)), {
    ok: true,
    value: ['a\u00e9', 0x29],
  });
});

test('the library key cache made cut-short keys history-dependent; ours is not', () => {
  // Key bytes "zq" + 0xc3 (a cut-short 2-byte sequence) read on into the value's head byte.
  const first = bytesOf(0x81, 0xa3, 0x7a, 0x71, 0xc3, 0x01);
  const second = bytesOf(0x81, 0xa3, 0x7a, 0x71, 0xc3, 0x02);
  // The reference with the library's shared key cache (no test before this one decodes these
  // key bytes with it).
  assert.deepEqual(refDecode(refLibrary, first), { ok: true, value: { 'zq\u00c1': 1 } });
  // The cache answers for the same 3 key bytes, though the byte after them changed.
  assert.deepEqual(refDecode(refLibrary, second), { ok: true, value: { 'zq\u00c1': 2 } });
  assert.deepEqual(refDecode(refNoCache, second), { ok: true, value: { 'zq\u00c2': 2 } });
  assert.deepEqual(ours(first), { ok: true, value: { 'zq\u00c1': 1 } });
  assert.deepEqual(ours(second), { ok: true, value: { 'zq\u00c2': 2 } });
});

test('the short-string cache: colliding and repeated keys come out right', () => {
  // Many distinct short keys (more than the cache's slots), decoded twice in shuffled order.
  const obj = Object.fromEntries(
    Array.from({ length: 5000 }, (_, i) => [`k${(i * 7919) % 5000}`, i]),
  );
  for (let round = 0; round < 2; round++) {
    const r = ours(encodePayload(obj));
    assert.deepEqual(r, { ok: true, value: obj });
  }
  // Same length, same bytes but one: not confused.
  assert.deepEqual(ours(encodePayload(['abcd', 'abce', 'abcd', 'bbcd'])), {
    ok: true,
    value: ['abcd', 'abce', 'abcd', 'bbcd'],
  });
});

test('failures say what and where', () => {
  const cases: [Uint8Array, RegExp][] = [
    [bytesOf(0x91, 0xc1), /reserved type byte 0xc1 at byte 1$/],
    [bytesOf(0x01, 0x02), /1 byte\(s\) after the value at byte 1$/],
    [bytesOf(0x81, 0xa1, 0x61), /a value is missing at byte 3$/],
    [bytesOf(0x91, 0xa3, 0xef, 0xbb, 0xbf), /starts with U\+FEFF at byte 1$/],
    [bytesOf(0x81, 0xa9, '__proto__', 0x01), /__proto__ at byte 1$/],
    [bytesOf(0x91, 0xd4, 0x01, 0x00), /extension type 1 .* at byte 1$/],
    [bytesOf(new Array<number>(65).fill(0x91), 0x01), /nested deeper than 64 at byte 64$/],
    [bytesOf(0xdd, 0xff, 0xff, 0xff, 0xff), /array of 4294967295 entries .*at byte 0$/],
  ];
  for (const [b, re] of cases) {
    const r = decodePayload(b);
    assert.ok(!r.ok);
    assert.equal(r.error.code, 'bad-payload');
    assert.match(r.error.detail, re);
  }
});
