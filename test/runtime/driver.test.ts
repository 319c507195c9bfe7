// The runtime driver's output-order contract with group commit: outputs before a turn's first
// persist may go out before the commit, everything after it only once the batch is durable;
// a crash loses what was not committed and carries out nothing queued; timers fire in order.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { NodeId } from '../../src/core/ids.ts';
import {
  OutputQueue,
  type DurableState,
  type Protocol,
  type StackSpec,
} from '../../src/core/protocol.ts';
import { addMs, type Instant } from '../../src/core/time.ts';
import { SteadfastError } from '../../src/core/errors.ts';
import type { TraceEvent } from '../../src/core/trace.ts';
import { Driver } from '../../src/runtime/driver.ts';
import { Storage, type AppliedRow, type DriverStorage } from '../../src/runtime/storage.ts';
import type { FrameHandler, Transport } from '../../src/runtime/transport.ts';

type Cmd =
  | { op: 'script' }
  | { op: 'lazy' }
  | { op: 'unencodable' }
  | { op: 'timer'; name: string; inMs: number };

/**
 * A protocol that, on command, emits send A, persist k, send B, deliver ('script'), or send A,
 * lazy persist lz, send B ('lazy'); and arms timers.
 */
class Scripted extends OutputQueue<string, string> implements Protocol<string, Cmd, string> {
  started: DurableState | undefined;
  fired: string[] = [];
  handleStart(_now: Instant, durable: DurableState): void {
    this.started = durable;
  }
  handleMessage(): void {
    // no messages
  }
  handleTimer(_now: Instant, name: string): void {
    this.fired.push(name);
  }
  handleCommand(now: Instant, cmd: Cmd): void {
    if (cmd.op === 'timer') {
      this.setTimer(cmd.name, addMs(now, cmd.inMs));
      return;
    }
    if (cmd.op === 'unencodable') {
      this.send('b', 'A');
      this.send('b', new Map() as unknown as string); // not plain data: a protocol bug
      return;
    }
    if (cmd.op === 'lazy') {
      this.send('b', 'A');
      this.persistLazy([{ key: 'lz', value: now }]);
      this.send('b', 'B');
      return;
    }
    this.send('b', 'A');
    this.persist([{ key: 'k', value: 1 }]);
    this.send('b', 'B');
    this.deliver('done');
  }
  stats(): Record<string, number> {
    return {};
  }
}

class Log {
  readonly events: string[] = [];
}

