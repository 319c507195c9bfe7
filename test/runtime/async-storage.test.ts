// The commit thread (src/runtime/async-storage.ts): commits land in order and are durable when
// their promise settles; the file is locked while it is open and free once close resolves; a
// commit after close is refused; load and metadata come from the thread's open.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AsyncStorage } from '../../src/runtime/async-storage.ts';
import { Storage } from '../../src/runtime/storage.ts';

test('async storage: ordered durable commits on the commit thread, reopen, lock, close', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-async-storage-'));
  const path = join(dir, 'n1', 'state.db');
  try {
    const st = await AsyncStorage.open({ path, appliedLog: true, compactBytes: 2000 });
    assert.deepEqual([...st.load()], []);
    const pending: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      const writes = new Map<string, unknown>([
        [`tx/n2/${i}`, { seq: i, pad: new Uint8Array(100) }],
        ['seq/n2', i],
      ]);
      if (i >= 3) writes.set(`tx/n2/${i - 3}`, null);
      pending.push(
        st.commit(
          writes,
          [{ t: i, value: { seq: i } }],
          [`{"i":${i}}`],
          new Map([['m', String(i)]]),
        ),
      );
    }
    await Promise.all(pending);
    assert.equal(st.commits, 200);
    // While it is open, no other connection gets the file.
    assert.throws(() => new Storage({ path }), /in use by another process/);
    await assert.rejects(AsyncStorage.open({ path }), /in use by another process/);
    await st.close();
    await assert.rejects(st.commit(new Map([['x', 1]]), [], [], new Map()), /after close/);

    const again = new Storage({ path, appliedLog: true });
    const m = again.load();
    assert.deepEqual([...m.keys()], ['seq/n2', 'tx/n2/197', 'tx/n2/198', 'tx/n2/199']);
    assert.equal(m.get('seq/n2'), 199);
    assert.equal(again.appliedRows().length, 200);
    assert.equal(again.traceLines().length, 200);
    assert.equal(again.getMeta('m'), '199');
    again.close();
    const reopened = await AsyncStorage.open({ path });
    assert.equal(reopened.getMeta('m'), '199');
    assert.deepEqual([...reopened.load().keys()], [...m.keys()]);
    await reopened.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
