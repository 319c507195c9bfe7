// SQLite durable state (src/runtime/storage.ts): batches are atomic, keyed, coalesced; load()
// returns first-write order; values round-trip as plain data; the applied log and the trace
// survive a reopen.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Storage } from '../../src/runtime/storage.ts';

test('storage: batches, deletes, first-write order, plain-data values, reopen, exclusive', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-storage-'));
  const path = join(dir, 'n1', 'state.db');
  try {
    let st = new Storage({ path, appliedLog: true });
    st.applyBatch([
      { key: 'b', value: 1 },
      { key: 'a', value: { x: [1, 2, 3], bytes: Uint8Array.from([9, 8]) } },
      { key: 'b', value: 2 }, // coalesced: the last write wins
      { key: 'rl/applied', value: { from: 'n2', seq: 1, payload: 'p' } },
    ]);
    st.applyBatch([
      { key: 'c', value: 'x' },
      { key: 'b', value: 3 }, // overwrite keeps b's place (first-write order)
      { key: 'a', value: null }, // delete
    ]);
    st.close();
    st = new Storage({ path, appliedLog: true });
    const m = st.load();
    assert.deepEqual([...m.keys()], ['b', 'rl/applied', 'c']);
    assert.equal(m.get('b'), 3);
    assert.deepEqual(
      st.appliedRows().map((r) => r.value),
      [{ from: 'n2', seq: 1, payload: 'p' }],
    );
    // A batch that fails (a value that is not plain data) leaves nothing behind.
    assert.throws(() => {
      st.applyBatch([
        { key: 'd', value: 1 },
        { key: 'e', value: new Map() },
      ]);
    });
    assert.equal(st.load().has('d'), false);
    st.commit(
      new Map([['f', 1]]),
      [],
      ['{"t":1,"type":"note","text":"hi"}'],
      new Map([['k', 'v']]),
    );
    assert.deepEqual(st.traceLines(), ['{"t":1,"type":"note","text":"hi"}']);
    assert.equal(st.getMeta('k'), 'v');
    // One process (here: one connection) at a time.
    assert.throws(() => new Storage({ path }), /in use by another process/);
    st.close();
    assert.throws(() => st.load(), /closed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
