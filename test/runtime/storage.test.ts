// SQLite durable state (src/runtime/storage.ts): batches are atomic, keyed, coalesced; load()
// returns first-write order; values round-trip as plain data; the applied log and the trace
// survive a reopen.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import fc from 'fast-check';
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

test('storage: the log and its compaction keep exactly the map a replay of the batches gives', () => {
  // Random batches of writes, deletes and re-writes over a few keys, committed with a tiny
  // compaction threshold so compactions fall between, inside and across reopenings; after each
  // reopen load() must equal (contents AND order) a Map that replays the same batches.
  const key = fc.constantFrom('a', 'b', 'c', 'd', 'tx/n2/1', 'tx/n2/2');
  const write = fc.record({
    key,
    value: fc.oneof(fc.constant(null), fc.integer(), fc.uint8Array({ maxLength: 40 })),
  });
  const batches = fc.array(fc.array(write, { minLength: 1, maxLength: 6 }), { maxLength: 25 });
  let totalCompactions = 0;
  fc.assert(
    fc.property(batches, fc.integer({ min: 1, max: 25 }), (bs, reopenEvery) => {
      const dir = mkdtempSync(join(tmpdir(), 'sf-storage-log-'));
      const path = join(dir, 'state.db');
      try {
        const model = new Map<string, unknown>();
        let st = new Storage({ path, compactBytes: 64 });
        let compactions = 0;
        bs.forEach((batch, i) => {
          st.applyBatch(batch);
          // A batch applies as its coalesced writes (the last write of a key wins, in the place
          // of the key's first write in the batch), as the driver's group commit gathers them.
          const coalesced = new Map<string, unknown>();
          for (const w of batch) coalesced.set(w.key, w.value);
          for (const [k, v] of coalesced) {
            if (v === null) model.delete(k);
            else model.set(k, v);
          }
          if ((i + 1) % reopenEvery === 0) {
            compactions += st.compactions;
            st.close();
            st = new Storage({ path, compactBytes: 64 });
            assert.deepEqual([...st.load()], [...model]);
          }
        });
        compactions += st.compactions;
        st.compact();
        st.close();
        st = new Storage({ path });
        assert.deepEqual([...st.load()], [...model]);
        st.close();
        totalCompactions += compactions;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 150 },
  );
  assert.ok(totalCompactions > 100, `the runs compacted ${totalCompactions} times in all`);
});

test('storage: a compaction happens once the log reaches compactBytes, and only then', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-storage-compact-'));
  try {
    const st = new Storage({ path: join(dir, 's.db'), compactBytes: 10_000 });
    const entry = new Uint8Array(1000);
    let seq = 0;
    // A send buffer: each batch adds 5 entries and deletes the 5 of the batch before.
    for (let b = 0; b < 40; b++) {
      const writes = [];
      for (let k = 0; k < 5; k++) writes.push({ key: `tx/n2/${seq + k}`, value: entry });
      for (let k = 0; k < 5 && seq >= 5; k++)
        writes.push({ key: `tx/n2/${seq - 5 + k}`, value: null });
      seq += 5;
      st.applyBatch(writes);
    }
    // 40 batches of ~5 KB: about 20 compactions, each leaving only the 5 live entries in kv.
    assert.ok(st.compactions >= 15 && st.compactions <= 25, `compactions: ${st.compactions}`);
    // Compacted rows are dropped by later commits: the table never holds the whole history.
    assert.ok(st.logRows() <= 4, `log rows: ${st.logRows()}`);
    assert.deepEqual(
      [...st.load().keys()],
      [0, 1, 2, 3, 4].map((k) => `tx/n2/${seq - 5 + k}`),
    );
    st.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('storage: a database whose log is of an older format is refused with a clear error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-storage-old-'));
  const path = join(dir, 's.db');
  try {
    // The format before user_version 2: log rows hold the values themselves, not their bytes.
    const db = new Database(path);
    db.exec('CREATE TABLE log (seq INTEGER PRIMARY KEY, writes BLOB NOT NULL)');
    db.prepare('INSERT INTO log (writes) VALUES (?)').run(Buffer.from([0x90]));
    db.close();
    assert.throws(() => new Storage({ path }), /older format.*empty data directory/);
    // An old database with an empty log is simply taken over.
    const db2 = new Database(path);
    db2.exec('DELETE FROM log');
    db2.close();
    const st = new Storage({ path });
    st.applyBatch([{ key: 'a', value: 1 }]);
    st.close();
    const again = new Storage({ path });
    assert.deepEqual([...again.load()], [['a', 1]]);
    again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('storage: pageSize sets a new database page size, an existing one keeps its own, a bad one is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-storage-'));
  const pageOf = (path: string): number => {
    const db = new Database(path, { readonly: true });
    try {
      return db.pragma('page_size', { simple: true }) as number;
    } finally {
      db.close();
    }
  };
  try {
    const small = join(dir, 'small.db');
    const s = new Storage({ path: small, pageSize: 4096 });
    s.applyBatch([{ key: 'k', value: 'v'.repeat(10_000) }]);
    s.close();
    assert.equal(pageOf(small), 4096);
    const again = new Storage({ path: small }); // the default would be 16 KiB
    assert.deepEqual([...again.load()], [['k', 'v'.repeat(10_000)]]);
    again.applyBatch([{ key: 'k2', value: 1 }]);
    again.close();
    assert.equal(pageOf(small), 4096, 'an existing database keeps its page size');
    const big = join(dir, 'default.db');
    const d = new Storage({ path: big });
    d.applyBatch([{ key: 'k', value: 1 }]);
    d.close();
    assert.equal(pageOf(big), 16384);
    for (const bad of [1000, 256, 131072, 4096.5]) {
      assert.throws(
        () => new Storage({ path: join(dir, 'bad.db'), pageSize: bad }),
        /pageSize must be a power of two in 512\.\.65536/,
      );
    }
    assert.equal(existsSync(join(dir, 'bad.db')), false, 'nothing created for a bad page size');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
