import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hmacSha256, pairKeyRing } from './node-mac.ts';
import { tagsEqual } from '../core/mac.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

// RFC 4231 section 4, HMAC-SHA-256 outputs.
const cases: Array<{ n: number; key: Uint8Array; data: Uint8Array; mac: string; bits?: number }> = [
  {
    n: 1,
    key: new Uint8Array(20).fill(0x0b),
    data: ascii('Hi There'),
    mac: 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
  },
  {
    n: 2,
    key: ascii('Jefe'),
    data: ascii('what do ya want for nothing?'),
    mac: '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
  },
  {
    n: 3,
    key: new Uint8Array(20).fill(0xaa),
    data: new Uint8Array(50).fill(0xdd),
    mac: '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe',
  },
  {
    n: 4,
    key: hex('0102030405060708090a0b0c0d0e0f10111213141516171819'),
    data: new Uint8Array(50).fill(0xcd),
    mac: '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b',
  },
  {
    n: 5,
    key: new Uint8Array(20).fill(0x0c),
    data: ascii('Test With Truncation'),
    mac: 'a3b6167473100ee06e0c796c2955552b',
    bits: 128,
  },
  {
    n: 6,
    key: new Uint8Array(131).fill(0xaa),
    data: ascii('Test Using Larger Than Block-Size Key - Hash Key First'),
    mac: '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
  },
  {
    n: 7,
    key: new Uint8Array(131).fill(0xaa),
    data: ascii(
      'This is a test using a larger than block-size key and a larger than block-size data. ' +
        'The key needs to be hashed before being used by the HMAC algorithm.',
    ),
    mac: '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2',
  },
];

for (const c of cases) {
  test(`hmacSha256 RFC 4231 test case ${c.n}${c.bits ? ` (first ${c.bits} bits)` : ''}`, () => {
    const tag = hmacSha256.sign(c.key, c.data);
    assert.equal(tag.length, hmacSha256.tagBytes);
    assert.ok(tag instanceof Uint8Array);
    const got = c.bits === undefined ? tag : tag.subarray(0, c.bits / 8);
    assert.equal(toHex(got), c.mac);
  });
}

test('pairKeyRing: one key per unordered pair, as specified', () => {
  const text = 'cluster secret, 32 bytes at least';
  const secret = ascii(text);
  const keys = pairKeyRing(secret);
  secret.fill(0); // the ring copied the secret
  const ab = keys('a', 'b');
  assert.ok(ab !== undefined);
  assert.equal(toHex(ab), toHex(hmacSha256.sign(ascii(text), ascii('steadfast-pair:a\0b'))));
  assert.deepEqual(keys('b', 'a'), ab);
  assert.notDeepEqual(keys('a', 'c'), ab);
  assert.notDeepEqual(keys('ab', ''), keys('a', 'b'));
  assert.notDeepEqual(pairKeyRing(ascii('another secret'))('a', 'b'), ab);
});

test('tagsEqual compares length and every byte', () => {
  assert.ok(tagsEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 3)));
  assert.ok(tagsEqual(new Uint8Array(0), new Uint8Array(0)));
  assert.ok(!tagsEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 4)));
  assert.ok(!tagsEqual(Uint8Array.of(0, 2, 3), Uint8Array.of(1, 2, 3)));
  assert.ok(!tagsEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 3)));
});
