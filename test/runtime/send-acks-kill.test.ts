// Issue 19's Done-when for send acknowledgements: with the sender killed with SIGKILL 5 times,
// an application that resends exactly what is not yet `accepted` (same idempotency key) loses 0
// and duplicates 0 messages, counted from the receiver's SQLite (resend-app.ts): the issue's
// 50,000 messages, in CI (bench/send-acks-kill.ts runs the same with its own figures).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runResendApp } from './resend-app.ts';

const MESSAGES = 50_000;
const KILLS = 5;

test(`${MESSAGES} messages, sender killed ${KILLS} times, resending what is not accepted: 0 lost, 0 duplicated`, async () => {
  const r = await runResendApp({ messages: MESSAGES, kills: KILLS, timeoutMs: 240_000 });
  console.log(
    `${r.messages} messages in ${(r.ms / 1000).toFixed(1)} s across ${r.kills} SIGKILLs of the sender: ` +
      `${r.resent} resent (not accepted), ${r.keyDuplicatesDropped} copies dropped by key at n2 (in doubt, yet applied); ` +
      `lost ${r.lost}, duplicated ${r.duplicated}; counter n=${r.counter.n}`,
  );
  assert.equal(r.kills, KILLS);
  assert.ok(r.resent > 0, 'some messages were in doubt at a kill (else the test proves nothing)');
  assert.equal(r.lost, 0, 'lost');
  assert.equal(r.duplicated, 0, 'duplicated');
  assert.equal(r.counter.n, MESSAGES, 'counter effect: applications');
  assert.equal(r.counter.sum, (MESSAGES * (MESSAGES - 1)) / 2, 'counter effect: sum of indexes');
});
