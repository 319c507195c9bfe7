import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { crc32c } from './crc32c.ts';
import { SteadfastError } from './errors.ts';

/** Bit-at-a-time reference implementation, to check the sliced tables against. */
function reference(bytes: Uint8Array): number {
  let crc = ~0;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

test('crc32c check value: "123456789" -> 0xE3069283', () => {
  assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(0)), 0);
});

// RFC 3720 appendix B.4 prints each CRC as the four bytes that go on the wire, and iSCSI sends
// the CRC least significant byte first. So "aa 36 91 8a" is the value 0x8A9136AA: we write the
// RFC's bytes as printed and read them as a little-endian u32 to compare with crc32c().
// (steadfast's own frame stores the CRC big-endian, like all its integers; only the RFC's
// presentation is little-endian.)
const rfc3720: Array<{ name: string; data: number[]; wire: number[]; value: number }> = [
  {
    name: '32 bytes of zeros',
    data: new Array<number>(32).fill(0),
    wire: [0xaa, 0x36, 0x91, 0x8a],
    value: 0x8a9136aa,
  },
  {
    name: '32 bytes of ones',
    data: new Array<number>(32).fill(0xff),
    wire: [0x43, 0xab, 0xa8, 0x62],
    value: 0x62a8ab43,
  },
  {
    name: '32 incrementing bytes',
    data: Array.from({ length: 32 }, (_, i) => i),
    wire: [0x4e, 0x79, 0xdd, 0x46],
    value: 0x46dd794e,
  },
  {
    name: '32 decrementing bytes',
    data: Array.from({ length: 32 }, (_, i) => 31 - i),
    wire: [0x5c, 0xdb, 0x3f, 0x11],
    value: 0x113fdb5c,
  },
  {
    name: 'an iSCSI SCSI Read (10) command PDU',
    // prettier-ignore
    data: [
      0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
      0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ],
    wire: [0x56, 0x3a, 0x96, 0xd9],
    value: 0xd9963a56,
  },
];

for (const v of rfc3720) {
  test(`crc32c RFC 3720 B.4: ${v.name}`, () => {
    const wire = new DataView(Uint8Array.from(v.wire).buffer).getUint32(0, true);
    assert.equal(wire, v.value);
    assert.equal(crc32c(Uint8Array.from(v.data)), v.value);
  });
}

test('crc32c of a sub-range equals crc32c of the slice, and matches the bitwise reference', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (bytes, a, b) => {
      const start = a % (bytes.length + 1);
      const end = start + (b % (bytes.length - start + 1));
      const expected = reference(bytes.slice(start, end));
      assert.equal(crc32c(bytes, start, end), expected);
      assert.equal(crc32c(bytes.subarray(start, end)), expected);
    }),
    { numRuns: 2000 },
  );
});

test('crc32c rejects a bad range with SteadfastError bad-argument', () => {
  const bytes = new Uint8Array(8);
  for (const [s, e] of [
    [-1, 4],
    [5, 4],
    [0, 9],
    [0.5, 4],
  ] as const) {
    assert.throws(
      () => crc32c(bytes, s, e),
      (err: unknown) => err instanceof SteadfastError && err.code === 'bad-argument',
    );
  }
});
