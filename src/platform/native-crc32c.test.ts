import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { crc32c } from '../core/crc32c.ts';
import { decodeFrame, encodeFrame } from '../core/frame.ts';
import { loadNativeCrc32c, nativeCrc32c, NATIVE_MIN_BYTES } from './native-crc32c.ts';

// The lockfile carries the addon's prebuilt binary for linux-x64-gnu, the platform CI runs on:
// there it must load (else the runtime silently loses its fast checksum).
const expectLoads = process.platform === 'linux' && process.arch === 'x64';

test('the addon loads where the lockfile has its binary', (t) => {
  if (!expectLoads) {
    t.skip(`no prebuilt binary is expected on ${process.platform}-${process.arch}`);
    return;
  }
  assert.equal(typeof nativeCrc32c(), 'function');
  assert.equal(nativeCrc32c(), nativeCrc32c(), 'loaded once');
});

test('native CRC-32C equals the JavaScript one on every range', () => {
  const native = nativeCrc32c();
  if (native === undefined) {
    assert.ok(!expectLoads);
    return;
  }
  // RFC 3720 B.4 check value.
  const check = new TextEncoder().encode('123456789');
  assert.equal(native(check, 0, 9), 0xe3069283);
  const big = new Uint8Array(4096).map((_, i) => (i * 131 + 7) & 0xff);
  assert.equal(native(big, 0, big.length), crc32c(big), 'a whole 4 KiB buffer');
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 3 * NATIVE_MIN_BYTES }),
      fc.nat(),
      fc.nat(),
      (bytes, a, b) => {
        const start = bytes.length === 0 ? 0 : a % (bytes.length + 1);
        const end = start + (bytes.length === 0 ? 0 : b % (bytes.length - start + 1));
        assert.equal(native(bytes, start, end), crc32c(bytes, start, end));
      },
    ),
    { numRuns: 2000, seed: 1126 },
  );
});

test('frames are byte-identical with the native checksum, and decode either way', () => {
  const native = nativeCrc32c();
  if (native === undefined) return;
  for (const n of [0, 10, NATIVE_MIN_BYTES, 1000, 5000]) {
    const payload = new Uint8Array(n).map((_, i) => i & 0xff);
    const plain = encodeFrame({ from: 'n1', to: 'n2', payload }, { checksum: true });
    const fast = encodeFrame({ from: 'n1', to: 'n2', payload }, { checksum: true, crc32c: native });
    assert.deepEqual(fast, plain);
    assert.ok(decodeFrame(plain, { checksum: true, crc32c: native }).ok);
    if (n === 0) continue;
    const bad = Uint8Array.from(plain);
    bad[bad.length - 5] = (bad[bad.length - 5] ?? 0) ^ 1; // the last payload byte, before the CRC
    const r = decodeFrame(bad, { checksum: true, crc32c: native });
    assert.equal(r.ok ? 'ok' : r.error.code, 'checksum-mismatch');
  }
});

test('a platform without the addon keeps the JavaScript checksum', () => {
  assert.equal(
    loadNativeCrc32c(() => {
      throw new Error('Cannot find native binding');
    }),
    undefined,
  );
  assert.equal(
    loadNativeCrc32c(() => ({})),
    undefined,
  );
  // A module with the function is wrapped: small ranges never reach it.
  let calls = 0;
  const fn = loadNativeCrc32c(() => ({
    crc32c: (b: Uint8Array) => {
      calls++;
      return crc32c(b);
    },
  }));
  assert.ok(fn !== undefined);
  const bytes = new Uint8Array(2 * NATIVE_MIN_BYTES).fill(7);
  assert.equal(fn(bytes, 0, NATIVE_MIN_BYTES - 1), crc32c(bytes, 0, NATIVE_MIN_BYTES - 1));
  assert.equal(calls, 0);
  assert.equal(fn(bytes, 1, bytes.length), crc32c(bytes, 1, bytes.length));
  assert.equal(calls, 1);
});
