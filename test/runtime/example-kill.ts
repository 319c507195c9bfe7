/**
 * The exactly-once examples killed mid-stream (issue 19, item 3): examples/inbox.ts and
 * examples/effect.ts run as the RECEIVING process (their `receive` mode: n2 with the application),
 * a `steadfast node` process n1 sends them `messages` exactly-once messages ({i} for i in
 * 0..N−1, its `workload`), and the receiver is killed with SIGKILL `kills` times at random moments
 * (each once a random share of the stream has arrived, plus 0–50 ms) and restarted after 0–200 ms.
 * When n1 holds nothing more (every message acknowledged by n2) and, for the inbox, n2's inbox
 * is empty (the application acked everything), the receiver is stopped and the application's
 * own effects are counted from outside the processes:
 *
 *   inbox   the application's own store (its JSON Lines file): each index must appear once;
 *   effect  the reducer's state in n2's SQLite (`rl/app`): its per-index counts must all be 1.
 *
 * The examples import 'steadfast'; here they run from the sources: a copy whose import names
 * src/api/index.ts, through tsx. Used by inbox-kill.test.ts and effect-kill.test.ts (50,000
 * messages each, the figure; SF_EXAMPLE_KILL_MESSAGES=N for another size).
 */

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { NodeProcess } from '../../src/runtime/process.ts';
import { Storage } from '../../src/runtime/storage.ts';
import { writeTwoNodeConfig } from './two-nodes.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const TSX = import.meta.resolve('tsx');

export interface KillRun {
  readonly messages: number;
  readonly kills: number;
  /** Per index: never applied, applied more than once (counted in the application's store). */
  readonly lost: number;
  readonly duplicated: number;
  /** Inbox: messages offered again after restarts / already in the store when offered. */
  readonly offeredAgain: number;
  readonly skipped: number;
  /** Inbox: the most messages the node held at once (status lines), against its bound. */
  readonly inboxPeak: number;
  readonly ms: number;
}

/** examples/<name>.ts with its 'steadfast' import pointing at the sources, as an ES module. */
function exampleFromSources(name: string, dir: string): string {
  const api = join(root, 'src', 'api', 'index.ts');
  const text = readFileSync(join(root, 'examples', `${name}.ts`), 'utf8').replace(
    /from 'steadfast'/g,
    `from ${JSON.stringify(api)}`,
  );
  const path = join(dir, `${name}.mts`);
  writeFileSync(path, text);
  return path;
}

/** One incarnation of the receiving example process. */
class Receiver {
  private child: ChildProcess | undefined;
  private exit: Promise<void> | undefined;
  last: Record<string, unknown> | undefined;
  stderr = '';

  constructor(
    private readonly argv: readonly string[],
    private readonly onStatus: (o: Record<string, unknown>) => void,
  ) {}

