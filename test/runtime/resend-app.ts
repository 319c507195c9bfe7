/**
 * An application that trusts `accepted` (issue 19, item 2), run against real node processes:
 * it sends messages 0..N−1 to n2 through n1's JSON Lines interface, each with its own
 * idempotency key (`m<i>`) and `"ack": true`, keeping at most `windowMax` not yet accepted; n1 is
 * killed with SIGKILL `kills` times mid-stream (kill k when k/(kills+1) of the messages are
 * accepted) and restarted, and after each restart the application resends EXACTLY the messages
 * it has not seen accepted, with the same keys. A message sent but not accepted is in doubt (its
 * frame may have reached n2 before the sender's commit): the key makes the resend harmless.
 *
 * Counted from outside the nodes, in n2's SQLite after both stopped: the applied log (written in
 * the same transaction as each dedup mark) must hold each index exactly once, and the counter
 * effect must agree. Used by send-acks-kill.test.ts (CI) and bench/send-acks-kill.ts (50,000).
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { payloadIndex, type CounterState } from '../../src/runtime/effects.ts';
import { NodeProcess } from '../../src/runtime/process.ts';
import { Storage } from '../../src/runtime/storage.ts';
import { writeTwoNodeConfig } from './two-nodes.ts';

export interface ResendRun {
  readonly messages: number;
  readonly kills: number;
  /** Messages resent after a restart (not accepted when their sender was killed), summed. */
  readonly resent: number;
  /** Resends n2 dropped by key: their first copy had been applied (in doubt, then delivered). */
  readonly keyDuplicatesDropped: number;
  /** Per index, how often n2 applied it (from its applied log). */
  readonly lost: number;
  readonly duplicated: number;
  readonly counter: CounterState;
  readonly ms: number;
}

export async function runResendApp(opts: {
  readonly messages: number;
  readonly kills: number;
  readonly windowMax?: number;
  readonly timeoutMs?: number;
  readonly log?: (s: string) => void;
}): Promise<ResendRun> {
  const n = opts.messages;
  const windowMax = opts.windowMax ?? 2000;
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  const dir = mkdtempSync(join(tmpdir(), 'sf-resend-'));
  const configPath = await writeTwoNodeConfig(dir, {
    stack: { guarantee: 'exactly-once', effect: 'counter' },
    appliedLog: true,
  });
  const accepted = new Uint8Array(n);
  let acceptedCount = 0;
  /** Indexes handed to the current incarnation and not yet accepted. */
  const outstanding = new Set<number>();
  let next = 0;
  let wake: (() => void) | undefined;
  const sender = new NodeProcess({
    id: 'n1',
    configPath,
    onLine: (o) => {
      if (o.type !== 'accepted' || typeof o.key !== 'string') return;
      const i = Number(o.key.slice(1));
      outstanding.delete(i);
      if (accepted[i] === 0) {
        accepted[i] = 1;
        acceptedCount++;
      }
      wake?.();
    },
  });
  const receiver = new NodeProcess({ id: 'n2', configPath });
  const send = (i: number) => {
    outstanding.add(i);
    sender.send({ type: 'send', to: 'n2', payload: i, key: `m${i}`, ack: true });
  };
  const t0 = Date.now();
  let resent = 0;
  let kills = 0;
  try {
    await receiver.start();
    await sender.start();
    while (acceptedCount < n) {
      if (Date.now() > deadline) throw new Error(`only ${acceptedCount}/${n} accepted in time`);
      if (kills < opts.kills && acceptedCount >= ((kills + 1) * n) / (opts.kills + 1)) {
        await new Promise((r) => setTimeout(r, Math.random() * 30)); // a little later, at random
        await sender.kill9();
        kills++;
        // Everything not accepted is in doubt: resend it, same key, once the node is back.
        const doubt = [...outstanding];
        outstanding.clear();
        await sender.start();
        resent += doubt.length;
        opts.log?.(`kill ${kills}: ${acceptedCount} accepted, resending ${doubt.length}`);
        for (const i of doubt) if (accepted[i] === 0) send(i);
      }
      while (outstanding.size < windowMax && next < n) send(next++);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 50);
      });
      wake = undefined;
    }
    // Accepted is not delivered: wait until n1 holds nothing more.
    for (;;) {
      if (Date.now() > deadline) throw new Error('n1 still holds messages at the deadline');
      const reply = sender.next((o) => o.type === 'pending');
      sender.send({ type: 'pending' });
      const p = await reply;
      if (Array.isArray(p.sends) && p.sends.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const ms = Date.now() - t0;
    const rs = await receiver.stats();
    const keyDuplicatesDropped =
      (rs?.protocol as Record<string, number> | undefined)?.keyDuplicatesDropped ?? Number.NaN;
    await sender.stop();
    await receiver.stop();
    const st = new Storage({ path: join(dir, 'data', 'n2', 'state.db') });
    try {
      const counts = new Uint32Array(n);
      for (const row of st.appliedRows()) {
        const i = payloadIndex((row.value as { payload: unknown }).payload);
        if (i === undefined || i < 0 || i >= n)
          throw new Error(`applied a message never sent: ${String(i)}`);
        counts[i] = (counts[i] ?? 0) + 1;
      }
      let lost = 0;
      let duplicated = 0;
      for (const c of counts) {
        if (c === 0) lost++;
        else if (c > 1) duplicated += c - 1;
      }
      const counter = st.load().get('rl/app') as CounterState;
      return { messages: n, kills, resent, keyDuplicatesDropped, lost, duplicated, counter, ms };
    } finally {
      st.close();
    }
  } finally {
    await sender.stop();
    await receiver.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
