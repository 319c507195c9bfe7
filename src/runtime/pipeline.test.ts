// The group-commit pipeline on its own, against a fake storage whose commits land when the test
// says so (no sockets, no SQLite): which outputs leave at once, which wait for which commit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AssertionFailed } from '../core/errors.ts';
import { instant } from '../core/time.ts';
import { CommitPipeline, type QueuedOutput } from './pipeline.ts';

/** `send X`, `deliver X`, `persist k` (ordinary), `lazy k` (lazy persist). */
type Step = `${'send' | 'deliver' | 'persist' | 'lazy' | 'timer'} ${string}`;

function harness(opts: { readonly async: boolean; readonly holdEarly?: boolean }) {
  const log: string[] = [];
  const durable = new Map<string, unknown>();
  const gates: { open: () => void; fail: (err: Error) => void }[] = [];
  const fatal: unknown[] = [];
  const pipe = new CommitPipeline<string, string>(
    {
      needsCommit: (writes) => writes > 0,
      commit: (writes) => {
        const copy = new Map(writes);
        const apply = () => {
          for (const [k, v] of copy) durable.set(k, v);
          log.push(`commit ${[...copy.keys()].join(',')}`);
        };
        if (!opts.async) {
          apply();
          return;
        }
        return new Promise<void>((resolve, reject) => {
          gates.push({
            open: () => {
              apply();
              resolve();
            },
            fail: reject,
          });
        });
      },
      durable: () => undefined,
      carry: (turn, to) => {
        for (let i = turn.from; i < to; i++) {
          const o = turn.queue[i];
          if (o?.kind === 'send') log.push(`send ${o.msg}`);
          else if (o?.kind === 'deliver') log.push(`deliver ${o.event}`);
          else if (o?.kind === 'setTimer') log.push(`timer ${o.name}`);
        }
      },
      fatal: (err) => fatal.push(err),
    },
    { logsApplied: false, holdEarly: opts.holdEarly ?? false },
  );
  /** One event-loop turn: its outputs, then the end of the turn. */
  const turn = (...steps: Step[]): void => {
    for (const s of steps) {
      const [kind, arg] = s.split(' ') as [string, string];
      let o: QueuedOutput<string, string> | undefined;
      if (kind === 'send') o = { kind: 'send', to: 'b', msg: arg };
      else if (kind === 'deliver') o = { kind: 'deliver', event: arg };
      else if (kind === 'timer') o = { kind: 'setTimer', name: arg, at: instant(1) };
      if (o !== undefined) pipe.output(o);
      else if (kind === 'persist')
        pipe.persist({ kind: 'persist', writes: [{ key: arg, value: 1 }] }, 0);
      else pipe.persist({ kind: 'persist', writes: [{ key: arg, value: 1 }], lazy: true }, 0);
    }
    const t = pipe.takeTurn();
    pipe.seal({ ...t, frames: [], from: 0 });
  };
  /** Lands the oldest commit in flight and lets the pipeline handle it. */
  const land = async (): Promise<void> => {
    const p = pipe.inFlight();
    const g = gates.shift();
    assert.ok(g !== undefined && p !== undefined, 'a commit is in flight');
    g.open();
    await p;
  };
  return { pipe, log, durable, gates, fatal, turn, land };
}

test('pipeline: outputs before the first ordinary persist leave at once, the rest after the commit', async () => {
  const sync = harness({ async: false });
  sync.turn('send A', 'persist k', 'send B', 'deliver d');
  assert.deepEqual(sync.log, ['send A', 'commit k', 'send B', 'deliver d']);
  assert.equal(sync.pipe.state, 'idle', 'a synchronous commit never leaves idle');

  const h = harness({ async: true });
  h.turn('send A', 'timer t', 'persist k', 'send B', 'deliver d');
  assert.deepEqual(h.log, ['send A', 'timer t']);
  assert.equal(h.pipe.state, 'committing');
  await h.land();
  assert.deepEqual(h.log, ['send A', 'timer t', 'commit k', 'send B', 'deliver d']);
  assert.equal(h.pipe.state, 'idle');
});

test('pipeline: a turn without writes needs no commit; with holdEarly nothing leaves before it', async () => {
  const h = harness({ async: true });
  h.turn('send A', 'deliver d');
  assert.deepEqual(h.log, ['send A', 'deliver d']);
  assert.equal(h.pipe.state, 'idle');

  const held = harness({ async: true, holdEarly: true });
  held.turn('send A', 'persist k', 'send B');
  assert.deepEqual(held.log, []);
  await held.land();
  assert.deepEqual(held.log, ['commit k', 'send A', 'send B']);
});

test('pipeline: lazy persists hold no output back', async () => {
  const h = harness({ async: true });
  h.turn('send A', 'lazy lz', 'send B');
  assert.deepEqual(h.log, ['send A', 'send B']);
  assert.equal(h.pipe.state, 'committing', 'the lazy write is still committed');
  h.turn('send C', 'lazy lz2', 'send D'); // sealed while a lazy-only commit is in flight
  assert.deepEqual(h.log.slice(2), ['send C', 'send D'], 'it owes that commit nothing');
  h.turn('send E', 'persist k', 'send F'); // out up to its own first ordinary persist
  assert.deepEqual(h.log.slice(4), ['send E']);
  h.turn('send G', 'lazy lz3'); // behind F, which waits for k: held whole
  assert.equal(h.log.length, 5);
  await h.land();
  assert.deepEqual(h.log.slice(5), ['commit lz']);
  assert.equal(h.pipe.state, 'committing', 'the held turns are committed next');
  await h.land();
  assert.deepEqual(h.log.slice(6), ['commit lz2,k,lz3', 'send F', 'send G']);
  assert.equal(h.pipe.state, 'idle');
});