  async start(init: boolean): Promise<void> {
    const child = spawn(
      process.execPath,
      ['--import', TSX, ...this.argv, ...(init ? ['--init'] : [])],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    this.stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      if (this.stderr.length < 64 * 1024) this.stderr += d.toString();
    });
    this.exit = new Promise((r) => {
      child.once('exit', () => {
        r();
      });
    });
    const ready = new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        let o: Record<string, unknown>;
        try {
          o = JSON.parse(line) as Record<string, unknown>;
        } catch {
          return;
        }
        this.last = o;
        this.onStatus(o);
        if (o.type === 'ready') resolve();
      });
      void this.exit?.then(() => {
        reject(new Error(`the receiving example exited before ready:\n${this.stderr}`));
      });
    });
    await ready;
  }

  async kill9(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exit;
  }

  async stop(): Promise<void> {
    if (this.child === undefined || this.child.exitCode !== null || this.child.signalCode !== null)
      return;
    this.child.kill('SIGTERM');
    await this.exit;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runExampleKill(opts: {
  readonly example: 'inbox' | 'effect';
  readonly messages: number;
  readonly kills: number;
  readonly timeoutMs: number;
  readonly log?: (s: string) => void;
}): Promise<KillRun> {
  const n = opts.messages;
  const deadline = Date.now() + opts.timeoutMs;
  const dir = mkdtempSync(join(tmpdir(), `sf-${opts.example}-kill-`));
  const configPath = await writeTwoNodeConfig(dir);
  const storePath = join(dir, 'applied.jsonl');
  const script = exampleFromSources(opts.example, dir);
  let arrived = 0; // a lower bound on what reached the application, for the kill schedule
  let inboxPeak = 0;
  let offeredAgain = 0;
  let skipped = 0;
  const receiver = new Receiver(
    opts.example === 'inbox'
      ? [script, 'receive', configPath, storePath]
      : [script, 'receive', configPath],
    (o) => {
      if (typeof o.applied === 'number') arrived = Math.max(arrived, o.applied);
      if (typeof o.inbox === 'number') inboxPeak = Math.max(inboxPeak, o.inbox);
    },
  );
  let sentAcked = 0;
  const sender = new NodeProcess({ id: 'n1', configPath });
  const t0 = Date.now();
  let kills = 0;
  try {
    await receiver.start(true);
    await sender.start();
    sender.send({ type: 'workload', to: 'n2', count: n });
    // Kill moments: random shares of the stream, in order.
    const at = Array.from({ length: opts.kills }, () => 0.05 + 0.9 * Math.random()).sort(
      (a, b) => a - b,
    );
    const progress = async (): Promise<number> => {
      if (opts.example === 'inbox') return arrived;
      // The effect example prints nothing per message: ask n1 how many n2 acknowledged.
      const s = await sender.stats(1000);
      const p = s?.protocol as { sent?: number; inFlight?: number; waiting?: number } | undefined;
      if (p?.sent !== undefined) sentAcked = Math.max(sentAcked, p.sent - (p.inFlight ?? 0));
      return sentAcked;
    };
    for (const share of at) {
      // Not before this incarnation has run a while (a status line: 200 ms), so kills spread.
      const started = Date.now();
      while (
        opts.example === 'inbox' ? receiver.last?.type !== 'status' : Date.now() - started < 200
      ) {
        if (Date.now() > deadline) throw new Error('the receiver printed no status');
        await sleep(20);
      }
      while ((await progress()) < share * n) {
        if (Date.now() > deadline) throw new Error(`stuck at ${await progress()}/${n}`);
        await sleep(50);
      }
      await sleep(Math.random() * 50);
      const before = receiver.last;
      await receiver.kill9();
      kills++;
      if (typeof before?.offeredAgain === 'number') offeredAgain += before.offeredAgain;
      if (typeof before?.skipped === 'number') skipped += before.skipped;
      opts.log?.(`kill ${kills} at ~${await progress()}/${n}: ${JSON.stringify(before)}`);
      await sleep(Math.random() * 200);
      await receiver.start(false);
    }
    // Done: n1 holds nothing (all acknowledged by n2), and the inbox is empty (all acked).
    for (;;) {
      if (Date.now() > deadline) throw new Error('not settled by the deadline');
      const reply = sender.next((o) => o.type === 'pending');
      sender.send({ type: 'pending' });
      const p = await reply;
      if (Array.isArray(p.sends) && p.sends.length === 0) break;
      await sleep(200);
    }
    if (opts.example === 'inbox') {
      const settledAfter = Date.now();
      for (;;) {
        const s = receiver.last;
        // A status printed after n1 was settled, with an empty inbox.
        if (s?.type === 'status' && s.inbox === 0 && Date.now() - settledAfter > 300) break;
        if (Date.now() > deadline) throw new Error(`inbox not drained: ${JSON.stringify(s)}`);
        await sleep(100);
      }
      const s = receiver.last;
      if (typeof s?.offeredAgain === 'number') offeredAgain += s.offeredAgain;
      if (typeof s?.skipped === 'number') skipped += s.skipped;
    }
    const ms = Date.now() - t0;
    await receiver.stop();
    await sender.stop();
    const counts = new Uint32Array(n);
    const count = (i: unknown) => {
      if (typeof i !== 'number' || i < 0 || i >= n) throw new Error(`applied ${String(i)}`);
      counts[i] = (counts[i] ?? 0) + 1;
    };
    if (opts.example === 'inbox') {
      for (const line of readFileSync(storePath, 'utf8').split('\n')) {
        if (line !== '') count((JSON.parse(line) as { payload: { i: unknown } }).payload.i);
      }
    } else {
      const st = new Storage({ path: join(dir, 'data', 'n2', 'state.db') });
      try {
        const tally = st.load().get('rl/app') as { orders: number; seen: Uint8Array };
        for (let i = 0; i < n; i++) for (let k = 0; k < (tally.seen[i] ?? 0); k++) count(i);
        if (tally.orders !== counts.reduce((a, b) => a + b, 0)) {
          throw new Error(`orders ${tally.orders} disagrees with the per-index counts`);
        }
      } finally {
        st.close();
      }
    }
    let lost = 0;
    let duplicated = 0;
    for (const c of counts) {
      if (c === 0) lost++;
      else if (c > 1) duplicated += c - 1;
    }
    return { messages: n, kills, lost, duplicated, offeredAgain, skipped, inboxPeak, ms };
  } finally {
    await receiver.stop().catch(() => undefined);
    await sender.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The CI size (the 50,000; SF_EXAMPLE_KILL_MESSAGES=N for another) and kill count. */
export const KILL_MESSAGES = Number(process.env.SF_EXAMPLE_KILL_MESSAGES ?? 50_000);
export const KILLS = 5;

/**
 * One run of `example` at the CI size with KILLS kills, asserting what every run must hold:
 * every kill happened, nothing lost, nothing duplicated.
 */
export async function runExampleKillChecked(example: 'inbox' | 'effect'): Promise<KillRun> {
  const r = await runExampleKill({
    example,
    messages: KILL_MESSAGES,
    kills: KILLS,
    timeoutMs: 50_000 + KILL_MESSAGES * 4,
  });
  assert.equal(r.kills, KILLS);
  assert.equal(r.lost, 0, 'lost');
  assert.equal(r.duplicated, 0, 'duplicated');
  return r;
}