class RecordingTransport implements Transport {
  readonly kind = 'fake';
  readonly maxFrameBytes = 65536;
  constructor(private readonly log: Log) {}
  start(): Promise<void> {
    return Promise.resolve();
  }
  send(_to: NodeId, frame: Uint8Array): void {
    this.log.events.push(`send ${String.fromCharCode(frame[frame.length - 5] ?? 0)}`);
  }
  onFrame(_h: FrameHandler): void {
    // never receives
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  stats(): Record<string, number> {
    return {};
  }
  receiveBufferBytes(): number | undefined {
    return undefined;
  }
}

class RecordingStorage extends Storage {
  constructor(
    path: string,
    private readonly log: Log,
  ) {
    super({ path });
  }
  override commit(
    writes: ReadonlyMap<string, unknown>,
    applied: readonly AppliedRow[],
    events: readonly string[],
    meta: ReadonlyMap<string, string>,
  ): void {
    super.commit(writes, applied, events, meta);
    if (writes.size > 0) this.log.events.push(`commit ${[...writes.keys()].join(',')}`);
  }
}

function setup(dir: string, log: Log) {
  let proto: Scripted | undefined;
  const stack: StackSpec<string, Cmd, string> = {
    name: 'scripted',
    create: () => (proto = new Scripted()),
    isMessage: (v: unknown): v is string => typeof v === 'string',
  };
  const driver = new Driver<string, Cmd, string>({
    id: 'a',
    nodes: ['a', 'b'],
    stack,
    transport: new RecordingTransport(log),
    storage: new RecordingStorage(join(dir, 'a.db'), log),
    seed: 1,
    onDeliver: (d) => log.events.push(`deliver ${d}`),
  });
  return { driver, proto: () => proto };
}

const turn = () => new Promise((r) => setImmediate(r));

/** Runs `f` with a fresh temporary directory, removed afterwards whatever happens. */
async function inTempDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sf-driver-'));
  try {
    await f(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('driver: sends before the first persist go out early; everything after waits for the commit', async () => {
  await inTempDir(async (dir) => {
    const log = new Log();
    const { driver } = setup(dir, log);
    await driver.start();
    log.events.length = 0;
    driver.command({ op: 'script' });
    assert.deepEqual(log.events, [], 'nothing is carried out inside the input');
    await turn();
    assert.deepEqual(log.events, ['send A', 'commit k', 'send B', 'deliver done']);
    await driver.close();
  });
});

test('driver: a crash loses the uncommitted batch and every queued output; restart recovers', async () => {
  await inTempDir(async (dir) => {
    const log = new Log();
    const first = setup(dir, log);
    await first.driver.start();
    first.driver.command({ op: 'script' });
    await first.driver.crash(); // before the end of the turn
    await turn();
    assert.ok(!log.events.some((e) => e.startsWith('send') || e.startsWith('deliver')));
    const second = setup(dir, log);
    await second.driver.start();
    assert.equal(second.proto()?.started?.has('k'), false, 'the write was never committed');
    assert.equal(second.driver.incarnation, 1);
    second.driver.command({ op: 'script' });
    await turn();
    await second.driver.close();
    const third = setup(dir, log);
    await third.driver.start();
    assert.equal(third.proto()?.started?.get('k'), 1, 'a committed write survives');
    await third.driver.close();
  });
});

test('driver: timers fire in deadline order; re-arming replaces', async () => {
  await inTempDir(async (dir) => {
    const log = new Log();
    const { driver, proto } = setup(dir, log);
    await driver.start();
    driver.command({ op: 'timer', name: 'late', inMs: 40 });
    driver.command({ op: 'timer', name: 'early', inMs: 5 });
    driver.command({ op: 'timer', name: 'moved', inMs: 1 });
    driver.command({ op: 'timer', name: 'moved', inMs: 20 }); // replaces the 1 ms arming
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(proto()?.fired, ['early', 'moved', 'late']);
    await driver.close();
  });
});

/** A storage whose commits complete only when the test says so (a slow commit thread). */
class GatedStorage implements DriverStorage {
  readonly logsApplied = false;
  readonly durable = new Map<string, unknown>();
  readonly gates: { writes: Map<string, unknown>; open: () => void }[] = [];
  constructor(private readonly log: Log) {}
  load(): Map<string, unknown> {
    return new Map(this.durable);
  }
  getMeta(): string | undefined {
    return undefined;
  }
  commit(writes: ReadonlyMap<string, unknown>): Promise<void> {
    const copy = new Map(writes);
    return new Promise((resolve) => {
      this.gates.push({
        writes: copy,
        open: () => {
          for (const [k, v] of copy) {
            if (v === null) this.durable.delete(k);
            else this.durable.set(k, v);
          }
          if (copy.size > 0) this.log.events.push(`commit ${[...copy.keys()].join(',')}`);
          resolve();
        },
      });
    });
  }
  close(): void {
    // nothing to release
  }
}

function gatedSetup(log: Log) {
  let proto: Scripted | undefined;
  const storage = new GatedStorage(log);
  const driver = new Driver<string, Cmd, string>({
    id: 'a',
    nodes: ['a', 'b'],
    stack: {
      name: 'scripted',
      create: () => (proto = new Scripted()),
      isMessage: (v: unknown): v is string => typeof v === 'string',
    },
    transport: new RecordingTransport(log),
    storage,
    seed: 1,
    onDeliver: (d) => log.events.push(`deliver ${d}`),
  });
  return { driver, storage, proto: () => proto };
}

/** A gated driver, started (its start batch, the incarnation metadata, committed), log empty. */
async function startedGated() {
  const log = new Log();
  const { driver, storage } = gatedSetup(log);
  const started = driver.start();
  await openNext(storage);
  await started;
  log.events.length = 0;
  return { log, driver, storage };
}

async function openNext(storage: GatedStorage): Promise<void> {
  for (let i = 0; i < 50 && storage.gates.length === 0; i++) await turn();
  const g = storage.gates.shift();
  assert.ok(g !== undefined, 'a commit was posted');
  g.open();
  await turn();
}

test('driver, pipelined commits: a turn sealed while a commit is in flight waits, whole, for the next commit', async () => {
  const { log, driver, storage } = await startedGated();
  driver.command({ op: 'script' }); // turn 1: send A, persist k, send B, deliver
  await turn();
  assert.deepEqual(log.events, ['send A'], 'before the first persist: out at once');
  driver.command({ op: 'script' }); // turn 2, sealed while turn 1's commit is in flight
  await turn();
  assert.deepEqual(log.events, ['send A'], 'turn 2 follows a persist not yet durable: held whole');
  assert.equal(storage.gates.length, 1, 'one commit in flight at a time');
  await openNext(storage); // turn 1's commit lands; turn 2's batch is posted
  assert.deepEqual(log.events, ['send A', 'commit k', 'send B', 'deliver done']);
  assert.equal(storage.gates.length, 1, "turn 2's batch is committed next");
  await openNext(storage);
  assert.deepEqual(log.events.slice(4), ['commit k', 'send A', 'send B', 'deliver done']);
  const closing = driver.close();
  await closing;
});

test('driver, pipelined commits: a crash while a commit is in flight carries out nothing after it', async () => {
  const { log, driver, storage } = await startedGated();
  driver.command({ op: 'script' });
  await turn();
  await driver.crash();
  storage.gates.shift()?.open(); // the commit lands after the crash: its outputs must not go out
  await turn();
  assert.deepEqual(log.events, ['send A', 'commit k']);
});

test('driver, pipelined commits: close drains every sealed turn before it returns', async () => {
  const { log, driver, storage } = await startedGated();
  driver.command({ op: 'script' });
  await turn();
  driver.command({ op: 'script' });
  const closed = driver.close();
  await openNext(storage);
  await openNext(storage);
  await closed;
  assert.deepEqual(log.events, [
    'send A',
    'commit k',
    'send B',
    'deliver done',
    'commit k',
    'send A',
    'send B',
    'deliver done',
  ]);
  assert.throws(() => {
    driver.command({ op: 'script' });
  }, /not running/);
});

test('driver, pipelined commits: outputs never wait for lazy persists, only for ordinary ones', async () => {
  const { log, driver, storage } = await startedGated();
  driver.command({ op: 'lazy' }); // turn 1: send A, lazy persist lz, send B
  await turn();
  assert.deepEqual(log.events, ['send A', 'send B'], 'a lazy persist holds nothing back');
  assert.equal(storage.gates.length, 1, 'its commit is in flight');
  driver.command({ op: 'lazy' }); // turn 2, sealed while that lazy-only commit is in flight
  await turn();
  assert.deepEqual(
    log.events.slice(2),
    ['send A', 'send B'],
    'not held: it owes that commit nothing',
  );
  driver.command({ op: 'script' }); // turn 3: send A, persist k, send B, deliver
  await turn();
  assert.deepEqual(log.events.slice(4), ['send A'], 'out up to its first ordinary persist');
  driver.command({ op: 'lazy' }); // turn 4: behind turn 3's outputs that wait for k
  await turn();
  assert.equal(log.events.length, 5, 'turn 4 is held whole: outputs keep their order');
  await openNext(storage); // turn 1's commit lands; turns 2-4 are committed next
  assert.deepEqual(log.events.slice(5), ['commit lz']);
  await openNext(storage);
  assert.deepEqual(log.events.slice(6), [
    'commit lz,k',
    'send B',
    'deliver done',
    'send A',
    'send B',
  ]);
  await driver.close();
});

test('driver: an unencodable message is fatal, a typed error naming its kind (as in the simulator)', async () => {
  await inTempDir(async (dir) => {
    const log = new Log();
    const fatal: unknown[] = [];
    const driver = new Driver<string, Cmd, string>({
      id: 'a',
      nodes: ['a', 'b'],
      stack: {
        name: 'scripted',
        create: () => new Scripted(),
        isMessage: (v: unknown): v is string => typeof v === 'string',
      },
      transport: new RecordingTransport(log),
      storage: new RecordingStorage(join(dir, 'a.db'), log),
      seed: 1,
      onFatal: (err) => fatal.push(err),
    });
    await driver.start();
    log.events.length = 0;
    driver.command({ op: 'unencodable' });
    await turn();
    assert.equal(fatal.length, 1);
    const err = fatal[0];
    assert.ok(err instanceof SteadfastError && err.code === 'unencodable', String(err));
    assert.match(err.message, /'object' message from a to b/);
    assert.deepEqual(log.events, [], 'nothing of the turn went out');
    assert.throws(() => {
      driver.command({ op: 'script' });
    }, /not running/);
    await driver.close();
  });
});

test('driver: the trace records each output in its place among its step, as the simulator does', async () => {
  await inTempDir(async (dir) => {
    const log = new Log();
    const events: TraceEvent[] = [];
    const driver = new Driver<string, Cmd, string>({
      id: 'a',
      nodes: ['a', 'b'],
      stack: {
        name: 'scripted',
        create: () => new Scripted(),
        isMessage: (v: unknown): v is string => typeof v === 'string',
      },
      transport: new RecordingTransport(log),
      storage: new RecordingStorage(join(dir, 'a.db'), log),
      seed: 1,
      trace: { kind: 'memory', push: (e) => events.push(e) },
    });
    await driver.start();
    // Two inputs in one turn: the first's sends and delivery come before the second command.
    driver.command({ op: 'script' });
    driver.command({ op: 'script' });
    await turn();
    await driver.close();
    const steps = events
      .filter((e) => e.type !== 'start' && e.type !== 'note')
      .map((e) =>
        e.type === 'send' ? `send ${String(e.msg)} ${e.bytes > 0 ? 'sized' : '0'}` : e.type,
      );
    const step = ['command', 'send A sized', 'persist', 'send B sized', 'deliver'];
    assert.deepEqual(steps, [...step, ...step]);
  });
});