test('pipeline: turns sealed while a commit is in flight wait, whole, for the next commit', async () => {
  const h = harness({ async: true });
  h.turn('send A', 'persist k', 'send B');
  h.turn('send C', 'persist j', 'send D');
  h.turn('send E'); // no writes of its own, but it follows k and j
  assert.deepEqual(h.log, ['send A']);
  assert.equal(h.gates.length, 1, 'one commit in flight at a time');
  await h.land();
  assert.deepEqual(h.log, ['send A', 'commit k', 'send B']);
  assert.equal(h.gates.length, 1, "the held turns' batch is committed next");
  await h.land();
  assert.deepEqual(h.log.slice(3), ['commit j', 'send C', 'send D', 'send E']);
});

test('pipeline: held turns without writes go out when the commit they follow lands', async () => {
  const h = harness({ async: true });
  h.turn('send A', 'persist k', 'send B');
  h.turn('send C');
  await h.land();
  assert.deepEqual(h.log, ['send A', 'commit k', 'send B', 'send C']);
  assert.equal(h.pipe.state, 'idle');
  assert.equal(h.gates.length, 0);
});

test('pipeline: a crash mid-commit drops everything; the landing commit carries nothing out', async () => {
  const h = harness({ async: true });
  h.turn('send A', 'persist k', 'send B');
  h.turn('send C', 'persist j');
  const inFlight = h.pipe.inFlight();
  h.pipe.stop();
  assert.equal(h.pipe.state, 'stopped');
  h.gates.shift()?.open(); // it lands after the crash (it is durable), but nothing goes out
  await inFlight;
  assert.deepEqual(h.log, ['send A', 'commit k']);
  assert.equal(h.gates.length, 0, 'the held batch is never committed');
  assert.deepEqual([...h.durable.keys()], ['k']);
  assert.throws(
    () => {
      h.turn('send Z');
    },
    (err: unknown) =>
      err instanceof AssertionFailed && err.message.includes('nothing enters a stopped pipeline'),
  );
});

test('pipeline: a failed commit stops it and reports the error', async () => {
  const h = harness({ async: true });
  h.turn('send A', 'persist k', 'send B');
  const inFlight = h.pipe.inFlight();
  h.gates.shift()?.fail(new Error('disk full'));
  await inFlight;
  assert.equal(h.pipe.state, 'stopped');
  assert.deepEqual(h.log, ['send A']);
  assert.match(String(h.fatal[0]), /disk full/);
});

test('pipeline: close drains every sealed turn (waiting on inFlight until idle)', async () => {
  const h = harness({ async: true });
  h.turn('send A', 'persist k', 'send B', 'deliver d');
  h.turn('send C', 'persist j', 'deliver e');
  h.turn(); // the closing turn
  for (let p = h.pipe.inFlight(); p !== undefined; p = h.pipe.inFlight()) await h.land();
  assert.deepEqual(h.log, [
    'send A',
    'commit k',
    'send B',
    'deliver d',
    'commit j',
    'send C',
    'deliver e',
  ]);
  assert.equal(h.pipe.state, 'idle');
});

test('pipeline: afterDurable answers once the writes so far are durable, lazy ones included', async () => {
  const h = harness({ async: true });
  const said: string[] = [];
  const wait = (name: string) => {
    h.pipe.afterDurable((ok) => said.push(`${name} ${String(ok)}`));
  };
  wait('nothing yet'); // idle, empty batch: at once
  assert.deepEqual(said, ['nothing yet true']);
  h.pipe.persist({ kind: 'persist', writes: [{ key: 'tx1', value: 1 }], lazy: true }, 0);
  wait('tx1'); // in the open turn's batch: the commit that takes it
  h.pipe.output({ kind: 'send', to: 'b', msg: 'm1' });
  const t = h.pipe.takeTurn();
  h.pipe.seal({ ...t, frames: [], from: 0 });
  assert.deepEqual(h.log, ['send m1'], 'the lazy write held nothing back');
  wait('in flight'); // batch empty, tx1's commit in flight: that commit
  h.turn('lazy tx2');
  wait('tx2'); // held for the next commit
  assert.deepEqual(said, ['nothing yet true']);
  await h.land();
  assert.deepEqual(said, ['nothing yet true', 'tx1 true', 'in flight true']);
  assert.equal(h.durable.has('tx1'), true);
  await h.land();
  assert.deepEqual(said.at(-1), 'tx2 true');
  assert.equal(h.durable.has('tx2'), true);
});

test('pipeline: afterDurable says false when the pipeline stops before the commit lands', () => {
  const h = harness({ async: true });
  const said: boolean[] = [];
  h.turn('lazy tx1');
  h.pipe.afterDurable((ok) => said.push(ok));
  h.pipe.persist({ kind: 'persist', writes: [{ key: 'tx2', value: 1 }], lazy: true }, 0);
  h.pipe.afterDurable((ok) => said.push(ok));
  h.pipe.stop(); // a crash
  assert.deepEqual(said, [false, false]);
  h.pipe.afterDurable((ok) => said.push(ok));
  assert.deepEqual(said, [false, false, false]);
});

test('pipeline: afterDurable with a synchronous storage answers at the commit', () => {
  const h = harness({ async: false });
  const said: boolean[] = [];
  h.pipe.persist({ kind: 'persist', writes: [{ key: 'tx1', value: 1 }], lazy: true }, 0);
  h.pipe.afterDurable((ok) => said.push(ok));
  assert.deepEqual(said, []);
  const t = h.pipe.takeTurn();
  h.pipe.seal({ ...t, frames: [], from: 0 });
  assert.deepEqual(said, [true]);
  assert.equal(h.durable.has('tx1'), true);
});
